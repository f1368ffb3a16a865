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

// TestFDInterruptWakesReader blocks a reader in the kernel with no receive
// timeout at all and checks that interrupt (Shutdown's first step) wakes
// it, and that close afterwards does not wait.
func TestFDInterruptWakesReader(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	lc := net.ListenConfig{Control: reusePort}
	c, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ios, err := openUDP(c.(*net.UDPConn), 1, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	u := ios[0]
	// No receive timeout: only interrupt can end the read.
	tv := unix.Timeval{}
	if err := unix.SetsockoptTimeval(u.(*fdIO).fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
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
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	lc := net.ListenConfig{Control: reusePort}
	c, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	ios, err := openUDP(c.(*net.UDPConn), 1, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	u := ios[0]
	t.Cleanup(func() { u.close() })
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
