package domainindex

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/largedata"
)

// dataPath is the external data set of the large suite (see package
// largedata), set by the first requireData.
var (
	dataPath string
	dataOnce sync.Once
)

// requireData skips the test when the external data set is missing,
// except in CI (CI=true), where a missing folder is a failure. The
// correctness of the index is checked on built-in names by index_test.go.
func requireData(t testing.TB) {
	t.Helper()
	dir := largedata.Dir(t)
	dataOnce.Do(func() { dataPath = dir })
}

// listFile is one blocklist of the external data set, read by the quick reader
// below (the real parsers live in internal/lists).
type listFile struct {
	path  string
	id    ListID
	kind  Kind
	names []string
}

// corpus is every blocklist of the external data set.
type corpus struct {
	files   []listFile
	entries int
}

// sampleLines caps the names read per file under the race detector.
const sampleLines = 1500

// loadCorpus reads the external data set's blocklists once per test binary: 1.64 M
// distinct names, or a sample of each file under the race detector.
var loadCorpus = sync.OnceValues(func() (*corpus, error) {
	limit := 0
	if raceEnabled {
		limit = sampleLines
	}
	manifest, err := os.ReadFile(filepath.Join(dataPath, "MANIFEST.tsv"))
	if err != nil {
		return nil, err
	}
	c := &corpus{}
	for i, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 4 {
			continue // header
		}
		file, source, format := f[0], f[1], f[3]
		var kind Kind
		switch format {
		case "hosts", "domains-trimmed":
			kind = Exact
		case "domains":
			// UT1 lists block the name and its subdomains (squidGuard);
			// the other plain lists are exact names.
			if source == "ut1" {
				kind = Subtree
			}
		case "domains-onlydomains", "wildcard", "adblock":
			kind = Subtree
		default:
			continue // ip-list, popularity
		}
		names, err := readList(filepath.Join(dataPath, file), format, limit)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, listFile{path: file, id: ListID(len(c.files)), kind: kind, names: names})
		c.entries += len(names)
	}
	return c, nil
})

// readList is a quick line reader for the list formats of the external data set.
func readList(path, format string, limit int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() && (limit == 0 || len(names) < limit) {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' || line[0] == '[' {
			continue
		}
		var name string
		switch format {
		case "hosts":
			fs := strings.Fields(line)
			if len(fs) < 2 {
				continue
			}
			name = fs[1]
		case "adblock":
			rest, ok := strings.CutPrefix(line, "||")
			if !ok || strings.ContainsAny(rest, "$/*") {
				continue
			}
			name, _, _ = strings.Cut(rest, "^")
		case "wildcard":
			name = strings.TrimPrefix(strings.Fields(line)[0], "*.")
		default:
			name = strings.TrimPrefix(strings.Fields(line)[0], ".")
		}
		name = asciiLower(name)
		if isIPLiteral(name) || !validName(name) {
			continue
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return names, zr.Close()
}

// isIPLiteral reports whether s looks like an IPv4 or IPv6 address.
func isIPLiteral(s string) bool {
	return strings.Contains(s, ":") || strings.Trim(s, "0123456789.") == ""
}

// readPopular returns the domains of a rank,domain popularity list.
func readPopular(t testing.TB, file string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dataPath, "popularity", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if _, name, ok := strings.Cut(sc.Text(), ","); ok {
			names = append(names, name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// measuredBuild builds an index from adds and reports how long Add and
// Build took and how much the heap grew for the index alone (HeapInuse
// after a GC, with the builder already freed).
type buildStats struct {
	add, build time.Duration
	heap       int64
}

func measuredBuild(tb testing.TB, hint int, each func(add func(string, ListID, Kind))) (*Index, buildStats) {
	tb.Helper()
	var st buildStats
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	b := NewBuilder(hint)
	each(b.Add)
	st.add = time.Since(start)
	start = time.Now()
	ix, err := b.Build()
	st.build = time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	b = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	st.heap = int64(after.HeapInuse) - int64(before.HeapInuse)
	runtime.KeepAlive(b)
	return ix, st
}

func (c *corpus) addAll(add func(string, ListID, Kind)) {
	for _, f := range c.files {
		for _, n := range f.names {
			add(n, f.id, f.kind)
		}
	}
}

// TestRealLists indexes every blocklist of the external data set, checks every
// listed name is found by the list that holds it, and checks that popular
// names match exactly the lists the reference model says (no false
// matches), then logs the size figures.
func TestRealLists(t *testing.T) {
	requireData(t)
	c, err := loadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	ix, st := measuredBuild(t, c.entries, c.addAll)
	t.Logf("%d lists, %d entries, %d distinct names, %d list sets, %d merged; add %v, build %v",
		len(c.files), c.entries, ix.Len(), ix.NumSets(), ix.Merged(), st.add, st.build)
	t.Logf("table %d bytes = %.2f bytes/name; heap in use grew %d bytes = %.2f bytes/name",
		ix.Bytes(), float64(ix.Bytes())/float64(ix.Len()), st.heap, float64(st.heap)/float64(ix.Len()))
	if raceEnabled {
		t.Logf("race detector on: checked a sample of %d names per list", sampleLines)
	}

	m := model{}
	c.addAll(m.add)
	if ix.Len() != len(m) {
		t.Errorf("Len() = %d, want %d distinct names", ix.Len(), len(m))
	}
	if !raceEnabled && (ix.Len() < 1_600_000 || ix.Len() > 1_700_000) {
		t.Errorf("Len() = %d, the data README says about 1,639,888", ix.Len())
	}
	if perName := float64(ix.Bytes()) / float64(ix.Len()); perName > 12 {
		t.Errorf("%.2f bytes per name, want at most 12", perName)
	}

	// Every entry is found at offset 0 by its own list, with its kind.
	for name, lists := range m {
		r := ix.Lookup(name)
		for l, k := range lists {
			mt, ok := r.Match(l)
			if !ok || mt.Offset != 0 || mt.Kind != k {
				t.Fatalf("Lookup(%q).Match(%d) = %+v, %v; want offset 0, kind %v", name, l, mt, ok, k)
			}
		}
	}
	// A sample of listed names and their children match the model exactly.
	n := 0
	for name := range m {
		if n++; n > 20_000 {
			break
		}
		checkAgainstModel(t, ix, m, name)
		checkAgainstModel(t, ix, m, "x-"+name)
		checkAgainstModel(t, ix, m, "Sub.Domain."+name+".")
	}
	// Popular names match exactly what the model says: a false match would
	// show up as a list the model does not have.
	for _, file := range []string{"tranco-top-100k.csv.gz", "umbrella-top-100k.csv.gz"} {
		names := readPopular(t, file)
		if raceEnabled {
			names = names[:5000]
		}
		matched := 0
		for _, name := range names {
			checkAgainstModel(t, ix, m, name)
			checkAgainstModel(t, ix, m, "www."+name)
			if r := ix.Lookup(name); r.Matched() {
				matched++
			}
		}
		t.Logf("%s: %d of %d names match a list, exactly as the model says (no false matches)", file, matched, len(names))
	}
	roundTrip(t, ix)
}

// synthNames returns n distinct, deterministic names shaped like real ones:
// one to three labels of 4 to 14 letters, the last with a counter, under a
// common TLD.
func synthNames(n int) []string {
	rng := rand.New(rand.NewPCG(42, 7))
	tlds := []string{"com", "net", "org", "io", "de", "ru", "xyz", "info", "co.uk", "com.br"}
	const alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
	names := make([]string, n)
	var sb strings.Builder
	label := func() {
		for range 4 + rng.IntN(11) {
			sb.WriteByte(alpha[rng.IntN(26)])
		}
	}
	for i := range names {
		sb.Reset()
		for range rng.IntN(3) {
			label()
			sb.WriteByte('.')
		}
		label()
		// The counter keeps the names distinct, and the hyphen keeps a
		// parent of one name from spelling another name.
		sb.WriteByte('-')
		for v := i; ; v /= 36 {
			sb.WriteByte(alpha[v%36])
			if v < 36 {
				break
			}
		}
		sb.WriteByte('.')
		sb.WriteString(tlds[rng.IntN(len(tlds))])
		names[i] = sb.String()
	}
	return names
}

// synthAdd assigns synthetic name i to one of 120 lists, Exact for even i
// and Subtree for odd i, and every tenth name to a second, Subtree list.
func synthAdd(names []string) func(add func(string, ListID, Kind)) {
	return func(add func(string, ListID, Kind)) {
		for i, n := range names {
			add(n, ListID(i%120), Kind(i%2))
			if i%10 == 1 {
				add(n, ListID(i%7+120), Subtree)
			}
		}
	}
}

// TestSyntheticFiveMillion checks the size and build-time targets at 5 M
// names and that every name is found and unlisted names are not.
func TestSyntheticFiveMillion(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("5 M names: skipped with -short and under the race detector")
	}
	const n = 5_000_000
	names := synthNames(n)
	ix, st := measuredBuild(t, n+n/10, synthAdd(names))
	t.Logf("%d names, %d list sets; add %v, build %v (add+build %v)", ix.Len(), ix.NumSets(), st.add, st.build, st.add+st.build)
	t.Logf("table %d bytes = %.2f bytes/name; heap in use grew %d bytes = %.2f bytes/name",
		ix.Bytes(), float64(ix.Bytes())/float64(ix.Len()), st.heap, float64(st.heap)/float64(ix.Len()))
	if ix.Len() != n {
		t.Fatalf("Len() = %d, want %d", ix.Len(), n)
	}
	if perName := float64(ix.Bytes()) / float64(n); perName > 12 {
		t.Errorf("%.2f bytes per name, want at most 12", perName)
	}
	for i, name := range names {
		r := ix.Lookup(name)
		if mt, ok := r.Match(ListID(i % 120)); !ok || mt.Offset != 0 {
			t.Fatalf("Lookup(%q) = %+v, %v", name, mt, ok)
		}
	}
	// Names that are not listed: children of Exact names and made-up
	// siblings. With about 1e-13 false matches per query, any unexpected
	// match is a bug.
	for i, name := range names[:1_000_000] {
		if r := ix.Lookup("www." + name); r.Matched() != (i%2 == 1) {
			t.Fatalf("Lookup(www.%s).Matched() = %v, want %v", name, r.Matched(), i%2 == 1)
		}
		if r := ix.Lookup("zz" + name); r.Matched() {
			t.Fatalf("Lookup(zz%s) matched", name)
		}
	}
}
