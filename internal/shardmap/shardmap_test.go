package shardmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestEditLeavesOldMap checks that an edit shows in the new Map only, and
// that shards the edit did not touch are shared.
func TestEditLeavesOldMap(t *testing.T) {
	old := New[string, int](10_000)
	e := old.Edit()
	for i := range 10_000 {
		e.Put(fmt.Sprint("k", i), i)
	}
	m := e.Map()
	if old.Len() != 0 || m.Len() != 10_000 {
		t.Fatalf("lengths: old %d, new %d; want 0, 10000", old.Len(), m.Len())
	}
	tests := []struct {
		name    string
		edit    func(*Editor[string, int])
		key     string
		want    int
		wantOK  bool
		wantLen int
	}{
		{"put new", func(e *Editor[string, int]) { e.Put("new", -1) }, "new", -1, true, 10_001},
		{"replace", func(e *Editor[string, int]) { e.Put("k5", 50) }, "k5", 50, true, 10_000},
		{"delete", func(e *Editor[string, int]) { e.Delete("k7") }, "k7", 0, false, 9_999},
		{"delete missing", func(e *Editor[string, int]) { e.Delete("nope") }, "nope", 0, false, 10_000},
		{"put then delete", func(e *Editor[string, int]) { e.Put("x", 1); e.Delete("x") }, "x", 0, false, 10_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := m.Edit()
			tc.edit(e)
			next := e.Map()
			if v, ok := next.Get(tc.key); v != tc.want || ok != tc.wantOK {
				t.Errorf("new map: Get(%q) = %d, %v; want %d, %v", tc.key, v, ok, tc.want, tc.wantOK)
			}
			if next.Len() != tc.wantLen {
				t.Errorf("new map: Len = %d, want %d", next.Len(), tc.wantLen)
			}
			if m.Len() != 10_000 {
				t.Errorf("old map: Len = %d after the edit", m.Len())
			}
			for i := range 10_000 {
				if v, ok := m.Get(fmt.Sprint("k", i)); !ok || v != i {
					t.Fatalf("old map: k%d = %d, %v after the edit", i, v, ok)
				}
			}
			if next != m {
				shared, total := 0, 0
				for ti, leaf := range m.dir {
					for li, s := range leaf {
						total++
						if len(s.slots) > 0 && &s.slots[0] == &next.dir[ti][li].slots[0] {
							shared++
						}
					}
				}
				if shared < total-1 {
					t.Errorf("%d of %d shards shared, want all but the one edited", shared, total)
				}
			}
		})
	}
}

// TestGrowth checks that a Map built small splits into more shards as it
// grows and keeps every entry.
func TestGrowth(t *testing.T) {
	m := New[int, int](0)
	for round := range 3 {
		e := m.Edit()
		for i := range 10_000 {
			e.Put(round*10_000+i, i)
		}
		m = e.Map()
	}
	if m.Len() != 30_000 || m.Shards() < 4 {
		t.Fatalf("Len %d, shards %d; want 30000 and at least 4", m.Len(), m.Shards())
	}
	n := 0
	for k, v := range m.All() {
		if k%10_000 != v {
			t.Fatalf("entry %d = %d", k, v)
		}
		n++
	}
	if n != 30_000 {
		t.Fatalf("All yielded %d entries", n)
	}
}

// TestGetAllocs guards the lookup a query makes.
func TestGetAllocs(t *testing.T) {
	m := New[string, int](0)
	e := m.Edit()
	e.Put("a", 1)
	m = e.Map()
	if n := testing.AllocsPerRun(100, func() { m.Get("a") }); n != 0 {
		t.Errorf("Get allocates %v times", n)
	}
}

// TestAgreesWithGoMap applies random puts and deletes, in edits of
// random sizes, to a Map and to a Go map, and checks that every older Map
// still holds what it held: deleting shifts entries back within a
// shard, which must never lose one or change a shared shard.
func TestAgreesWithGoMap(t *testing.T) {
	// The last case spreads the keys over 2,048 shards (eight entries of
	// the directory's top), so that an edit writes under several of them.
	for _, tc := range []struct{ keys, hint, steps int }{{50, 25, 200}, {5_000, 2_500, 200}, {5_000, 1 << 18, 40}} {
		keys := tc.keys
		t.Run(fmt.Sprint(keys, " keys, sized for ", tc.hint), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(keys)))
			m, want := New[int, int](tc.hint), map[int]int{}
			type gen struct {
				m    *Map[int, int]
				want map[int]int
			}
			var gens []gen
			for step := range tc.steps {
				e := m.Edit()
				for range r.IntN(200) {
					k := r.IntN(keys)
					if r.IntN(3) == 0 {
						e.Delete(k)
						delete(want, k)
					} else {
						e.Put(k, step)
						want[k] = step
					}
				}
				m = e.Map()
				gens = append(gens, gen{m, maps.Clone(want)})
			}
			for i, g := range gens {
				if g.m.Len() != len(g.want) {
					t.Fatalf("generation %d: Len %d, want %d", i, g.m.Len(), len(g.want))
				}
				for k := range keys {
					v, ok := g.m.Get(k)
					if wv, wok := g.want[k]; v != wv || ok != wok {
						t.Fatalf("generation %d: Get(%d) = %d, %v; want %d, %v", i, k, v, ok, wv, wok)
					}
				}
				n := 0
				for k, v := range g.m.All() {
					if g.want[k] != v {
						t.Fatalf("generation %d: All yields %d = %d, want %d", i, k, v, g.want[k])
					}
					n++
				}
				if n != len(g.want) {
					t.Fatalf("generation %d: All yields %d entries, want %d", i, n, len(g.want))
				}
			}
		})
	}
}

// TestEntry checks that Entry returns the key the Map holds, the one
// last put, not the caller's equal one, before and after the Editor's
// first write; that the Map an edit started from keeps its own; and that
// a string key with a 4-byte value takes 24 bytes a slot.
func TestEntry(t *testing.T) {
	key := func() string { return string([]byte("device-1")) }
	first, second := key(), key()
	e := New[string, int](0).Edit()
	if _, _, ok := e.Entry(first); ok {
		t.Fatal("Entry finds a key in an empty map")
	}
	e.Put(first, 1)
	m := e.Map()
	for _, tc := range []struct {
		name  string
		edit  func(*Editor[string, int])
		want  int
		ok    bool
		holds string
	}{
		{"no edit", func(*Editor[string, int]) {}, 1, true, first},
		{"equal key put again", func(e *Editor[string, int]) { e.Put(second, 2) }, 2, true, second},
		{"other key put", func(e *Editor[string, int]) { e.Put("device-2", 3) }, 1, true, first},
		{"deleted", func(e *Editor[string, int]) { e.Delete("device-1") }, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := m.Edit()
			tc.edit(e)
			k, v, ok := e.Entry(key())
			if ok != tc.ok || v != tc.want {
				t.Fatalf("Entry = %q, %d, %v; want %d, %v", k, v, ok, tc.want, tc.ok)
			}
			if ok && unsafe.StringData(k) != unsafe.StringData(tc.holds) {
				t.Errorf("Entry returns another copy of the key than the one last put")
			}
			next := e.Map()
			if k2, v2, ok2 := next.Entry(key()); k2 != k || v2 != v || ok2 != ok || ok && unsafe.StringData(k2) != unsafe.StringData(k) {
				t.Errorf("the Map's Entry differs from its Editor's")
			}
			if k, v, ok := m.Entry(key()); !ok || v != 1 || unsafe.StringData(k) != unsafe.StringData(first) {
				t.Errorf("the edit changed the Map it started from: %q, %d, %v", k, v, ok)
			}
		})
	}
	if n := unsafe.Sizeof(slot[string, uint32]{}); n != 24 {
		t.Errorf("a slot of a string and a uint32 takes %d bytes, want 24", n)
	}
}
