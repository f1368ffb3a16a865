package domainindex

import (
	"bytes"
	"strings"
	"testing"
)

// fuzzAdds is a small index whose names share labels, so fuzzed names hit
// exact, subtree and exception entries at several levels.
var fuzzAdds = []add{
	{"example.com", 1, Subtree}, {"example.com", 2, Exact}, {"ads.example.com", 3, Subtree},
	{"good.ads.example.com", 3, Exception}, {"good.ads.example.com", 1, Exception},
	{"com", 4, Subtree}, {"a.b.c.d.e.f", 5, Exact}, {"c.d.e.f", 5, Subtree}, {"XN--P1AI", 6, Subtree},
	{strings.Repeat("a.", 126) + "b", 7, Subtree},
}

// FuzzLookup checks that no name makes a lookup panic and that every lookup
// method agrees with the reference model.
func FuzzLookup(f *testing.F) {
	ix := buildIndex(f, fuzzAdds)
	m := newModel(fuzzAdds)
	for _, s := range []string{"", ".", "..", "example.com", "x.GOOD.ads.example.com.", "a..example.com", ".com",
		"b.c.d.e.f", "\xff.example.com", strings.Repeat("a.", 200) + "b", strings.Repeat("x", 300) + ".com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkAgainstModel(t, ix, m, name)
		r := ix.Lookup(name)
		for i := range r.Hits() {
			if h := r.Hit(i); h.Offset < 0 || h.Offset > len(name) || int(h.Set) >= ix.NumSets() {
				t.Fatalf("Lookup(%q).Hit(%d) = %+v", name, i, h)
			}
		}
	})
}

// FuzzRead checks that no input makes Read panic and that whatever it
// accepts can be looked up and written back identically.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	if _, err := buildIndex(f, fuzzAdds).WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:headerSize])
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range fuzzAdds {
			r := ix.Lookup("x." + a.name)
			r.AppendMatches(nil)
		}
		var out bytes.Buffer
		if _, err := ix.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), data[:out.Len()]) {
			t.Fatalf("accepted input does not write back identically (%v)", err)
		}
	})
}
