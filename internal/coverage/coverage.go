// Package coverage measures how well the catalog blocks what parents expect:
// the share of each category's names a profile blocking that category
// blocks, whether the reason shown names that category, and how many
// popular benign names each preset blocks by mistake. It decides every name
// through the real policy (the compiled catalog, lists and presets, as
// `hearth serve` builds them), never through a re-implementation.
//
// The inputs are labelled name lists (see [File]): for each category one
// held-out test list, never one the measured catalog uses (a catalog source
// equal to a test list is left out of the run and reported), local copies
// of catalog sources, further labelled lists that only say what a category
// contains, and popularity lists for the benign names.
package coverage

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/domainindex"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
)

// Role is what a labelled file is for.
type Role string

// The roles of a [File].
const (
	// RoleTest is a held-out list of a category: names are sampled from it
	// and it is never compiled into the measured policy.
	RoleTest Role = "test"
	// RoleSource is a local copy of the catalog source named by
	// File.Source, compiled in its place (no download).
	RoleSource Role = "source"
	// RoleLabel only says what a category contains, for the benign set.
	RoleLabel Role = "label"
	// RolePopular is a "rank,name" popularity list: its top names, less
	// those labelled with a category a profile blocks, are that profile's
	// benign names.
	RolePopular Role = "popular"
	// RoleHeld is a list left out of the run together with its category's
	// test list, because one is mostly a copy of the other (see
	// [Rotations]): like a test list it is never compiled, but no names
	// are sampled from it.
	RoleHeld Role = "held"
)

// File is one labelled list.
type File struct {
	// Path is the file (gzip or plain), relative to Config.Dir.
	Path string
	// Category is the catalog category the names belong to ("" for a
	// popularity list).
	Category string
	Role     Role
	// Source is the catalog source id this file is a copy of, or "". A
	// test file with a Source makes the run leave that source out.
	Source string
	// Format is the file's list format; Subtree says its plain entries
	// cover their subdomains (UT1), as its publisher means them.
	Format  lists.Format
	Subtree bool
	// OneService says the list names one service's domains (Block List
	// Project's facebook list), not a sample of its category, so
	// [Rotations] never holds it out.
	OneService bool
}

// Config says what to measure.
type Config struct {
	// Catalog is the catalog measured; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Dir is the folder File paths are relative to.
	Dir   string
	Files []File
	// Sample is how many names to test per test list (default 500),
	// picked by a hash of the name, so every run picks the same ones.
	Sample int
	// BenignTop is how many top names of each popularity list to consider
	// (default 10000).
	BenignTop int
	// EmbeddedOnly measures a fresh install: only what the binary embeds
	// (services, bypass basics, the offline seed), no downloaded source.
	EmbeddedOnly bool
	// Profiles are the presets whose false blocks are counted (default
	// kid, teen, adult).
	Profiles []string
	// Examples is how many false blocks to list per profile (default 20).
	Examples int
	Logger   *slog.Logger
}

// CategoryResult is the coverage of one category's test list.
type CategoryResult struct {
	Category string
	Test     string
	// Names is the number of names tested.
	Names int
	// Blocked counts names a profile blocking only this category blocks;
	// WWWBlocked the same for "www." + name (names not starting with www.).
	Blocked, WWWNames, WWWBlocked int
	// AllBlocked counts the Blocked names a profile blocking every
	// category blocks too (all of them); RightReason those of them whose
	// shown reason is the category or one of its services, not a broader
	// or another category the name is also listed in.
	AllBlocked, RightReason int
	// Misnamed counts, per tag shown instead, the AllBlocked names whose
	// reason named another tag.
	Misnamed map[string]int
	// Popular is the number of the test list's names (all of them, not
	// the sample) that are in the popularity lists, the sites families
	// actually visit; PopularBlocked how many of them the category blocks.
	Popular, PopularBlocked int
}

// ProfileResult is the false blocks of one profile on benign names.
type ProfileResult struct {
	Profile string
	// Benign is the number of popular names not labelled with a category
	// the profile blocks; FalseBlocked how many of them it blocks.
	Benign, FalseBlocked int
	// Examples are some false blocks with the reason text.
	Examples []string
}

// Report is the result of a run.
type Report struct {
	Categories []CategoryResult
	Profiles   []ProfileResult
	// Used are the catalog sources compiled, from local copies.
	Used []string
	// Missing are catalog sources of the run with no local copy (so the
	// figures are a lower bound for them); HeldOut those left out because
	// a test list is a copy of them.
	Missing, HeldOut []string
	// Took is the run time.
	Took time.Duration
}

// Run measures c.
func Run(c Config) (*Report, error) {
	start := time.Now()
	if c.Sample <= 0 {
		c.Sample = 500
	}
	if c.BenignTop <= 0 {
		c.BenignTop = 10000
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []string{"kid", "teen", "adult"}
	}
	if c.Examples == 0 {
		c.Examples = 20
	}
	cat := c.Catalog
	if cat == nil {
		var err error
		if cat, err = catalog.Default(); err != nil {
			return nil, err
		}
	}
	for i, f := range c.Files {
		if f.Role != RolePopular {
			if _, ok := cat.Category(f.Category); !ok {
				return nil, fmt.Errorf("file %d %q: %q is not a category of the catalog", i, f.Path, f.Category)
			}
		}
		switch f.Role {
		case RoleTest, RoleSource, RoleLabel, RolePopular, RoleHeld:
		default:
			return nil, fmt.Errorf("file %d %q: unknown role %q", i, f.Path, f.Role)
		}
	}

	snap, rep, err := buildPolicy(c, cat)
	if err != nil {
		return nil, err
	}
	pol := snap.Policy
	now := time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC) // a Wednesday noon: no schedule
	blocks := func(profile string, name string) (policy.Decision, bool) {
		i, ok := pol.Profile(profile)
		if !ok {
			return policy.Decision{}, false
		}
		d := pol.Decide(i, now, []byte(name), 1)
		return d, d.Action.Blocks()
	}

	var popular []string
	seen := map[string]bool{}
	for _, f := range c.Files {
		if f.Role != RolePopular {
			continue
		}
		names, err := readPopular(filepath.Join(c.Dir, f.Path), c.BenignTop)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				popular = append(popular, n)
			}
		}
	}

	// Coverage of each test list.
	for _, f := range c.Files {
		if f.Role != RoleTest {
			continue
		}
		all, err := sample(filepath.Join(c.Dir, f.Path), f, -1)
		if err != nil {
			return nil, err
		}
		names := all[:min(len(all), c.Sample)]
		r := CategoryResult{Category: f.Category, Test: f.Path, Names: len(names), Misnamed: map[string]int{}}
		services := map[string]bool{f.Category: true}
		for _, s := range cat.Services {
			if s.Category == f.Category {
				services[s.ID] = true
			}
		}
		for _, n := range names {
			if _, ok := blocks(onlyProfile(f.Category), n); !ok {
				continue
			}
			r.Blocked++
			if d, ok := blocks(allProfile, n); ok {
				r.AllBlocked++
				if d.HasTag && services[pol.Tag(d.Tag).ID] {
					r.RightReason++
				} else if d.HasTag {
					r.Misnamed[pol.Tag(d.Tag).ID]++
				}
			}
		}
		for _, n := range all {
			if seen[n] || seen[strings.TrimPrefix(n, "www.")] {
				r.Popular++
				if _, ok := blocks(onlyProfile(f.Category), n); ok {
					r.PopularBlocked++
				}
			}
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "www.") {
				r.WWWNames++
				if _, ok := blocks(onlyProfile(f.Category), "www."+n); ok {
					r.WWWBlocked++
				}
			}
		}
		rep.Categories = append(rep.Categories, r)
	}

	// False blocks on benign names.
	labels, labelTags, err := labelIndex(c, cat)
	if err != nil {
		return nil, err
	}
	for _, prof := range c.Profiles {
		pre, ok := cat.Preset(prof)
		if !ok {
			return nil, fmt.Errorf("no preset %q", prof)
		}
		purpose := map[string]bool{}
		for _, t := range pre.Block {
			purpose[t] = true
		}
		if pre.BypassProtection {
			purpose["bypass"] = true
		}
		// Search engines that cannot be forced into safe search are
		// blocked on purpose while the preset's safe search is on.
		engines := map[string]bool{}
		if pre.SafeSearch {
			for _, e := range cat.NoSafeSearch {
				for _, n := range e.Names {
					engines[n] = true
				}
			}
		}
		pr := ProfileResult{Profile: prof}
		for _, n := range popular {
			if labelled(labels, labelTags, n, purpose) || engines[n] {
				continue
			}
			pr.Benign++
			if d, ok := blocks(prof, n); ok {
				pr.FalseBlocked++
				if len(pr.Examples) < c.Examples {
					pr.Examples = append(pr.Examples, n+": "+pol.Explain(d, n))
				}
			}
		}
		rep.Profiles = append(rep.Profiles, pr)
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// allProfile blocks every category: the hardest test of which reason is
// shown.
const allProfile = "all-categories"

// onlyProfile names the profile that blocks one category and its services.
func onlyProfile(category string) string { return "only-" + category }

// buildPolicy plans the catalog as the server does (every category's
// default sources, the presets, one profile per category), compiles it
// from the local copies, and returns the policy.
func buildPolicy(c Config, cat *catalog.Catalog) (*compile.Snapshot, *Report, error) {
	var y strings.Builder
	y.WriteString("data_dir: /nonexistent-coverage-data\ndefault_profile: kid\nlists: {defaults: true}\nprofiles:\n")
	var all []string
	for _, cg := range cat.Categories {
		fmt.Fprintf(&y, "  %s: {block: [%s]}\n", onlyProfile(cg.ID), cg.ID)
		all = append(all, cg.ID)
	}
	fmt.Fprintf(&y, "  %s: {block: [%s]}\n", allProfile, strings.Join(all, ", "))
	cfg, err := config.Parse("coverage.yaml", []byte(y.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("coverage config: %w", err)
	}
	plan, err := compile.NewPlan(cfg, cat, true)
	if err != nil {
		return nil, nil, err
	}
	copies, heldOut := map[string]File{}, map[string]bool{}
	for _, f := range c.Files {
		switch {
		case f.Role == RoleSource && f.Source != "":
			copies[f.Source] = f
		case (f.Role == RoleTest || f.Role == RoleHeld) && f.Source != "":
			heldOut[f.Source] = true
		}
	}
	rep := &Report{}
	var entries []lists.Entry
	for _, e := range plan.Entries() {
		if e.Source.URL == "" {
			entries = append(entries, e) // embedded or a file
			continue
		}
		id := e.Source.ID
		f, ok := copies[id]
		switch {
		case heldOut[id]:
			rep.HeldOut = append(rep.HeldOut, id)
			continue
		case c.EmbeddedOnly:
			continue
		case !ok:
			rep.Missing = append(rep.Missing, id)
			continue
		}
		// The copy keeps the source's match mode; its format is the
		// copy's (StevenBlack's hosts files are mirrored without the
		// leading address).
		e.Source.URL, e.Source.File, e.Source.Format = "", filepath.Join(c.Dir, f.Path), f.Format
		entries = append(entries, e)
		rep.Used = append(rep.Used, id)
	}
	m, err := lists.NewManager(lists.ManagerConfig{Entries: entries, Logger: c.Logger})
	if err != nil {
		return nil, nil, err
	}
	compiled, err := m.Compile()
	if err != nil {
		return nil, nil, err
	}
	for _, st := range compiled.Lists {
		if st.Err != "" {
			return nil, nil, fmt.Errorf("list %q: %s", st.ID, st.Err)
		}
	}
	snap, err := plan.Compile(identity.Config{DefaultProfile: "kid"}, compiled, store.State{}, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return snap, rep, nil
}

// sample returns up to n distinct names of a test file (all for n < 0),
// ordered by a hash of the name so the choice is stable and spread over
// the whole list.
func sample(path string, f File, n int) ([]string, error) {
	rc, err := lists.Open(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	seen := map[string]bool{}
	var names []string
	_, err = lists.Parse(rc, f.Format, lists.ParseOptions{PlainSubtree: f.Subtree}, func(r lists.Rule) {
		if r.IsIP() || r.Exception || seen[r.Name] {
			return
		}
		seen[r.Name] = true
		names = append(names, r.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(hash(a), hash(b)) })
	if n >= 0 && len(names) > n {
		names = names[:n]
	}
	return names, nil
}

func hash(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}

// labelIndex indexes every labelled file under its category, with the
// meaning its publisher gives it, and the catalog's curated services under
// theirs; it returns the category of each list.
func labelIndex(c Config, cat *catalog.Catalog) (*domainindex.Index, []string, error) {
	b := domainindex.NewBuilder(1 << 20)
	var tags []string
	for _, s := range cat.Services {
		id := domainindex.ListID(len(tags))
		tags = append(tags, s.Category)
		for _, d := range s.Domains {
			b.Add(d, id, domainindex.Subtree)
		}
	}
	for _, f := range c.Files {
		if f.Role == RolePopular {
			continue
		}
		id := domainindex.ListID(len(tags))
		tags = append(tags, f.Category)
		rc, err := lists.Open(filepath.Join(c.Dir, f.Path))
		if err != nil {
			return nil, nil, err
		}
		_, err = lists.Parse(rc, f.Format, lists.ParseOptions{PlainSubtree: f.Subtree}, func(r lists.Rule) {
			if r.IsIP() || r.Exception {
				return
			}
			k := domainindex.Exact
			if r.Kind == lists.Subtree {
				k = domainindex.Subtree
			}
			b.Add(r.Name, id, k)
		})
		rc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
	}
	ix, err := b.Build()
	return ix, tags, err
}

// labelled reports whether name, or name without a leading "www.", is
// listed by a labelled file of one of the categories in purpose.
func labelled(ix *domainindex.Index, tags []string, name string, purpose map[string]bool) bool {
	var buf [16]domainindex.Match
	for _, n := range []string{name, strings.TrimPrefix(name, "www.")} {
		r := ix.Lookup(n)
		for _, m := range r.AppendMatches(buf[:0]) {
			if purpose[tags[m.List]] {
				return true
			}
		}
	}
	return false
}

// readPopular returns the first top names of a "rank,name" file.
func readPopular(path string, top int) ([]string, error) {
	rc, err := lists.Open(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if len(names) == top {
			break
		}
		_, name, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if strings.Contains(name, ".") {
			names = append(names, name)
		}
	}
	return names, nil
}

// ReadFiles reads a labelled-files table: tab-separated lines of path,
// category (or "-"), role, source id (or "-"), format, "subtree" or
// "exact" and, optionally, "one-service" ([File.OneService]); "#" starts a
// comment line.
func ReadFiles(r io.Reader, name string) ([]File, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var files []File
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 && (len(f) != 7 || f[6] != "one-service") {
			return nil, fmt.Errorf("%s:%d: want 6 fields (path category role source format subtree|exact) and optionally one-service, got %q", name, i+1, line)
		}
		format, err := lists.ParseFormat(f[4])
		if err != nil && Role(f[2]) != RolePopular {
			return nil, fmt.Errorf("%s:%d: format: %w", name, i+1, err)
		}
		if f[5] != "subtree" && f[5] != "exact" {
			return nil, fmt.Errorf("%s:%d: field 6 is %q, want subtree or exact", name, i+1, f[5])
		}
		file := File{Path: f[0], Category: f[1], Role: Role(f[2]), Source: f[3], Format: format, Subtree: f[5] == "subtree", OneService: len(f) == 7}
		if file.Category == "-" {
			file.Category = ""
		}
		if file.Source == "-" {
			file.Source = ""
		}
		files = append(files, file)
	}
	return files, nil
}

// Print writes the report as plain-text tables.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-13s %-38s %6s %8s %8s %8s %8s %8s  %s\n", "category", "held-out test list", "names", "blocked", "www.", "popular", "blocked", "reason", "shown instead")
	for _, c := range r.Categories {
		var other []string
		for t, n := range c.Misnamed {
			other = append(other, fmt.Sprintf("%s %d", t, n))
		}
		slices.Sort(other)
		fmt.Fprintf(w, "%-13s %-38s %6d %7.1f%% %7.1f%% %8d %7.1f%% %7.1f%%  %s\n", c.Category, c.Test, c.Names,
			pct(c.Blocked, c.Names), pct(c.WWWBlocked, c.WWWNames), c.Popular, pct(c.PopularBlocked, c.Popular), pct(c.RightReason, c.AllBlocked), strings.Join(other, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-8s %8s %8s %8s\n", "profile", "benign", "blocked", "share")
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "%-8s %8d %8d %7.2f%%\n", p.Profile, p.Benign, p.FalseBlocked, pct(p.FalseBlocked, p.Benign))
	}
	for _, p := range r.Profiles {
		for _, e := range p.Examples {
			fmt.Fprintf(w, "  %s false block: %s\n", p.Profile, e)
		}
	}
	fmt.Fprintf(w, "\nsources used: %s\n", strings.Join(r.Used, " "))
	fmt.Fprintf(w, "held out (a test list is a copy of them): %s\n", strings.Join(r.HeldOut, " "))
	fmt.Fprintf(w, "no local copy (not measured): %s\n", strings.Join(r.Missing, " "))
	fmt.Fprintf(w, "took %s\n", r.Took.Round(time.Millisecond))
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
