package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openTestFD opens one kernel reader socket on addr (with GOMAXPROCS at
// least 2 meanwhile: openUDP serves through the netpoller below that),
// closed when the test ends, and returns it with the address it took.
func openTestFD(t *testing.T, addr string, rcvbuf int) (*fdIO, string) {
	t.Helper()
	prev := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	lc := net.ListenConfig{Control: reusePort}
	c, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	bound := c.LocalAddr().String()
	ios, err := openUDP(c.(*net.UDPConn), 1, rcvbuf, 500*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	u := ios[0].(*fdIO)
	t.Cleanup(func() { u.close() })
	return u, bound
}

// TestFDInterruptWakesReader blocks a reader in the kernel with no receive
// timeout at all and checks that interrupt (Shutdown's first step) wakes
// it, and that close afterwards does not wait.
func TestFDInterruptWakesReader(t *testing.T) {
	u, _ := openTestFD(t, "127.0.0.1:0", 1<<16)
	// No receive timeout: only interrupt can end the read.
	tv := unix.Timeval{}
	if err := unix.SetsockoptTimeval(u.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	ms := []udpIn{{buf: make([]byte, maxUDPQuery)}}
	done := make(chan error, 1)
	go func() {
		n, err := u.read(ms)
		if err == nil && n != 0 {
			err = fmt.Errorf("read %d datagrams, want none", n)
		}
		done <- err
	}()
	if err := u.interrupt(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("interrupt did not wake the reader")
	}
	if err := u.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.read(ms); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
}

// TestFDReadWriteDoesNotAllocate guards the per-query I/O of the kernel
// readers: reading a batch and sending its answers allocate nothing.
func TestFDReadWriteDoesNotAllocate(t *testing.T) {
	u, addr := openTestFD(t, "127.0.0.1:0", 1<<16)
	client, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	query := []byte("0123456789abcdef")
	ms := []udpIn{{buf: make([]byte, maxUDPQuery)}}
	p := new(udpPacket)
	ps := []*udpPacket{p}
	answer := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := client.Write(query); err != nil {
			t.Fatal(err)
		}
		n, err := u.read(ms)
		for err == nil && n == 0 { // a timeout or EINTR: read again
			n, err = u.read(ms)
		}
		if err != nil || ms[0].n != len(query) || ms[0].from.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("read %d datagrams (%d bytes from %v): %v", n, ms[0].n, ms[0].from, err)
		}
		p.peer = ms[0].peer
		p.reply = ms[0].buf[:ms[0].n]
		if _, err := u.write(ps); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Read(answer); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per datagram read and answered, want 0", allocs)
	}
}

// TestFDWrite sends answers to several clients over IPv4 and IPv6 in the
// batch sizes the readers and the writer use: one answer alone (sendto),
// a few together and more than one sendmmsg call takes. Every client gets
// its own answer, byte for byte.
func TestFDWrite(t *testing.T) {
	type testCase struct {
		name    string
		addr    string
		clients int
	}
	cases := []testCase{
		{"ipv4 one", "127.0.0.1:0", 1},
		{"ipv4 three", "127.0.0.1:0", 3},
		{"ipv4 more than a sendmmsg", "127.0.0.1:0", udpWriteBatch + 6},
	}
	// IPv6 where the machine has its loopback, as in TestUDPReadLoop.
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
		ln.Close()
		cases = append(cases, testCase{"ipv6 one", "[::1]:0", 1}, testCase{"ipv6 three", "[::1]:0", 3})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, addr := openTestFD(t, tc.addr, 1<<20)
			clients := make([]net.Conn, tc.clients)
			for i := range clients {
				var err error
				if clients[i], err = net.Dial("udp", addr); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { clients[i].Close() })
				if _, err := fmt.Fprintf(clients[i], "query %d", i); err != nil {
					t.Fatal(err)
				}
			}
			ms := make([]udpIn, udpBatch)
			for i := range ms {
				ms[i].buf = make([]byte, maxUDPQuery)
			}
			var ps []*udpPacket
			for len(ps) < tc.clients {
				n, err := u.read(ms)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms[:n] {
					p := &udpPacket{peer: m.peer}
					p.reply = fmt.Appendf(p.out[:0], "answer to %s", m.buf[:m.n])
					ps = append(ps, p)
				}
			}
			if n, err := u.write(ps); n != len(ps) || err != nil {
				t.Fatalf("write sent %d of %d answers: %v", n, len(ps), err)
			}
			buf := make([]byte, 64)
			for i, cl := range clients {
				cl.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := cl.Read(buf)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				if got, want := string(buf[:n]), fmt.Sprintf("answer to query %d", i); got != want {
					t.Errorf("client %d got %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestPacer feeds the pacer reads at steady rates and checks when the
// reader pauses: from about 4 k datagrams a second on one socket (two or
// more per pause), never below, never after a full batch or an empty
// read, and not on the first read.
func TestPacer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pause time.Duration // Config.UDPPause
		every time.Duration // between reads
		n     int           // datagrams per read
		want  bool          // pause after the tenth read
	}{
		{"5 k QPS, one per read", 500 * time.Microsecond, 200 * time.Microsecond, 1, true},
		{"5 k QPS after pauses, three per read", 500 * time.Microsecond, 600 * time.Microsecond, 3, true},
		{"50 k QPS, ten per read", 500 * time.Microsecond, 200 * time.Microsecond, 10, true},
		{"2 k QPS", 500 * time.Microsecond, 500 * time.Microsecond, 1, false},
		{"100 QPS", 500 * time.Microsecond, 10 * time.Millisecond, 1, false},
		{"full batches", 500 * time.Microsecond, 100 * time.Microsecond, udpBatch, false},
		{"timeouts", 500 * time.Microsecond, udpBlockTimeout, 0, false},
		{"5 k QPS, pause off", 0, 200 * time.Microsecond, 1, false},
		{"50 k QPS, pause off", 0, 20 * time.Microsecond, 1, false},
		{"5 k QPS, 100µs pause", 100 * time.Microsecond, 200 * time.Microsecond, 1, false},
		{"40 k QPS, 100µs pause", 100 * time.Microsecond, 25 * time.Microsecond, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{pause: tc.pause}
			now := time.Unix(1e9, 0)
			if p.read(now, max(tc.n, 1), udpBatch) {
				t.Fatal("paused after the first read")
			}
			var got bool
			for range 30 {
				now = now.Add(tc.every)
				got = p.read(now, tc.n, udpBatch)
			}
			if got != tc.want {
				t.Errorf("pause = %v after reads of %d every %v (gap %v), want %v", got, tc.n, tc.every, p.gap, tc.want)
			}
		})
	}
}

// TestFDReadAfterPause reads with a pause due: datagrams queued before or
// during the pause are all returned by one read, and with nothing queued
// the read still waits for the next datagram.
func TestFDReadAfterPause(t *testing.T) {
	u, addr := openTestFD(t, "127.0.0.1:0", 1<<16)
	client, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ms := make([]udpIn, udpBatch)
	for i := range ms {
		ms[i].buf = make([]byte, maxUDPQuery)
	}
	for _, tc := range []struct {
		name   string
		queued int // sent before the read
		later  int // sent while the read runs
	}{
		{"three queued", 3, 0},
		{"none queued, one later", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range tc.queued {
				if _, err := client.Write([]byte("query")); err != nil {
					t.Fatal(err)
				}
			}
			u.pause = true
			before := time.Now()
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := u.read(ms)
				for err == nil && n == 0 { // a timeout or EINTR: read again
					n, err = u.read(ms)
				}
				done <- result{n, err}
			}()
			for range tc.later {
				if _, err := client.Write([]byte("query")); err != nil {
					t.Fatal(err)
				}
			}
			res := <-done
			if want := tc.queued + tc.later; res.err != nil || res.n != want {
				t.Fatalf("read %d datagrams (%v), want %d", res.n, res.err, want)
			}
			// The read's one clock reading is every datagram's arrival.
			after := time.Now()
			for i, m := range ms[:res.n] {
				if m.at.Before(before) || m.at.After(after) || !m.at.Equal(ms[0].at) {
					t.Errorf("datagram %d read at %v, want the read's time (all equal, within %v to %v)", i, m.at, before, after)
				}
			}
		})
	}
}
