package usage

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

var cats = []string{"adult", "gambling", "social"}

func TestCount(t *testing.T) {
	tb, err := New(Config{Households: 100, Categories: cats})
	if err != nil {
		t.Fatal(err)
	}
	type q struct {
		household string
		blocked   bool
		category  int
	}
	for _, x := range []q{
		{"smith", false, NoCategory},
		{"smith", true, 1},
		{"smith", true, 1},
		{"smith", true, NoCategory}, // a pause
		{"jones", true, 2},
		{"jones", false, 2}, // allowed: the category is not counted
		{"jones", true, 99}, // out of range: counted as blocked only
	} {
		tb.Count(x.household, x.blocked, x.category)
	}
	tests := []struct {
		household string
		want      Counts
	}{
		{"smith", Counts{Queries: 4, Blocked: 3, ByCategory: map[string]uint64{"gambling": 2}}},
		{"jones", Counts{Queries: 3, Blocked: 2, ByCategory: map[string]uint64{"social": 1}}},
		{"nobody", Counts{ByCategory: map[string]uint64{}}},
	}
	for _, tc := range tests {
		if got := tb.Get(tc.household); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Get(%q) = %+v, want %+v", tc.household, got, tc.want)
		}
	}
	if tb.Households() != 2 || tb.Overflow() != 0 {
		t.Errorf("households %d, overflow %d; want 2, 0", tb.Households(), tb.Overflow())
	}
	if tb.Category("social") != 2 || tb.Category("piracy") != NoCategory {
		t.Error("Category lookup")
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{
		{Households: 0},
		{Households: 1 << 29},
		{Households: 1, Categories: make([]string, MaxCategories+1)},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%d households, %d categories) accepted", c.Households, len(c.Categories))
		}
	}
}

// TestFullTableOverflows: a table sized for 4 households holds 8 slots;
// households past what the probes reach are not counted, and overflow
// says how many queries that lost. Memory stays what it was.
func TestFullTableOverflows(t *testing.T) {
	tb, err := New(Config{Households: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		tb.Count(fmt.Sprintf("h%d", i), false, NoCategory)
	}
	if tb.Households() != tb.Slots() || tb.Slots() != 8 {
		t.Errorf("%d households in %d slots, want 8 in 8", tb.Households(), tb.Slots())
	}
	if tb.Overflow() != 92 {
		t.Errorf("overflow %d, want 92", tb.Overflow())
	}
}

// TestConcurrentCounts: households counted from many goroutines at once
// get every query (run with -race).
func TestConcurrentCounts(t *testing.T) {
	tb, err := New(Config{Households: 1000, Categories: cats})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				tb.Count(fmt.Sprintf("h%d", (i+g)%50), i%2 == 0, 0)
			}
		}()
	}
	wg.Wait()
	var total, blocked uint64
	for i := range 50 {
		c := tb.Get(fmt.Sprintf("h%d", i))
		total += c.Queries
		blocked += c.Blocked
	}
	if total != 8000 || blocked != 4000 || tb.Households() != 50 {
		t.Errorf("total %d, blocked %d, households %d; want 8000, 4000, 50", total, blocked, tb.Households())
	}
}

func TestCountDoesNotAllocate(t *testing.T) {
	tb, _ := New(Config{Households: 1000, Categories: cats})
	ids := []string{"a", "b", "c"}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		tb.Count(ids[i%3], i%2 == 0, 1)
		i++
	}); n != 0 {
		t.Errorf("Count allocates %.1f times", n)
	}
}

// BenchmarkCount counts queries of a million households in a table sized
// for them.
func BenchmarkCount(b *testing.B) {
	tb, err := New(Config{Households: 1_000_000, Categories: cats})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("subscriber-%d", i*15)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.Count(ids[i&(len(ids)-1)], i&3 == 0, 1)
	}
}
