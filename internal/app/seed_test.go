package app

import (
	"bufio"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/blocklists"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// firstSeedName returns the most popular name of a category's embedded
// seed (its first entry), without a "*." prefix.
func firstSeedName(t *testing.T, category string) string {
	t.Helper()
	f, err := blocklists.FS.Open("seed/" + category + ".txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			return strings.TrimPrefix(line, "*.")
		}
	}
	t.Fatalf("seed %s is empty", category)
	return ""
}

// TestFreshInstallBlocksFromSeed (#11): a new install that has downloaded
// nothing (its data directory is empty and the list hosts are out of
// reach) already blocks the most visited sites of a category from the
// embedded seed, and says so.
func TestFreshInstallBlocksFromSeed(t *testing.T) {
	e := start(t, `profiles:
  kid: {preset: kid}
default_profile: kid
lists: {defaults: true}
`, dnstest.Zone(t, "example.org. 300 IN A 192.0.2.60"))
	tests := []struct{ name, wantEDE string }{
		{"pornhub.com", "15 blocked: category=adult source=seed-adult rule=pornhub.com profile=kid"},
		{"www.pornhub.com", "15 blocked: category=adult source=seed-adult rule=www.pornhub.com profile=kid"},
		{firstSeedName(t, "adult"), "category=adult source=seed-adult"},
		{firstSeedName(t, "gambling"), "category=gambling source=seed-gambling"},
		{"betpawa.co.tz", "category=gambling source=seed-gambling"},
		{"example.org", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query(tc.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r := exchange(t, clientFrom("127.0.0.1"), q, e.udp)
			got := edeText(r)
			if (tc.wantEDE == "") != (got == "") || !strings.Contains(got, tc.wantEDE) {
				t.Errorf("EDE %q, want %q", got, tc.wantEDE)
			}
		})
	}
}
