package querylog

import (
	"context"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestCopyEntryCopiesEveryField sets every field of an Entry (reflection
// finds a field added later) and checks that copyEntry carries each one
// into a slot left from an older entry, Name and Text up to their
// lengths.
func TestCopyEntryCopiesEveryField(t *testing.T) {
	var src Entry
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch name := v.Type().Field(i).Name; {
		case name == "Name" || name == "Text":
			// Set below, with their lengths.
		case name == "Client":
			f.Set(reflect.ValueOf(netip.MustParseAddr("fe80::1%eth0")))
		case f.Kind() == reflect.String:
			f.SetString("field " + name)
		case f.CanInt():
			f.SetInt(int64(i + 1))
		case f.CanUint():
			f.SetUint(uint64(i + 1))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("Entry.%s is a %s: teach this test (and copyEntry) about it", name, f.Kind())
		}
	}
	src.SetName([]byte("www.example.com."))
	src.SetText([]byte("blocked: category=ads"))

	old := Entry{Time: 1, Device: "old"}
	for i := range old.Name {
		old.Name[i] = 'x'
	}
	for i := range old.Text {
		old.Text[i] = 'y'
	}
	dst := old
	copyEntry(&dst, &src)
	got, want := dst, src
	// Past their lengths, Name and Text are whatever the slot held.
	copy(got.Name[got.NameLen:], make([]byte, MaxNameLen))
	copy(got.Text[got.TextLen:], make([]byte, MaxTextLen))
	if got != want {
		t.Errorf("copyEntry gave\n%+v\nwant\n%+v", got, want)
	}
	if dst.NameString() != "www.example.com." || dst.TextString() != "blocked: category=ads" {
		t.Errorf("copy's name %q, text %q", dst.NameString(), dst.TextString())
	}

	// A text length past MaxTextLen, set by hand, is cut, not a panic.
	bad := src
	bad.TextLen = MaxTextLen + 10
	copyEntry(&dst, &bad)
	if dst.TextLen != MaxTextLen {
		t.Errorf("TextLen %d copied as %d, want %d", bad.TextLen, dst.TextLen, MaxTextLen)
	}

	releaseEntry(&dst)
	if dst.Device != "" || dst.Profile != "" || dst.Reason != "" || dst.Tag != "" || dst.Client != (netip.Addr{}) {
		t.Errorf("released slot still holds references: %+v", dst)
	}
}

// TestRingRestarts checks that the writer moves the few entries left
// after a batch to the ring's first slots, that Log then fills the slots
// after them, that the slots they left hold no references, and that
// every entry is written once, in order, with exact counters.
func TestRingRestarts(t *testing.T) {
	// Buffer 16: the writer wakes at 4 entries and moves up to 2.
	w := newWriter(t, Config{Buffer: 16})
	ctx := context.Background()
	var want []string
	logN := func(n int) {
		for range n {
			name := "n" + strconv.Itoa(len(want)) + ".example"
			want = append(want, name)
			e := q{t0.Add(time.Duration(len(want)) * time.Millisecond), "tablet", name, ActionBlocked, "ads"}.entry()
			w.Log(&e)
		}
	}
	slotNames := func() []string {
		w.mu.Lock()
		defer w.mu.Unlock()
		var out []string
		for i := range w.n {
			out = append(out, w.ring[(w.head+i)%len(w.ring)].NameString())
		}
		return out
	}
	drain := func(k int) {
		w.wmu.Lock()
		defer w.wmu.Unlock()
		if err := w.drainLocked(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name           string
		log, drain     int
		head           int // after the drain
		left, released []int
	}{
		// 7 logged, 5 written: 2 left, moved to slots 0 and 1; slots 5
		// and 6 are free (2-4 were freed by the batch).
		{"few left: moved", 7, 5, 0, []int{5, 6}, []int{5, 6}},
		// 5 more (slots 2-6), 2 written: 5 left, too many to move.
		{"many left: stay", 5, 2, 2, []int{7, 8, 9, 10, 11}, nil},
		// 10 more wrap round the ring's end (slots 7-15, then 0), 13
		// written: the 2 left (slots 15 and 0) wrap, and stay.
		{"wrapped: stay", 10, 13, 15, []int{20, 21}, []int{2, 14}},
		// 1 written: the ring's end frees slot 15 and head wraps to 0.
		{"head wraps", 0, 1, 0, []int{21}, []int{15}},
	} {
		logN(tc.log)
		drain(tc.drain)
		var left []string
		for _, i := range tc.left {
			left = append(left, want[i])
		}
		if got := slotNames(); !reflect.DeepEqual(got, left) {
			t.Errorf("%s: buffered %q, want %q", tc.name, got, left)
		}
		w.mu.Lock()
		if w.head != tc.head {
			t.Errorf("%s: head = %d, want %d", tc.name, w.head, tc.head)
		}
		for _, i := range tc.released {
			if s := w.ring[i]; s.Device != "" || s.Tag != "" {
				t.Errorf("%s: freed slot %d still holds %q, %q", tc.name, i, s.Device, s.Tag)
			}
		}
		w.mu.Unlock()
	}

	// An empty ring starts again at slot 0.
	flush(t, w)
	logN(1)
	w.mu.Lock()
	if w.head != 0 || w.ring[0].NameString() != want[len(want)-1] {
		t.Errorf("after the ring emptied: head %d, slot 0 %q, want 0, %q", w.head, w.ring[0].NameString(), want[len(want)-1])
	}
	w.mu.Unlock()
	flush(t, w)

	rows, err := w.Search(ctx, Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var wantNewest []string
	for i := len(want) - 1; i >= 0; i-- {
		wantNewest = append(wantNewest, want[i])
	}
	if got := names(rows); !reflect.DeepEqual(got, wantNewest) {
		t.Errorf("rows = %q\nwant %q", got, wantNewest)
	}
	if s := w.Stats(); s.Logged != uint64(len(want)) || s.Written != s.Logged || s.Dropped != 0 || s.Buffered != 0 {
		t.Errorf("stats = %+v, want %d logged and written", s, len(want))
	}
	got, err := w.Counters(ctx, CounterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(want))
	if wantC := []Counter{{t0, "tablet", "", n, n}, {t0, "tablet", "ads", n, n}}; !reflect.DeepEqual(got, wantC) {
		t.Errorf("Counters = %+v, want %+v", got, wantC)
	}
}

// TestCountersCountedPerRow checks the hourly counters when they are
// added a row at a time: a row whose entries came in three batches counts
// them all once, with its tag and as blocked, also when the strings'
// cache has started over since the row was held (its device and tag are
// then read back from strs).
func TestCountersCountedPerRow(t *testing.T) {
	for _, forget := range []bool{false, true} {
		t.Run("forget="+strconv.FormatBool(forget), func(t *testing.T) {
			w := newWriter(t, Config{})
			ctx := context.Background()
			for range 3 {
				logAll(w, []q{{t0, "tablet", "bet365.com", ActionBlocked, "gambling"}})
				w.wmu.Lock()
				err := w.drainLocked(ctx, w.buffered())
				w.wmu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
			}
			logAll(w, []q{{t0.Add(time.Hour), "phone", "example.com", ActionAllowed, ""}})
			if forget {
				w.wmu.Lock()
				clear(w.wconn.strOf)
				w.wmu.Unlock()
			}
			flush(t, w)
			got, err := w.Counters(ctx, CounterQuery{})
			if err != nil {
				t.Fatal(err)
			}
			want := []Counter{
				{t0, "tablet", "", 3, 3}, {t0, "tablet", "gambling", 3, 3},
				{t0.Add(time.Hour), "phone", "", 1, 0},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Counters = %+v\nwant %+v", got, want)
			}
			recs := storedRecs(t, w)
			if len(recs) != 2 || recs[0].count+recs[1].count != 4 {
				t.Errorf("rows = %+v, want 2 counting 4 queries", recs)
			}
		})
	}
}
