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
// the per-source cap. When the listener is full, a newcomer takes the
// slot of the oldest connection of the source holding the most, unless it
// is that source itself: many attackers together can fill the listener,
// but never lock out a client that has fewer connections than they do. A
// closed connection frees its slot.
type Listener struct {
	net.Listener
	caps  Conns
	admit func(netip.Addr) bool

	mu       sync.Mutex
	open     int
	bySource map[netip.Addr][]*conn // oldest first; at most caps.Total entries

	rejected atomic.Uint64
	openNow  atomic.Int64 // open, readable without the lock
}

// NewListener wraps ln. admit, when not nil, says whether a source may
// connect at all (Hearth's allowed networks); c must be valid.
func NewListener(ln net.Listener, c Conns, admit func(netip.Addr) bool) *Listener {
	return &Listener{Listener: ln, caps: c, admit: admit, bySource: map[netip.Addr][]*conn{}}
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
		lc := &conn{Conn: c, l: l, src: src}
		ok, evict := l.take(lc)
		if evict != nil {
			evict.Close()
		}
		if !ok {
			l.rejected.Add(1)
			c.Close()
			continue
		}
		return lc, nil
	}
}

// take counts c in, reporting false when its source is at its cap or
// when the listener is full and no source holds more connections than
// c's. To make room it may return a connection to close.
func (l *Listener) take(c *conn) (ok bool, evict *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := len(l.bySource[c.src])
	if mine >= l.caps.PerSource {
		return false, nil
	}
	if l.open >= l.caps.Total {
		var top netip.Addr
		most := 0
		for src, cs := range l.bySource {
			if len(cs) > most {
				top, most = src, len(cs)
			}
		}
		if most <= mine+1 {
			return false, nil
		}
		evict = l.bySource[top][0]
		l.remove(evict) // counted out now; its Close finds it gone
	}
	l.open++
	l.openNow.Store(int64(l.open))
	l.bySource[c.src] = append(l.bySource[c.src], c)
	return true, evict
}

// release counts c out when it closes.
func (l *Listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remove(c)
}

// remove counts c out unless it already is; l.mu is held.
func (l *Listener) remove(c *conn) {
	if c.out {
		return
	}
	c.out = true
	l.open--
	l.openNow.Store(int64(l.open))
	cs := l.bySource[c.src]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(l.bySource, c.src)
	} else {
		l.bySource[c.src] = cs
	}
}

// Open returns the number of connections open now.
func (l *Listener) Open() int { return int(l.openNow.Load()) }

// Caps returns the listener's caps.
func (l *Listener) Caps() Conns { return l.caps }

// Rejected returns how many connections were closed at accept.
func (l *Listener) Rejected() uint64 { return l.rejected.Load() }

// conn frees its listener slot once, on the first Close or when it is
// evicted.
type conn struct {
	net.Conn
	l   *Listener
	src netip.Addr
	out bool // counted out of l; guarded by l.mu
}

func (c *conn) Close() error {
	// The slot is free before the peer can see the close, so a client
	// that reconnects at once finds it.
	c.l.release(c)
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
