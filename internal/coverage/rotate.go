package coverage

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/hearth-dns/hearth/blocklists"
	"github.com/hearth-dns/hearth/internal/catalog"
)

// CopyShare is the share of one list's names another list must hold for
// [Rotations] to treat the two as copies and hold them out together
// (StevenBlack's social list is Sinfonietta's, for one).
const CopyShare = 0.9

// Rotation is one choice of a category's held-out list: every test or
// source list of a category is held out in turn, so a category's figure is
// not the luck of one list (issue #11 asks how well a choice generalises).
type Rotation struct {
	Category string
	// Test is the held-out list; Copies are the category's other lists held
	// out with it because one is mostly a copy of the other.
	Test   File
	Copies []File
	// Skip says why the rotation is not measured, or "".
	Skip string
}

// Rotations returns, per category with at least two lists of role test or
// source (not [File.OneService]), one [Rotation] per such list, in table
// order. With embedded set (a fresh install), a rotation that would hold
// out a list whose names the shipped offline seed holds is marked Skip: the
// seed of a category (blocklists/seed/<category>.txt.gz) is built from its
// embeddable sources except the table's test lists (scripts/build-seed
// -exclude), so only those are independent of it.
func Rotations(dir string, files []File, cat *catalog.Catalog, embedded bool) ([]Rotation, error) {
	if cat == nil {
		var err error
		if cat, err = catalog.Default(); err != nil {
			return nil, err
		}
	}
	embeds := map[string]bool{}
	for _, c := range cat.Categories {
		for _, s := range c.Sources {
			embeds[s.ID] = s.Embed
		}
	}
	tested := map[string]bool{}
	var order []string
	byCat := map[string][]File{}
	for _, f := range files {
		if f.Role == RoleTest && f.Source != "" {
			tested[f.Source] = true
		}
		if (f.Role != RoleTest && f.Role != RoleSource) || f.OneService {
			continue
		}
		if byCat[f.Category] == nil {
			order = append(order, f.Category)
		}
		byCat[f.Category] = append(byCat[f.Category], f)
	}
	inSeed := func(f File) bool {
		_, err := fs.Stat(blocklists.FS, "seed/"+f.Category+".txt.gz")
		return err == nil && embeds[f.Source] && !tested[f.Source]
	}

	var rots []Rotation
	for _, c := range order {
		fs := byCat[c]
		if len(fs) < 2 {
			continue
		}
		names := make([]map[string]bool, len(fs))
		for i, f := range fs {
			all, err := sample(filepath.Join(dir, f.Path), f, -1)
			if err != nil {
				return nil, err
			}
			names[i] = make(map[string]bool, len(all))
			for _, n := range all {
				names[i][n] = true
			}
		}
		for i, f := range fs {
			r := Rotation{Category: c, Test: f}
			for j, g := range fs {
				if j != i && copies(names[i], names[j]) {
					r.Copies = append(r.Copies, g)
				}
			}
			if embedded {
				for _, g := range append([]File{f}, r.Copies...) {
					if inSeed(g) {
						r.Skip = fmt.Sprintf("the offline seed holds the names of %s", g.Source)
						break
					}
				}
			}
			rots = append(rots, r)
		}
	}
	return rots, nil
}

// copies reports whether one of a and b holds at least CopyShare of the
// other's names.
func copies(a, b map[string]bool) bool {
	small, large := a, b
	if len(small) > len(large) {
		small, large = large, small
	}
	if len(small) == 0 {
		return false
	}
	n := 0
	for s := range small {
		if large[s] {
			n++
		}
	}
	return float64(n) >= CopyShare*float64(len(small))
}

// RotationTables groups the measured rotations (Skip == "") into as few
// runs as possible: run k holds out the k-th measured rotation of every
// category, which is independent of the others because a profile blocking
// one category uses only that category's lists. It returns each run's
// table (files with their roles changed) and its rotations.
func RotationTables(files []File, rots []Rotation) ([][]File, [][]Rotation) {
	byCat := map[string][]Rotation{}
	var order []string
	for _, r := range rots {
		if r.Skip != "" {
			continue
		}
		if byCat[r.Category] == nil {
			order = append(order, r.Category)
		}
		byCat[r.Category] = append(byCat[r.Category], r)
	}
	var tables [][]File
	var runs [][]Rotation
	for k := 0; ; k++ {
		var run []Rotation
		for _, c := range order {
			if k < len(byCat[c]) {
				run = append(run, byCat[c][k])
			}
		}
		if len(run) == 0 {
			return tables, runs
		}
		tables = append(tables, rotate(files, run))
		runs = append(runs, run)
	}
}

// rotate returns files with each rotation's list as its category's test
// list and its copies held; the category's former test list becomes a
// source (or a label if no catalog source is a copy of it). A category not
// rotated keeps no test list, so it is not measured.
func rotate(files []File, run []Rotation) []File {
	rot := map[string]Rotation{}
	for _, r := range run {
		rot[r.Category] = r
	}
	out := make([]File, 0, len(files))
	for _, f := range files {
		r, ok := rot[f.Category]
		switch {
		case f.Role == RolePopular:
		case ok && f.Path == r.Test.Path:
			f.Role = RoleTest
		case ok && slices.ContainsFunc(r.Copies, func(g File) bool { return g.Path == f.Path }):
			f.Role = RoleHeld
		case f.Role == RoleTest && ok && f.Source != "":
			f.Role = RoleSource
		case f.Role == RoleTest:
			f.Role = RoleLabel
		}
		out = append(out, f)
	}
	return out
}
