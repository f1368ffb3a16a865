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

	releaseEntry(&dst)
	if dst.Device != "" || dst.Profile != "" || dst.Reason != "" || dst.Tag != "" || dst.Client != (netip.Addr{}) {
		t.Errorf("released slot still holds references: %+v", dst)
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
