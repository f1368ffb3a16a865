package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// exchanger sends one prepared query to one upstream and returns the
// matching answer. The answer's ID is the one used on the wire; Group
// restores the client's.
type exchanger interface {
	exchange(ctx context.Context, q *query) (*dns.Msg, error)
	close() error
}

// bufPool recycles read buffers large enough for any DNS message plus the
// 2-byte length prefix of stream transports. Unpacking copies everything
// out of the buffer, so it can be reused as soon as the answer is parsed.
type bufPool struct{ p sync.Pool }

func (b *bufPool) get() *[]byte {
	if v := b.p.Get(); v != nil {
		return v.(*[]byte)
	}
	s := make([]byte, maxMsgSize+2)
	return &s
}

func (b *bufPool) put(p *[]byte) { b.p.Put(p) }

// watch applies ctx to conn: its deadline becomes the connection's, and
// cancelling ctx unblocks any read or write at once. The returned stop
// reports false when cancellation already fired, after which conn must not
// be reused.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
}

// ioError wraps err from an I/O step; when ctx is done it reports ctx's
// error instead, since a cancelled read fails with a misleading timeout.
func ioError(ctx context.Context, action string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		err = cerr
	}
	return fmt.Errorf("%s: %w", action, err)
}

// isTimeout reports whether err is a timeout (of a deadline or the
// context) rather than a network error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// plainClient speaks classic DNS: UDP with a TCP retry on truncation, or
// TCP only.
type plainClient struct {
	addr    string       // "ip:port"
	udpAddr *net.UDPAddr // addr, parsed once
	tcpOnly bool
	bufs    *bufPool
	dialer  net.Dialer

	mu   sync.Mutex
	idle []*udpSock // sockets free for their next query, newest last
}

// A UDP socket answers at most udpSockUses queries, one at a time, for at
// most udpSockAge, then is closed, so source ports keep changing (RFC 5452
// section 9.2) while most queries skip the cost of a new socket: dialing
// one per query took a quarter of the CPU of a cache miss in profiles.
// Each query still has its own random ID, and an answer must match both
// ID and question, so a late answer to an earlier query is discarded.
const (
	udpSockUses = 64
	udpSockAge  = 5 * time.Second
	udpSockIdle = 64
)

// udpSock is a connected UDP socket and how much it has been used.
type udpSock struct {
	conn *net.UDPConn
	uses int
	born time.Time
}

// getSock returns an idle socket young enough to reuse, or a new one.
func (c *plainClient) getSock() (*udpSock, error) {
	now := time.Now()
	c.mu.Lock()
	for len(c.idle) > 0 {
		s := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if now.Sub(s.born) < udpSockAge {
			c.mu.Unlock()
			return s, nil
		}
		s.conn.Close()
	}
	c.mu.Unlock()
	// Dialing UDP sends nothing, so it needs no context; DialUDP skips
	// parsing the address again.
	conn, err := net.DialUDP("udp", nil, c.udpAddr)
	if err != nil {
		return nil, err
	}
	return &udpSock{conn: conn, born: now}, nil
}

// putSock keeps s for another query when reusable is true and s has uses
// and time left, else closes it.
func (c *plainClient) putSock(s *udpSock, reusable bool) {
	s.uses++
	if reusable && s.uses < udpSockUses && time.Since(s.born) < udpSockAge {
		c.mu.Lock()
		if len(c.idle) < udpSockIdle {
			c.idle = append(c.idle, s)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
	s.conn.Close()
}

func (c *plainClient) exchange(ctx context.Context, q *query) (*dns.Msg, error) {
	if !c.tcpOnly {
		m, err := c.exchangeUDP(ctx, q)
		if err != nil || !m.Truncated {
			return m, err
		}
		// Truncated: ask again over TCP (RFC 7766 section 5).
	}
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, ioError(ctx, "dialing tcp", err)
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	return exchangeStream(ctx, conn, q, c.bufs)
}

// exchangeUDP sends q from a socket with a kernel-chosen random source
// port that is new or has served only a few queries (see udpSockUses) and
// reads until a matching answer arrives or ctx ends.
func (c *plainClient) exchangeUDP(ctx context.Context, q *query) (_ *dns.Msg, err error) {
	sock, err := c.getSock()
	if err != nil {
		return nil, ioError(ctx, "dialing udp", err)
	}
	conn := sock.conn
	if _, ok := ctx.Deadline(); !ok {
		// Clear a deadline left by the socket's previous query, before
		// the watcher below may set one for this query's cancellation.
		_ = conn.SetDeadline(time.Time{})
	}
	stop := watch(ctx, conn)
	defer func() {
		// Reuse only a socket that worked and whose context watcher never
		// fired: a fired watcher may still be setting a past deadline.
		stopped := stop()
		c.putSock(sock, err == nil && stopped)
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	bp := c.bufs.get()
	defer c.bufs.put(bp)
	buf := *bp
	n := copy(buf, q.wire)
	id := newID()
	setID(buf, id)
	if _, err := conn.Write(buf[:n]); err != nil {
		return nil, ioError(ctx, "sending query", err)
	}
	for {
		// The socket is connected, so the kernel already drops datagrams
		// from other addresses; ID and question catch the rest.
		n, err := conn.Read(buf)
		if err != nil {
			return nil, ioError(ctx, "reading answer", err)
		}
		m, err := parseAnswer(buf[:n], id, q)
		if err == nil {
			return m, nil
		}
	}
}

func (c *plainClient) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.idle {
		s.conn.Close()
	}
	c.idle = nil
	return nil
}

// exchangeStream sends q over a stream connection with the 2-byte length
// prefix of RFC 1035 section 4.2.2 and reads answers until one matches.
// The caller has applied ctx to conn with watch.
func exchangeStream(ctx context.Context, conn net.Conn, q *query, bufs *bufPool) (*dns.Msg, error) {
	bp := bufs.get()
	defer bufs.put(bp)
	buf := *bp
	n := copy(buf[2:], q.wire)
	binary.BigEndian.PutUint16(buf, uint16(n))
	id := newID()
	setID(buf[2:], id)
	// One write, so the query leaves in one segment.
	if _, err := conn.Write(buf[:2+n]); err != nil {
		return nil, ioError(ctx, "sending query", err)
	}
	for {
		if _, err := io.ReadFull(conn, buf[:2]); err != nil {
			return nil, ioError(ctx, "reading answer length", err)
		}
		l := int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(conn, buf[:l]); err != nil {
			return nil, ioError(ctx, "reading answer", err)
		}
		m, err := parseAnswer(buf[:l], id, q)
		if errors.Is(err, errMismatch) {
			continue
		}
		return m, err
	}
}

// dialAny connects to the first of addrs that accepts a TCP connection on
// port, in order; IPv4 addresses come first from the bootstrap, so a host
// without IPv6 connectivity fails fast on the v6 ones only afterwards.
func dialAny(ctx context.Context, d *net.Dialer, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no addresses to dial")
	}
	return nil, ioError(ctx, "dialing", errors.Join(errs...))
}

func newPlainClient(ap netip.AddrPort, tcpOnly bool, bufs *bufPool) *plainClient {
	return &plainClient{addr: ap.String(), udpAddr: net.UDPAddrFromAddrPort(ap), tcpOnly: tcpOnly, bufs: bufs}
}
