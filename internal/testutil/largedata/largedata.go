// Package largedata finds the optional external data set that Hearth's
// opt-in large suite and benchmarks read: real public block lists, the
// popularity lists and an independent safe-search table, described by a
// MANIFEST.tsv, and BIND 9's DNS message corpus. The data is third-party,
// licensed per source, and not part of the repository.
//
// Set HEARTH_DATA to the folder of the lists (default ../shared/data,
// beside the repository) and HEARTH_FUZZ_CORPUS to the corpus folder
// (default ../shared/fuzz-corpus). Without them, a test of the large suite
// is skipped on a laptop, and fails when CI=true, where the data must be
// present. Correctness tests never need them: each package checks the same
// code on small files under its own testdata/.
package largedata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Environment variables that locate the data.
const (
	EnvData   = "HEARTH_DATA"
	EnvCorpus = "HEARTH_FUZZ_CORPUS"
)

// Dir returns the folder of the lists, checked by its MANIFEST.tsv. When
// it is missing, tb is skipped, or failed under CI=true.
func Dir(tb testing.TB) string {
	tb.Helper()
	return find(tb, EnvData, "data", "MANIFEST.tsv")
}

// File returns the file rel of the lists folder (for example
// "safesearch.tsv"). When it is missing, tb is skipped, or failed under
// CI=true.
func File(tb testing.TB, rel string) string {
	tb.Helper()
	return filepath.Join(find(tb, EnvData, "data", rel), rel)
}

// Corpus returns the folder rel of the fuzz corpus (for example
// "bind9/dns_message_parse"), or "" when it is missing outside CI: a fuzz
// target then seeds with its built-in inputs only. Under CI=true a missing
// corpus fails tb.
func Corpus(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := locate(EnvCorpus, "fuzz-corpus", rel)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v (CI=true: the large suite must run)", err)
		}
		tb.Logf("%v: seeding with built-in inputs only", err)
		return ""
	}
	return filepath.Join(dir, rel)
}

// find returns the folder of env (or the default beside the repository),
// skipping or failing tb unless probe exists in it.
func find(tb testing.TB, env, def, probe string) string {
	tb.Helper()
	dir, err := locate(env, def, probe)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v (CI=true: the large suite must run)", err)
		}
		tb.Skipf("%v: skipping this test of the large suite (CI=true makes it a failure)", err)
	}
	return dir
}

// locate returns the folder named by env, or ../shared/def beside the
// repository, if probe exists in it.
func locate(env, def, probe string) (string, error) {
	dir := os.Getenv(env)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "..", "shared", def)
	}
	if _, err := os.Stat(filepath.Join(dir, probe)); err != nil {
		return "", errors.New("external data set not found: " + err.Error() + " (set " + env + ")")
	}
	return dir, nil
}

// repoRoot returns the folder holding go.mod, from the test's working
// directory (its package folder) upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
