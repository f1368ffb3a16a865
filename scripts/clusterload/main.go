// Command clusterload measures change-to-effect across Hearth nodes that
// share one policy store (scripts/bench-cluster runs it): it writes
// changes through one node's API at a steady rate and, for every change,
// asks the other nodes over DNS until their answers show it.
//
// Each change pauses a device or ends its pause. A device is known by a
// source address of its own (127.1.x.y: every 127/8 address is loopback on
// Linux), so a query from that address is the device's query: paused, the
// probe name is blocked (0.0.0.0); otherwise it gets the upstream's
// answer. Change-to-effect is from the moment the API acknowledged the
// write to the first answer on a node that shows it.
//
//	clusterload -api http://127.0.0.1:8081 -token T -dns 127.0.0.1:5302,127.0.0.1:5303 -rate 1000 -seconds 60
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	apiURL := flag.String("api", "", "base URL of the node written through")
	token := flag.String("token", "", "admin bearer token")
	dnsAddrs := flag.String("dns", "", "comma-separated DNS addresses of the nodes polled")
	rate := flag.Int("rate", 1000, "changes a second")
	seconds := flag.Int("seconds", 60, "how long to write")
	devices := flag.Int("devices", 0, "devices changed in turn (default: twice -rate, at least 100)")
	workers := flag.Int("workers", 256, "concurrent changes (a write and its polls)")
	poll := flag.Duration("poll", 2*time.Millisecond, "interval between DNS polls of one change on one node")
	deadline := flag.Duration("timeout", 5*time.Second, "give up on a change's effect after this")
	probe := flag.String("probe", "probe.cluster.bench.", "the name asked")
	flag.Parse()
	if *apiURL == "" || *token == "" || *dnsAddrs == "" {
		flag.Usage()
		os.Exit(2)
	}
	n := *devices
	if n == 0 {
		n = max(2**rate, 100)
	}
	if n > 250*250 {
		log.Fatalf("at most %d devices", 250*250)
	}
	l := &load{
		api: strings.TrimRight(*apiURL, "/"), token: *token, nodes: strings.Split(*dnsAddrs, ","),
		poll: *poll, timeout: *deadline, probe: dns.Fqdn(*probe),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}},
	}
	ctx := context.Background()
	log.Printf("clusterload: creating %d devices", n)
	if err := l.setup(ctx, n, *workers); err != nil {
		log.Fatal(err)
	}
	setup := cpuTime()
	log.Printf("clusterload: %d changes/s for %d s through %s, polling %s", *rate, *seconds, l.api, strings.Join(l.nodes, ", "))
	l.run(ctx, *rate, time.Duration(*seconds)*time.Second, *workers)
	l.report(*rate, *seconds)
	// The load generator shares the machine with the nodes: its own CPU
	// says whether it, rather than they, was the limit.
	total := cpuTime()
	fmt.Printf("clusterload CPU during the changes: %.2f s (device setup before: %.2f s)\n", (total - setup).Seconds(), setup.Seconds())
}

// cpuTime returns the CPU time the process used so far, 0 if unknown.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// device is one device of the load and its pause state.
type device struct {
	id    string
	src   netip.Addr
	mu    sync.Mutex // one change at a time
	grant string     // the pause grant in force, "" when not paused
}

type load struct {
	api, token string
	nodes      []string
	poll       time.Duration
	timeout    time.Duration
	probe      string
	hc         *http.Client
	devices    []*device

	mu     sync.Mutex
	effect [][]time.Duration // per node
	writes []time.Duration
	// polls are the round trips of single DNS polls: the floor under
	// change-to-effect that the machine (its load, the scheduler) sets,
	// measured in the same run.
	polls    []time.Duration
	errors   atomic.Int64
	timeouts atomic.Int64
	skipped  atomic.Int64
	done     atomic.Int64
}

func (l *load) call(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.api+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// setup creates the devices (or finds them from an earlier run) and ends
// any pause they have.
func (l *load) setup(ctx context.Context, n, workers int) error {
	l.devices = make([]*device, n)
	for i := range n {
		l.devices[i] = &device{
			id:  fmt.Sprintf("cl-%05d", i),
			src: netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}),
		}
	}
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				d := l.devices[i]
				// Setup is not measured: a create that timed out on
				// a busy machine is tried again (409 when the first
				// try was stored after all).
				var err error
				for try := 0; try < 3; try++ {
					var code int
					code, err = l.call(ctx, "POST", "/api/v1/devices", map[string]any{
						"id": d.id, "name": d.id, "ips": []string{d.src.String()},
					}, nil)
					if err == nil || code == http.StatusConflict {
						err = nil
						break
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("creating devices: %w", firstErr)
	}
	if _, err := l.call(ctx, "DELETE", "/api/v1/pause", nil, nil); err != nil {
		return fmt.Errorf("ending earlier pauses: %w", err)
	}
	return nil
}

// run writes rate changes a second for d, each followed by its polls.
func (l *load) run(ctx context.Context, rate int, d time.Duration, workers int) {
	l.effect = make([][]time.Duration, len(l.nodes))
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				l.change(ctx, l.devices[k%len(l.devices)])
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	for k := range total {
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			time.Sleep(wait) // pacing the load generator
		}
		select {
		case jobs <- k:
		default:
			l.skipped.Add(1) // every writer busy: the API is the limit
		}
	}
	close(jobs)
	wg.Wait()
}

// change pauses d or ends its pause, then polls every node until each
// shows it.
func (l *load) change(ctx context.Context, d *device) {
	if !d.mu.TryLock() {
		l.skipped.Add(1) // the device's last change is still being watched
		return
	}
	t0 := time.Now()
	var wantBlocked bool
	var err error
	if d.grant == "" {
		var g struct{ ID string }
		_, err = l.call(ctx, "POST", "/api/v1/grants", map[string]any{"device": d.id, "kind": "pause", "minutes": 60}, &g)
		d.grant, wantBlocked = g.ID, true
	} else {
		_, err = l.call(ctx, "DELETE", "/api/v1/grants/"+d.grant, nil, nil)
		d.grant = ""
	}
	acked := time.Now()
	if err != nil {
		l.errors.Add(1)
		if l.errors.Load() <= 5 {
			log.Printf("clusterload: %v", err)
		}
		d.mu.Unlock()
		return
	}
	l.mu.Lock()
	l.writes = append(l.writes, acked.Sub(t0))
	l.mu.Unlock()
	var pw sync.WaitGroup
	for i, node := range l.nodes {
		pw.Add(1)
		go func() {
			defer pw.Done()
			if lat, ok := l.watch(node, d.src, wantBlocked, acked); ok {
				l.mu.Lock()
				l.effect[i] = append(l.effect[i], lat)
				l.mu.Unlock()
			} else {
				l.timeouts.Add(1)
			}
		}()
	}
	pw.Wait()
	l.done.Add(1)
	d.mu.Unlock()
}

// watch asks node for the probe name from src every poll until the
// answer is blocked (or not), and returns the time since acked.
func (l *load) watch(node string, src netip.Addr, wantBlocked bool, acked time.Time) (time.Duration, bool) {
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: src.AsSlice()}}}
	q := new(dns.Msg).SetQuestion(l.probe, dns.TypeA)
	var rtts []time.Duration
	defer func() {
		l.mu.Lock()
		l.polls = append(l.polls, rtts...)
		l.mu.Unlock()
	}()
	for {
		sent := time.Now()
		r, _, err := c.Exchange(q, node)
		now := time.Now()
		if err == nil {
			rtts = append(rtts, now.Sub(sent))
		}
		if err == nil && blocked(r) == wantBlocked {
			return now.Sub(acked), true
		}
		if now.Sub(acked) > l.timeout {
			return 0, false
		}
		time.Sleep(l.poll) // the poll interval: the answer is the event
	}
}

// blocked reports whether r is Hearth's block answer (0.0.0.0, or
// NXDOMAIN or REFUSED with the block's EDE).
func blocked(r *dns.Msg) bool {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.IsUnspecified()
		}
	}
	return r.Rcode != dns.RcodeSuccess
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(int(float64(len(d))*p), len(d)-1)]
}

func (l *load) report(rate, seconds int) {
	fmt.Printf("changes: %d done at a target of %d/s for %d s (%.0f/s achieved); %d skipped, %d errors, %d effects not seen within %s\n",
		l.done.Load(), rate, seconds, float64(l.done.Load())/float64(seconds), l.skipped.Load(), l.errors.Load(), l.timeouts.Load(), l.timeout)
	slices.Sort(l.writes)
	fmt.Printf("API write (pause or resume) acknowledged: p50 %s, p99 %s, max %s\n",
		pct(l.writes, .5).Round(time.Microsecond), pct(l.writes, .99).Round(time.Microsecond), pct(l.writes, 1).Round(time.Microsecond))
	slices.Sort(l.polls)
	fmt.Printf("one DNS poll's round trip (%d polls): p50 %s, p90 %s, p99 %s, max %s\n", len(l.polls),
		pct(l.polls, .5).Round(time.Microsecond), pct(l.polls, .9).Round(time.Microsecond), pct(l.polls, .99).Round(time.Microsecond), pct(l.polls, 1).Round(time.Microsecond))
	for i, node := range l.nodes {
		e := l.effect[i]
		slices.Sort(e)
		fmt.Printf("change-to-effect on %s (%d seen): p50 %s, p90 %s, p99 %s, max %s (polled every %s)\n", node, len(e),
			pct(e, .5).Round(time.Microsecond), pct(e, .9).Round(time.Microsecond), pct(e, .99).Round(time.Microsecond), pct(e, 1).Round(time.Microsecond), l.poll)
	}
}
