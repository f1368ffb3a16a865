// Command benchupstream is a tiny, fast authoritative stand-in for a real
// upstream, used by scripts/bench to load-test Hearth and Unbound without
// touching the internet.
//
// It serves every name on UDP and TCP at -addr (default 127.0.0.1:5399):
//
//   - A    -> one A record in 192.0.2.0/24 derived from a hash of the name, TTL -ttl
//   - AAAA -> one AAAA record in 2001:db8::/32 derived from the same hash
//   - names at or under "nx.bench." -> NXDOMAIN with a SOA (negative TTL 300)
//   - any other type -> NODATA (NOERROR, empty answer, SOA in authority)
//
// Answers have AA set and echo an OPT record (1232 bytes) when the query had
// one. With -udp N it opens N UDP sockets on the same port (SO_REUSEPORT) so
// the kernel spreads the load; the default is one per usable CPU. It keeps
// no state and does no logging on the query path, so that it is not the
// bottleneck when Hearth forwards every query (cache misses).
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

const nxZone = "nx.bench."

var (
	ttl uint32
	soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: "bench.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns:      "ns.bench.",
		Mbox:    "hostmaster.bench.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  300,
	}
)

// hash32 is FNV-1a of the lower-cased name, without allocating.
func hash32(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

func isNX(name string) bool {
	n := strings.ToLower(name)
	return n == nxZone || strings.HasSuffix(n, "."+nxZone)
}

func serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	h := hash32(q.Name)
	switch {
	case isNX(q.Name):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	case q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
			A:   net.IPv4(192, 0, 2, byte(h%254+1)).To4(),
		}}
	case q.Qtype == dns.TypeAAAA:
		ip := net.IP{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
		m.Answer = []dns.RR{&dns.AAAA{
			Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl},
			AAAA: ip,
		}}
	default:
		m.Ns = []dns.RR{soa}
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(1232, false)
	}
	w.WriteMsg(m)
}

// tuneSocket sets SO_REUSEPORT, so that several sockets share the port, and
// on Linux a large receive buffer (SO_RCVBUFFORCE as root, else SO_RCVBUF up
// to net.core.rmem_max), so that bursts from the resolver under test are not
// dropped here and counted as the resolver's lost queries.
func tuneSocket(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if runtime.GOOS != "linux" {
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		if strings.HasPrefix(network, "udp") {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRcvBufForce, 8<<20) != nil {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Linux socket option numbers (scripts/bench runs on Linux only; the
// syscall package lacks SO_REUSEPORT on some platforms).
const (
	soReusePort   = 0xf
	soRcvBufForce = 0x21
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5399", "UDP and TCP address to serve on")
	udp := flag.Int("udp", runtime.GOMAXPROCS(0), "number of UDP sockets (SO_REUSEPORT)")
	t := flag.Uint("ttl", 3600, "TTL of A and AAAA answers, seconds")
	flag.Parse()
	ttl = uint32(*t)
	if *udp < 1 {
		*udp = 1
	}

	handler := dns.HandlerFunc(serve)
	lc := net.ListenConfig{Control: tuneSocket}
	var servers []*dns.Server
	for i := 0; i < *udp; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", *addr)
		if err != nil {
			log.Fatalf("benchupstream: %v", err)
		}
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: handler, UDPSize: 65535})
	}
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		log.Fatalf("benchupstream: %v", err)
	}
	servers = append(servers, &dns.Server{Listener: ln, Handler: handler})

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func(s *dns.Server) { errc <- s.ActivateAndServe() }(s)
	}
	log.Printf("benchupstream serving on %s (udp sockets %d, tcp)", *addr, *udp)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		log.Fatalf("benchupstream: %v", err)
	case <-sig:
		for _, s := range servers {
			s.Shutdown()
		}
	}
}
