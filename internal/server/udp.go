package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

const (
	// maxUDPQuery bounds a UDP query; larger datagrams are dropped.
	maxUDPQuery = 4096
	// udpBatch is how many datagrams one recvmmsg call may return.
	udpBatch = 32
	// udpWorkers is the number of long-lived workers per UDP socket;
	// when all are busy (waiting on upstreams) a query gets its own
	// goroutine instead of waiting.
	udpWorkers = 64
	// udpQueue is how many read queries may wait for a worker. Workers
	// are long-lived so their stacks are grown once; a goroutine started
	// per query would grow (copy) its stack on every query, which cost a
	// quarter of the CPU in profiles. Only when the queue is full, because
	// every worker waits on an upstream, does a query get its own goroutine.
	udpQueue = 1024
	// udpReadBuffer is the receive buffer each UDP socket asks for.
	udpReadBuffer = 4 << 20
)

// udpIO reads and sends the datagrams of one UDP socket in batches. On
// Linux it is a socket outside Go's netpoller whose reader waits in the
// kernel (udpfd_linux.go); elsewhere a net.UDPConn (udpfd_other.go).
type udpIO interface {
	// read waits for datagrams and fills ms from the front, returning
	// how many. It may return 0 and no error after a while without any,
	// so the reader can check for Shutdown.
	read(ms []udpIn) (int, error)
	// write sends the replies of ps to their peers, returning how many
	// were sent before an error. The reader and the writer call it
	// concurrently.
	write(ps []*udpPacket) (int, error)
	// interrupt makes a waiting read return soon: the first step of
	// Shutdown. Sends still work.
	interrupt() error
	// close releases the socket once no read or send uses it.
	close() error
	// localAddr is the bound address, for logs.
	localAddr() string
}

// udpIn is one datagram read by udpIO.read into buf.
type udpIn struct {
	buf   []byte
	n     int
	trunc bool // larger than buf: the rest was cut off
	from  netip.AddrPort
	peer  udpPeer     // fdIO's
	ua    net.UDPAddr // netIO's
	// at is when the read that took the datagram returned: its
	// request's Received, one clock reading for the whole batch.
	at time.Time
}

// udpPacket is one UDP query and the scratch space to answer it.
type udpPacket struct {
	sock  *udpSocket
	from  netip.AddrPort
	peer  udpPeer     // fdIO's
	ua    net.UDPAddr // netIO's
	at    time.Time   // udpIn.at
	n     int
	reply []byte // set by send: the answer, in out
	qs    queryState
	in    [maxUDPQuery]byte
	out   [2048]byte
}

// send keeps the answer in the packet. Once handle has returned, the
// reader sends it with the rest of its batch or, from a worker, the packet
// is queued for the socket's writer, which sends queued answers together
// with one sendmmsg call and returns the packets to the pool.
func (p *udpPacket) send(b []byte) error {
	if p.reply != nil {
		return errors.New("udp: second answer to one query")
	}
	if len(b) > len(p.out) {
		// Larger than any UDP answer Hearth sends (1232 bytes at most):
		// send it directly rather than queue a copy.
		p.reply = b
		_, err := p.sock.io.write([]*udpPacket{p})
		p.reply = nil
		return err
	}
	if len(b) > 0 && &b[0] == &p.out[0] {
		p.reply = b // packed in place
	} else {
		p.reply = p.out[:copy(p.out[:], b)]
	}
	return nil
}

type udpSocket struct {
	s      *Server
	io     udpIO
	pool   *sync.Pool
	work   chan *udpPacket
	writes chan *udpPacket
	// stop ends the writer. The writes channel is never closed: after a
	// Shutdown that gave up waiting, a late worker must not panic on it.
	stop chan struct{}
}

// udpWriteBatch is the most answers one sendmmsg call sends.
const udpWriteBatch = 64

// write is the socket's writer loop: it takes the answers queued since its
// last call and sends them with one sendmmsg, so under load the cost of a
// system call (and of waking the client) is shared by many answers.
func (u *udpSocket) write() {
	batch := make([]*udpPacket, 0, udpWriteBatch)
	for {
		var p *udpPacket
		select {
		case p = <-u.writes:
		case <-u.stop:
			return
		}
		batch = append(batch[:0], p)
	fill:
		for len(batch) < udpWriteBatch {
			select {
			case q := <-u.writes:
				batch = append(batch, q)
			default:
				break fill
			}
		}
		u.sendBatch(batch)
		for _, q := range batch {
			q.reply = nil
			u.pool.Put(q)
			u.s.wg.Done()
		}
	}
}

// listenDNS binds UDP sockets (several, with SO_REUSEPORT, so the kernel
// spreads queries over cores) and a TCP listener on the same port. For
// port 0 it retries until the kernel's UDP port is free on TCP too.
func (s *Server) listenDNS(addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	var err error
	for range 20 {
		var conns []udpIO
		var ln net.Listener
		conns, ln, err = s.bindDNS(addr)
		if err == nil {
			s.serveDNS(conns, ln)
			return nil
		}
		if port != "0" {
			break
		}
	}
	return err
}

// bindDNS binds the UDP sockets of addr (the first through package net,
// which resolves the address and picks a port for ":0"; openUDP makes the
// rest alike) and the TCP listener on the same port.
func (s *Server) bindDNS(addr string) ([]udpIO, net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	first, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	bound := first.LocalAddr().String()
	ln, err := net.Listen("tcp", bound)
	if err != nil {
		first.Close()
		return nil, nil, fmt.Errorf("listen tcp %s: %w", bound, err)
	}
	// A flood, even one the rate limit drops, can outrun a reader the
	// scheduler has paused: a larger buffer keeps the queries of other
	// clients that share the socket from being dropped by the kernel
	// meanwhile (capped by net.core.rmem_max).
	conns, err := openUDP(first.(*net.UDPConn), s.cfg.UDPSockets, udpReadBuffer, s.cfg.UDPPause)
	if err != nil {
		first.Close()
		ln.Close()
		return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
	}
	return conns, ln, nil
}

func (s *Server) serveDNS(conns []udpIO, ln net.Listener) {
	pool := &sync.Pool{New: func() any { return new(udpPacket) }}
	for _, c := range conns {
		u := &udpSocket{s: s, io: c, pool: pool, work: make(chan *udpPacket, udpQueue), writes: make(chan *udpPacket, udpQueue), stop: make(chan struct{})}
		s.wg.Add(1)
		go u.read()
		go u.write()
		s.onClose(u.io.interrupt, func() error {
			// Every query and queued write is done, unless Shutdown gave
			// up waiting; then late answers are dropped.
			close(u.stop)
			return u.io.close()
		})
	}
	s.mu.Lock()
	s.addrs.UDP = append(s.addrs.UDP, conns[0].localAddr())
	s.addrs.TCP = append(s.addrs.TCP, ln.Addr().String())
	s.mu.Unlock()
	s.serveStream(ln, pipeline.TCP)
}

// read is the socket's reader loop: batches of datagrams via recvmmsg,
// each answered in line when the chain can do so without waiting (cache
// hits, blocks, local names), the answers of a batch sent together with
// one sendmmsg; the others (cache misses) go to an idle worker or, when
// none is idle, a new goroutine.
func (u *udpSocket) read() {
	defer u.s.wg.Done()
	defer close(u.work)
	for range udpWorkers {
		go func() {
			for p := range u.work {
				u.serve(p)
			}
		}()
	}
	msgs := make([]udpIn, udpBatch)
	for i := range msgs {
		msgs[i].buf = make([]byte, maxUDPQuery)
	}
	done := make([]*udpPacket, 0, udpBatch)
	for {
		n, err := u.io.read(msgs)
		if u.s.closing.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.s.log.Warn("udp read", "addr", u.io.localAddr(), "err", err)
			continue
		}
		for i := range msgs[:n] {
			m := &msgs[i]
			if m.trunc || !m.from.IsValid() {
				continue // oversized datagram: not a query we answer
			}
			p := u.pool.Get().(*udpPacket)
			p.sock = u
			p.from, p.peer, p.ua, p.at = m.from, m.peer, m.ua, m.at
			p.n = copy(p.in[:], m.buf[:m.n])
			switch u.s.handleWith(&p.qs, p.in[:p.n], meta{transport: pipeline.UDP, client: p.from, received: p.at}, p, p.out[:0], true) {
			case answered, malformed:
				if p.reply != nil {
					done = append(done, p)
				} else {
					u.pool.Put(p)
				}
			case dropped:
				u.pool.Put(p)
			case deferred:
				p.reply = nil
				u.s.wg.Add(1)
				select {
				case u.work <- p:
				default:
					go u.serve(p)
				}
			}
		}
		if len(done) > 0 {
			u.sendBatch(done)
			for i, p := range done {
				p.reply = nil
				done[i] = nil
				u.pool.Put(p)
			}
			done = done[:0]
		}
	}
}

// sendBatch sends the answers of packets with as few sendmmsg calls as
// the kernel allows.
func (u *udpSocket) sendBatch(packets []*udpPacket) {
	for sent := 0; sent < len(packets); {
		n, err := u.io.write(packets[sent:])
		if err != nil {
			u.s.log.Debug("udp write", "addr", u.io.localAddr(), "err", err)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n++ // skip the answer that failed
		}
		sent += n
	}
}

func (u *udpSocket) serve(p *udpPacket) {
	defer u.s.wg.Done()
	if u.s.handleWith(&p.qs, p.in[:p.n], meta{transport: pipeline.UDP, client: p.from, received: p.at, retry: true}, p, p.out[:0], false) != answered || p.reply == nil {
		u.pool.Put(p) // dropped, or answered directly: nothing queued
		return
	}
	u.s.wg.Add(1) // the write is pending work for Shutdown
	u.writes <- p // the writer returns p to the pool
}
