package domainindex

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// realIndex is the index of every shared blocklist, built once per test
// binary for the benchmarks.
var realIndex = sync.OnceValues(func() (*Index, error) {
	c, err := loadCorpus()
	if err != nil {
		return nil, err
	}
	b := NewBuilder(c.entries)
	c.addAll(b.Add)
	return b.Build()
})

// fourLabels returns up to max names of exactly four labels.
func fourLabels(names []string, max int) []string {
	var out []string
	for _, n := range names {
		if strings.Count(n, ".") == 3 {
			out = append(out, n)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// BenchmarkLookup looks up four-label names in the 1.64 M-name index of the
// external data set's blocklists (see package largedata), cycling through many names so the table is not all in
// cache: listed names (hits) and popular names from the Umbrella list
// (mostly misses, the common case on a resolver).
func BenchmarkLookup(b *testing.B) {
	requireData(b)
	ix, err := realIndex()
	if err != nil {
		b.Fatal(err)
	}
	c, _ := loadCorpus()
	var listed []string
	for _, f := range c.files {
		listed = append(listed, f.names...)
	}
	sets := []struct {
		name  string
		names []string
	}{
		{"listed-4-labels", fourLabels(listed, 100_000)},
		{"popular-4-labels", fourLabels(readPopular(b, "umbrella-top-100k.csv.gz"), 100_000)},
		// A resolver's working set: the query name is in cache (just
		// parsed), the table mostly is not.
		{"popular-4-labels-hot-names", fourLabels(readPopular(b, "umbrella-top-100k.csv.gz"), 1024)},
	}
	for _, s := range sets {
		names, lower := packNames(s.names)
		mixed, _ := packNames(mixCase(s.names))
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			matched, i := 0, 0
			cpu := cycles.ProcessCPU()
			for b.Loop() {
				r := ix.Lookup(names[i])
				if r.Matched() {
					matched++
				}
				if i++; i == len(names) {
					i = 0
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(len(names)), "names")
		})
		b.Run(s.name+"/mixed-case", func(b *testing.B) {
			b.ReportAllocs()
			matched, i := 0, 0
			cpu := cycles.ProcessCPU()
			for b.Loop() {
				r := ix.Lookup(mixed[i])
				if r.Matched() {
					matched++
				}
				if i++; i == len(mixed) {
					i = 0
				}
			}
			reportCPU(b, cpu)
		})
		b.Run(s.name+"/LookupLower", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu := cycles.ProcessCPU()
			for b.Loop() {
				r := ix.LookupLower(lower[i])
				_ = r.Matched()
				if i++; i == len(lower) {
					i = 0
				}
			}
			reportCPU(b, cpu)
		})
		b.Run(s.name+"/AppendMatches", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]Match, 0, 32)
			i := 0
			cpu := cycles.ProcessCPU()
			for b.Loop() {
				r := ix.Lookup(names[i])
				buf = r.AppendMatches(buf[:0])
				if i++; i == len(names) {
					i = 0
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// packNames copies names, in order, into one string and one byte slice
// and returns them cut into names again: the string and the byte-slice
// benchmarks then read their names from memory laid out the same way.
// (The Lookup benchmarks used to read the strings where the corpus loader
// left them, each inside its own line of the popularity file, spread over
// five times the memory of the byte slices LookupLower read: that, not
// case folding, was most of the gap between the two.)
func packNames(names []string) ([]string, [][]byte) {
	var all strings.Builder
	for _, n := range names {
		all.WriteString(n)
	}
	str := all.String()
	buf := []byte(str)
	s, l := make([]string, len(names)), make([][]byte, len(names))
	off := 0
	for i, n := range names {
		s[i], l[i] = str[off:off+len(n)], buf[off:off+len(n):off+len(n)]
		off += len(n)
	}
	return s, l
}

// mixCase returns names with about a third of their letters upper-cased,
// in a fixed pattern, as a stub resolver that randomises case (DNS 0x20)
// sends them.
func mixCase(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		b := []byte(n)
		for j, c := range b {
			if (i*7+j*13)%3 == 0 && c >= 'a' && c <= 'z' {
				b[j] = c - 'a' + 'A'
			}
		}
		out[i] = string(b)
	}
	return out
}

// reportCPU reports the process CPU time per iteration since start: on a
// busy machine it stays close to the true cost while ns/op grows with the
// time the benchmark waited for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cycles.ProcessCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkBuild measures Add plus Build for the external data set's blocklists (2.19 M
// entries, 1.64 M names) and for 5 M synthetic names, and reports the table
// size per name and the growth of the heap in use per name.
func BenchmarkBuild(b *testing.B) {
	b.Run("real-1.64M", func(b *testing.B) {
		requireData(b)
		c, err := loadCorpus()
		if err != nil {
			b.Fatal(err)
		}
		benchBuild(b, c.entries, c.addAll)
	})
	b.Run("synthetic-5M", func(b *testing.B) {
		const n = 5_000_000
		benchBuild(b, n+n/10, synthAdd(synthNames(n)))
	})
}

func benchBuild(b *testing.B, hint int, each func(add func(string, ListID, Kind))) {
	b.ReportAllocs()
	var ix *Index
	var st buildStats
	for b.Loop() {
		ix, st = measuredBuild(b, hint, each)
	}
	b.ReportMetric(st.add.Seconds(), "add-s")
	b.ReportMetric(st.build.Seconds(), "build-s")
	b.ReportMetric(float64(ix.Len()), "names")
	b.ReportMetric(float64(ix.Bytes())/float64(ix.Len()), "B/name")
	b.ReportMetric(float64(st.heap)/float64(ix.Len()), "heapB/name")
}
