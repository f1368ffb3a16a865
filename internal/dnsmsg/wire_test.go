package dnsmsg

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("record %q: %v", s, err)
	}
	return rr
}

// sampleMsgs returns packed answers of several shapes: compressed names,
// all three sections, an OPT record, a negative answer, an empty reply.
func sampleMsgs(t testing.TB) map[string][]byte {
	t.Helper()
	pack := func(m *dns.Msg) []byte { return mustPack(t, m) }
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)

	full := new(dns.Msg)
	full.SetReply(q)
	full.Compress = true
	full.Answer = []dns.RR{
		mustRR(t, "www.example.com. 300 IN CNAME web.example.com."),
		mustRR(t, "web.example.com. 60 IN A 192.0.2.1"),
		mustRR(t, "web.example.com. 61 IN A 192.0.2.2"),
	}
	full.Ns = []dns.RR{mustRR(t, "example.com. 3600 IN NS ns1.example.com.")}
	full.Extra = []dns.RR{mustRR(t, "ns1.example.com. 7200 IN A 192.0.2.53")}
	full.SetEdns0(4096, true)

	neg := new(dns.Msg)
	neg.SetRcode(q, dns.RcodeNameError)
	neg.Ns = []dns.RR{mustRR(t, "example.com. 900 IN SOA ns1.example.com. admin.example.com. 1 3600 600 86400 120")}

	empty := new(dns.Msg)
	empty.SetReply(q)

	return map[string][]byte{
		"full":     pack(full),
		"negative": pack(neg),
		"empty":    pack(empty),
		"query":    pack(q),
	}
}

// TestTTLOffsets checks the offsets against miekg/dns's view of the same
// message: one per non-OPT record, in order, each holding that record's TTL.
func TestTTLOffsets(t *testing.T) {
	for name, wire := range sampleMsgs(t) {
		t.Run(name, func(t *testing.T) {
			offs, err := TTLOffsets(wire)
			if err != nil {
				t.Fatalf("TTLOffsets: %v", err)
			}
			checkAgainstUnpack(t, wire, offs)
		})
	}
}

func checkAgainstUnpack(t *testing.T, wire []byte, offs []uint16) {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	var want []uint32
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype != dns.TypeOPT {
				want = append(want, rr.Header().Ttl)
			}
		}
	}
	if len(offs) != len(want) {
		t.Fatalf("got %d offsets, want %d", len(offs), len(want))
	}
	for i, o := range offs {
		if got := binary.BigEndian.Uint32(wire[o:]); got != want[i] {
			t.Errorf("record %d: TTL at offset %d = %d, want %d", i, o, got, want[i])
		}
	}
}

func TestTTLOffsetsRejectsBadMessages(t *testing.T) {
	full := sampleMsgs(t)["full"]
	tests := []struct {
		name string
		wire []byte
	}{
		{"empty", nil},
		{"short header", full[:11]},
		{"truncated question", full[:HeaderLen+5]},
		{"truncated record", full[:len(full)-3]},
		{"lying count", func() []byte {
			b := append([]byte(nil), full...)
			binary.BigEndian.PutUint16(b[6:], 200)
			return b
		}()},
		{"extended label type", func() []byte {
			b := append([]byte(nil), full...)
			b[HeaderLen] = 0x40
			return b
		}()},
		{"too long", make([]byte, 70000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if offs, err := TTLOffsets(tc.wire); err == nil {
				t.Errorf("TTLOffsets = %v, nil; want an error", offs)
			}
		})
	}
}

// TestPatchHelpers patches a packed answer the way the cache's hit path does
// and checks the result unpacks to what a client should see.
func TestPatchHelpers(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Response = true
	m.RecursionAvailable = true
	m.Answer = []dns.RR{mustRR(t, "www.example.com. 300 IN A 192.0.2.1")}
	m.Extra = []dns.RR{mustRR(t, "www.example.com. 300 IN TXT \"x\"")}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	offs, err := TTLOffsets(wire)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id       uint16
		rd, cd   bool
		opt, do  bool
		ttl      uint32
		qname    string
		wantCase bool
	}{
		{id: 0xBEEF, rd: true, cd: false, opt: true, do: true, ttl: 200, qname: "WwW.ExAmple.COM.", wantCase: true},
		{id: 1, rd: false, cd: true, opt: true, do: false, ttl: 1, qname: "www.example.com.", wantCase: true},
		{id: 2, rd: true, cd: true, opt: false, ttl: 0, qname: "www.other.com.", wantCase: false},
	} {
		b := append(make([]byte, 0, len(wire)+OPTLen), wire...)
		SetID(b, tc.id)
		SetRDCD(b, tc.rd, tc.cd)
		SetTTLs(b, offs, tc.ttl)
		if got := SetQuestionCase(b, tc.qname); got != tc.wantCase {
			t.Errorf("SetQuestionCase(%q) = %v, want %v", tc.qname, got, tc.wantCase)
		}
		if tc.opt {
			b = AppendOPT(b, UDPSize, tc.do)
		}
		got := new(dns.Msg)
		if err := got.Unpack(b); err != nil {
			t.Fatalf("unpack patched: %v", err)
		}
		if got.Id != tc.id || got.RecursionDesired != tc.rd || got.CheckingDisabled != tc.cd || !got.RecursionAvailable || !got.Response {
			t.Errorf("header = %+v, want id %d rd %v cd %v", got.MsgHdr, tc.id, tc.rd, tc.cd)
		}
		wantQ := "www.example.com."
		if tc.wantCase {
			wantQ = tc.qname
		}
		if got.Question[0].Name != wantQ {
			t.Errorf("question = %q, want %q", got.Question[0].Name, wantQ)
		}
		if got.Answer[0].Header().Ttl != tc.ttl || got.Extra[0].Header().Ttl != tc.ttl {
			t.Errorf("TTLs = %d, %d, want %d", got.Answer[0].Header().Ttl, got.Extra[0].Header().Ttl, tc.ttl)
		}
		opt := got.IsEdns0()
		switch {
		case !tc.opt && opt != nil:
			t.Errorf("unexpected OPT %v", opt)
		case tc.opt && opt == nil:
			t.Errorf("no OPT")
		case tc.opt:
			if opt.UDPSize() != UDPSize || opt.Do() != tc.do || len(opt.Option) != 0 || opt.Version() != 0 {
				t.Errorf("OPT = %v, want size %d do %v and no options", opt, UDPSize, tc.do)
			}
		}
	}
}

func TestSetQuestionCase(t *testing.T) {
	root := new(dns.Msg)
	root.SetQuestion(".", dns.TypeNS)
	rootWire, _ := root.Pack()
	m := new(dns.Msg)
	m.SetQuestion("a.bc.", dns.TypeA)
	wire, _ := m.Pack()
	tests := []struct {
		wire []byte
		name string
		want bool
	}{
		{wire, "A.Bc.", true},
		{wire, "a.bc.", true},
		{wire, "a.bc", false},
		{wire, "a.bcd.", false},
		{wire, "a.b.", false},
		{wire, "ab.c.", false},
		{wire, `\065.bc.`, false},
		{wire, ".", false},
		{wire, "", false},
		{rootWire, ".", true},
		{rootWire, "a.", false},
		{wire[:HeaderLen+3], "a.bc.", false},
	}
	for _, tc := range tests {
		b := append([]byte(nil), tc.wire...)
		if got := SetQuestionCase(b, tc.name); got != tc.want {
			t.Errorf("SetQuestionCase(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPatchHelpersDoNotAllocate(t *testing.T) {
	wire := sampleMsgs(t)["full"]
	offs, err := TTLOffsets(wire)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, len(wire)+OPTLen)
	allocs := testing.AllocsPerRun(100, func() {
		b := append(buf[:0], wire...)
		SetID(b, 7)
		SetRDCD(b, true, false)
		SetTTLs(b, offs, 42)
		SetQuestionCase(b, "WWW.example.com.")
		_ = AppendOPT(b, UDPSize, true)
	})
	if allocs != 0 {
		t.Errorf("patching allocates %v times, want 0", allocs)
	}
}

// FuzzTTLOffsets checks that TTLOffsets never panics, that its offsets can be
// patched, and, when miekg/dns accepts the message too, that the two agree on
// every record's TTL. (Patching may break a hostile message whose compression
// pointers aim into a TTL field; the cache only patches what it packed.)
func FuzzTTLOffsets(f *testing.F) {
	for _, wire := range sampleMsgs(f) {
		f.Add(wire)
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, wire []byte) {
		offs, err := TTLOffsets(wire)
		if err != nil {
			return
		}
		for _, o := range offs {
			if int(o)+4 > len(wire) {
				t.Fatalf("offset %d past the end (%d bytes)", o, len(wire))
			}
		}
		if m := new(dns.Msg); m.Unpack(wire) == nil {
			checkAgainstUnpack(t, wire, offs)
		}
		b := append([]byte(nil), wire...)
		SetTTLs(b, offs, 1)
		SetQuestionCase(b, "example.com.")
		if len(b) >= HeaderLen {
			SetID(b, 1)
			SetRDCD(b, true, true)
			AppendOPT(b, UDPSize, true)
		}
	})
}

// mustPack packs m or fails the test.
func mustPack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return b
}
