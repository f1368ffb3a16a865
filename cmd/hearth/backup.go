package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/backup"
)

// backupCmd is `hearth admin export` and `hearth admin import`: the
// store's households, profiles, devices and settings as one versioned
// JSON document (package backup), and back.
func backupCmd(sub string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	out := fs.String("out", "", "write the export to this file instead of stdout (export)")
	replace := fs.Bool("replace", false, "delete the store's households, profiles and devices first (import)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if sub == "import" && fs.NArg() != 1 {
		fmt.Fprintln(stderr, "hearth admin import: want one FILE (\"-\" for stdin)")
		return 2
	}
	if sub == "export" && fs.NArg() != 0 {
		fmt.Fprintln(stderr, "hearth admin export: unexpected arguments; use --out FILE")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx := context.Background()
	var doc *backup.Document
	if sub == "import" {
		// Read and check the document before opening the store: a bad
		// file changes nothing and leaves no store file behind.
		doc, err = readExport(fs.Arg(0), stdin)
		if err != nil {
			fmt.Fprintf(stderr, "hearth admin import: %s: %v\n", fs.Arg(0), err)
			return 1
		}
	}
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer st.Close()
	if sub == "export" {
		d, err := backup.Export(ctx, st, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if err := writeExport(*out, stdout, d); err != nil {
			fmt.Fprintf(stderr, "hearth admin export: %v\n", err)
			return 1
		}
		if *out != "" {
			fmt.Fprintf(stderr, "exported %d households, %d profiles, %d devices from %s to %s\n", len(d.Households), len(d.Profiles), len(d.Devices), app.StoreName(cfg), *out)
		}
		return 0
	}
	c, err := app.ImportChecker(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := backup.Import(ctx, st, doc, backup.Options{Checker: c, Replace: *replace})
	if err != nil {
		fmt.Fprintf(stderr, "hearth admin import: %s: %v\n", fs.Arg(0), err)
		if errors.Is(err, backup.ErrNotEmpty) {
			return 3
		}
		return 1
	}
	verb := "imported"
	if res.Replaced {
		verb = "replaced the content with"
	}
	fmt.Fprintf(stdout, "%s %d households, %d profiles, %d devices in %s\n", verb, res.Households, res.Profiles, res.Devices, app.StoreName(cfg))
	return 0
}

// readExport reads and decodes the export at name ("-": stdin).
func readExport(name string, stdin io.Reader) (*backup.Document, error) {
	if name == "-" {
		return backup.Decode(stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return backup.Decode(f)
}

// writeExport writes d to name, or to stdout when name is "". A file is
// written beside its final name and renamed, so a failed export never
// leaves half a file where a good one was; it is readable by its owner
// alone (it lists every device's addresses).
func writeExport(name string, stdout io.Writer, d *backup.Document) error {
	if name == "" {
		return d.Write(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".hearth-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := d.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
