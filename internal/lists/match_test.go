package lists

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// TestPlainWWW: with PlainWWW a plain exact entry also yields "www." +
// name; entries with their own scope, subtree entries and names already
// starting with www. do not.
func TestPlainWWW(t *testing.T) {
	tests := []struct {
		format Format
		opt    ParseOptions
		in     string
		want   []string // name/kind
	}{
		{FormatHosts, ParseOptions{PlainWWW: true}, "0.0.0.0 a.example www.b.example\n", []string{"a.example/exact", "www.a.example/exact", "www.b.example/exact"}},
		{FormatHosts, ParseOptions{}, "0.0.0.0 a.example\n", []string{"a.example/exact"}},
		{FormatDomainsTrimmed, ParseOptions{PlainWWW: true}, "a.example\n*.c.example\n", []string{"a.example/exact", "www.a.example/exact", "c.example/subtree"}},
		{FormatDomains, ParseOptions{PlainWWW: true, PlainSubtree: true}, "a.example\n", []string{"a.example/subtree"}},
		{FormatAdblock, ParseOptions{PlainWWW: true}, "|a.example^\n||b.example^\n", []string{"a.example/exact", "b.example/subtree"}},
		{FormatWildcard, ParseOptions{PlainWWW: true}, "a.example\n", []string{"a.example/exact"}},
	}
	for _, tc := range tests {
		var got []string
		if _, err := Parse(strings.NewReader(tc.in), tc.format, tc.opt, func(r Rule) { got = append(got, r.Name+"/"+r.Kind.String()) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %+v %q: got %q, want %q", tc.format, tc.opt, tc.in, got, tc.want)
		}
	}
}

// TestExclude: an entry's Exclude names are exceptions of that list only.
func TestExclude(t *testing.T) {
	dir := t.TempDir()
	ai := filepath.Join(dir, "ai.txt")
	if err := os.WriteFile(ai, []byte("chat.example\nhuggingface.co\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerConfig{Entries: []Entry{
		{Source: Source{ID: "ai", File: ai, Format: FormatDomains, PlainSubtree: true}, Tag: "ai-chat", Exclude: []string{"huggingface.co"}},
		{Source: Source{ID: "dev", File: ai, Format: FormatDomains, PlainSubtree: true}, Tag: "other"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		ai, devList bool
	}{
		{"chat.example", true, true},
		{"huggingface.co", false, true},
		{"spaces.huggingface.co", false, true},
	} {
		r := c.Index.Lookup(tc.name)
		_, ai := r.Match(0)
		_, dev := r.Match(1)
		if ai != tc.ai || dev != tc.devList {
			t.Errorf("%s: ai list %v (want %v), other list %v (want %v)", tc.name, ai, tc.ai, dev, tc.devList)
		}
	}
}

// TestLookupFoldsCase: for every kind of entry a list can make (hosts
// exact, with and without PlainWWW's "www." twin; domains subtree; adblock
// block and @@ allow rules), a query in mixed case (as DNS 0x20 sends it,
// or a client that keeps the user's case) matches exactly what its
// lower-case form matches, through Lookup, LookupBytes and, for the
// lower-case form the query path passes, LookupLower.
func TestLookupFoldsCase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, err := NewManager(ManagerConfig{Entries: []Entry{
		{Source: Source{ID: "hosts", File: write("hosts", "0.0.0.0 exact.example\n"), Format: FormatHosts}, Tag: "a"},
		{Source: Source{ID: "www", File: write("www", "0.0.0.0 plain.example\n"), Format: FormatHosts, PlainWWW: true}, Tag: "b"},
		{Source: Source{ID: "sub", File: write("sub", "tree.example\nallowed.tree.example\n"), Format: FormatDomains, PlainSubtree: true}, Tag: "c"},
		{Source: Source{ID: "ab", File: write("ab", "||tree.example^\n@@||allowed.tree.example^\n|only.example^\n"), Format: FormatAdblock}, Tag: "d"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	const hosts, www, sub, ab = 0, 1, 2, 3
	tests := []struct {
		name  string // as queried
		lists []domainindex.ListID
	}{
		{"Exact.Example", []domainindex.ListID{hosts}},
		{"EXACT.EXAMPLE.", []domainindex.ListID{hosts}},
		{"a.EXACT.example", nil}, // exact: not below the name
		{"Plain.Example", []domainindex.ListID{www}},
		{"WWW.plain.EXAMPLE", []domainindex.ListID{www}}, // the www twin
		{"wWw.Exact.Example", nil},                       // no www twin without PlainWWW
		{"Tree.Example", []domainindex.ListID{sub, ab}},
		{"Deep.Under.TREE.example", []domainindex.ListID{sub, ab}},
		{"Allowed.Tree.Example", []domainindex.ListID{sub}},   // ab's @@ removes ab only
		{"x.ALLOWED.tree.EXAMPLE", []domainindex.ListID{sub}}, // exceptions cover the subtree
		{"Only.Example", []domainindex.ListID{ab}},            // adblock |name^: exact
		{"sub.Only.Example", nil},
		{"Unlisted.Example", nil},
	}
	lists := func(r domainindex.Result) []domainindex.ListID {
		var l []domainindex.ListID
		for _, m := range r.AppendMatches(nil) {
			l = append(l, m.List)
		}
		slices.Sort(l)
		return l
	}
	for _, tc := range tests {
		lower := strings.ToLower(tc.name)
		want := lists(c.Index.LookupLower([]byte(lower)))
		if !slices.Equal(want, tc.lists) {
			t.Errorf("LookupLower(%q) = lists %v, want %v", lower, want, tc.lists)
		}
		for _, got := range []struct {
			how string
			r   domainindex.Result
		}{
			{"Lookup", c.Index.Lookup(tc.name)},
			{"LookupBytes", c.Index.LookupBytes([]byte(tc.name))},
			{"Lookup of the lower-case name", c.Index.Lookup(lower)},
		} {
			if g := lists(got.r); !slices.Equal(g, want) {
				t.Errorf("%s(%q) = lists %v, want %v (as LookupLower(%q))", got.how, tc.name, g, want, lower)
			}
			r := got.r
			if r.Matched() != (len(want) > 0) {
				t.Errorf("%s(%q).Matched() = %v", got.how, tc.name, r.Matched())
			}
		}
	}
}
