package server

import (
	"context"
	"errors"
	"fmt"
	"net"
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
