package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/local"
	"github.com/hearth-dns/hearth/internal/upstream"
)

// check validates a config file as the server would load it and prints
// every problem at once, one "file:line: field: message" per line.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to validate")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: hearth check --config FILE")
		return 2
	}
	errs := checkConfig(*path)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, err)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", *path, len(errs))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

// checkConfig returns every problem of the config file at path, one
// line each: those of the file itself, then those only the components can
// see (an unparsable upstream, a bad local record, a profile naming an
// unknown category).
func checkConfig(path string) []string {
	cfg, err := config.Check(path)
	var errs []string
	add := func(err error) {
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if line != "" && !contains(errs, line) {
				errs = append(errs, line)
			}
		}
	}
	add(err)
	if cfg == nil {
		return errs
	}
	// Each upstream and local record on its own, so that every bad one is
	// named, not only the first the server would stop at.
	for i, s := range cfg.Upstream.Servers {
		if _, err := upstream.New(upstream.Config{Servers: []string{s}}); err != nil {
			add(cfg.Errorf(fmt.Sprintf("upstream.servers[%d]", i), "%v", err))
		}
	}
	for i, r := range cfg.Local.Records {
		if _, err := local.ParseRecord(r); err != nil {
			add(cfg.Errorf(fmt.Sprintf("local.records[%d]", i), "%v", err))
		}
	}
	if len(errs) > 0 {
		sortByLine(errs)
		return errs
	}
	// Then the whole server, built without writing anything, for what
	// only it sees (profiles against the catalog, the TLS certificate).
	a, err := app.New(cfg, nil, app.ReadOnly())
	if err == nil {
		a.Shutdown(context.Background())
	}
	add(err)
	sortByLine(errs)
	return errs
}

var fileLineRE = regexp.MustCompile(`^[^:]*:(\d+): `)

// sortByLine orders problems by their line in the file, the order an
// editor walks them; those without a line come first.
func sortByLine(errs []string) {
	line := func(s string) int {
		if m := fileLineRE.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return 0
	}
	sort.SliceStable(errs, func(i, j int) bool { return line(errs[i]) < line(errs[j]) })
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
