package upstream

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxIdleConns is how many idle DoT connections each upstream keeps.
	// Concurrent queries beyond it open extra connections, which are
	// closed instead of pooled when they finish.
	maxIdleConns = 4
	// idleTimeout is how long an idle DoT connection is kept. Servers
	// close idle connections after 10 to 30 s (RFC 7766 section 6.2.3
	// suggests seconds); dropping ours first avoids most writes into a
	// connection the server has already closed.
	idleTimeout = 10 * time.Second
)

// tlsClient speaks DNS over TLS (RFC 7858): the stream framing of TCP
// inside TLS, one query at a time per connection, with idle connections
// kept for reuse and TLS sessions resumed through conf's session cache.
type tlsClient struct {
	addrs  *hostAddrs
	port   uint16
	conf   *tls.Config
	bufs   *bufPool
	dialer net.Dialer

	mu     sync.Mutex
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	conn  *tls.Conn
	since time.Time
}

func (c *tlsClient) exchange(ctx context.Context, q *query) (*dns.Msg, error) {
	for {
		conn := c.get()
		reused := conn != nil
		if !reused {
			var err error
			if conn, err = c.dial(ctx); err != nil {
				return nil, err
			}
		}
		m, err := c.roundTrip(ctx, conn, q)
		if err == nil {
			return m, nil
		}
		// A pooled connection the server closed meanwhile fails at once
		// with EOF or a reset: try the next one, or a fresh one. A timeout
		// has used up the deadline, so it is not retried.
		if !reused || ctx.Err() != nil || isTimeout(err) {
			return nil, err
		}
	}
}

// roundTrip sends q on conn and reads the answer. It pools conn after a
// clean exchange and closes it otherwise.
func (c *tlsClient) roundTrip(ctx context.Context, conn *tls.Conn, q *query) (*dns.Msg, error) {
	stop := watch(ctx, conn)
	m, err := exchangeStream(ctx, conn, q, c.bufs)
	if !stop() || err != nil {
		conn.Close()
		return m, err
	}
	_ = conn.SetDeadline(time.Time{})
	c.put(conn)
	return m, nil
}

// dial opens and hands-shakes a new connection, trying each address.
func (c *tlsClient) dial(ctx context.Context) (*tls.Conn, error) {
	addrs, err := c.addrs.get(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := dialAny(ctx, &c.dialer, addrs, c.port)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, c.conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, ioError(ctx, "tls handshake", err)
	}
	return conn, nil
}

// get returns the most recently used idle connection, closing any that
// idled too long, or nil.
func (c *tlsClient) get() *tls.Conn {
	now := time.Now()
	var stale []*tls.Conn
	var conn *tls.Conn
	c.mu.Lock()
	for len(c.idle) > 0 {
		ic := c.idle[len(c.idle)-1]
		c.idle[len(c.idle)-1] = idleConn{}
		c.idle = c.idle[:len(c.idle)-1]
		if now.Sub(ic.since) < idleTimeout {
			conn = ic.conn
			break
		}
		stale = append(stale, ic.conn)
	}
	c.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	return conn
}

// put pools conn, or closes it when the pool is full or closed.
func (c *tlsClient) put(conn *tls.Conn) {
	c.mu.Lock()
	if !c.closed && len(c.idle) < maxIdleConns {
		c.idle = append(c.idle, idleConn{conn: conn, since: time.Now()})
		conn = nil
	}
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// closeIdle closes the pooled connections. With stop, connections handed
// back later are closed too. Close errors are dropped: the server may have
// closed its side long ago, and there is nothing left to do about them.
func (c *tlsClient) closeIdle(stop bool) {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	if stop {
		c.closed = true
	}
	c.mu.Unlock()
	for _, ic := range idle {
		ic.conn.Close()
	}
}

func (c *tlsClient) close() error {
	c.closeIdle(true)
	return nil
}
