package lists

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/largedata"
)

// BenchmarkParseLargest parses the largest real lists of the external data set
// from memory, reporting lines and names per second and allocations (one
// per emitted name is expected: the Name string).
func BenchmarkParseLargest(b *testing.B) {
	dir := largedata.Dir(b)
	for _, bc := range []struct {
		file   string
		format Format
		opt    ParseOptions
	}{
		{"ut1/malware.txt.gz", FormatDomains, ParseOptions{PlainSubtree: true}},
		{"hagezi/multi.txt.gz", FormatDomainsOnly, ParseOptions{}},
		{"hagezi/tif-mini.txt.gz", FormatAdblock, ParseOptions{}},
		{"blocklistproject/redirect.txt.gz", FormatHosts, ParseOptions{}},
	} {
		b.Run(filepath.Base(filepath.Dir(bc.file))+"/"+filepath.Base(bc.file), func(b *testing.B) {
			rc, err := Open(filepath.Join(dir, bc.file))
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var st Stats
			for b.Loop() {
				st, err = Parse(bytes.NewReader(data), bc.format, bc.opt, func(Rule) {})
				if err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(st.Lines)*float64(b.N)/sec, "lines/s")
			b.ReportMetric(float64(st.Rules+st.IPs)*float64(b.N)/sec, "rules/s")
		})
	}
}
