package coverage

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestRun measures the small labelled lists of testdata through the real
// policy and checks every figure against what the files say.
func TestRun(t *testing.T) {
	files := readTable(t, "files.tsv")
	rep, err := Run(Config{Dir: "testdata", Files: files})
	if err != nil {
		t.Fatal(err)
	}

	cats := []struct {
		category                                                                string
		names, blocked, wwwNames, wwwBlocked, allBlocked, rightReason, misnamed int
	}{
		// porn-one.example and cdn.porn-two.example are under the source
		// copy's ||rules; the other two names are not listed.
		{"adult", 4, 2, 3, 2, 2, 2, 0},
		// tinder.com is the tinder service (and in the adult source: the
		// service is named); the copy of ut1-dating is
		// held out, so datingsite.example is not compiled; flirt.example
		// is only in the adult source, so it is not a dating block.
		{"dating", 3, 1, 3, 1, 1, 1, 0},
	}
	if len(rep.Categories) != len(cats) {
		t.Fatalf("got %d categories, want %d: %+v", len(rep.Categories), len(cats), rep.Categories)
	}
	for i, want := range cats {
		got := rep.Categories[i]
		misnamed := 0
		for _, n := range got.Misnamed {
			misnamed += n
		}
		if got.Category != want.category || got.Names != want.names || got.Blocked != want.blocked ||
			got.WWWNames != want.wwwNames || got.WWWBlocked != want.wwwBlocked || got.RightReason != want.rightReason || misnamed != want.misnamed || got.AllBlocked != want.allBlocked {
			t.Errorf("category %d = %+v, want %+v", i, got, want)
		}
	}

	profiles := []struct {
		profile       string
		benign, false int
		example       string
	}{
		// sub.casino.example is blocked through the catalog's subtree
		// reading of ut1-gambling, but only casino.example is labelled.
		// startpage.com, a search engine with no safe mode, is blocked
		// on purpose while kid's and teen's safe search is on: not benign.
		{"kid", 3, 1, "sub.casino.example: blocked: category=gambling source=ut1-gambling rule=casino.example profile=kid"},
		{"teen", 3, 1, "sub.casino.example"},
		// adult blocks only malware, phishing and scam, without safe
		// search: every popular name is benign for it, and none is blocked.
		{"adult", 7, 0, ""},
	}
	for i, want := range profiles {
		got := rep.Profiles[i]
		if got.Profile != want.profile || got.Benign != want.benign || got.FalseBlocked != want.false {
			t.Errorf("profile %d = %+v, want %+v", i, got, want)
		}
		if want.example != "" && (len(got.Examples) != 1 || !strings.HasPrefix(got.Examples[0], want.example)) {
			t.Errorf("profile %s examples = %q, want one starting %q", want.profile, got.Examples, want.example)
		}
	}
	// The popular names of the test lists: porn-one.example and tinder.com,
	// both blocked.
	for i, c := range rep.Categories {
		if c.Popular != 1 || c.PopularBlocked != 1 {
			t.Errorf("category %d %s: popular %d, blocked %d; want 1 and 1", i, c.Category, c.Popular, c.PopularBlocked)
		}
	}
	if !slices.Equal(rep.HeldOut, []string{"ut1-dating"}) {
		t.Errorf("held out = %q, want [ut1-dating]", rep.HeldOut)
	}
	if !slices.Contains(rep.Used, "hagezi-nsfw") || slices.Contains(rep.Used, "ut1-dating") {
		t.Errorf("used = %q, want hagezi-nsfw and not ut1-dating", rep.Used)
	}

	// A fresh install compiles no source at all.
	emb, err := Run(Config{Dir: "testdata", Files: files, EmbeddedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Used) != 0 || emb.Categories[0].Blocked != 0 || emb.Categories[1].Blocked != 1 || emb.Categories[1].Misnamed["adult"] != 0 {
		t.Errorf("embedded only: used %q, adult blocked %d (want 0), dating blocked %d (want 1, the service)", emb.Used, emb.Categories[0].Blocked, emb.Categories[1].Blocked)
	}
}

func TestReadFilesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.txt adult test -\n", "t.tsv:1: want 6 fields"},
		{"a.txt adult test - hosts exact other\n", "t.tsv:1: want 6 fields"},
		{"# c\na.txt adult test - nope exact\n", "t.tsv:2: format"},
		{"a.txt adult test - hosts maybe\n", "t.tsv:1: field 6"},
	} {
		_, err := ReadFiles(strings.NewReader(tc.in), "t.tsv")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadFiles(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := Run(Config{Files: []File{{Path: "x", Category: "nope", Role: RoleTest}}}); err == nil || !strings.Contains(err.Error(), `"nope" is not a category`) {
		t.Errorf("Run with an unknown category = %v", err)
	}
}

// TestRotations holds out each list of a category in turn, with its
// copies, and skips what the offline seed holds for a fresh install.
func TestRotations(t *testing.T) {
	files := readTable(t, "rotate.tsv")
	if !files[6].OneService || files[5].OneService {
		t.Fatalf("one-service read as %v, %v; want only the facebook list", files[5].OneService, files[6].OneService)
	}
	type rot struct{ test, copies, skip string }
	describe := func(rs []Rotation) []rot {
		var out []rot
		for _, r := range rs {
			var c []string
			for _, f := range r.Copies {
				c = append(c, f.Path)
			}
			skip := ""
			if r.Skip != "" {
				skip = "skip"
			}
			out = append(out, rot{r.Test.Path, strings.Join(c, " "), skip})
		}
		return out
	}

	rots, err := Rotations("testdata", files, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// social has one list that may be held out: no rotation.
	want := []rot{
		{"adult-test.txt", "", ""},
		{"adult-source.txt", "adult-copy.txt", ""},
		{"adult-copy.txt", "adult-source.txt", ""},
		{"dating-test.txt", "", ""},
		{"dating-copy.txt", "", ""},
	}
	if got := describe(rots); !slices.Equal(got, want) {
		t.Fatalf("rotations = %v, want %v", got, want)
	}

	// A fresh install: stevenblack-porn is embeddable and not a test list,
	// so the seed holds its names; holding out hagezi-nsfw holds out its
	// copy too. The tests' own lists stay measurable.
	emb, err := Rotations("testdata", files, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want[1].skip, want[2].skip = "skip", "skip"
	if got := describe(emb); !slices.Equal(got, want) {
		t.Fatalf("embedded rotations = %v, want %v", got, want)
	}

	tables, runs := RotationTables(files, rots)
	if len(tables) != 3 || len(runs[0]) != 2 || len(runs[1]) != 2 || len(runs[2]) != 1 {
		t.Fatalf("got %d runs %v, want 3 runs of 2, 2 and 1 rotations", len(tables), runs)
	}
	roles := func(fs []File) string {
		var r []string
		for _, f := range fs {
			r = append(r, string(f.Role))
		}
		return strings.Join(r, " ")
	}
	// Run 2 holds out adult-source.txt (and its copy) and dating-copy.txt;
	// the former test lists become a label (no catalog source) and a
	// source; social is not measured.
	if got, want := roles(tables[1]), "label test held source test label source popular"; got != want {
		t.Errorf("run 2 roles = %s, want %s", got, want)
	}
	rep, err := Run(Config{Dir: "testdata", Files: tables[1]})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.HeldOut, "hagezi-nsfw") || !slices.Contains(rep.HeldOut, "stevenblack-porn") || slices.Contains(rep.Used, "stevenblack-porn") {
		t.Errorf("run 2: held out %q, used %q; want both adult sources held out", rep.HeldOut, rep.Used)
	}
	if len(rep.Categories) != 2 || rep.Categories[0].Test != "adult-source.txt" || rep.Categories[1].Test != "dating-copy.txt" {
		t.Errorf("run 2 measured %+v, want adult-source.txt and dating-copy.txt", rep.Categories)
	}
}

// readTable reads a labelled-files table of testdata.
func readTable(t *testing.T, name string) []File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := ReadFiles(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
