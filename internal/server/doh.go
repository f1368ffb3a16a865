package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/netlimit"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// dohType is the media type of DNS messages over HTTPS (RFC 8484 6).
const dohType = "application/dns-message"

// DefaultDoH returns the DoH listeners' HTTP limits: those of every
// Hearth HTTP server, with room for a whole home's browsers and phones,
// and HTTP/2 streams enough for 2,000 queries a second on one connection
// while an upstream takes half a second.
func DefaultDoH() netlimit.HTTP {
	h := netlimit.DefaultHTTP()
	h.Timeout = 10 * time.Second
	h.MaxBodyBytes = dns.MaxMsgSize
	h.Conns = netlimit.Conns{Total: 1000, PerSource: 32}
	h.Streams = 1000
	return h
}

// listenDoH binds a DNS-over-HTTPS listener (RFC 8484), HTTP/2 over TLS,
// answering at /dns-query and /dns-query/{client-id}. Sources outside the
// allowed networks are closed at accept, like those over the caps.
func (s *Server) listenDoH(addr string) error {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen doh %s: %w", addr, err)
	}
	limits := *s.cfg.DoHLimits
	ln := netlimit.NewListener(raw, limits.Conns, s.admit)
	hs := netlimit.NewHTTPServer(s.DoHHandler(), limits, s.log.With("listener", "doh"))
	hs.TLSConfig = s.cfg.TLS.Clone()
	hs.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	if err := serveH2(hs, max(limits.Streams, 1)); err != nil {
		raw.Close()
		return fmt.Errorf("doh %s: %w", addr, err)
	}
	s.mu.Lock()
	s.addrs.DoH = append(s.addrs.DoH, ln.Addr().String())
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := hs.ServeTLS(ln, "", "")
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("doh listener", "addr", addr, "err", err)
		}
	}()
	s.onClose(func() error {
		// Shutdown waits for the requests being answered, then closes.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(ctx)
	}, nil)
	return nil
}

// DoHHandler returns the HTTP handler for DNS over HTTPS: GET with a
// base64url "dns" parameter and POST with a DNS message body, at
// /dns-query and /dns-query/{client-id}.
func (s *Server) DoHHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/dns-query", s.serveDoH)
	mux.HandleFunc("/dns-query/{id}", s.serveDoH)
	return mux
}

// dohAnswer writes the answer as the HTTP response body.
type dohAnswer struct {
	w    http.ResponseWriter
	sent bool
	out  [2048]byte
}

func (a *dohAnswer) send(b []byte) error {
	a.sent = true
	h := a.w.Header()
	h.Set("Content-Type", dohType)
	h.Set("Cache-Control", fmt.Sprintf("max-age=%d", minTTL(b)))
	_, err := a.w.Write(b)
	return err
}

func (s *Server) serveDoH(w http.ResponseWriter, r *http.Request) {
	var raw []byte
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query().Get("dns")
		if q == "" {
			http.Error(w, "missing dns parameter", http.StatusBadRequest)
			return
		}
		var err error
		if raw, err = base64.RawURLEncoding.DecodeString(q); err != nil || len(raw) > dns.MaxMsgSize {
			http.Error(w, "dns parameter is not base64url of a DNS message", http.StatusBadRequest)
			return
		}
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != dohType {
			http.Error(w, "content type must be "+dohType, http.StatusUnsupportedMediaType)
			return
		}
		var err error
		raw, err = io.ReadAll(http.MaxBytesReader(w, r.Body, dns.MaxMsgSize))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(raw) < 12 {
		http.Error(w, "not a DNS message", http.StatusBadRequest)
		return
	}
	m := meta{transport: pipeline.DoH, clientID: r.PathValue("id")}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		m.client = ap
	}
	if r.TLS != nil {
		m.serverName = r.TLS.ServerName
	}
	a := &dohAnswer{w: w}
	s.wg.Add(1)
	s.handle(raw, m, a, a.out[:0], false)
	s.wg.Done()
	if !a.sent {
		// Dropped (a response sent as a query, say): say so in HTTP.
		http.Error(w, "query not answered", http.StatusBadRequest)
	}
}

// minTTL returns the smallest TTL in a packed answer, for HTTP caching
// (RFC 8484 5.1); 0 when it cannot tell.
func minTTL(b []byte) uint32 {
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		return 0
	}
	ttl, found := uint32(0), false
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if t := rr.Header().Ttl; !found || t < ttl {
				ttl, found = t, true
			}
		}
	}
	return ttl
}

// netipAddrPort converts a TCP or UDP net.Addr.
func netipAddrPort(a net.Addr) (netip.AddrPort, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort(), nil
	case *net.UDPAddr:
		return a.AddrPort(), nil
	}
	return netip.ParseAddrPort(a.String())
}
