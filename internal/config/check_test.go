package config

import (
	"slices"
	"strings"
	"testing"
)

// TestCheck: `hearth check` rejects an empty file, reports every problem
// of a file at once (decode and validation errors together), and names
// every file the config points at that cannot be read.
func TestCheck(t *testing.T) {
	tests := []struct {
		file string
		// want are the error lines, all of them, in any order.
		want    []string
		wantCfg bool
	}{
		{"empty.yaml", []string{"testdata/check/empty.yaml: empty config file: nothing is configured (start from the packaged example or the README's reference)"}, false},
		{"comments.yaml", []string{"testdata/check/comments.yaml: empty config file: nothing is configured (start from the packaged example or the README's reference)"}, false},
		{"null.yaml", []string{"testdata/check/null.yaml: empty config file: nothing is configured (start from the packaged example or the README's reference)"}, false},
		{"many.yaml", []string{
			"testdata/check/many.yaml:3: colour: unknown field",
			"testdata/check/many.yaml:6: upstream.timeout: cannot unmarshal !!str `soon` into time.Duration",
			`testdata/check/many.yaml:7: upstream.strategy: "fastest" is not parallel or failover`,
			"testdata/check/many.yaml:9: cache.size: must not be negative",
			`testdata/check/many.yaml:11: access.allow[0]: "10.0.0/33" is not a network (CIDR) or address`,
		}, true},
		{"files.yaml", []string{
			`testdata/check/files.yaml:4: sources[1].file: "testdata/check/no-such-list.txt": no such file or directory`,
			`testdata/check/files.yaml:5: sources[2].file: "testdata/check": is a directory`,
			`testdata/check/files.yaml:7: new_devices.leases: "testdata/check/no-such.leases": no such file or directory`,
		}, true},
		{"ok.yaml", nil, true},
		{"no-such.yaml", []string{"read config: open testdata/check/no-such.yaml: no such file or directory"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Check("testdata/check/" + tc.file)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(sorted(got), "\n") != strings.Join(sorted(tc.want), "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if (c != nil) != tc.wantCfg {
				t.Errorf("config returned = %v, want %v", c != nil, tc.wantCfg)
			}
		})
	}
}

// TestParseReportsDecodeAndValidationErrorsTogether: Load (the server's
// path) reports a type error and a validation error in one go too.
func TestParseReportsDecodeAndValidationErrorsTogether(t *testing.T) {
	_, err := Parse("x.yaml", []byte("upstream:\n  timeout: soon\n  strategy: fastest\n"))
	if err == nil {
		t.Fatal("Parse accepted a bad config")
	}
	for _, want := range []string{"x.yaml:2: upstream.timeout: cannot unmarshal", `x.yaml:3: upstream.strategy: "fastest"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
