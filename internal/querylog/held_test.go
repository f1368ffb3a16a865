package querylog

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestHeldRowHasNoPointers: a held row is a fixed-size record the
// garbage collector does not scan (its strings are strs ids, its
// explanation in writeConn.texts), so that maxHeld of them cost their
// bytes and no marking.
func TestHeldRowHasNoPointers(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				f := ty.Field(i)
				walk(f.Type, path+"."+f.Name)
			}
		case reflect.Array:
			walk(ty.Elem(), path+"[]")
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface,
			reflect.Chan, reflect.Func, reflect.UnsafePointer:
			t.Errorf("heldRow%s is a %s: it holds a pointer", path, ty.Kind())
		}
	}
	walk(reflect.TypeFor[heldRow](), "")
}

// TestHeldRowsSurviveInserts logs rows that differ in every field the
// key holds (IPv4, IPv6, IPv4-mapped and missing clients, devices,
// profiles, reasons, tags, types, codes, actions, transports, cached),
// with explanations of every length and repeats spread over the
// batches, and writes them the ways the writer does: all at one Flush;
// a second at a time as the clock closes seconds, so that the held rows
// are compacted (rows and explanations moved to the front) between
// writes; and with entries arriving between INSERTs. Every row must come
// back with its own fields, explanation and count.
func TestHeldRowsSurviveInserts(t *testing.T) {
	clients := []netip.Addr{
		netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1:7"),
		netip.MustParseAddr("::ffff:192.0.2.9"), {},
	}
	devices := []string{"tablet", "phone", "", "laptop-with-a-long-id"}
	actions := []Action{ActionAllowed, ActionBlocked, ActionRewritten, ActionNXDomain, ActionNoData}
	transports := []Transport{TransportUDP, TransportTCP, TransportDoT, TransportDoH, TransportDoQ, TransportUnknown}
	const seconds, perSecond, repeats = 4, 700, 3 // over rowsPerInsert rows a second
	type want struct {
		e     Entry
		count int64
	}
	// entries are in logging order: each row's repeats come in later
	// rounds, so they join a row held since an earlier batch. A row's
	// Duration, which only its first entry's sets, is its number.
	var entries []Entry
	wants := map[uint32]*want{}
	for s := range seconds {
		var sec []Entry
		for i := range perSecond {
			n := s*perSecond + i
			e := Entry{
				Time:      t0.Add(time.Duration(s)*time.Second + time.Duration(i)*time.Microsecond).UnixNano(),
				Client:    clients[n%len(clients)],
				Device:    devices[n%len(devices)],
				Profile:   []string{"kid", "teen", ""}[n%3],
				Reason:    []string{"none", "tag", "rule"}[n%3],
				Tag:       []string{"", "ads", "gambling", "tiktok", "adult"}[n%5],
				Duration:  uint32(n),
				QType:     []uint16{1, 28, 65}[n%3],
				Rcode:     []uint8{0, 3, 2}[n%3],
				Action:    actions[n%len(actions)],
				Transport: transports[n%len(transports)],
				Cached:    n%2 == 1,
			}
			e.SetName([]byte(fmt.Sprintf("Host%d.Example.", n)))
			e.SetText([]byte(strings.Repeat(string(rune('a'+n%26)), n%(MaxTextLen+1))))
			sec = append(sec, e)
			wants[e.Duration] = &want{e: e}
		}
		for r := range repeats {
			for i := range sec {
				if i%repeats < r {
					continue // fewer repeats for some rows
				}
				e := sec[i]
				e.Time += int64(r) * int64(time.Millisecond)
				entries = append(entries, e)
				wants[e.Duration].count++
			}
		}
	}

	for _, tc := range []struct {
		name  string
		write func(t *testing.T, w *Writer, now *time.Time)
	}{
		{"one flush", func(t *testing.T, w *Writer, _ *time.Time) {
			logAllEntries(w, entries)
			flush(t, w)
		}},
		{"a second at a time", func(t *testing.T, w *Writer, now *time.Time) {
			ctx := context.Background()
			for start := 0; start < len(entries); start += 500 {
				part := entries[start:min(start+500, len(entries))]
				logAllEntries(w, part)
				// The clock at the last entry's second: the seconds
				// before the one before it are over.
				*now = time.Unix(0, part[len(part)-1].Time)
				if err := w.write(ctx, commitClosed); err != nil {
					t.Fatal(err)
				}
			}
			flush(t, w)
		}},
		{"entries between INSERTs", func(t *testing.T, w *Writer, now *time.Time) {
			ctx := context.Background()
			next := 0
			w.hook = func() {
				part := entries[next:min(next+100, len(entries))]
				logAllEntries(w, part)
				next += len(part)
			}
			for next < len(entries) {
				part := entries[next:min(next+300, len(entries))]
				logAllEntries(w, part)
				next += len(part)
				*now = time.Unix(0, entries[next-1].Time)
				if err := w.write(ctx, commitClosed); err != nil {
					t.Fatal(err)
				}
			}
			w.hook = nil
			flush(t, w)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			w := newWriter(t, Config{Buffer: 1 << 16, Now: func() time.Time { return now }})
			tc.write(t, w, &now)
			if s := w.Stats(); s.Written != uint64(len(entries)) || s.Dropped != 0 || s.Failed != 0 {
				t.Fatalf("stats %+v, want %d written", s, len(entries))
			}
			var rows []Row
			for q := (Query{Limit: MaxLimit}); ; {
				page, err := w.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, page...)
				if len(page) < MaxLimit {
					break
				}
				q.Before = page[len(page)-1].ID
			}
			var total int64
			seen := map[uint32]bool{}
			for _, r := range rows {
				total += r.Count
				k := r.DurationUS
				wt, ok := wants[k]
				if !ok {
					t.Errorf("unexpected row %+v", r)
					continue
				}
				if seen[k] {
					// Rows of one key may split only if a repeat came
					// after its second was inserted; here none does.
					t.Errorf("row %d twice", k)
				}
				seen[k] = true
				if want := wantRow(wt.e, wt.count); r.Time.UnixMicro() != want.Time.UnixMicro() || !reflect.DeepEqual(withoutTime(r), withoutTime(want)) {
					t.Errorf("row\n%+v, want\n%+v", withoutTime(r), withoutTime(want))
				}
			}
			if total != int64(len(entries)) || len(seen) != len(wants) {
				t.Errorf("%d rows count %d queries, want %d rows for %d", len(seen), total, len(wants), len(entries))
			}
		})
	}
}

func logAllEntries(w *Writer, entries []Entry) {
	for i := range entries {
		w.Log(&entries[i])
	}
}

// wantRow returns the Row Search returns for e standing for count
// entries, with the clients untruncated.
func wantRow(e Entry, count int64) Row {
	r := Row{
		Time: time.Unix(0, e.Time), Device: e.Device, Profile: e.Profile,
		Name:  strings.ToLower(strings.TrimSuffix(e.NameString(), ".")),
		QType: qtypeString(e.QType), Rcode: rcodeString(int(e.Rcode)), Action: ActionLabel(e.Action),
		Reason: e.Reason, Tag: e.Tag, Text: e.TextString(), Cached: e.Cached,
		Transport: e.Transport.String(), DurationUS: e.Duration, Count: count,
	}
	if e.Client.IsValid() {
		r.Client = e.Client.Unmap().String()
	}
	return r
}

// withoutTime returns r without its ID and Time, which wantRow does not
// know to the row.
func withoutTime(r Row) Row {
	r.ID, r.Time = 0, time.Time{}
	return r
}
