package domainindex

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// add is one Builder.Add call.
type add struct {
	name string
	list ListID
	kind Kind
}

// buildIndex builds an index from adds and checks the model agrees on it.
func buildIndex(t testing.TB, adds []add) *Index {
	t.Helper()
	b := NewBuilder(len(adds))
	for _, a := range adds {
		b.Add(a.name, a.list, a.kind)
	}
	ix, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return ix
}

// model is the obviously correct reference the index is checked against: a
// map from each listed name to its lists, walked suffix by suffix.
type model map[string]map[ListID]Kind

func newModel(adds []add) model {
	m := model{}
	for _, a := range adds {
		m.add(a.name, a.list, a.kind)
	}
	return m
}

// asciiLower lower-cases ASCII letters only, as the index does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// validName mirrors the names Builder.Add accepts.
func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	return s != "" && len(s) <= maxNameLen && !strings.HasPrefix(s, ".") && !strings.Contains(s, "..")
}

func (m model) add(name string, l ListID, k Kind) {
	if !validName(name) {
		return
	}
	name = strings.TrimSuffix(asciiLower(name), ".")
	if m[name] == nil {
		m[name] = map[ListID]Kind{}
	}
	// For one name and list, Exception beats Subtree beats Exact.
	if cur, ok := m[name][l]; !ok || k > cur {
		m[name][l] = k
	}
}

// lookup returns the matches in the order AppendMatches documents.
func (m model) lookup(q string) []Match {
	q = strings.TrimSuffix(asciiLower(q), ".")
	best := map[ListID]Match{}
	excluded := map[ListID]bool{}
	for off := 0; off < len(q); off++ {
		if off > 0 && q[off-1] != '.' {
			continue
		}
		for l, k := range m[q[off:]] {
			switch {
			case k == Exception:
				excluded[l] = true
			case k == Exact && off != 0:
			default:
				if _, seen := best[l]; !seen {
					best[l] = Match{List: l, Kind: k, Offset: off}
				}
			}
		}
	}
	var out []Match
	for l, mt := range best {
		if !excluded[l] {
			out = append(out, mt)
		}
	}
	slices.SortFunc(out, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.List, b.List))
	})
	return out
}

// checkAgainstModel checks every way of looking q up against the model.
func checkAgainstModel(t testing.TB, ix *Index, m model, q string) {
	t.Helper()
	want := m.lookup(q)
	r := ix.Lookup(q)
	got := r.AppendMatches(nil)
	if !slices.Equal(got, want) {
		t.Fatalf("Lookup(%q) = %v, want %v", q, got, want)
	}
	rb := ix.LookupBytes([]byte(q))
	if gotB := rb.AppendMatches(nil); !slices.Equal(gotB, want) {
		t.Fatalf("LookupBytes(%q) = %v, want %v", q, gotB, want)
	}
	rl := ix.LookupLower([]byte(asciiLower(q)))
	if gotL := rl.AppendMatches(nil); !slices.Equal(gotL, want) {
		t.Fatalf("LookupLower(%q) = %v, want %v", q, gotL, want)
	}
	if r.Matched() != (len(want) > 0) {
		t.Fatalf("Lookup(%q).Matched() = %v, want %v", q, r.Matched(), len(want) > 0)
	}
	for _, w := range want {
		if mt, ok := r.Match(w.List); !ok || mt != w {
			t.Fatalf("Lookup(%q).Match(%d) = %v, %v; want %v", q, w.List, mt, ok, w)
		}
	}
	for l := range ListID(8) {
		if _, ok := r.Match(l); ok != slices.ContainsFunc(want, func(m Match) bool { return m.List == l }) {
			t.Fatalf("Lookup(%q).Match(%d) ok = %v, want the opposite", q, l, ok)
		}
	}
}

func TestLookup(t *testing.T) {
	const (
		L0 ListID = iota
		L1
		L2
		L3
	)
	long := strings.Repeat("abcdefghi.", 30) + "example.com" // 311 bytes
	name253 := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	tests := []struct {
		name  string
		adds  []add
		query string
		want  []Match
	}{
		{"exact matches the name", []add{{"example.com", L1, Exact}}, "example.com",
			[]Match{{L1, Exact, 0}}},
		{"exact does not match a child", []add{{"example.com", L1, Exact}}, "www.example.com", nil},
		{"exact does not match the parent", []add{{"www.example.com", L1, Exact}}, "example.com", nil},
		{"subtree matches the name", []add{{"example.com", L1, Subtree}}, "example.com",
			[]Match{{L1, Subtree, 0}}},
		{"subtree matches children", []add{{"example.com", L1, Subtree}}, "a.b.example.com",
			[]Match{{L1, Subtree, 4}}},
		{"subtree on a TLD", []add{{"zip", L1, Subtree}}, "invoice.zip",
			[]Match{{L1, Subtree, 8}}},
		{"a longer label is not a child", []add{{"example.com", L1, Subtree}}, "notexample.com", nil},
		{"a shorter label is not a match", []add{{"example.com", L1, Subtree}}, "ample.com", nil},
		{"the listed name inside a longer name", []add{{"example.com", L1, Subtree}}, "example.com.evil.net", nil},
		{"a parent of the listed name", []add{{"example.com", L1, Subtree}}, "com", nil},
		{"exact and subtree lists at one name", []add{{"example.com", L2, Subtree}, {"example.com", L1, Exact}}, "example.com",
			[]Match{{L1, Exact, 0}, {L2, Subtree, 0}}},
		{"only subtree lists below the name", []add{{"example.com", L2, Subtree}, {"example.com", L1, Exact}}, "www.example.com",
			[]Match{{L2, Subtree, 4}}},
		{"union over levels, most specific first",
			[]add{{"example.com", L2, Subtree}, {"ads.example.com", L3, Subtree}, {"ads.example.com", L1, Exact}, {"com", L0, Subtree}},
			"x.ads.example.com",
			[]Match{{L3, Subtree, 2}, {L2, Subtree, 6}, {L0, Subtree, 14}}},
		{"a list matching at two levels reports the most specific",
			[]add{{"example.com", L1, Subtree}, {"ads.example.com", L1, Subtree}}, "x.ads.example.com",
			[]Match{{L1, Subtree, 2}}},
		{"exact beats a parent's subtree for the rule", []add{{"example.com", L1, Subtree}, {"www.example.com", L1, Exact}}, "www.example.com",
			[]Match{{L1, Exact, 0}}},
		{"several lists with one name", []add{{"example.com", L3, Subtree}, {"example.com", L1, Subtree}, {"example.com", L2, Subtree}}, "a.example.com",
			[]Match{{L1, Subtree, 2}, {L2, Subtree, 2}, {L3, Subtree, 2}}},
		{"same list, exact and subtree: subtree", []add{{"example.com", L1, Exact}, {"example.com", L1, Subtree}}, "www.example.com",
			[]Match{{L1, Subtree, 4}}},
		{"duplicates are one entry", []add{{"example.com", L1, Exact}, {"example.com", L1, Exact}}, "example.com",
			[]Match{{L1, Exact, 0}}},
		{"exception at the name", []add{{"example.com", L1, Subtree}, {"example.com", L2, Subtree}, {"good.example.com", L1, Exception}}, "good.example.com",
			[]Match{{L2, Subtree, 5}}},
		{"exception below the name", []add{{"example.com", L1, Subtree}, {"good.example.com", L1, Exception}}, "a.good.example.com", nil},
		{"exception does not reach siblings", []add{{"example.com", L1, Subtree}, {"good.example.com", L1, Exception}}, "bad.example.com",
			[]Match{{L1, Subtree, 4}}},
		{"exception does not reach the parent", []add{{"example.com", L1, Subtree}, {"good.example.com", L1, Exception}}, "example.com",
			[]Match{{L1, Subtree, 0}}},
		{"exception beats a more specific rule of its list",
			[]add{{"x.good.example.com", L1, Subtree}, {"good.example.com", L1, Exception}, {"x.good.example.com", L2, Exact}},
			"x.good.example.com", []Match{{L2, Exact, 0}}},
		{"exception of another list changes nothing", []add{{"example.com", L1, Subtree}, {"example.com", L2, Exception}}, "a.example.com",
			[]Match{{L1, Subtree, 2}}},
		{"exception and block at one name", []add{{"example.com", L1, Subtree}, {"example.com", L1, Exception}}, "example.com", nil},
		{"exception alone", []add{{"example.com", L1, Exception}}, "example.com", nil},
		{"case and trailing dots", []add{{"Example.COM.", L1, Subtree}}, "WWW.example.Com.",
			[]Match{{L1, Subtree, 4}}},
		{"upper-case exact", []add{{"Ehentai.to", L1, Exact}}, "EHENTAI.TO", []Match{{L1, Exact, 0}}},
		{"empty query", []add{{"example.com", L1, Subtree}}, "", nil},
		{"root query", []add{{"example.com", L1, Subtree}}, ".", nil},
		{"empty label in the query", []add{{"example.com", L1, Subtree}}, "a..example.com",
			[]Match{{L1, Subtree, 3}}},
		{"leading dot in the query", []add{{"example.com", L1, Subtree}}, ".example.com",
			[]Match{{L1, Subtree, 1}}},
		{"a name of 253 bytes", []add{{name253, L1, Exact}}, name253 + ".", []Match{{L1, Exact, 0}}},
		{"a query longer than 253 bytes still matches its suffix", []add{{"example.com", L1, Subtree}}, long,
			[]Match{{L1, Subtree, len(long) - len("example.com")}}},
		{"a query longer than 253 bytes, suffix of 253", []add{{name253, L1, Subtree}}, "x." + name253,
			[]Match{{L1, Subtree, 2}}},
		{"a name without a dot", []add{{"snapchat-com", L1, Exact}}, "snapchat-com", []Match{{L1, Exact, 0}}},
		{"the largest list id", []add{{"example.com", 65535, Subtree}}, "a.example.com", []Match{{65535, Subtree, 2}}},
		{"empty index", nil, "example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := buildIndex(t, tt.adds)
			r := ix.Lookup(tt.query)
			got := r.AppendMatches(nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.query, got, tt.want)
			}
			for _, m := range got {
				if rule := m.Rule(tt.query); !strings.EqualFold(rule, strings.TrimSuffix(tt.query[m.Offset:], ".")) || rule == "" {
					t.Errorf("Rule(%q) = %q", tt.query, rule)
				}
			}
			checkAgainstModel(t, ix, newModel(tt.adds), tt.query)
		})
	}
}

func TestNilIndex(t *testing.T) {
	var ix *Index
	r := ix.Lookup("example.com")
	if r.Matched() || r.Hits() != 0 || len(r.AppendMatches(nil)) != 0 || ix.Len() != 0 || ix.Bytes() != 0 || ix.NumSets() != 0 {
		t.Fatal("nil index matched something")
	}
	var zero Result
	if zero.Matched() || zero.AppendMatches(nil) != nil {
		t.Fatal("zero Result matched something")
	}
}

func TestBuilderSkipsInvalidNames(t *testing.T) {
	b := NewBuilder(0)
	for _, n := range []string{"", ".", "..", "a..b", ".a", "a.b..", strings.Repeat("a", 254), strings.Repeat("a", 253) + "."} {
		b.Add(n, 1, Subtree)
	}
	if got := b.Skipped(); got != 7 {
		t.Errorf("Skipped() = %d, want 7", got)
	}
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 1 {
		t.Errorf("Len() = %d, want 1 (the 253-byte name)", ix.Len())
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder(0)
	b.Add("example.com", 1, Kind(7))
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "invalid kind 7") {
		t.Errorf("Build with an invalid kind: err = %v", err)
	}
	if ix, err := b.Build(); err != nil || ix.Len() != 0 {
		t.Errorf("Build after a failed Build: %v, %v; want an empty index", ix, err)
	}

	// 65536 single-list sets fit; one more combination does not.
	b = NewBuilder(maxSets + 1)
	for i := range maxSets {
		b.Add(fmt.Sprintf("n%d.example", i), ListID(i), Exact)
	}
	if _, err := b.Build(); err != nil {
		t.Fatalf("Build with %d sets: %v", maxSets, err)
	}
	for i := range maxSets {
		b.Add(fmt.Sprintf("n%d.example", i), ListID(i), Exact)
	}
	b.Add("one-more.example", 0, Subtree)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "distinct combinations") {
		t.Errorf("Build with %d sets: err = %v", maxSets+1, err)
	}
}

func TestBuilderReuse(t *testing.T) {
	b := NewBuilder(0)
	b.Add("a.example", 1, Exact)
	first, _ := b.Build()
	b.Add("b.example", 2, Exact)
	second, _ := b.Build()
	ra, rb := second.Lookup("a.example"), second.Lookup("b.example")
	if first.Len() != 1 || second.Len() != 1 || ra.Matched() || !rb.Matched() {
		t.Error("Build did not empty the builder")
	}
}

func TestSetsAndHits(t *testing.T) {
	ix := buildIndex(t, []add{
		{"example.com", 1, Subtree}, {"example.com", 2, Exact}, {"example.com", 3, Exception},
		{"ads.example.com", 4, Subtree}, {"ads.example.com", 5, Exact},
		{"other.example", 4, Subtree},
	})
	if ix.Len() != 3 || ix.NumSets() != 3 {
		t.Fatalf("Len, NumSets = %d, %d; want 3, 3", ix.Len(), ix.NumSets())
	}
	r := ix.Lookup("x.ads.example.com")
	if r.Hits() != 2 {
		t.Fatalf("Hits() = %d, want 2", r.Hits())
	}
	h0, h1 := r.Hit(0), r.Hit(1)
	if h0.Offset != 2 || h0.Full || h1.Offset != 6 || h1.Full {
		t.Fatalf("hits = %+v, %+v", h0, h1)
	}
	ls := ix.Set(h0.Set)
	if !slices.Equal(ls.Exact, []ListID{5}) || !slices.Equal(ls.Subtree, []ListID{4}) || len(ls.Except) != 0 {
		t.Errorf("Set(%d) = %+v", h0.Set, ls)
	}
	ls = ix.Set(h1.Set)
	if !slices.Equal(ls.Exact, []ListID{2}) || !slices.Equal(ls.Subtree, []ListID{1}) || !slices.Equal(ls.Except, []ListID{3}) {
		t.Errorf("Set(%d) = %+v", h1.Set, ls)
	}
	r1, r2 := ix.Lookup("other.example"), ix.Lookup("a.other.example")
	if r1.Hit(0).Set != r2.Hit(0).Set {
		t.Errorf("one name, two set ids")
	}
	// A level holding only Exact lists does not count below the name.
	if r := ix.Lookup("y.nothing.example"); r.Hits() != 0 {
		t.Errorf("Hits() = %d for an unlisted name", r.Hits())
	}
}

// TestMergedFingerprints forces two different names onto one fingerprint
// and home slot, which real hashes do about once in 10^14 names.
func TestMergedFingerprints(t *testing.T) {
	b := NewBuilder(0)
	fp, pos := uint64(0xabcdef123456), uint32(1<<31)
	b.push(entry{w0: uint64(pos)<<32 | fp>>16, w1: fp<<48 | uint64(Exact)<<16 | 1})
	b.push(entry{w0: uint64(pos+1)<<32 | fp>>16, w1: fp<<48 | uint64(Subtree)<<16 | 2})
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 1 || ix.Merged() != 1 || ix.NumSets() != 3 {
		t.Fatalf("Len, Merged, NumSets = %d, %d, %d; want 1, 1, 3", ix.Len(), ix.Merged(), ix.NumSets())
	}
	var slot uint64
	for _, s := range ix.slots {
		slot |= s
	}
	ls := ix.Set(SetID(slot))
	if !slices.Equal(ls.Exact, []ListID{1}) || !slices.Equal(ls.Subtree, []ListID{2}) {
		t.Errorf("merged set = %+v, want the union", ls)
	}
	roundTrip(t, ix)
}

func TestLookupAllocs(t *testing.T) {
	ix := buildIndex(t, []add{
		{"example.com", 1, Subtree}, {"ads.example.com", 2, Subtree}, {"ads.example.com", 3, Exact},
		{"good.ads.example.com", 1, Exception},
	})
	name := "x.good.ads.example.com"
	lower := []byte(name)
	upper := []byte(strings.ToUpper(name))
	buf := make([]Match, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		r := ix.Lookup(name)
		_ = r.Matched()
		_, _ = r.Match(2)
		buf = r.AppendMatches(buf[:0])
		r = ix.LookupBytes(upper)
		_ = r.Matched()
		r = ix.LookupLower(lower)
		_ = r.Matched()
		_ = buf[0].Rule(name)
	})
	if allocs != 0 {
		t.Errorf("lookup allocates %v times per run, want 0", allocs)
	}
	if len(buf) != 1 || buf[0] != (Match{2, Subtree, 7}) {
		t.Errorf("matches = %v", buf)
	}
}

// TestRandomAgainstModel builds indexes from random names over a small
// alphabet, so names share suffixes, and compares every lookup with the
// model.
func TestRandomAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := []string{"a", "b", "ab", "com", "Ex", "x-y", "xn--p1ai"}
	randName := func() string {
		n := 1 + rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = labels[rng.IntN(len(labels))]
		}
		s := strings.Join(parts, ".")
		if rng.IntN(8) == 0 {
			s += "."
		}
		return s
	}
	for round := range 20 {
		var adds []add
		for range 1 + rng.IntN(200) {
			adds = append(adds, add{randName(), ListID(rng.IntN(6)), Kind(rng.IntN(3))})
		}
		ix := buildIndex(t, adds)
		m := newModel(adds)
		if ix.Len() != len(m) {
			t.Fatalf("round %d: Len() = %d, model has %d names", round, ix.Len(), len(m))
		}
		for range 300 {
			checkAgainstModel(t, ix, m, randName())
		}
		for _, a := range adds {
			checkAgainstModel(t, ix, m, a.name)
		}
	}
}

// TestBuildIsOrderIndependent checks the flat file depends only on the
// content, not on the order of Add calls.
func TestBuildIsOrderIndependent(t *testing.T) {
	var adds []add
	for i := range 5000 {
		adds = append(adds, add{fmt.Sprintf("host%d.example%d.com", i, i%7), ListID(i % 13), Kind(i % 3)})
		if i%5 == 0 {
			adds = append(adds, add{fmt.Sprintf("host%d.example%d.com", i, i%7), ListID(i % 11), Subtree})
		}
	}
	var files [3][]byte
	for i := range files {
		rand.New(rand.NewPCG(uint64(i), 9)).Shuffle(len(adds), func(a, b int) { adds[a], adds[b] = adds[b], adds[a] })
		var buf bytes.Buffer
		if _, err := buildIndex(t, adds).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		files[i] = buf.Bytes()
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Equal(files[0], files[2]) {
		t.Error("the same entries in another order give another file")
	}
}

// TestBuildAcrossChunksAndMerges checks that an index built from more
// entries than one chunk holds, and from several Builders merged (as
// parallel list parsing does), is byte-identical to one built in a single
// Builder, and that Merge carries Skipped and errors.
func TestBuildAcrossChunksAndMerges(t *testing.T) {
	n := 6*firstChunkLen + firstChunkLen/2 // chunks of 1, 2 and 4 times firstChunkLen, then part of one
	if raceEnabled {
		n = 3*firstChunkLen + 100
	}
	var want bytes.Buffer
	one := NewBuilder(0)
	parts := []*Builder{NewBuilder(0), NewBuilder(10), NewBuilder(2 * firstChunkLen)}
	for i := range n {
		name := fmt.Sprintf("h%d.example%d.com", i/2, i%5)
		list, kind := ListID(i%7), Kind(i%3)
		one.Add(name, list, kind)
		parts[i%len(parts)].Add(name, list, kind)
	}
	one.Add("bad..name", 1, Exact)
	parts[1].Add("bad..name", 1, Exact)
	if got := one.Len(); got != n {
		t.Fatalf("Len() = %d, want %d", got, n)
	}
	ix, err := one.Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	merged := NewBuilder(0)
	for _, p := range parts {
		merged.Merge(p)
		if p.Len() != 0 {
			t.Fatalf("a merged Builder still holds %d entries", p.Len())
		}
	}
	if merged.Len() != n || merged.Skipped() != 1 {
		t.Fatalf("merged Len, Skipped = %d, %d; want %d, 1", merged.Len(), merged.Skipped(), n)
	}
	ix2, err := merged.Build()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := ix2.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("merged Builders give another index than one Builder")
	}

	bad := NewBuilder(0)
	bad.Add("x.example", 1, Kind(9))
	withErr := NewBuilder(0)
	withErr.Merge(bad)
	if _, err := withErr.Build(); err == nil {
		t.Error("Merge dropped the merged Builder's error")
	}
}

// TestSortEntries checks the radix sort on the position key against a
// plain comparison sort, with many equal position keys and equal w0, on
// one goroutine and on several.
func TestSortEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 100, 5000, 300_000} {
		var chunks [][]entry
		var all []entry
		for len(all) < n {
			c := make([]entry, 0, 1+rng.IntN(40))
			for len(c) < cap(c) && len(all) < n {
				e := entry{w0: rng.Uint64(), w1: rng.Uint64()}
				switch rng.IntN(4) {
				case 0: // a position key shared with another entry
					if len(all) > 0 {
						e.w0 = all[rng.IntN(len(all))].w0&^0xffffffff | e.w0&0xffffffff
					}
				case 1: // the same name again, another list
					if len(all) > 0 {
						e.w0 = all[rng.IntN(len(all))].w0
					}
				case 2: // keys that differ only in the high digits
					e.w0 = uint64(rng.IntN(4))<<54 | e.w0&0xffffffff
				}
				c = append(c, e)
				all = append(all, e)
			}
			chunks = append(chunks, c)
		}
		want := slices.Clone(all)
		slices.SortFunc(want, func(x, y entry) int {
			if c := cmp.Compare(x.w0, y.w0); c != 0 {
				return c
			}
			return cmp.Compare(x.w1, y.w1)
		})
		for _, workers := range []int{1, 2, 3, 8} {
			cs := make([][]entry, len(chunks))
			for i, c := range chunks {
				cs[i] = slices.Clone(c)
			}
			if got := sortEntries(cs, workers); !slices.Equal(got, want) {
				t.Errorf("n = %d, %d workers: sortEntries differs from a comparison sort", n, workers)
			}
		}
	}
	if got := sortEntries(nil, 2); len(got) != 0 {
		t.Errorf("sortEntries(nil) = %v", got)
	}
}

// roundTrip writes and reads ix and checks the copy is identical.
func roundTrip(t *testing.T, ix *Index) *Index {
	t.Helper()
	var buf bytes.Buffer
	n, err := ix.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	got, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got.Len() != ix.Len() || got.Merged() != ix.Merged() || got.Bytes() != ix.Bytes() ||
		!slices.Equal(got.slots, ix.slots) || !slices.Equal(got.sets, ix.sets) ||
		!slices.Equal(got.flags, ix.flags) || !slices.Equal(got.members, ix.members) {
		t.Fatal("the index read back differs from the one written")
	}
	return got
}

func TestFlatFileRoundTrip(t *testing.T) {
	adds := []add{
		{"example.com", 1, Subtree}, {"example.com", 2, Exact}, {"good.example.com", 1, Exception},
		{"ads.example.net", 7, Subtree}, {"ads.example.net", 65535, Exact},
	}
	for i := range 3000 {
		adds = append(adds, add{fmt.Sprintf("n%d.test", i), ListID(i % 5), Exact})
	}
	ix := buildIndex(t, adds)
	got := roundTrip(t, ix)
	m := newModel(adds)
	for _, q := range []string{"example.com", "a.good.example.com", "x.ads.example.net", "ads.example.net", "n17.test", "n17.test.x"} {
		checkAgainstModel(t, got, m, q)
	}
	empty := roundTrip(t, buildIndex(t, nil))
	var nilIndex *Index
	var a, b bytes.Buffer
	if _, err := nilIndex.WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := empty.WriteTo(&b); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("a nil index and an empty one write different files (%v)", err)
	}
}

func TestFlatFileCorruption(t *testing.T) {
	ix := buildIndex(t, []add{
		{"example.com", 1, Subtree}, {"example.com", 2, Exact}, {"good.example.com", 1, Exception},
		{"a.test", 3, Exact}, {"b.test", 3, Subtree},
	})
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	// Every single-byte change and every truncation is detected.
	for i := range good {
		bad := slices.Clone(good)
		bad[i] ^= 0x41
		if _, err := Read(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d changed: err = %v, want ErrCorrupt", i, err)
		}
	}
	for n := range len(good) {
		if _, err := Read(bytes.NewReader(good[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}

	// The error says what is wrong.
	tests := []struct {
		name   string
		modify func([]byte) []byte
		want   string
	}{
		{"not an index", func([]byte) []byte { return []byte("0.0.0.0 example.com\n" + strings.Repeat("#", 100)) }, "bad magic"},
		{"newer version", func(b []byte) []byte { b[8] = 3; return b }, "unsupported format version 3"},
		// Version 1 sized its table for a load of 0.8: a file saved by an
		// older build is refused, so the lists are compiled again.
		{"older version", func(b []byte) []byte { b[8] = 1; return b }, "unsupported format version 1"},
		{"header damage", func(b []byte) []byte { b[20] ^= 1; return b }, "header checksum"},
		{"body damage", func(b []byte) []byte { b[len(b)-9] ^= 1; return b }, "body checksum"},
		{"truncated body", func(b []byte) []byte { return b[:len(b)-20] }, "truncated in the slots"},
		{"empty file", func([]byte) []byte { return nil }, "truncated in the header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.modify(slices.Clone(good))))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrCorrupt mentioning %q", err, tt.want)
			}
		})
	}
}

// TestReadReadsOnlyTheIndex checks Read leaves what follows the index
// unread, so an index can be embedded in a larger stream.
func TestReadReadsOnlyTheIndex(t *testing.T) {
	var buf bytes.Buffer
	if _, err := buildIndex(t, []add{{"example.com", 1, Subtree}}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("trailer")
	if _, err := Read(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "trailer" {
		t.Errorf("left %q unread, want %q", buf.String(), "trailer")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Exact: "exact", Subtree: "subtree", Exception: "exception", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

// TestFold checks the branch-free fold against the plain definition for
// every byte.
func TestFold(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		want := c
		if c >= 'A' && c <= 'Z' {
			want = c + 'a' - 'A'
		}
		if got := fold(c); got != want {
			t.Errorf("fold(%#x) = %#x, want %#x", c, got, want)
		}
	}
}
