// Command coverage measures the catalog's category coverage and its false
// blocks through the real policy (package internal/coverage). It reads a
// table of labelled lists of an external data set that is not part of the
// repository (shared-data.tsv describes it); -data defaults to
// $HEARTH_DATA, else ../shared/data beside the repository:
//
//	go run ./scripts/coverage -data ../shared/data
//	go run ./scripts/coverage -data ../shared/data -embedded-only
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	flag.Parse()
	if err := run(*data, *table, *sample, *top, *examples, *embedded, strings.Split(*profiles, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "coverage:", err)
		os.Exit(1)
	}
}

func run(data, table string, sample, top, examples int, embedded bool, profiles []string) error {
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
	rep, err := coverage.Run(coverage.Config{
		Dir: data, Files: files, Sample: sample, BenignTop: top, EmbeddedOnly: embedded,
		Profiles: profiles, Examples: examples, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	mode := "default sources (local copies)"
	if embedded {
		mode = "embedded only"
	}
	fmt.Printf("coverage: %s, %d names per held-out list, top %d of each popularity list\n\n", mode, sample, top)
	rep.Print(os.Stdout)
	return nil
}
