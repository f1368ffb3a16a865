package dnsmsg

import (
	"reflect"
	"testing"

	"github.com/miekg/dns"
)

// queryWires returns queries of the shapes UnpackQuery unpacks itself and
// of the shapes it leaves to miekg/dns, by name.
func queryWires(t testing.TB) map[string][]byte {
	t.Helper()
	pack := func(m *dns.Msg) []byte { return mustPack(t, m) }
	plain := new(dns.Msg).SetQuestion("www.Example.com.", dns.TypeA)
	edns := new(dns.Msg).SetQuestion("example.com.", dns.TypeAAAA)
	edns.SetEdns0(1232, true)
	flags := new(dns.Msg).SetQuestion("a\\.b.example.", dns.TypeTXT)
	flags.RecursionDesired = false
	flags.CheckingDisabled = true
	flags.AuthenticatedData = true
	flags.Zero = true
	flags.Opcode = dns.OpcodeNotify
	flags.SetEdns0(4096, false)
	flags.IsEdns0().SetExtendedRcode(dns.RcodeBadVers)
	flags.IsEdns0().SetVersion(1)
	root := new(dns.Msg).SetQuestion(".", dns.TypeNS)
	cookie := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	cookie.SetEdns0(1232, false)
	cookie.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
	two := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "example.org.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	answer := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	answer.Answer = []dns.RR{mustRR(t, "example.com. 60 IN A 192.0.2.1")}
	extraA := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	extraA.Extra = []dns.RR{mustRR(t, "example.com. 60 IN A 192.0.2.1")}
	response := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	response.Response = true
	response.Rcode = dns.RcodeNameError
	chaos := new(dns.Msg).SetQuestion("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS

	w := map[string][]byte{
		"plain":    pack(plain),
		"edns":     pack(edns),
		"flags":    pack(flags),
		"root":     pack(root),
		"chaos":    pack(chaos),
		"response": pack(response),
		// Left to miekg/dns:
		"cookie":        pack(cookie),
		"two questions": pack(two),
		"answer":        pack(answer),
		"extra A":       pack(extraA),
		"trailing byte": append(pack(plain), 0),
		"header only":   pack(plain)[:HeaderLen],
		"short":         pack(plain)[:5],
		"cut name":      pack(plain)[:HeaderLen+4],
		"cut type":      pack(plain)[:len(pack(plain))-3],
		"cut OPT":       pack(edns)[:len(pack(edns))-2],
		"empty":         nil,
	}
	// A question name that is a compression pointer to itself.
	loop := pack(plain)[:HeaderLen]
	w["pointer loop"] = append(loop, 0xC0, HeaderLen, 0, 1, 0, 1)
	// An OPT record whose owner is not the root.
	bad := pack(edns)
	bad[len(bad)-OPTLen] = 1
	w["OPT owner"] = bad
	return w
}

// checkUnpackQuery fails unless UnpackQuery leaves m as m.Unpack leaves a
// fresh Msg, error or not.
func checkUnpackQuery(t *testing.T, raw []byte, m *dns.Msg, s *QueryScratch) {
	t.Helper()
	want := new(dns.Msg)
	wantErr := want.Unpack(raw)
	*m = dns.Msg{}
	err := UnpackQuery(m, raw, s)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("UnpackQuery error %v, Unpack error %v", err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(m, want) {
		t.Fatalf("UnpackQuery:\n%v\nUnpack:\n%v", m, want)
	}
}

func TestUnpackQueryMatchesUnpack(t *testing.T) {
	var (
		m dns.Msg
		s QueryScratch
	)
	for name, raw := range queryWires(t) {
		t.Run(name, func(t *testing.T) {
			checkUnpackQuery(t, raw, &m, &s)
		})
	}
	// One Msg and scratch for query after query, as a listener reuses
	// them: nothing of an earlier query may show through.
	ws := queryWires(t)
	for _, order := range [][]string{{"edns", "plain", "flags", "root"}, {"cookie", "edns", "plain"}, {"flags", "chaos"}} {
		for _, name := range order {
			checkUnpackQuery(t, ws[name], &m, &s)
		}
	}
}

func TestUnpackQueryAllocatesOnlyTheName(t *testing.T) {
	ws := queryWires(t)
	var (
		m dns.Msg
		s QueryScratch
	)
	for _, name := range []string{"plain", "edns", "flags"} {
		raw := ws[name]
		allocs := testing.AllocsPerRun(100, func() {
			m = dns.Msg{}
			if err := UnpackQuery(&m, raw, &s); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("%s: %.0f allocations, want at most 1 (the name)", name, allocs)
		}
	}
}

func BenchmarkUnpackQuery(b *testing.B) {
	raw := queryWires(b)["edns"]
	b.Run("UnpackQuery", func(b *testing.B) {
		var (
			m dns.Msg
			s QueryScratch
		)
		b.ReportAllocs()
		for b.Loop() {
			m = dns.Msg{}
			UnpackQuery(&m, raw, &s)
		}
	})
	b.Run("Unpack", func(b *testing.B) {
		var m dns.Msg
		b.ReportAllocs()
		for b.Loop() {
			m = dns.Msg{}
			m.Unpack(raw)
		}
	})
}

// FuzzUnpackQuery checks that UnpackQuery agrees with miekg/dns on any
// input, through a Msg and scratch reused across inputs.
func FuzzUnpackQuery(f *testing.F) {
	for _, raw := range queryWires(f) {
		f.Add(raw)
	}
	for _, raw := range sampleMsgs(f) {
		f.Add(raw)
	}
	var (
		m dns.Msg
		s QueryScratch
	)
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkUnpackQuery(t, raw, &m, &s)
	})
}
