package server

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/netlimit"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// maxPipelined bounds the queries one stream connection may have in
// flight; the connection is not read further until one is answered.
const maxPipelined = 64

// listenDoT binds a DNS-over-TLS listener (RFC 7858).
func (s *Server) listenDoT(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen dot %s: %w", addr, err)
	}
	s.mu.Lock()
	s.addrs.DoT = append(s.addrs.DoT, ln.Addr().String())
	s.mu.Unlock()
	s.serveStream(ln, pipeline.DoT)
	return nil
}

// minIdle is the idle timeout of a stream listener at its cap.
const minIdle = 200 * time.Millisecond

// streamListener accepts TCP or DoT connections from allowed sources, up
// to the caps in total and per source.
type streamListener struct {
	s         *Server
	ln        *netlimit.Listener
	transport pipeline.Transport

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (s *Server) serveStream(raw net.Listener, t pipeline.Transport) {
	// Refused sources and connections over the caps are closed at accept,
	// before a TLS handshake or a read: idle connections, even from
	// strangers, can then never lock allowed clients out.
	ln := netlimit.NewListener(raw, netlimit.Conns{Total: s.cfg.TCPConnections, PerSource: s.cfg.TCPPerSource}, s.admit)
	l := &streamListener{s: s, ln: ln, transport: t, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go l.accept()
	s.onClose(func() error {
		err := ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			// Stop reading new queries; answers in flight still go out.
			c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
		return err
	}, func() error {
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		return nil
	})
}

func (l *streamListener) accept() {
	defer l.s.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.s.log.Warn("accept", "addr", l.ln.Addr(), "err", err)
			time.Sleep(10 * time.Millisecond) // back off from fd exhaustion
			continue
		}
		l.mu.Lock()
		if l.s.closing.Load() {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.s.wg.Add(1)
		l.mu.Unlock()
		go l.serveConn(c)
	}
}

// streamConn serialises answers on one connection.
type streamConn struct {
	mu   sync.Mutex
	conn net.Conn
	buf  []byte
}

type streamAnswer struct {
	c   *streamConn
	out []byte
}

// send writes one length-prefixed answer. Answers may go out in any
// order (RFC 7766 6.2.1.1); each is written whole.
func (a *streamAnswer) send(b []byte) error {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	a.c.buf = binary.BigEndian.AppendUint16(a.c.buf[:0], uint16(len(b)))
	a.c.buf = append(a.c.buf, b...)
	a.c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := a.c.conn.Write(a.c.buf)
	return err
}

func (l *streamListener) serveConn(c net.Conn) {
	defer l.s.wg.Done()
	var pending sync.WaitGroup
	defer func() {
		pending.Wait()
		c.Close()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	conn := c
	m := meta{transport: l.transport}
	if ap, err := netipAddrPort(c.RemoteAddr()); err == nil {
		m.client = ap
	}
	if tc, ok := c.(*tls.Conn); ok || l.transport == pipeline.DoT {
		if !ok {
			tc = tls.Server(c, l.s.cfg.TLS)
			c = tc
		}
		tc.SetDeadline(time.Now().Add(l.idle()))
		if err := tc.Handshake(); err != nil {
			l.s.log.Debug("dot handshake", "client", m.client, "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		m.serverName = tc.ConnectionState().ServerName
	}
	sc := &streamConn{conn: c}
	r := bufio.NewReaderSize(c, 2048)
	sem := make(chan struct{}, maxPipelined)
	var lenb [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(l.idle()))
		if _, err := io.ReadFull(r, lenb[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint16(lenb[:])
		if n < 12 {
			return // not a DNS message: the stream is out of sync
		}
		raw := make([]byte, n)
		if _, err := io.ReadFull(r, raw); err != nil {
			return
		}
		sem <- struct{}{}
		pending.Add(1)
		l.s.wg.Add(1)
		go func() {
			defer func() {
				<-sem
				pending.Done()
				l.s.wg.Done()
			}()
			a := &streamAnswer{c: sc}
			if l.s.handle(raw, m, a, a.out, false) == malformed {
				// A client that sends garbage gets its FORMERR and no
				// second chance: its connection is closed at once rather
				// than left to idle out.
				conn.Close()
			}
		}()
	}
}

// idle returns the idle timeout for a connection's next read. Past half
// of the connection cap it shrinks linearly, down to minIdle at the cap,
// as Unbound and Knot do: the fuller the listener, the sooner idle
// connections make room for new ones.
func (l *streamListener) idle() time.Duration {
	base := l.s.cfg.TCPIdle
	open, total := l.ln.Open(), l.ln.Caps().Total
	if open*2 <= total {
		return base
	}
	d := base * time.Duration(total-open) / time.Duration(total-total/2)
	return max(d, minIdle)
}
