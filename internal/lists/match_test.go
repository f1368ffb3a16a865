package lists

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
