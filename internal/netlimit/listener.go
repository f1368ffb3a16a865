// Package netlimit bounds what the network may take from Hearth's
// listeners: open connections in total and per source address, the
// timeouts and sizes of every HTTP server (admin API and UI, block page,
// DoH), and the log lines a flood of bad clients can cause.
package netlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Conns caps the connections a listener keeps open.
type Conns struct {
	// Total caps open connections on the listener.
	Total int
	// PerSource caps open connections from one source address, so one
	// client cannot take the whole Total.
	PerSource int
}

// Validate reports a cap that is not positive.
func (c Conns) Validate() error {
	if c.Total <= 0 {
		return errors.New("connection cap must be positive")
	}
	if c.PerSource <= 0 {
		return errors.New("per-source connection cap must be positive")
	}
	return nil
}

// Listener is a net.Listener that closes, at once and without reading
// from them, connections from sources admit rejects and connections over
// its caps. A closed connection frees its slot.
type Listener struct {
	net.Listener
	caps  Conns
	admit func(netip.Addr) bool

	mu       sync.Mutex
	open     int
	bySource map[netip.Addr]int // at most caps.Total entries

	rejected atomic.Uint64
	openNow  atomic.Int64 // open, readable without the lock
}

// NewListener wraps ln. admit, when not nil, says whether a source may
// connect at all (Hearth's allowed networks); c must be valid.
func NewListener(ln net.Listener, c Conns, admit func(netip.Addr) bool) *Listener {
	return &Listener{Listener: ln, caps: c, admit: admit, bySource: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps. Connections over a
// cap or from a source admit rejects are closed and not returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := remoteAddr(c)
		if l.admit != nil && !l.admit(src) {
			l.rejected.Add(1)
			c.Close()
			continue
		}
		if !l.take(src) {
			l.rejected.Add(1)
			c.Close()
			continue
		}
		return &conn{Conn: c, l: l, src: src}, nil
	}
}

func (l *Listener) take(src netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.caps.Total || l.bySource[src] >= l.caps.PerSource {
		return false
	}
	l.open++
	l.openNow.Store(int64(l.open))
	l.bySource[src]++
	return true
}

func (l *Listener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	l.openNow.Store(int64(l.open))
	if n := l.bySource[src] - 1; n > 0 {
		l.bySource[src] = n
	} else {
		delete(l.bySource, src)
	}
}

// Open returns the number of connections open now.
func (l *Listener) Open() int { return int(l.openNow.Load()) }

// Caps returns the listener's caps.
func (l *Listener) Caps() Conns { return l.caps }

// Rejected returns how many connections were closed at accept.
func (l *Listener) Rejected() uint64 { return l.rejected.Load() }

// conn frees its listener slot once, on the first Close.
type conn struct {
	net.Conn
	l      *Listener
	src    netip.Addr
	closed atomic.Bool
}

func (c *conn) Close() error {
	// The slot is free before the peer can see the close, so a client
	// that reconnects at once finds it.
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.src)
	}
	return c.Conn.Close()
}

// remoteAddr returns the source address of c, IPv4-mapped addresses
// unmapped; the zero Addr when c has none (a test's pipe).
func remoteAddr(c net.Conn) netip.Addr {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
