package domainindex

import (
	"strings"
	"sync"
	"testing"
	"time"
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
		lower := make([][]byte, len(s.names))
		for i, n := range s.names {
			lower[i] = []byte(n)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			matched, i := 0, 0
			cpu := cpuTime()
			for b.Loop() {
				r := ix.Lookup(s.names[i])
				if r.Matched() {
					matched++
				}
				if i++; i == len(s.names) {
					i = 0
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(len(s.names)), "names")
		})
		b.Run(s.name+"/LookupLower", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
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
			cpu := cpuTime()
			for b.Loop() {
				r := ix.Lookup(s.names[i])
				buf = r.AppendMatches(buf[:0])
				if i++; i == len(s.names) {
					i = 0
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process CPU time per iteration since start: on a
// busy machine it stays close to the true cost while ns/op grows with the
// time the benchmark waited for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
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
