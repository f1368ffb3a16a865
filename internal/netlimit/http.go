package netlimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// HTTP bounds one HTTP server: how long a client may take, how much it
// may send, and how many connections it may hold.
type HTTP struct {
	// HeaderTimeout bounds reading a request's headers (slow-loris).
	HeaderTimeout time.Duration
	// Timeout bounds reading a whole request and writing its response.
	Timeout time.Duration
	// Idle closes keep-alive connections idle this long.
	Idle time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body; larger bodies fail to read
	// and the handler answers 413.
	MaxBodyBytes int64
	// Conns caps open connections in total and per source.
	Conns Conns
	// Streams caps concurrent HTTP/2 streams per connection (0: Go's
	// default of 250).
	Streams int
	// BulkBodyBytes lifts MaxBodyBytes for POSTs to these exact paths:
	// handlers that read their body as a stream, never whole, and extend
	// their own read deadline as it arrives (a bulk import).
	BulkBodyBytes map[string]int64
}

// DefaultHTTP returns limits sized for a home: a few browsers and phones.
func DefaultHTTP() HTTP {
	return HTTP{
		HeaderTimeout:  5 * time.Second,
		Timeout:        30 * time.Second,
		Idle:           60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		MaxBodyBytes:   1 << 20,
		Conns:          Conns{Total: 512, PerSource: 64},
	}
}

// Validate reports the first setting that is out of range.
func (h HTTP) Validate() error {
	switch {
	case h.HeaderTimeout <= 0:
		return errors.New("header timeout must be positive")
	case h.Timeout <= 0:
		return errors.New("timeout must be positive")
	case h.Idle <= 0:
		return errors.New("idle timeout must be positive")
	case h.MaxHeaderBytes < 1024:
		return fmt.Errorf("max header bytes %d is below 1024", h.MaxHeaderBytes)
	case h.MaxBodyBytes <= 0:
		return errors.New("max body bytes must be positive")
	case h.Streams < 0:
		return errors.New("streams must not be negative")
	}
	return h.Conns.Validate()
}

// NewHTTPServer returns an http.Server for handler with the limits of h.
// Its error log (TLS handshake failures, bad requests) goes to log at
// most logBurst lines a minute, the rest counted and reported, so a flood
// of bad clients cannot flood the log too. Serve it on a Listener made
// with h.Listen, or on one wrapped with NewListener.
func NewHTTPServer(handler http.Handler, h HTTP, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rl := NewRateLimitedHandler(log.Handler(), logBurst, time.Minute, nil)
	s := &http.Server{
		Handler:           bodyLimit(handler, h.MaxBodyBytes, h.BulkBodyBytes),
		ReadHeaderTimeout: h.HeaderTimeout,
		ReadTimeout:       h.Timeout,
		WriteTimeout:      h.Timeout,
		IdleTimeout:       h.Idle,
		MaxHeaderBytes:    h.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(rl, slog.LevelWarn),
	}
	if h.Streams > 0 {
		s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: h.Streams}
	}
	return s
}

// bodyLimit is http.MaxBytesHandler with a larger cap for bulk paths.
func bodyLimit(next http.Handler, n int64, bulk map[string]int64) http.Handler {
	if len(bulk) == 0 {
		return http.MaxBytesHandler(next, n)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := n
		if b, ok := bulk[r.URL.Path]; ok && r.Method == http.MethodPost {
			limit = b
		}
		r2 := *r
		r2.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, &r2)
	})
}

// logBurst is how many lines an HTTP server's error log writes a minute.
const logBurst = 20

// Listen binds addr and wraps it with the connection caps of h.
func (h HTTP) Listen(addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewListener(ln, h.Conns, nil), nil
}
