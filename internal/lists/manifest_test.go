package lists

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/largedata"
)

// manifestEntry is one row of MANIFEST.tsv.
type manifestEntry struct {
	File    string
	Format  string
	Lines   int
	Domains int
	IPs     int
}

// readManifest parses MANIFEST.tsv, finding the columns by header name.
func readManifest(tb testing.TB, dir string) []manifestEntry {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	rows := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	col := map[string]int{}
	for i, h := range strings.Split(rows[0], "\t") {
		col[h] = i
	}
	for _, h := range []string{"file", "format", "lines", "domains", "ips"} {
		if _, ok := col[h]; !ok {
			tb.Fatalf("MANIFEST.tsv: no %q column in header %q", h, rows[0])
		}
	}
	var out []manifestEntry
	for n, row := range rows[1:] {
		f := strings.Split(row, "\t")
		num := func(h string) int {
			v, err := strconv.Atoi(f[col[h]])
			if err != nil {
				tb.Fatalf("MANIFEST.tsv:%d: %s: %v", n+2, h, err)
			}
			return v
		}
		out = append(out, manifestEntry{File: f[col["file"]], Format: f[col["format"]],
			Lines: num("lines"), Domains: num("domains"), IPs: num("ips")})
	}
	return out
}

// csvToDomains turns the popularity lists ("rank,domain", not a list format
// Hearth reads) into domains syntax, so that their counts are checked with
// the same name rules.
func csvToDomains(r io.Reader) io.Reader {
	var buf bytes.Buffer
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, d, _ := strings.Cut(sc.Text(), ",")
		buf.WriteString(d)
		buf.WriteByte('\n')
	}
	return &buf
}

// manifestDiff is a documented difference between what Hearth emits and
// a manifest's counts for one file: got = manifest + diff.
type manifestDiff struct {
	Names, IPs int
	Why        string
}

// manifestDiffs are the documented differences between what Hearth emits
// and the external data set's manifest counts ("distinct valid host names after lower-casing",
// IP literals and malformed entries dropped), per file: got = manifest + diff.
var manifestDiffs = map[string]manifestDiff{
	"ut1/dynamic-dns.txt.gz": {Names: 2, Why: "`.afshin.ir` and `.giswebservice.com`: a leading dot is the " +
		"squidGuard/UT1 way to write a subtree, so Hearth keeps them as Subtree rules; the manifest counts them as malformed"},
	"ut1/bank.txt.gz": {Names: 1, Why: "`w-w-i-s-.com`: a label ending in '-' breaks the RFC 952 host-name rule " +
		"the manifest applies, but DNS allows it and resolvers answer for such names (the Umbrella top list, " +
		"which the manifest does count, has `administrator.-container.supertms.com`), so Hearth accepts hyphens anywhere"},
	"sinfonietta/pornography.txt.gz": {IPs: 5, Why: "`0.0.0.0 85.17.187.83` and four more: an IP literal in " +
		"the name position is an IP rule for Hearth; the manifest counts IPs for domains and ip-list files only"},
	"hostsvn/gambling.txt.gz": {IPs: 1, Why: "`||180.215.200.9^`: an adblock rule for an address is an IP rule " +
		"for Hearth (AdGuard applies it to answers); the manifest counts IPs for domains and ip-list files only"},
}

// testdataDiffs are the documented differences for testdata/manifest,
// whose counts were made by hand from its files by the same rules as the
// external data set's manifest.
var testdataDiffs = map[string]manifestDiff{
	"domains.txt.gz": {Names: 2, Why: "`.afshin.example` (a squidGuard subtree) and `w-w-i-s-.com` " +
		"(a label ending in '-'), as for ut1 in manifestDiffs"},
	"hosts.txt.gz": {Names: -1, IPs: 1, Why: "`localhost` is hosts-file boilerplate Hearth never blocks; " +
		"`0.0.0.0 85.17.187.83` is an IP rule, as for sinfonietta in manifestDiffs"},
	"adblock.txt.gz": {IPs: 1, Why: "`||180.215.200.9^` is an IP rule, as for hostsvn in manifestDiffs; " +
		"`||60com^` (no dot) is malformed for both"},
}

// TestManifestCounts is the large suite's check: every .gz file of the
// external data set (see package largedata), parsed with the format its
// manifest names, against the manifest's counts.
func TestManifestCounts(t *testing.T) {
	checkManifest(t, largedata.Dir(t), manifestDiffs)
}

// TestManifestCountsTestdata runs the same check on small files in
// testdata/manifest, one per format, with the cases the documented
// differences are about, so that it runs on every machine.
func TestManifestCountsTestdata(t *testing.T) {
	checkManifest(t, filepath.Join("testdata", "manifest"), testdataDiffs)
}

// checkManifest parses every file dir's MANIFEST.tsv lists with the format
// it names and checks the lines, distinct valid names and IPs against the
// manifest's columns, allowing only the differences documented in diffs.
func checkManifest(t *testing.T, dir string, diffs map[string]manifestDiff) {
	entries := readManifest(t, dir)
	if len(entries) == 0 {
		t.Fatal("MANIFEST.tsv lists no files")
	}
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.File] = true
	}
	for f := range diffs {
		if !listed[f] {
			t.Errorf("the documented differences name %s, which MANIFEST.tsv does not list", f)
		}
	}
	for _, e := range entries {
		t.Run(e.File, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join(dir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader = zr
			format := Format(e.Format)
			if e.Format == "csv rank,domain" {
				r, format = csvToDomains(zr), FormatDomains
			} else if format, err = ParseFormat(e.Format); err != nil {
				t.Fatal(err)
			}
			names := map[string]struct{}{}
			ips := map[netip.Addr]struct{}{}
			st, err := Parse(r, format, ParseOptions{}, func(r Rule) {
				if r.IsIP() {
					ips[r.IP] = struct{}{}
				} else {
					names[r.Name] = struct{}{}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Lines != e.Lines {
				t.Errorf("lines = %d, manifest says %d", st.Lines, e.Lines)
			}
			diff := diffs[e.File]
			if len(names) != e.Domains+diff.Names {
				t.Errorf("distinct names = %d, manifest says %d, documented difference %+d", len(names), e.Domains, diff.Names)
			}
			if len(ips) != e.IPs+diff.IPs {
				t.Errorf("distinct IPs = %d, manifest says %d, documented difference %+d", len(ips), e.IPs, diff.IPs)
			}
			if st.Bad > 0 || st.Unsupported > 0 {
				t.Logf("bad %d, unsupported %d, examples %+v", st.Bad, st.Unsupported, st.BadExamples)
			}
		})
	}
}
