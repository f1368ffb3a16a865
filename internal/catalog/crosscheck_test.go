package catalog

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/largedata"
)

// tsvLevel maps the cross-checked table's levels to ours: one level per engine
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

// TestSafeSearchCrossCheck is the large suite's check: our table against
// the independently sourced safe-search table of the external data set
// (see package largedata), every row of it. Names we add beyond it
// (google.<tld> without www, for example) are fine.
func TestSafeSearchCrossCheck(t *testing.T) {
	f, err := os.Open(largedata.File(t, "safesearch.tsv"))
	if err != nil {
		t.Fatalf("opening the safe-search table: %v", err)
	}
	defer f.Close()
	checked, problems, err := crossCheckSafeSearch(mustDefault(t), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for engine := range tsvLevel {
		if checked[engine] == 0 {
			t.Errorf("the table has no %s rows: was it changed?", engine)
		}
	}
	t.Logf("cross-checked rows per engine: %v", checked)
}

// TestSafeSearchCrossCheckTestdata runs the same check on a small table
// in testdata/, written from each engine's own documentation (its sources
// column), so that it runs on every machine; the broken rows show that
// the check can fail.
func TestSafeSearchCrossCheckTestdata(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "safesearch.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(good), "\n")
	tests := []struct {
		name         string
		table        string
		wantProblems []string // one substring per problem, in order
	}{
		{name: "documented rows", table: string(good)},
		{"wrong CNAME target", header + "\ngoogle\tstrict\twww.google.com\tCNAME\tsafe.google.com\t\t\tbroken\n",
			[]string{`we rewrite to "forcesafesearch.google.com", the table to "safe.google.com"`}},
		{"name we do not rewrite", header + "\nbing\tstrict\tbing.example\tCNAME\tstrict.bing.com\t\t\tbroken\n",
			[]string{`we do not rewrite "bing.example"`}},
		{"wrong address", header + "\nyandex\tfamily\tyandex.ru\tA\t\t192.0.2.1\t\tbroken\n",
			[]string{"the table A 192.0.2.1"}},
		{"unknown level", header + "\nyoutube\tlax\twww.youtube.com\tCNAME\trestrict.youtube.com\t\t\tbroken\n",
			[]string{`youtube level "lax" has no counterpart`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checked, problems, err := crossCheckSafeSearch(mustDefault(t), strings.NewReader(tt.table))
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("problems %q, want %d like %q", problems, len(tt.wantProblems), tt.wantProblems)
			}
			for i, want := range tt.wantProblems {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %q, want one containing %q", problems[i], want)
				}
			}
			if tt.wantProblems == nil {
				for engine := range tsvLevel {
					if checked[engine] == 0 {
						t.Errorf("testdata has no %s rows", engine)
					}
				}
			}
		})
	}
}

// crossCheckSafeSearch checks c's safe-search rules against a table with
// the columns engine, level, query_name, answer_type, rewrite_to and
// target_ipv4: every query name it lists for an engine we cover must be
// rewritten by us to the same target (CNAME, or for Yandex the same
// address). It returns the rows checked per engine and one problem per
// disagreement.
func crossCheckSafeSearch(c *Catalog, table io.Reader) (checked map[string]int, problems []string, err error) {
	rules := map[[2]string]SafeSearchRule{}
	for _, r := range c.SafeSearch {
		rules[[2]string{r.Engine, r.Level}] = r
	}
	report := func(n int, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", n)+fmt.Sprintf(format, a...))
	}
	sc := bufio.NewScanner(table)
	var cols map[string]int
	checked = map[string]int{}
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = map[string]int{}
			for i, name := range fields {
				cols[name] = i
			}
			for _, want := range []string{"engine", "level", "query_name", "answer_type", "rewrite_to", "target_ipv4"} {
				if _, ok := cols[want]; !ok {
					return nil, nil, fmt.Errorf("no %q column in header %q", want, sc.Text())
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
			report(n, "%s level %q has no counterpart in our table", engine, get("level"))
			continue
		}
		r, ok := rules[[2]string{engine, level}]
		if !ok {
			report(n, "we have no %s/%s rule", engine, level)
			continue
		}
		checked[engine]++
		if !slices.Contains(r.Names, name) {
			report(n, "%s/%s: we do not rewrite %q", engine, level, name)
			continue
		}
		ipv4 := get("target_ipv4")
		addr, _ := netip.ParseAddr(ipv4)
		switch get("answer_type") {
		case "CNAME":
			if r.CNAME != get("rewrite_to") {
				report(n, "%s: we rewrite to %q, the table to %q", name, r.CNAME, get("rewrite_to"))
			}
			// Fallbacks are optional for us; when we have one it must agree.
			if ipv4 != "" && len(r.A) > 0 && !slices.Contains(r.A, addr) {
				report(n, "%s: our fallback %v, the table %s", name, r.A, ipv4)
			}
		case "A":
			if r.CNAME != "" || !slices.Contains(r.A, addr) {
				report(n, "%s: we answer cname %q a %v, the table A %s", name, r.CNAME, r.A, ipv4)
			}
		default:
			report(n, "unknown answer type %q", get("answer_type"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return checked, problems, nil
}
