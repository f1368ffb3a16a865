package server

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// netIO is a UDP socket of package net, whose reader parks in Go's
// netpoller between datagrams: for systems other than Linux, and on Linux
// when GOMAXPROCS is 1 (see openUDP).
type netIO struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	// in is the reader's scratch space; only the reader uses it.
	in []ipv4.Message
}

func newNetIO(c *net.UDPConn, rcvbuf int) *netIO {
	c.SetReadBuffer(rcvbuf)
	return &netIO{conn: c, pc: ipv4.NewPacketConn(c), in: make([]ipv4.Message, udpBatch)}
}

func (u *netIO) read(ms []udpIn) (int, error) {
	ms = ms[:min(len(ms), len(u.in))]
	for i := range ms {
		u.in[i] = ipv4.Message{Buffers: [][]byte{ms[i].buf}}
	}
	n, err := u.pc.ReadBatch(u.in[:len(ms)], 0)
	if err != nil {
		return 0, err
	}
	at := time.Now()
	for i := range ms[:n] {
		m := &ms[i]
		m.at = at
		m.n = u.in[i].N
		m.from, m.ua = netip.AddrPort{}, net.UDPAddr{}
		if ua, ok := u.in[i].Addr.(*net.UDPAddr); ok {
			m.from, m.ua = ua.AddrPort(), *ua
		}
		m.trunc = u.in[i].Flags&unix.MSG_TRUNC != 0
	}
	return n, nil
}

// write sends with WriteBatch. Its scratch space comes from a pool: the
// reader and the writer goroutine call it concurrently.
func (u *netIO) write(ps []*udpPacket) (int, error) {
	w := netWrites.Get().(*netWrite)
	defer netWrites.Put(w)
	sent := 0
	for sent < len(ps) {
		batch := ps[sent:min(len(ps), sent+udpWriteBatch)]
		for i, p := range batch {
			w.bufs[i][0] = p.reply
			w.msgs[i] = ipv4.Message{Buffers: w.bufs[i][:], Addr: &p.ua}
		}
		n, err := u.pc.WriteBatch(w.msgs[:len(batch)], 0)
		sent += n
		if err != nil {
			clear(w.msgs[:])
			return sent, err
		}
	}
	clear(w.msgs[:])
	clear(w.bufs[:])
	return sent, nil
}

// netWrite is netIO.write's scratch space.
type netWrite struct {
	msgs [udpWriteBatch]ipv4.Message
	bufs [udpWriteBatch][1][]byte
}

var netWrites = sync.Pool{New: func() any { return new(netWrite) }}

func (u *netIO) interrupt() error  { return u.conn.SetReadDeadline(time.Now()) }
func (u *netIO) close() error      { return u.conn.Close() }
func (u *netIO) localAddr() string { return u.conn.LocalAddr().String() }
