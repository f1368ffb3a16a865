package netlimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// serve starts an HTTP server with limits h on a loopback port and
// returns its address.
func serve(t *testing.T, h HTTP, log *slog.Logger) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, "login page")
	})
	ln, err := h.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(mux, h, log)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closes c without answering,
// waiting at most 10 s (a bound for a broken test, not a synchronisation).
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(fmt.Sprint(err), "reset"))
}

// get fetches / from addr using source address src.
func get(t *testing.T, src, addr string) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET from %s: %v", src, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSlowClientsCannotLockOut opens idle connections that send half a
// request and checks who gets in next: past the per-source cap the
// source's new connection is closed at once; when the listener is full, a
// fresh client takes the slot of the oldest connection of the source that
// holds the most, unless no source holds more than it would. Without the
// caps every slow client would hold a file descriptor until the server ran
// out; without the eviction, a few attackers together would fill the
// listener and lock everyone else out.
func TestSlowClientsCannotLockOut(t *testing.T) {
	tests := []struct {
		name       string
		conns      Conns
		holders    []string // sources that fill their slots with slow requests
		newcomer   string
		wantServed bool // else the newcomer's connection is closed at once
		evicted    int  // index of the holder that must be closed, or -1
	}{
		{"per source", Conns{Total: 6, PerSource: 3}, []string{"127.0.0.2", "127.0.0.2", "127.0.0.2"}, "127.0.0.2", false, -1},
		{"full: newcomer evicts the biggest holder", Conns{Total: 5, PerSource: 3},
			[]string{"127.0.0.3", "127.0.0.4", "127.0.0.4", "127.0.0.4", "127.0.0.5"}, "127.0.0.1", true, 1},
		{"full of equals", Conns{Total: 3, PerSource: 3}, []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"}, "127.0.0.1", false, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := DefaultHTTP()
			h.HeaderTimeout = time.Hour // the caps, not the timeout, must act
			h.Conns = tc.conns
			addr := serve(t, h, nil)
			var held []net.Conn
			for _, src := range tc.holders {
				c := dialFrom(t, src, addr)
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\n")
				held = append(held, c)
			}
			// The kernel hands connections to Accept in order, so the
			// newcomer is accepted after every holder.
			if tc.wantServed {
				if code, body := get(t, tc.newcomer, addr); code != 200 || body != "login page" {
					t.Fatalf("newcomer got %d %q", code, body)
				}
			} else {
				c := dialFrom(t, tc.newcomer, addr)
				io.WriteString(c, "GET / HTTP/1.1\r\n")
				if !closedByServer(c) {
					t.Fatalf("connection from %s past the cap was not closed", tc.newcomer)
				}
			}
			if tc.evicted >= 0 && !closedByServer(held[tc.evicted]) {
				t.Fatalf("holder %d (%s) was not evicted", tc.evicted, tc.holders[tc.evicted])
			}
		})
	}
}

// TestHTTPLimits sends requests over each limit and checks the status or
// the closed connection.
func TestHTTPLimits(t *testing.T) {
	h := DefaultHTTP()
	h.HeaderTimeout = 50 * time.Millisecond
	h.MaxHeaderBytes = 4096
	h.MaxBodyBytes = 1000
	addr := serve(t, h, nil)
	tests := []struct {
		name     string
		request  string
		wantCode string // "" : the server closes without a status line
	}{
		{"small body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", "200"},
		{"body over the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000), "413"},
		{"headers over the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("x", 10000) + "\r\n\r\n", "431"},
		{"slow headers", "GET / HTTP/1.1\r\nHost: x\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", addr)
			io.WriteString(c, tc.request)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(c, 64))
			if tc.wantCode == "" {
				if len(b) != 0 && !bytes.Contains(b, []byte("408")) {
					t.Fatalf("slow client got %q, want the connection closed", b)
				}
				if len(b) == 0 && !closedByServer(c) {
					t.Fatal("slow client's connection left open")
				}
				return
			}
			if !bytes.HasPrefix(b, []byte("HTTP/1.1 "+tc.wantCode)) {
				t.Fatalf("got %q, want status %s", b, tc.wantCode)
			}
		})
	}
}

// TestErrorLogRateLimited makes the server log a TLS handshake error per
// connection and checks that the log keeps to its burst.
func TestErrorLogRateLimited(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ln, err := DefaultHTTP().Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewHTTPServer(http.NotFoundHandler(), DefaultHTTP(), log)
	done := make(chan struct{})
	s.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			done <- struct{}{}
		}
	}
	cert := dnstest.NewCert(t)
	go s.ServeTLS(ln, cert.CertFile, cert.KeyFile)
	defer s.Close()
	const n = 3 * logBurst
	for range n {
		c := dialFrom(t, "127.0.0.1", ln.Addr().String())
		io.WriteString(c, "not a TLS hello\r\n\r\n")
		<-done
		c.Close()
	}
	lines := strings.Count(buf.String(), "\n")
	if lines != logBurst {
		t.Fatalf("%d log lines for %d bad clients, want %d:\n%s", lines, n, logBurst, buf.String())
	}
}

// TestRateLimitedHandler checks the burst, the period and the report of
// dropped lines against a fake clock.
func TestRateLimitedHandler(t *testing.T) {
	var buf syncBuffer
	now := time.Unix(1000, 0)
	h := NewRateLimitedHandler(slog.NewTextHandler(&buf, nil), 2, time.Minute, func() time.Time { return now })
	log := slog.New(h).With("listener", "admin")
	for range 5 {
		log.Warn("bad request")
	}
	if got := strings.Count(buf.String(), "bad request"); got != 2 {
		t.Fatalf("%d lines in the first period, want 2", got)
	}
	now = now.Add(time.Minute)
	log.Warn("bad request")
	out := buf.String()
	if !strings.Contains(out, "dropped=3") || strings.Count(out, "bad request") != 3 {
		t.Fatalf("after a period: %s", out)
	}
	if !strings.Contains(out, "listener=admin") {
		t.Errorf("attributes lost: %s", out)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*HTTP)
		want   string
	}{
		{"default", func(*HTTP) {}, ""},
		{"zero timeout", func(h *HTTP) { h.Timeout = 0 }, "timeout"},
		{"small headers", func(h *HTTP) { h.MaxHeaderBytes = 10 }, "header bytes"},
		{"zero per source", func(h *HTTP) { h.Conns.PerSource = 0 }, "per-source"},
		{"negative streams", func(h *HTTP) { h.Streams = -1 }, "streams"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := DefaultHTTP()
			tc.change(&h)
			err := h.Validate()
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
