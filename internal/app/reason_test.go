package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestReasonNamesTheRightCategory (#11): a name in several blocked
// categories is explained by the most specific one, over real DNS: a
// dating site also listed as adult says dating, and a casino also listed as
// malware says gambling with malware beside it (the example,
// bet365.com, is now in our curated gambling list too, so a made-up name
// stands in). Before, the first category in catalog order won (adult,
// malware).
func TestReasonNamesTheRightCategory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := fmt.Sprintf(`profiles:
  kid: {preset: kid}
  grown: {block: [malware]}
devices:
  - {name: kid-laptop, ip: 127.0.0.2, profile: kid}
  - {name: parents, ip: 127.0.0.3, profile: grown}
default_profile: grown
lists: {defaults: false}
sources:
  - {id: adult-hosts, tag: adult, file: %q, format: hosts}
  - {id: dating-list, tag: dating, file: %q, format: domains}
  - {id: gambling-list, tag: gambling, file: %q, format: domains}
  - {id: malware-list, tag: malware, file: %q, format: domains}
`, write("adult.txt", "0.0.0.0 datingsite.example\n0.0.0.0 tinder.com\n"),
		write("dating.txt", "datingsite.example\n"),
		write("gambling.txt", "casino-site.example\n"),
		write("malware.txt", "casino-site.example\n"))
	e := start(t, cfg, dnstest.Zone(t, "casino-site.example. 300 IN A 192.0.2.50"))
	tests := []struct {
		from, name, wantEDE string
	}{
		{"127.0.0.2", "datingsite.example", "15 blocked: category=dating also=adult source=dating-list rule=datingsite.example profile=kid"},
		{"127.0.0.2", "casino-site.example", "15 blocked: category=gambling also=malware source=gambling-list rule=casino-site.example profile=kid"},
		// A service beats the categories it is also listed in.
		{"127.0.0.2", "tinder.com", "15 blocked: service=tinder also=adult source=service-tinder rule=tinder.com profile=kid"},
		// A profile that blocks only malware shows malware, and says
		// what else the name is.
		{"127.0.0.3", "casino-site.example", "15 blocked: category=malware also=gambling source=malware-list rule=casino-site.example profile=grown"},
	}
	for _, tc := range tests {
		t.Run(tc.from+"/"+tc.name, func(t *testing.T) {
			q := query(tc.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r := exchange(t, clientFrom(tc.from), q, e.udp)
			if got := edeText(r); got != tc.wantEDE {
				t.Errorf("EDE %q, want %q", got, tc.wantEDE)
			}
			if len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "0.0.0.0") {
				t.Errorf("answer %v, want the block address", r.Answer)
			}
		})
	}
}

// TestMatchModes (#11): a parent expects www.example.com blocked when a
// hosts list has example.com. Hosts lists match the name and www. by
// default; match: exact and match: subtree say otherwise.
func TestMatchModes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := fmt.Sprintf(`profiles:
  kid: {block: [adult, gambling, drugs]}
default_profile: kid
sources:
  - {id: hosts-default, tag: adult, file: %q, format: hosts}
  - {id: hosts-exact, tag: gambling, file: %q, format: hosts, match: exact}
  - {id: hosts-subtree, tag: drugs, file: %q, format: hosts, match: subtree}
`, write("a.txt", "0.0.0.0 adult.example\n"), write("g.txt", "0.0.0.0 casino.example\n"), write("d.txt", "0.0.0.0 drugs.example\n"))
	e := start(t, cfg, dnstest.Zone(t, "www.casino.example. 300 IN A 192.0.2.70", "cdn.adult.example. 300 IN A 192.0.2.71"))
	tests := []struct {
		name    string
		blocked bool
	}{
		{"adult.example", true},
		{"www.adult.example", true},
		{"cdn.adult.example", false},
		{"casino.example", true},
		{"www.casino.example", false},
		{"drugs.example", true},
		{"www.drugs.example", true},
		{"cdn.drugs.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query(tc.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r := exchange(t, clientFrom("127.0.0.1"), q, e.udp)
			if got := edeText(r) != ""; got != tc.blocked {
				t.Errorf("blocked %v (EDE %q, answer %v), want %v", got, edeText(r), r.Answer, tc.blocked)
			}
		})
	}
	for _, tc := range []struct{ src, want string }{
		{"{tag: adult, file: /x, format: hosts, match: wide}", `sources[0].match: "wide" is not exact, www or subtree`},
		{"{tag: adult, file: /x, format: hosts, match: www, subtree: true}", "sources[0].subtree: set match or subtree, not both"},
	} {
		_, err := config.Parse("t.yaml", []byte("sources:\n  - "+tc.src+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("source %s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}
