// Command abuseload is the load generator of scripts/bench-abuse: it runs
// one attack or measurement against a DNS server on loopback and prints one
// line of key=value results. Every mode stops by itself (-d).
//
//	idle      hold -n idle TCP (or -tls DoT) connections from -src; prints
//	          how many are open a second after the last was dialed
//	slowhttp  hold -n slow HTTP requests (half a header) from -srcs sources
//	probe     a fresh client: -qps queries over UDP, TCP, DoT and DoH;
//	          loss and p99 per transport; with -login, the login page's load time
//	flood     random subdomains over UDP at -qps from -src (fire and forget)
//	malformed -n garbage datagrams at full speed
//	doh       -qps queries over ONE HTTP/2 connection; sent, lost, p99
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
)

var (
	mode    = flag.String("mode", "", "idle, slowhttp, probe, flood, malformed or doh")
	addr    = flag.String("addr", "127.0.0.1:53", "target (DNS, DoT or HTTP host:port)")
	udpA    = flag.String("udp", "", "probe: UDP and TCP address")
	dotA    = flag.String("dot", "", "probe: DoT address")
	dohA    = flag.String("doh", "", "probe: DoH host:port")
	login   = flag.String("login", "", "probe: URL of a page to time")
	src     = flag.String("src", "127.0.0.1", "source address")
	srcs    = flag.Int("srcs", 1, "slowhttp: spread over this many sources from -src up")
	n       = flag.Int("n", 1000, "connections or packets")
	qps     = flag.Int("qps", 100, "queries a second")
	dur     = flag.Duration("d", 10*time.Second, "how long to run")
	useTLS  = flag.Bool("tls", false, "idle: DoT (TLS) connections")
	timeout = flag.Duration("timeout", 2*time.Second, "a query is lost after this")
	ready   = flag.String("ready", "", "idle, slowhttp: create this file once every connection was dialed")
)

// dialed waits until the dials holding sem are done, then creates -ready.
func dialed(sem chan struct{}) {
	for range cap(sem) {
		sem <- struct{}{}
	}
	if *ready != "" {
		os.WriteFile(*ready, nil, 0o644)
	}
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	switch *mode {
	case "idle":
		idle(ctx)
	case "slowhttp":
		slowHTTP(ctx)
	case "probe":
		probe(ctx)
	case "flood":
		flood(ctx)
	case "malformed":
		malformed()
	case "doh":
		dohOne(ctx)
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

var insecure = &tls.Config{InsecureSkipVerify: true, ServerName: "dns.test"}

func dialer(s string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(s)}, Timeout: 2 * time.Second}
}

func nthSource(i int) string {
	ip := net.ParseIP(*src).To4()
	out := make(net.IP, 4)
	copy(out, ip)
	out[3] += byte(i % *srcs)
	return out.String()
}

// idle opens connections and holds them until the end.
func idle(ctx context.Context) {
	var open atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialer(*src).DialContext(ctx, "tcp", *addr)
			<-sem
			if err != nil {
				return
			}
			defer c.Close()
			if *useTLS {
				tc := tls.Client(c, insecure)
				if tc.HandshakeContext(ctx) != nil {
					return
				}
			}
			open.Add(1)
			defer open.Add(-1)
			go func() { <-ctx.Done(); c.Close() }()
			io.Copy(io.Discard, c) // until the server or the end closes it
		}()
	}
	dialed(sem)
	time.Sleep(time.Second) // the server's closes at accept arrive
	fmt.Printf("idle_open=%d\n", open.Load())
	wg.Wait()
}

func deadline(ctx context.Context) time.Time { d, _ := ctx.Deadline(); return d }

// slowHTTP holds half-sent requests.
func slowHTTP(ctx context.Context) {
	var open atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for i := range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialer(nthSource(i)).DialContext(ctx, "tcp", *addr)
			<-sem
			if err != nil {
				return
			}
			defer c.Close()
			io.WriteString(c, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\n")
			open.Add(1)
			defer open.Add(-1)
			go func() { <-ctx.Done(); c.Close() }()
			io.Copy(io.Discard, c)
		}()
	}
	dialed(sem)
	time.Sleep(time.Second)
	fmt.Printf("slow_open=%d\n", open.Load())
	wg.Wait()
}

// result counts one transport's queries.
type result struct {
	mu        sync.Mutex
	sent, ok  int
	latencies []time.Duration
}

func (r *result) add(d time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	if ok {
		r.ok++
		r.latencies = append(r.latencies, d)
	}
}

func (r *result) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.latencies)
	p99 := time.Duration(0)
	if len(r.latencies) > 0 {
		p99 = r.latencies[len(r.latencies)*99/100]
	}
	lost := 0.0
	if r.sent > 0 {
		lost = 100 * float64(r.sent-r.ok) / float64(r.sent)
	}
	return fmt.Sprintf("sent=%d lost_pct=%.2f p99_ms=%.1f", r.sent, lost, float64(p99.Microseconds())/1000)
}

// ticker calls f qps times a second, each in its own goroutine, until ctx ends.
func ticker(ctx context.Context, rate int, f func(i int)) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				wg.Wait()
				return
			}
		}
		if ctx.Err() != nil {
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
}

func qname(i int) string { return fmt.Sprintf("p%d-%d.example.", i, rand.IntN(1<<30)) }

// probe is a fresh allowed client asking over every transport.
func probe(ctx context.Context) {
	results := map[string]*result{}
	var fns []func(i int)
	add := func(name string, ask func(q *dns.Msg) bool) {
		r := &result{}
		results[name] = r
		fns = append(fns, func(i int) {
			q := new(dns.Msg).SetQuestion(qname(i), dns.TypeA)
			t0 := time.Now()
			ok := ask(q)
			r.add(time.Since(t0), ok)
		})
	}
	if *udpA != "" {
		for _, nw := range []string{"udp", "tcp"} {
			d := dialer(*src)
			if nw == "udp" {
				d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(*src)}
			}
			c := &dns.Client{Net: nw, Timeout: *timeout, Dialer: d}
			add(nw, func(q *dns.Msg) bool {
				r, _, err := c.Exchange(q, *udpA)
				return err == nil && r.Rcode == dns.RcodeSuccess
			})
		}
	}
	if *dotA != "" {
		c := &dns.Client{Net: "tcp-tls", Timeout: *timeout, TLSConfig: insecure, Dialer: dialer(*src)}
		add("dot", func(q *dns.Msg) bool {
			r, _, err := c.Exchange(q, *dotA)
			return err == nil && r.Rcode == dns.RcodeSuccess
		})
	}
	if *dohA != "" {
		tr := &http2.Transport{TLSClientConfig: insecure, DialTLSContext: func(ctx context.Context, network, a string, cfg *tls.Config) (net.Conn, error) {
			c, err := dialer(*src).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			return tls.Client(c, cfg), nil
		}}
		hc := &http.Client{Transport: tr, Timeout: *timeout}
		add("doh", func(q *dns.Msg) bool { return dohAsk(hc, *dohA, q) })
	}
	var loginMs []float64
	var loginMu sync.Mutex
	if *login != "" {
		fns = append(fns, func(i int) {
			if i%(len(fns)*10) != len(fns)-1 {
				return
			}
			t0 := time.Now()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialer(*src).DialContext, DisableKeepAlives: true}}
			resp, err := c.Get(*login)
			ms := 5000.0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ms = float64(time.Since(t0).Microseconds()) / 1000
				}
			}
			loginMu.Lock()
			loginMs = append(loginMs, ms)
			loginMu.Unlock()
		})
	}
	ticker(ctx, *qps, func(i int) { fns[i%len(fns)](i / len(fns)) })
	for _, name := range []string{"udp", "tcp", "dot", "doh"} {
		if r := results[name]; r != nil {
			fmt.Printf("probe_%s %s\n", name, r)
		}
	}
	if len(loginMs) > 0 {
		slices.Sort(loginMs)
		fmt.Printf("login loads=%d max_ms=%.1f\n", len(loginMs), loginMs[len(loginMs)-1])
	}
}

func dohAsk(hc *http.Client, hostport string, q *dns.Msg) bool {
	q.Id = 0
	wire, _ := q.Pack()
	req, _ := http.NewRequest("POST", "https://"+hostport+"/dns-query", bytes.NewReader(wire))
	req.Header.Set("Content-Type", "application/dns-message")
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := new(dns.Msg)
	return resp.StatusCode == 200 && r.Unpack(body) == nil && r.Rcode == dns.RcodeSuccess
}

// flood sends random subdomains over UDP and reads what comes back.
func flood(ctx context.Context) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(*src)})
	if err != nil {
		log.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var answered atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			answered.Add(1)
		}
	}()
	sent := 0
	start := time.Now()
	q := new(dns.Msg)
	buf := make([]byte, 0, 512)
	for ctx.Err() == nil {
		// Send in batches of 1 ms to keep the rate without a timer each.
		due := int(time.Since(start).Seconds() * float64(*qps))
		for ; sent < due; sent++ {
			q.SetQuestion(fmt.Sprintf("%x.flood.example.", rand.Uint64()), dns.TypeA)
			b, _ := q.PackBuffer(buf)
			c.WriteToUDP(b, to)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(*timeout)
	c.Close()
	fmt.Printf("flood sent=%d answered=%d\n", sent, answered.Load())
}

// malformed sends garbage datagrams as fast as the socket takes them.
func malformed() {
	c, err := net.Dial("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	b := make([]byte, 64)
	t0 := time.Now()
	for i := range *n {
		rand.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		b[0], b[1], b[2] = byte(i), byte(i>>8), byte(rand.IntN(256))&^0x80
		for j := 12; j < 64; j += 7 {
			b[j] = byte(rand.IntN(256))
		}
		c.Write(b)
	}
	fmt.Printf("malformed sent=%d secs=%.1f\n", *n, time.Since(t0).Seconds())
}

// dohOne sends -qps queries over one HTTP/2 connection.
func dohOne(ctx context.Context) {
	tc, err := tls.DialWithDialer(dialer(*src), "tcp", *addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		log.Fatal(err)
	}
	cc, err := (&http2.Transport{StrictMaxConcurrentStreams: true}).NewClientConn(tc)
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	r := &result{}
	ticker(ctx, *qps, func(i int) {
		q := new(dns.Msg).SetQuestion(qname(i), dns.TypeA)
		q.Id = 0
		wire, _ := q.Pack()
		req, _ := http.NewRequest("GET", "https://"+*addr+"/dns-query?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
		rctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		t0 := time.Now()
		resp, err := cc.RoundTrip(req.WithContext(rctx))
		ok := false
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := new(dns.Msg)
			ok = resp.StatusCode == 200 && m.Unpack(body) == nil && m.Rcode == dns.RcodeSuccess
		}
		r.add(time.Since(t0), ok)
	})
	fmt.Printf("doh_one_conn %s\n", r)
}
