package app

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowHTTPClientsCannotLockOutUI holds slow requests open against the
// admin UI, the block page and DoH from one source, past its
// per-source cap, and checks that the extra connection is closed at once
// while a fresh client still loads the login page and the block page.
// Before the limits, every slow client held a file descriptor until the
// server ran out.
func TestSlowHTTPClientsCannotLockOutUI(t *testing.T) {
	e := startListening(t, `http: "127.0.0.1:0", block_page: "127.0.0.1:0"`,
		"limits: {http_per_source: 4, http_connections: 16, http_header_timeout: 1h}\n", nil)
	listeners := []struct {
		name, addr, path string
	}{
		{"ui", e.app.HTTPAddr(), "/"},
		{"block page", e.app.BlockPageAddr(), "/"},
	}
	for _, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			slow := func() net.Conn {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
				c, err := d.Dial("tcp", l.addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\n")
				return c
			}
			for range 4 {
				slow()
			}
			extra := slow()
			extra.SetReadDeadline(time.Now().Add(5 * time.Second)) // bounds a broken server
			_, err := extra.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow connection past the per-source cap left open (%v)", err)
			}
			c := &http.Client{Timeout: time.Second}
			resp, err := c.Get("http://" + l.addr + l.path)
			if err != nil {
				t.Fatalf("fresh client: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "<html") {
				t.Fatalf("fresh client got %d: %.100s", resp.StatusCode, body)
			}
		})
	}
}
