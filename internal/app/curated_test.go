package app

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestCuratedListsBlockWithoutDownloads (#11): our own curated category
// lists (blocklists/curated) are embedded and compiled into their
// categories, over real DNS: on a fresh install whose downloads cannot
// reach the list hosts, a profile that blocks dating, gambling
// and social blocks the curated sites of those categories and their
// subdomains, names the curated list as the source, and leaves the
// categories it does not block (games) alone; a profile that blocks only
// games blocks the curated games and nothing else. Before, with no
// download, these sites were answered.
func TestCuratedListsBlockWithoutDownloads(t *testing.T) {
	e := start(t, `profiles:
  kid: {preset: kid}
  no-games: {block: [games]}
devices:
  - {name: kid-laptop, ip: 127.0.0.2, profile: kid}
  - {name: console, ip: 127.0.0.3, profile: no-games}
default_profile: adult
lists: {defaults: true}
`, dnstest.Zone(t, "match.com. 300 IN A 192.0.2.61", "poki.com. 300 IN A 192.0.2.62"))
	tests := []struct {
		from, name string
		// wantEDE is the EDE text, "" for an answer from upstream; the
		// names other tags also list follow "also=" between its two
		// parts, split at " source=".
		wantEDE  string
		wantAddr string
	}{
		{"127.0.0.2", "match.com", "15 blocked: category=dating source=curated-dating rule=match.com profile=kid", "0.0.0.0"},
		{"127.0.0.2", "www.okcupid.com", "15 blocked: category=dating source=curated-dating rule=okcupid.com profile=kid", "0.0.0.0"},
		{"127.0.0.2", "stake.com", "15 blocked: category=gambling source=curated-gambling rule=stake.com profile=kid", "0.0.0.0"},
		{"127.0.0.2", "weibo.com", "15 blocked: category=social source=curated-social rule=weibo.com profile=kid", "0.0.0.0"},
		{"127.0.0.2", "poki.com", "", "192.0.2.62"},
		{"127.0.0.3", "poki.com", "15 blocked: category=games source=curated-games rule=poki.com profile=no-games", "0.0.0.0"},
		{"127.0.0.3", "games.poki.com", "15 blocked: category=games source=curated-games rule=poki.com profile=no-games", "0.0.0.0"},
		{"127.0.0.3", "match.com", "", "192.0.2.61"},
		{"127.0.0.1", "match.com", "", "192.0.2.61"},
	}
	for _, tc := range tests {
		t.Run(tc.from+"/"+tc.name, func(t *testing.T) {
			q := query(tc.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r := exchange(t, clientFrom(tc.from), q, e.udp)
			got := edeText(r)
			head, tail, _ := strings.Cut(tc.wantEDE, " source=")
			switch {
			case tc.wantEDE == "" && got != "":
				t.Errorf("EDE %q, want an answer", got)
			case tc.wantEDE != "" && (!strings.HasPrefix(got, head+" ") || !strings.HasSuffix(got, " source="+tail)):
				t.Errorf("EDE %q, want %q", got, tc.wantEDE)
			}
			if len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), tc.wantAddr) {
				t.Errorf("answer %v, want %s", r.Answer, tc.wantAddr)
			}
		})
	}
}
