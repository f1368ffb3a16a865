// Command coverage measures the catalog's category coverage and its false
// blocks through the real policy (package internal/coverage). It reads a
// table of labelled lists of an external data set that is not part of the
// repository (shared-data.tsv describes it); -data defaults to
// $HEARTH_DATA, else ../shared/data beside the repository:
//
//	go run ./scripts/coverage -data ../shared/data
//	go run ./scripts/coverage -data ../shared/data -embedded-only
//	go run ./scripts/coverage -data ../shared/data -rotate
//
// -rotate holds out every test or source list of a category in turn (and
// any list that is mostly a copy of it) and reports each one's figures and
// their mean and minimum, instead of the one hold-out the table names.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hearth-dns/hearth/internal/coverage"
)

func main() {
	defData := os.Getenv("HEARTH_DATA")
	if defData == "" {
		defData = "../shared/data"
	}
	data := flag.String("data", defData, "folder the table's paths are relative to (the external data set; default $HEARTH_DATA)")
	table := flag.String("files", "", "labelled-files table (default: shared-data.tsv beside this program)")
	sample := flag.Int("sample", 500, "names tested per held-out list")
	top := flag.Int("benign-top", 10000, "top names of each popularity list for the benign set")
	embedded := flag.Bool("embedded-only", false, "measure only what the binary embeds (a fresh install)")
	profiles := flag.String("profiles", "kid,teen,adult", "presets whose false blocks are counted")
	examples := flag.Int("examples", 20, "false blocks listed per profile")
	rotate := flag.Bool("rotate", false, "hold out each list of a category in turn; report mean and minimum")
	flag.Parse()
	if err := run(*data, *table, *sample, *top, *examples, *embedded, *rotate, strings.Split(*profiles, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "coverage:", err)
		os.Exit(1)
	}
}

func run(data, table string, sample, top, examples int, embedded, rotate bool, profiles []string) error {
	if table == "" {
		table = filepath.Join("scripts", "coverage", "shared-data.tsv")
	}
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	files, err := coverage.ReadFiles(f, table)
	f.Close()
	if err != nil {
		return err
	}
	cfg := coverage.Config{
		Dir: data, Files: files, Sample: sample, BenignTop: top, EmbeddedOnly: embedded,
		Profiles: profiles, Examples: examples, Logger: slog.New(slog.DiscardHandler),
	}
	mode := "default sources (local copies)"
	if embedded {
		mode = "embedded only"
	}
	fmt.Printf("coverage: %s, %d names per held-out list, top %d of each popularity list\n\n", mode, sample, top)
	if rotate {
		return runRotations(cfg)
	}
	rep, err := coverage.Run(cfg)
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	return nil
}

// runRotations measures every rotation of the table and prints, per
// category, each held-out list's figures and their mean and minimum.
func runRotations(cfg coverage.Config) error {
	rots, err := coverage.Rotations(cfg.Dir, cfg.Files, nil, cfg.EmbeddedOnly)
	if err != nil {
		return err
	}
	tables, runs := coverage.RotationTables(cfg.Files, rots)
	results := map[string]coverage.CategoryResult{} // by held-out path
	cfg.Profiles = []string{"adult"}                // false blocks are not rotated
	for i, t := range tables {
		cfg.Files = t
		rep, err := coverage.Run(cfg)
		if err != nil {
			return fmt.Errorf("rotation run %d: %w", i+1, err)
		}
		for _, r := range runs[i] {
			for _, c := range rep.Categories {
				if c.Category == r.Category {
					results[r.Test.Path] = c
				}
			}
		}
	}
	fmt.Printf("%-13s %-38s %6s %8s %8s %8s  %s\n", "category", "held-out list", "names", "blocked", "popular", "blocked", "held out with it / not measured")
	var cat string
	var pop, all []float64
	flush := func() {
		if len(pop) == 0 {
			pop = []float64{0}
		}
		if len(all) > 0 {
			fmt.Printf("%-13s %-38s %6s %7.1f%% %8s %7.1f%%  (min %.1f%% of all names, %.1f%% of popular; popular over the lists that have any)\n", cat, "mean of "+fmt.Sprint(len(all)), "", mean(all), "", mean(pop), slices.Min(all), slices.Min(pop))
		}
		pop, all = nil, nil
	}
	for _, r := range rots {
		if r.Category != cat {
			flush()
			cat = r.Category
		}
		var copies []string
		for _, c := range r.Copies {
			copies = append(copies, c.Path)
		}
		if r.Skip != "" {
			fmt.Printf("%-13s %-38s %6s %8s %8s %8s  not measured: %s\n", r.Category, r.Test.Path, "", "", "", "", r.Skip)
			continue
		}
		c := results[r.Test.Path]
		fmt.Printf("%-13s %-38s %6d %7.1f%% %8d %7.1f%%  %s\n", r.Category, r.Test.Path, c.Names, pct(c.Blocked, c.Names), c.Popular, pct(c.PopularBlocked, c.Popular), strings.Join(copies, " "))
		all = append(all, pct(c.Blocked, c.Names))
		if c.Popular > 0 {
			pop = append(pop, pct(c.PopularBlocked, c.Popular))
		}
	}
	flush()
	return nil
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
