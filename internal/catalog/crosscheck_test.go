package catalog

import (
	"bufio"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// safeSearchTSV is the shared, independently sourced safe-search table
// (see /work/shared/data/README.md), relative to this package's folder.
const safeSearchTSV = "../../../shared/data/safesearch.tsv"

// tsvLevel maps the shared table's levels to ours: one level per engine
// except YouTube.
var tsvLevel = map[string]map[string]string{
	"google":     {"strict": "strict"},
	"youtube":    {"strict": "strict", "moderate": "moderate"},
	"bing":       {"strict": "strict"},
	"duckduckgo": {"on": "strict"},
	"ecosia":     {"strict": "strict"},
	"pixabay":    {"on": "strict"},
	"yandex":     {"family": "strict"},
}

// TestSafeSearchCrossCheck checks our table against the shared one: every
// query name it lists for an engine we cover must be rewritten by us to the
// same target (CNAME, or for Yandex the same address). Names we add beyond it
// (google.<tld> without www, for example) are fine.
func TestSafeSearchCrossCheck(t *testing.T) {
	f, err := os.Open(safeSearchTSV)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && os.Getenv("CI") != "true" {
			t.Skipf("%s not found: skipping; CI=true makes this a failure", safeSearchTSV)
		}
		t.Fatalf("opening shared safe-search table: %v", err)
	}
	defer f.Close()

	c := mustDefault(t)
	rules := map[[2]string]SafeSearchRule{}
	for _, r := range c.SafeSearch {
		rules[[2]string{r.Engine, r.Level}] = r
	}

	sc := bufio.NewScanner(f)
	var cols map[string]int
	checked := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = map[string]int{}
			for i, name := range fields {
				cols[name] = i
			}
			for _, want := range []string{"engine", "level", "query_name", "answer_type", "rewrite_to", "target_ipv4"} {
				if _, ok := cols[want]; !ok {
					t.Fatalf("%s: no %q column in header %q", safeSearchTSV, want, sc.Text())
				}
			}
			continue
		}
		get := func(col string) string {
			if i := cols[col]; i < len(fields) {
				return fields[i]
			}
			return ""
		}
		engine, name := get("engine"), get("query_name")
		levels, ok := tsvLevel[engine]
		if !ok {
			continue
		}
		level, ok := levels[get("level")]
		if !ok {
			t.Errorf("line %d: %s level %q has no counterpart in our table", n, engine, get("level"))
			continue
		}
		r, ok := rules[[2]string{engine, level}]
		if !ok {
			t.Errorf("line %d: we have no %s/%s rule", n, engine, level)
			continue
		}
		checked[engine]++
		if !slices.Contains(r.Names, name) {
			t.Errorf("line %d: %s/%s: we do not rewrite %q", n, engine, level, name)
			continue
		}
		ipv4 := get("target_ipv4")
		switch get("answer_type") {
		case "CNAME":
			if r.CNAME != get("rewrite_to") {
				t.Errorf("line %d: %s: we rewrite to %q, the shared table to %q", n, name, r.CNAME, get("rewrite_to"))
			}
			// Fallbacks are optional for us; when we have one it must agree.
			if ipv4 != "" && len(r.A) > 0 && !slices.Contains(r.A, netip.MustParseAddr(ipv4)) {
				t.Errorf("line %d: %s: our fallback %v, the shared table %s", n, name, r.A, ipv4)
			}
		case "A":
			if r.CNAME != "" || !slices.Contains(r.A, netip.MustParseAddr(ipv4)) {
				t.Errorf("line %d: %s: we answer cname %q a %v, the shared table A %s", n, name, r.CNAME, r.A, ipv4)
			}
		default:
			t.Errorf("line %d: unknown answer type %q", n, get("answer_type"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for engine := range tsvLevel {
		if checked[engine] == 0 {
			t.Errorf("the shared table has no %s rows: was it changed?", engine)
		}
	}
	t.Logf("cross-checked rows per engine: %v", checked)
}
