package app

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
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

// TestRateLimitCounted: a device over its query rate is refused over TCP,
// on the App's clock (no refill while it stands still), and /metrics
// counts each query limited, so the operator sees a flood.
func TestRateLimitCounted(t *testing.T) {
	e := startListening(t, `http: "127.0.0.1:0"`, apiConfig(t)+"limits: {qps: 1, burst: 2}\n", nil)
	c := newAPIClient(t, e)
	tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}}
	var refused int
	for range 5 {
		r, _, err := tcp.Exchange(query("example.com", dns.TypeA), e.tcp)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode == dns.RcodeRefused {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d of 5 queries refused, want 3 past the burst of 2", refused)
	}
	// Another device is not held back by the first one's flood.
	if r, _, err := clientFrom("127.0.0.3").Exchange(query("example.com", dns.TypeA), e.udp); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("another device: %v %v, want an answer", r, err)
	}
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hearth_rate_limited_total 3\n") {
		t.Errorf("/metrics lacks hearth_rate_limited_total 3:\n%s", grepLines(string(body), "hearth_rate_limit"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
