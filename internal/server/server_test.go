package server

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/largedata"
)

// captured records what handle sent.
type captured struct{ out [][]byte }

func (c *captured) send(b []byte) error {
	c.out = append(c.out, append([]byte(nil), b...))
	return nil
}

// echoHandler answers every query with one A record, or panics for
// "panic.test." so the recovery path is exercised.
var echoHandler = pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
	if r.Name() == "panic.test." {
		panic("handler bug")
	}
	m := dnsmsg.Reply(r.Msg, dns.RcodeSuccess)
	rr, _ := dns.NewRR(r.Name() + " 60 IN A 192.0.2.1")
	m.Answer = append(m.Answer, rr)
	return w.WriteMsg(m)
})

func newTestServer(t testing.TB, h pipeline.Handler) *Server {
	t.Helper()
	s, err := New(Config{DNS: []string{"127.0.0.1:0"}, Handler: h, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pack(t testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandle(t *testing.T) {
	s := newTestServer(t, echoHandler)
	local := netip.MustParseAddrPort("127.0.0.1:5000")
	stranger := netip.MustParseAddrPort("198.51.100.7:5000")
	q := func(name string, qtype uint16) *dns.Msg { return new(dns.Msg).SetQuestion(name, qtype) }
	notify := q("example.com.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	tests := []struct {
		name      string
		raw       []byte
		from      netip.AddrPort
		wantNone  bool
		wantRcode int
		wantEDE   int // -1: none
	}{
		{"answer", pack(t, q("example.com.", dns.TypeA)), local, false, dns.RcodeSuccess, -1},
		{"stranger refused", pack(t, q("example.com.", dns.TypeA).SetEdns0(1232, false)), stranger, false, dns.RcodeRefused, int(dnsmsg.EDEProhibited)},
		{"notify notimp", pack(t, notify), local, false, dns.RcodeNotImplemented, -1},
		{"panic is servfail", pack(t, q("panic.test.", dns.TypeA)), local, false, dns.RcodeServerFailure, -1},
		{"axfr refused", pack(t, q("example.com.", dns.TypeAXFR)), local, false, dns.RcodeRefused, -1},
		{"runt dropped", []byte{0, 1, 0}, local, true, 0, -1},
		{"response dropped", func() []byte { b := pack(t, q("example.com.", dns.TypeA)); b[2] |= 0x80; return b }(), local, true, 0, -1},
		{"garbage from stranger dropped", []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9}, stranger, true, 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &captured{}
			s.handle(tc.raw, meta{transport: pipeline.UDP, client: tc.from}, c, nil, false)
			if tc.wantNone {
				if len(c.out) != 0 {
					t.Fatalf("sent %d answers, want none", len(c.out))
				}
				return
			}
			if len(c.out) != 1 {
				t.Fatalf("sent %d answers, want 1", len(c.out))
			}
			r := new(dns.Msg)
			if err := r.Unpack(c.out[0]); err != nil {
				t.Fatal(err)
			}
			if r.Id != binary.BigEndian.Uint16(tc.raw) {
				t.Errorf("ID %d, want the query's", r.Id)
			}
			if r.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			got := -1
			if opt := r.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if e, ok := o.(*dns.EDNS0_EDE); ok {
						got = int(e.InfoCode)
					}
				}
			}
			if got != tc.wantEDE {
				t.Errorf("EDE %d, want %d", got, tc.wantEDE)
			}
		})
	}
}

// corpus returns BIND 9's DNS message corpus from the external data set
// (see package largedata), or nil when it is absent outside CI.
func corpus(tb testing.TB) [][]byte {
	dir := largedata.Corpus(tb, filepath.Join("bind9", "dns_message_parse"))
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestCorpusNeverCrashes serves every message of BIND's corpus, as a
// query and with the QR bit cleared, and checks that each yields at most
// one well-formed answer.
func TestCorpusNeverCrashes(t *testing.T) {
	s := newTestServer(t, echoHandler)
	msgs := corpus(t)
	if len(msgs) == 0 && os.Getenv("CI") != "true" {
		t.Skip("no corpus")
	}
	answered := 0
	for _, b := range msgs {
		if len(b) < 12 {
			continue
		}
		asQuery := append([]byte(nil), b...)
		asQuery[2] &^= 0x80
		for _, raw := range [][]byte{b, asQuery} {
			c := &captured{}
			s.handle(raw, meta{transport: pipeline.UDP, client: netip.MustParseAddrPort("127.0.0.1:53")}, c, nil, false)
			if len(c.out) > 1 {
				t.Fatalf("sent %d answers to one message", len(c.out))
			}
			if len(c.out) == 1 {
				answered++
				if len(c.out[0]) > dnsmsg.MinUDPSize && raw[11] == 0 {
					t.Errorf("UDP answer of %d bytes to a query without EDNS", len(c.out[0]))
				}
			}
		}
	}
	if answered == 0 {
		t.Error("no corpus message was answered")
	}
}

// TestHandleReceived checks that a query's Received is the time its
// listener passed (a UDP read's), or the time handle ran when none.
func TestHandleReceived(t *testing.T) {
	var got time.Time
	s := newTestServer(t, pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		got = r.Received
		return w.WriteMsg(dnsmsg.Reply(r.Msg, dns.RcodeSuccess))
	}))
	raw := pack(t, new(dns.Msg).SetQuestion("example.com.", dns.TypeA))
	from := netip.MustParseAddrPort("127.0.0.1:53")
	read := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	s.handle(raw, meta{transport: pipeline.UDP, client: from, received: read}, &captured{}, nil, false)
	if !got.Equal(read) {
		t.Errorf("Received %v, want the read's %v", got, read)
	}
	before := time.Now()
	s.handle(raw, meta{transport: pipeline.UDP, client: from}, &captured{}, nil, false)
	if got.Before(before) || got.After(time.Now()) {
		t.Errorf("Received %v without a read time, want the time handle ran (from %v)", got, before)
	}
}

// FuzzServe feeds arbitrary bytes through the whole message path: header
// check, unpack, access, the handler and the answer's packing.
func FuzzServe(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b)
	}
	f.Add(pack(f, new(dns.Msg).SetQuestion("example.com.", dns.TypeA)))
	s := newTestServer(f, echoHandler)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &captured{}
		s.handle(raw, meta{transport: pipeline.UDP, client: netip.MustParseAddrPort("127.0.0.1:53")}, c, nil, false)
		if len(c.out) > 1 {
			t.Fatalf("sent %d answers", len(c.out))
		}
		if len(c.out) == 1 {
			if len(c.out[0]) > dnsmsg.UDPSize {
				t.Fatalf("UDP answer of %d bytes", len(c.out[0]))
			}
			if c.out[0][0] != raw[0] || c.out[0][1] != raw[1] {
				t.Fatalf("answer ID differs from the query's")
			}
		}
	})
}
