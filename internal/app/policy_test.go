package app

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// recordingZone answers like dnstest.Zone and remembers every query's
// EDNS options, to prove what reaches the upstream.
type recordingZone struct {
	zone dns.HandlerFunc
	mu   sync.Mutex
	opts []uint16
}

func (z *recordingZone) ServeDNS(w dns.ResponseWriter, m *dns.Msg) {
	z.mu.Lock()
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			z.opts = append(z.opts, o.Option())
		}
	}
	z.mu.Unlock()
	z.zone(w, m)
}

func (z *recordingZone) options() []uint16 {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]uint16(nil), z.opts...)
}

// policyConfig is the example, with a gambling list file and
// loopback addresses standing in for the family's devices.
func policyConfig(t *testing.T) string {
	dir := t.TempDir()
	list := filepath.Join(dir, "extra-gambling.txt")
	if err := os.WriteFile(list, []byte("# our own\nbet365.com\ncasino.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`profiles:
  kid:   {preset: kid, allow: [khanacademy.org], deny: [example-game.com], youtube: strict}
  adult: {block: [malware, phishing]}
devices:
  - {name: emma-tablet, mac: "aa:bb:cc:dd:ee:ff", profile: kid}
  - {name: kid-laptop, ip: 127.0.0.2, profile: kid}
  - {name: parents, cidr: 127.0.0.3/32, profile: adult}
default_profile: adult
sources:
  - {tag: gambling, file: %q, format: domains}
access: {trusted_forwarders: ["127.0.0.9"]}
`, list)
}

var policyRecords = []string{
	"bet365.com. 300 IN A 192.0.2.50",
	"www.bet365.com. 300 IN A 192.0.2.50",
	"www.tiktok.com. 300 IN A 192.0.2.51",
	"khanacademy.org. 300 IN A 192.0.2.52",
	"example-game.com. 300 IN A 192.0.2.53",
	"www.example.org. 300 IN A 192.0.2.54",
	"www.youtube.com. 300 IN A 192.0.2.55",
	"restrict.youtube.com. 300 IN A 216.239.38.120",
}

func clientFrom(ip string) *dns.Client {
	return &dns.Client{Net: "udp", Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(ip)}}}
}

func edeText(r *dns.Msg) string {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return fmt.Sprintf("%d %s", e.InfoCode, e.ExtraText)
			}
		}
	}
	return ""
}

// TestKidAndParentGetDifferentAnswers is the heart of the mission: the
// same names asked from the kid's laptop and the parents' computer.
func TestKidAndParentGetDifferentAnswers(t *testing.T) {
	up := &recordingZone{zone: dnstest.Zone(t, policyRecords...)}
	e := start(t, policyConfig(t), up)
	tests := []struct {
		from    string
		name    string
		wantA   string // first A record, "" for none
		wantEDE string // substring of "code text"
	}{
		{"127.0.0.2", "bet365.com", "0.0.0.0", "15 blocked: category=gambling source=config-gambling-0 rule=bet365.com profile=kid"},
		{"127.0.0.3", "bet365.com", "192.0.2.50", ""},
		{"127.0.0.2", "www.bet365.com", "0.0.0.0", "rule=bet365.com"},
		{"127.0.0.2", "www.tiktok.com", "0.0.0.0", "15 blocked: service=tiktok source=service-tiktok rule=tiktok.com profile=kid"},
		{"127.0.0.3", "www.tiktok.com", "192.0.2.51", ""},
		{"127.0.0.2", "khanacademy.org", "192.0.2.52", ""},
		{"127.0.0.2", "example-game.com", "0.0.0.0", "15 blocked: deny-rule rule=example-game.com profile=kid"},
		{"127.0.0.3", "example-game.com", "192.0.2.53", ""},
		{"127.0.0.2", "www.youtube.com", "216.239.38.120", "17 rewritten: safe-search=youtube target=restrict.youtube.com"},
		{"127.0.0.3", "www.youtube.com", "192.0.2.55", ""},
		{"127.0.0.2", "use-application-dns.net", "", "bypass=firefox-canary"},
		{"127.0.0.2", "dns.google", "0.0.0.0", "category=bypass source=hearth-bypass"},
		{"127.0.0.4", "www.tiktok.com", "192.0.2.51", ""}, // unknown device: default profile adult
		{"127.0.0.2", "www.example.org", "192.0.2.54", ""},
	}
	for _, tc := range tests {
		t.Run(tc.from+"/"+tc.name, func(t *testing.T) {
			q := query(tc.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r := exchange(t, clientFrom(tc.from), q, e.udp)
			got := ""
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					got = a.A.String()
					break
				}
			}
			if got != tc.wantA {
				t.Errorf("A = %q, want %q (answer %v)", got, tc.wantA, r.Answer)
			}
			ede := edeText(r)
			if (tc.wantEDE == "") != (ede == "") || !strings.Contains(ede, tc.wantEDE) {
				t.Errorf("EDE %q, want %q", ede, tc.wantEDE)
			}
		})
	}
	if r := exchange(t, clientFrom("127.0.0.2"), query("use-application-dns.net", dns.TypeA), e.udp); r.Rcode != dns.RcodeNameError {
		t.Errorf("canary rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// TestTrustedForwarderMAC: a home router (dnsmasq --add-mac) forwards for
// every device; only its EDNS MAC option tells Emma's tablet apart, and
// the same option from anyone else is ignored. Neither reaches upstream.
func TestTrustedForwarderMAC(t *testing.T) {
	up := &recordingZone{zone: dnstest.Zone(t, policyRecords...)}
	e := start(t, policyConfig(t), up)
	withMAC := func(binary bool) *dns.Msg {
		q := query("www.tiktok.com", dns.TypeA)
		q.SetEdns0(1232, false)
		opt := q.IsEdns0()
		if binary {
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}})
		} else {
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: 65073, Data: []byte("aa:bb:cc:dd:ee:ff")})
		}
		return q
	}
	for _, binary := range []bool{true, false} {
		r := exchange(t, clientFrom("127.0.0.9"), withMAC(binary), e.udp)
		if ede := edeText(r); !strings.Contains(ede, "service=tiktok") || !strings.Contains(ede, "profile=kid") {
			t.Errorf("via trusted forwarder (binary %v): EDE %q, answer %v; want the kid's block", binary, ede, r.Answer)
		}
		// From an untrusted source the option is ignored: default profile.
		r = exchange(t, clientFrom("127.0.0.5"), withMAC(binary), e.udp)
		if ede := edeText(r); ede != "" || len(r.Answer) == 0 {
			t.Errorf("untrusted source with MAC option (binary %v): EDE %q, answer %v; want allowed", binary, ede, r.Answer)
		}
	}
	for _, code := range up.options() {
		if code == 65001 || code == 65073 {
			t.Errorf("private EDNS option %d reached the upstream", code)
		}
	}
	if len(up.options()) != 0 {
		t.Logf("upstream saw options %v", up.options())
	}
}

func TestBlockedAnswerShapes(t *testing.T) {
	e := start(t, policyConfig(t)+"blocking: {mode: nxdomain, ttl: 30s}\n", dnstest.Zone(t, policyRecords...))
	q := query("bet365.com", dns.TypeAAAA)
	q.SetEdns0(1232, false)
	r := exchange(t, clientFrom("127.0.0.2"), q, e.udp)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Ttl != 30 {
		t.Errorf("nxdomain mode answer %v", r)
	}
	if code := edeText(r); !strings.HasPrefix(code, fmt.Sprint(dnsmsg.EDEBlocked)) {
		t.Errorf("EDE %q", code)
	}
}

func TestPolicyConfigErrors(t *testing.T) {
	tests := []struct{ extra, want string }{
		{"profiles:\n  kid: {preset: toddler}\n", "test.yaml:6: profiles.kid.preset: no preset \"toddler\""},
		{"profiles:\n  kid: {block: [gamblin]}\n", "test.yaml:6: profiles.kid.block[0]: \"gamblin\" is not a category or service"},
		{"profiles:\n  kid: {safe_search: [google, altavista]}\n", "test.yaml:6: profiles.kid.safe_search[1]: \"altavista\" is not a search engine"},
		{"default_profile: nobody\n", "test.yaml:5: default_profile: no profile or preset named \"nobody\""},
		{"sources:\n  - {tag: casinos, file: /x, format: domains}\n", "test.yaml:6: sources[0].tag:"},
	}
	for _, tc := range tests {
		cfg := parseTestConfig(t, tc.extra)
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.want)
		}
	}
}

// TestBedtime: the kid's answers are cached no longer than bedtime's
// start, and at bedtime everything but the allow list is blocked, while
// the parents' answers are not touched.
func TestBedtime(t *testing.T) {
	extra := policyConfig(t)
	extra = strings.Replace(extra, "kid:   {preset: kid, allow: [khanacademy.org], deny: [example-game.com], youtube: strict}",
		`kid:
    preset: kid
    allow: [khanacademy.org]
    timezone: Europe/Paris
    schedules:
      - {name: bedtime, days: [daily], from: "13:02", to: "07:00", pause: true}`, 1)
	e := start(t, extra, dnstest.Zone(t, policyRecords...)) // the clock starts at 12:00 UTC, 13:00 in Paris
	q := query("www.example.org", dns.TypeA)
	q.SetEdns0(1232, false)
	r := exchange(t, clientFrom("127.0.0.2"), q, e.udp)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 120 {
		t.Fatalf("kid's answer two minutes before bedtime: %v; want TTL 120", r.Answer)
	}
	e.clock.Advance(2 * time.Minute)
	r = exchange(t, clientFrom("127.0.0.2"), q, e.udp)
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != "0.0.0.0" || !strings.Contains(edeText(r), "paused schedule=bedtime profile=kid") {
		t.Errorf("kid at bedtime: %v, EDE %q", r.Answer, edeText(r))
	}
	r = exchange(t, clientFrom("127.0.0.2"), query("khanacademy.org", dns.TypeA), e.udp)
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != "192.0.2.52" {
		t.Errorf("allow list at bedtime: %v", r.Answer)
	}
	r = exchange(t, clientFrom("127.0.0.3"), q, e.udp)
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != "192.0.2.54" || a.Hdr.Ttl != 180 {
		t.Errorf("parents at the kid's bedtime: %v", r.Answer)
	}
}
