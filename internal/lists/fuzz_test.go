package lists

import (
	"bytes"
	"strings"
	"testing"
)

var fuzzFormats = []Format{FormatHosts, FormatDomains, FormatDomainsTrimmed, FormatDomainsOnly,
	FormatWildcard, FormatAdblock, FormatRPZ, FormatIPList}

// FuzzParse feeds arbitrary input to every format: Parse must not panic,
// its counters must agree with what it emitted, every emitted name must be
// canonical, and parsing the emitted names again must give them back.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in, uint8(0), false)
	}
	f.Add("0.0.0.0 a.b c.d # x\n||e.f^\n*.g.h\n$ORIGIN z.\ni.j CNAME .\n1.2.3.4\n", uint8(0), true)
	f.Fuzz(func(t *testing.T, in string, fi uint8, plainSubtree bool) {
		format := fuzzFormats[int(fi)%len(fuzzFormats)]
		var rules []Rule
		var got []string
		st, err := Parse(strings.NewReader(in), format, ParseOptions{PlainSubtree: plainSubtree}, func(r Rule) {
			rules = append(rules, r)
			got = append(got, render(r))
		})
		if err != nil {
			t.Fatalf("Parse(%s): %v", format, err)
		}
		lines := strings.Count(in, "\n")
		if in != "" && !strings.HasSuffix(in, "\n") {
			lines++
		}
		if st.Lines != lines {
			t.Errorf("Lines = %d, input has %d", st.Lines, lines)
		}
		checkStats(t, st, got)

		// Emitted names are canonical: re-parsing them as a domains list
		// yields the same names and nothing bad.
		var buf bytes.Buffer
		var want []string
		for _, r := range rules {
			if r.IsIP() {
				if r.IP.Zone() != "" {
					t.Errorf("IP rule %v keeps its zone", r.IP)
				}
				continue
			}
			if r.Name != strings.ToLower(r.Name) || len(r.Name) > maxNameBytes || !strings.Contains(r.Name, ".") ||
				strings.HasSuffix(r.Name, ".") {
				t.Errorf("non-canonical name %q", r.Name)
			}
			buf.WriteString(r.Name)
			buf.WriteByte('\n')
			want = append(want, r.Name)
		}
		again, st2 := parseAll(t, buf.String(), FormatDomains, ParseOptions{})
		if st2.Bad != 0 || len(again) != len(want) {
			t.Fatalf("re-parse of emitted names: %d bad (%+v), %d of %d names", st2.Bad, st2.BadExamples, len(again), len(want))
		}
		for i := range want {
			if again[i] != want[i] {
				t.Errorf("re-parse changed %q to %q", want[i], again[i])
			}
		}
	})
}
