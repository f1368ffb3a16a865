package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBlockTimeout bounds how long a reader waits in the kernel (SO_RCVTIMEO)
// and a send waits for buffer space (SO_SNDTIMEO): a reader checks for
// Shutdown at least this often even if shutdown(2) did not wake it.
const udpBlockTimeout = 100 * time.Millisecond

// udpReschedule is how often a busy reader passes through Go's scheduler:
// well under sysmon's 10 ms, however long sysmon sleeps between looks.
const udpReschedule = 4 * time.Millisecond

// udpPeer is a client's socket address as the kernel gave it, kept to send
// the answer back unchanged (an IPv6 scope ID included).
type udpPeer struct {
	sa unix.RawSockaddrInet6 // also holds a RawSockaddrInet4
	n  uint32
}

// mmsghdr is the kernel's struct mmsghdr; Go pads it to the same size.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// fdIO is a UDP socket outside Go's netpoller. Its reader waits in the
// kernel in a blocking recvmmsg, so the kernel wakes the reader's own
// thread for each datagram: no epoll_wait, no futex hand-off between the
// runtime's threads and no scheduler spinning per datagram, which at
// moderate load cost more CPU than the answer (docs/performance.md). A
// socket the netpoller watched would still wake a netpoller thread per
// datagram, so the socket is never handed to package net.
type fdIO struct {
	fd   int
	addr string

	// mu is held shared by reads and sends and exclusively by close, so
	// the descriptor is never used once closed (its number may be reused
	// by another file).
	mu     sync.RWMutex
	closed bool
	// stopped is set by interrupt: reads return net.ErrClosed (after
	// shutdown(2) the kernel returns empty messages at once).
	stopped atomic.Bool

	// The reader's scratch space; only the reader goroutine uses it.
	hs    []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	// scheduled is when the reader last called runtime.Gosched, and
	// returned when its last recvmmsg returned: one clock reading a read,
	// shared by the Gosched check and the pacer.
	scheduled, returned time.Time
	// pacer decides when the reader pauses before a read (pause).
	pacer pacer
	pause bool
}

// pacer follows the rate of a reader's datagrams and decides whether to
// pause before the next read: only while the average gap between
// datagrams is at most half the pause, so a pause gathers two or more,
// and never after a full batch (the reader is behind). At lower rates a
// pause would add a wake-up of its own and latency for nothing. At moderate
// load each datagram would otherwise cost the reader a wake-up of its own,
// the larger part of its CPU per query (docs/performance.md, "Waking less
// at 5 k QPS").
type pacer struct {
	// pause is how long to wait (Config.UDPPause), the most latency a
	// pause adds to an answer; 0: never.
	pause time.Duration
	last  time.Time     // when the last read returned
	gap   time.Duration // moving average of the gap between datagrams
}

// read records a read that returned n datagrams of at most size at now,
// and reports whether to pause before the next one.
func (p *pacer) read(now time.Time, n, size int) bool {
	if n == 0 {
		return false // a timeout or an interruption
	}
	if !p.last.IsZero() {
		// An average over about eight reads, of the time per datagram
		// since the previous read (a pause included).
		p.gap += (now.Sub(p.last)/time.Duration(n) - p.gap) / 8
	} else {
		p.gap = p.pause // no history yet: no pause
	}
	p.last = now
	return p.pause > 0 && n < size && p.gap <= p.pause/2
}

// openUDP returns the sockets that serve c's address. With GOMAXPROCS 2
// or more, it replaces c, a bound UDP socket, with n sockets outside the
// netpoller (fdIO) bound to the same address with SO_REUSEPORT (c's
// family, address and IPV6_V6ONLY setting, so they bind exactly as
// package net did), and closes c. A reader waiting in the kernel keeps
// its P (the runtime's processor), so with GOMAXPROCS 1 nothing else
// would run while it waits: answers of upstreams, timers and the API
// would wait for the runtime's monitor to take the P back (up to 10 ms).
// There, c is served through the netpoller as on other systems (netIO).
func openUDP(c *net.UDPConn, n int, rcvbuf int, pause time.Duration) ([]udpIO, error) {
	if runtime.GOMAXPROCS(0) < 2 {
		return []udpIO{newNetIO(c, rcvbuf)}, nil
	}
	return openFD(c, n, rcvbuf, pause)
}

// openFD is openUDP with fdIO sockets.
func openFD(c *net.UDPConn, n int, rcvbuf int, pause time.Duration) ([]udpIO, error) {
	var (
		sa     unix.Sockaddr
		domain int
		v6only = -1
		serr   error
	)
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	err = rc.Control(func(fd uintptr) {
		if sa, serr = unix.Getsockname(int(fd)); serr != nil {
			return
		}
		if domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); serr != nil {
			return
		}
		if domain == unix.AF_INET6 {
			v6only, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("udp socket address: %w", err)
	}
	addr := c.LocalAddr().String()
	var ios []udpIO
	fail := func(err error) ([]udpIO, error) {
		for _, u := range ios {
			u.close()
		}
		return nil, err
	}
	for range n {
		fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return fail(fmt.Errorf("udp socket: %w", err))
		}
		u := newFDIO(fd, addr, pause)
		ios = append(ios, u)
		tv := unix.NsecToTimeval(udpBlockTimeout.Nanoseconds())
		for _, o := range []struct {
			name string
			set  func() error
		}{
			{"SO_REUSEPORT", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) }},
			{"IPV6_V6ONLY", func() error {
				if v6only < 0 {
					return nil
				}
				return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
			}},
			{"SO_RCVTIMEO", func() error { return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) }},
			{"SO_SNDTIMEO", func() error { return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) }},
		} {
			if err := o.set(); err != nil {
				return fail(fmt.Errorf("udp socket %s: %w", o.name, err))
			}
		}
		// Best effort, as for package net's sockets (capped by rmem_max).
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		if err := unix.Bind(fd, sa); err != nil {
			if len(ios) > 1 {
				// One socket still serves; more are only for speed.
				ios[len(ios)-1].close()
				ios = ios[:len(ios)-1]
				break
			}
			return fail(fmt.Errorf("udp bind %s: %w", addr, err))
		}
	}
	// The kernel reader sockets hold the port now; c leaves the reuseport
	// group before any client can know the port.
	c.Close()
	return ios, nil
}

func newFDIO(fd int, addr string, pause time.Duration) *fdIO {
	u := &fdIO{
		fd:    fd,
		addr:  addr,
		pacer: pacer{pause: pause},
		hs:    make([]mmsghdr, udpBatch),
		iovs:  make([]unix.Iovec, udpBatch),
		names: make([]unix.RawSockaddrInet6, udpBatch),
	}
	return u
}

// read waits in the kernel for at least one datagram (MSG_WAITFORONE:
// recvmmsg returns once one is in, with whatever else is queued), at most
// udpBlockTimeout; then it returns 0 and nil. While datagrams arrive
// often (pacer), it first sleeps the pause and takes what came meanwhile.
func (u *fdIO) read(ms []udpIn) (int, error) {
	ms = ms[:min(len(ms), len(u.hs))]
	for i := range ms {
		u.iovs[i] = unix.Iovec{Base: &ms[i].buf[0]}
		u.iovs[i].SetLen(len(ms[i].buf))
		u.hs[i] = mmsghdr{hdr: unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&u.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     &u.iovs[i],
		}}
		u.hs[i].hdr.SetIovlen(1)
	}
	// Pass through the scheduler now and then. The reader never parks,
	// so its P would otherwise run this one goroutine for good; the
	// runtime's monitor (sysmon) treats a P that has not scheduled for
	// 10 ms as stuck and takes it from the reader's next system call,
	// which restarts the monitor's 20 us polling and makes the reader
	// wake it (a futex) to get a P back: at 5 k QPS a fifth of the
	// server's CPU (docs/performance.md). Not on every read: Gosched
	// also wakes an idle P's thread, a futex and a context switch.
	if u.returned.Sub(u.scheduled) >= udpReschedule {
		u.scheduled = u.returned
		runtime.Gosched()
	}
	u.mu.RLock()
	if u.closed || u.stopped.Load() {
		u.mu.RUnlock()
		return 0, net.ErrClosed
	}
	var (
		r     uintptr
		errno unix.Errno = unix.EAGAIN
	)
	if u.pause {
		// Datagrams are arriving faster than one per half pause: wait
		// for a few in the socket's buffer, then take what is there
		// without blocking (and block below if nothing came).
		ts := unix.NsecToTimespec(u.pacer.pause.Nanoseconds())
		unix.Nanosleep(&ts, nil)
		r, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.hs[0])), uintptr(len(ms)), unix.MSG_DONTWAIT, 0, 0)
	}
	if errno == unix.EAGAIN {
		r, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.hs[0])), uintptr(len(ms)), unix.MSG_WAITFORONE, 0, 0)
	}
	u.mu.RUnlock()
	u.returned = time.Now()
	if u.stopped.Load() {
		return 0, net.ErrClosed
	}
	if errno != 0 {
		u.pause = false // a timeout or an interruption: no pause next
		if errno == unix.EAGAIN || errno == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("recvmmsg: %w", errno)
	}
	n := int(r)
	u.pause = u.pacer.read(u.returned, n, len(ms))
	for i := range ms[:n] {
		m, h := &ms[i], &u.hs[i]
		m.n = int(h.n)
		m.trunc = h.hdr.Flags&unix.MSG_TRUNC != 0
		m.peer = udpPeer{sa: u.names[i], n: h.hdr.Namelen}
		m.from = m.peer.addrPort()
		m.at = u.returned
	}
	return n, nil
}

// addrPort is the peer's address without an IPv6 zone (the policy knows
// clients by address; the scope ID stays in the peer for the answer).
func (p *udpPeer) addrPort() netip.AddrPort {
	switch p.sa.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(p.sa.Addr), ntohs(p.sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port stored in network byte order.
func ntohs(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}

// write sends the replies of ps with as few sendmmsg calls as the kernel
// allows; it returns how many were sent before an error.
func (u *fdIO) write(ps []*udpPacket) (int, error) {
	var (
		hs   [udpWriteBatch]mmsghdr
		iovs [udpWriteBatch]unix.Iovec
	)
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return 0, net.ErrClosed
	}
	sent := 0
	for sent < len(ps) {
		batch := ps[sent:min(len(ps), sent+udpWriteBatch)]
		for i, p := range batch {
			iovs[i] = unix.Iovec{Base: unsafe.SliceData(p.reply)}
			iovs[i].SetLen(len(p.reply))
			hs[i] = mmsghdr{hdr: unix.Msghdr{
				Name:    (*byte)(unsafe.Pointer(&p.peer.sa)),
				Namelen: p.peer.n,
				Iov:     &iovs[i],
			}}
			hs[i].hdr.SetIovlen(1)
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&hs[0])), uintptr(len(batch)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return sent, fmt.Errorf("sendmmsg: %w", errno)
		}
		sent += int(r)
	}
	return sent, nil
}

// interrupt wakes a reader waiting in the kernel: shutdown(2) of the read
// side makes recvmmsg return at once (Linux answers ENOTCONN for an
// unconnected socket but still wakes it). The reader also wakes within
// udpBlockTimeout on its own.
func (u *fdIO) interrupt() error {
	u.stopped.Store(true)
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return nil
	}
	if err := unix.Shutdown(u.fd, unix.SHUT_RD); err != nil && !errors.Is(err, unix.ENOTCONN) {
		return fmt.Errorf("udp shutdown: %w", err)
	}
	return nil
}

// close closes the socket once no read or send uses it.
func (u *fdIO) close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	return unix.Close(u.fd)
}

func (u *fdIO) localAddr() string { return u.addr }
