package catalog

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/blocklists"
)

// TestCuratedLists checks our own curated category lists (#11): each is
// named after its category and says so in its header, holds names that
// parse (Load refuses a bad one) once, none covered by another of its
// names, by a service (a service's site is listed with the service) or by
// another category's curated list (a site has one category), and none
// naming shared infrastructure or a public suffix. Every file in curated/
// belongs to a category.
func TestCuratedLists(t *testing.T) {
	c := mustDefault(t)
	services := map[string]string{}
	for _, s := range c.Services {
		for _, d := range s.Domains {
			services[d] = s.ID
		}
	}
	owner := map[string]string{}
	files := map[string]bool{}
	for _, cat := range c.Categories {
		if cat.CuratedFile == "" {
			continue
		}
		files[cat.CuratedFile] = true
		if len(cat.Curated) < 40 {
			t.Errorf("%s: %d names, want at least 40", cat.CuratedFile, len(cat.Curated))
		}
		checkHeader(t, cat.CuratedFile, cat.ID)
		if h := header(t, cat.CuratedFile); len(h) == 0 || !strings.Contains(h[0], `(curated list "`+cat.ID+`")`) {
			t.Errorf("%s: first line should name the curated list: %q", cat.CuratedFile, h)
		}
		set := map[string]bool{}
		for _, d := range cat.Curated {
			set[d] = true
		}
		for _, d := range cat.Curated {
			if err := checkDomain(d); err != nil {
				t.Errorf("%s: %v", cat.CuratedFile, err)
			}
			if p, ok := parentIn(set, d); ok {
				t.Errorf("%s: %q is already covered by %q", cat.CuratedFile, d, p)
			}
			for n := d; n != ""; {
				if s, ok := services[n]; ok {
					t.Errorf("%s: %q is covered by service %s", cat.CuratedFile, d, s)
				}
				_, n, _ = strings.Cut(n, ".")
			}
			if prev, dup := owner[d]; dup {
				t.Errorf("%q is in the curated lists of both %s and %s", d, prev, cat.ID)
			}
			owner[d] = cat.ID
			for _, bad := range append(sharedInfra, publicSuffixes...) {
				if d == bad {
					t.Errorf("%s lists %q, shared infrastructure or a public suffix", cat.CuratedFile, d)
				}
			}
		}
	}
	// A curated name must not cover a service's name either: the service
	// would then be blocked with a category it is not in.
	for d, s := range services {
		for n := d; n != ""; {
			if cat, ok := owner[n]; ok {
				t.Errorf("service %s's %q is covered by %q of the %s curated list", s, d, n, cat)
			}
			_, n, _ = strings.Cut(n, ".")
		}
	}
	for _, want := range []string{"dating", "gambling", "social", "games", "video"} {
		if !files["curated/"+want+".txt"] {
			t.Errorf("category %s has no curated list", want)
		}
	}
	entries, err := fs.ReadDir(blocklists.FS, "curated")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !files["curated/"+e.Name()] {
			t.Errorf("curated/%s is not the curated list of any category", e.Name())
		}
	}
}
