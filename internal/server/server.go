// Package server owns Hearth's listeners: plain DNS over UDP and TCP, DNS
// over TLS and DNS over HTTPS. It bounds what each client may send, checks
// the header before unpacking, refuses sources outside the allowed
// networks, answers protocol errors itself, recovers from panics per query,
// and hands every valid query to the pipeline.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/access"
	"github.com/hearth-dns/hearth/internal/netlimit"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Config configures a Server.
type Config struct {
	// DNS addresses serve plain DNS on UDP and TCP (the same port).
	DNS []string
	// DoT addresses serve DNS over TLS (RFC 7858).
	DoT []string
	// DoH addresses serve DNS over HTTPS (RFC 8484) at /dns-query.
	DoH []string
	// TLS is required when DoT or DoH addresses are given.
	TLS *tls.Config
	// Handler answers every accepted query.
	Handler pipeline.Handler
	// Allow lists the source networks that get answers; others get
	// REFUSED with EDE 18.
	Allow []netip.Prefix
	// TCPIdle closes stream connections idle this long (default 10 s).
	TCPIdle time.Duration
	// TCPConnections caps open stream connections per listener (default
	// 1000). Past half of it, the idle timeout shrinks.
	TCPConnections int
	// TCPPerSource caps open stream connections per listener from one
	// source address (default 64).
	TCPPerSource int
	// DoHLimits bounds the DoH listeners' HTTP servers (default
	// DefaultDoH).
	DoHLimits *netlimit.HTTP
	// Limiter rate-limits clients and answers; nil: no limits. The
	// Access step of the pipeline (its Middleware) limits queries; the
	// listeners use it to limit REFUSED answers to strangers.
	Limiter *access.Limiter
	// UDPSockets is the number of SO_REUSEPORT sockets per UDP address,
	// each with a reader that waits in the kernel and holds one of the
	// runtime's Ps meanwhile (default GOMAXPROCS-1, at least 1, so one P
	// stays free for upstream answers, workers and timers).
	UDPSockets int
	// UDPPause is how long a UDP reader waits before reading again while
	// datagrams arrive at least twice that often, so that one wake-up
	// reads several (less CPU per query, up to UDPPause more latency);
	// 0: never (Linux only).
	UDPPause time.Duration
	// Logger receives listener and per-query failure logs.
	Logger *slog.Logger
}

// Addrs are the addresses a started Server listens on, with the ports the
// kernel picked for ":0".
type Addrs struct {
	UDP, TCP, DoT, DoH []string
}

// state is what each query reads: swapped whole by Update.
type state struct {
	handler pipeline.Handler
	allow   []netip.Prefix
}

// Server runs the listeners of one configuration.
type Server struct {
	cfg   Config
	log   *slog.Logger
	state atomic.Pointer[state]

	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	// wg counts reader and accept loops, connections and queries being
	// answered. A loop adds each query it reads while it is itself still
	// counted, so the count never drops to zero while work can arrive.
	wg      sync.WaitGroup
	closing atomic.Bool

	mu      sync.Mutex
	addrs   Addrs
	closers []func() error // stop accepting new work
	finals  []func() error // release sockets after in-flight queries finish
}

// New validates c and returns a Server that is not yet listening.
func New(c Config) (*Server, error) {
	if c.Handler == nil {
		return nil, errors.New("server: no handler")
	}
	if len(c.DNS)+len(c.DoT)+len(c.DoH) == 0 {
		return nil, errors.New("server: no listen address")
	}
	if len(c.DoT)+len(c.DoH) > 0 && c.TLS == nil {
		return nil, errors.New("server: DoT and DoH listeners need a TLS certificate")
	}
	if c.TCPIdle <= 0 {
		c.TCPIdle = 10 * time.Second
	}
	if c.TCPConnections <= 0 {
		c.TCPConnections = 1000
	}
	if c.TCPPerSource <= 0 {
		c.TCPPerSource = 64
	}
	if c.DoHLimits == nil {
		d := DefaultDoH()
		c.DoHLimits = &d
	}
	if err := c.DoHLimits.Validate(); err != nil {
		return nil, fmt.Errorf("server: doh limits: %w", err)
	}
	if c.UDPSockets <= 0 {
		c.UDPSockets = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: c, log: c.Logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.state.Store(&state{handler: c.Handler, allow: c.Allow})
	return s, nil
}

// Update swaps the handler and the allowed networks. Queries already
// being answered finish with the old ones; later queries use the new.
func (s *Server) Update(h pipeline.Handler, allow []netip.Prefix) {
	s.state.Store(&state{handler: h, allow: allow})
}

// Start binds every listener and starts serving. When one address cannot
// be bound, Start closes what it opened and returns the error.
func (s *Server) Start() error {
	var err error
	for _, a := range s.cfg.DNS {
		if err = s.listenDNS(a); err != nil {
			break
		}
	}
	if err == nil {
		for _, a := range s.cfg.DoT {
			if err = s.listenDoT(a); err != nil {
				break
			}
		}
	}
	if err == nil {
		for _, a := range s.cfg.DoH {
			if err = s.listenDoH(a); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.Shutdown(context.Background())
		return err
	}
	return nil
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Shutdown stops accepting queries, waits for the ones in flight to be
// answered (or for ctx to end), then closes every socket.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	closers, finals := s.closers, s.finals
	s.closers, s.finals = nil, nil
	s.mu.Unlock()
	for _, c := range closers {
		c()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("server: shutdown: %w", ctx.Err())
	}
	s.cancel()
	for _, f := range finals {
		f()
	}
	<-done
	return err
}

func (s *Server) onClose(stop, final func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stop != nil {
		s.closers = append(s.closers, stop)
	}
	if final != nil {
		s.finals = append(s.finals, final)
	}
}

// admit reports whether src is in the allowed networks now: the stream
// listeners close other sources' connections at accept.
func (s *Server) admit(src netip.Addr) bool {
	return allowed(s.state.Load().allow, src)
}

// allowed reports whether src may query.
func allowed(allow []netip.Prefix, src netip.Addr) bool {
	src = src.Unmap()
	for _, p := range allow {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// isClosed reports whether err comes from a closed socket or a deadline
// set to stop a loop.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled)
}
