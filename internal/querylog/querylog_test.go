package querylog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hearth-dns/hearth/internal/policy"
)

// t0 is the tests' "now": a Monday, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newWriter opens a Writer on a fresh file with cfg's other fields, and
// closes it when the test ends.
func newWriter(t testing.TB, cfg Config) *Writer {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "querylog.db")
	}
	if cfg.TruncateIPv4Bits == 0 && cfg.TruncateIPv6Bits == 0 {
		cfg.TruncateIPv4Bits, cfg.TruncateIPv6Bits = 32, 128
	}
	if cfg.Now == nil {
		// The tests' entries are from t0: a writer started with the real
		// clock would prune them as expired.
		cfg.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// q describes a test entry; all strings are literals, so long-lived.
type q struct {
	at     time.Time
	device string
	name   string
	action Action
	tag    string
}

func (x q) entry() Entry {
	e := Entry{
		Time:      x.at.UnixNano(),
		Client:    netip.MustParseAddr("192.168.1.20"),
		Device:    x.device,
		Profile:   "kid",
		Reason:    "none",
		Tag:       x.tag,
		QType:     1,
		Action:    x.action,
		Transport: TransportUDP,
		Duration:  42,
	}
	e.SetName([]byte(x.name))
	return e
}

func logAll(w *Writer, qs []q) {
	for _, x := range qs {
		e := x.entry()
		w.Log(&e)
	}
}

func flush(t testing.TB, w *Writer) {
	t.Helper()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// storedRecs returns the decoded records of every row in log.
func storedRecs(t testing.TB, w *Writer) []rec {
	t.Helper()
	rs, err := w.db.Query(`SELECT rec FROM log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []rec
	for rs.Next() {
		var b []byte
		var r rec
		if err := rs.Scan(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.decode(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

func TestSearch(t *testing.T) {
	w := newWriter(t, Config{})
	// Logged oldest first; ids follow.
	logAll(w, []q{
		{t0.Add(-5 * time.Hour), "tablet", "www.example.com.", ActionAllowed, ""},           // 1
		{t0.Add(-4 * time.Hour), "tablet", "bet365.com.", ActionBlocked, "gambling"},        // 2
		{t0.Add(-3 * time.Hour), "laptop", "WWW.Example.ORG.", ActionAllowed, ""},           // 3
		{t0.Add(-2 * time.Hour), "laptop", "www.google.com.", ActionRewritten, ""},          // 4
		{t0.Add(-90 * time.Minute), "tablet", "tiktok.com.", ActionBlocked, "tiktok"},       // 5
		{t0.Add(-1 * time.Hour), "", "use-application-dns.net.", ActionNXDomain, ""},        // 6
		{t0.Add(-30 * time.Minute), "tablet", "cdn.example.com.", ActionAllowed, ""},        // 7
		{t0.Add(-10 * time.Minute), "laptop", "_dns.resolver.arpa.", ActionNoData, ""},      // 8
		{t0.Add(-5 * time.Minute), "tablet", "v16.tiktokcdn.com.", ActionBlocked, "tiktok"}, // 9
		{t0.Add(-1 * time.Minute), "laptop", "exampleXcom.net.", ActionAllowed, ""},         // 10
	})
	flush(t, w)

	all, err := w.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[string]int64{}
	for _, r := range all {
		idOf[r.Name] = r.ID
	}

	tests := []struct {
		name    string
		q       Query
		before  string // the name whose row ID is q.Before
		want    []string
		wantErr bool
	}{
		{name: "all newest first", q: Query{}, want: []string{
			"examplexcom.net", "v16.tiktokcdn.com", "_dns.resolver.arpa", "cdn.example.com",
			"use-application-dns.net", "tiktok.com", "www.google.com", "www.example.org",
			"bet365.com", "www.example.com"}},
		{name: "device", q: Query{Device: "laptop"}, want: []string{
			"examplexcom.net", "_dns.resolver.arpa", "www.google.com", "www.example.org"}},
		{name: "unknown device", q: Query{Device: "phone"}, want: []string{}},
		{name: "devices of a household", q: Query{Devices: []string{"laptop", "phone"}}, want: []string{
			"examplexcom.net", "_dns.resolver.arpa", "www.google.com", "www.example.org"}},
		{name: "a household without devices sees nothing", q: Query{Devices: []string{}}, want: []string{}},
		{name: "name substring ignores case", q: Query{Name: "EXAMPLE."}, want: []string{
			"cdn.example.com", "www.example.org", "www.example.com"}},
		{name: "underscore is literal", q: Query{Name: "_dns"}, want: []string{"_dns.resolver.arpa"}},
		{name: "percent is literal", q: Query{Name: "%"}, want: []string{}},
		{name: "dot is literal", q: Query{Name: "example.com"}, want: []string{
			"cdn.example.com", "www.example.com"}},
		{name: "action", q: Query{Action: "blocked"}, want: []string{
			"v16.tiktokcdn.com", "tiktok.com", "bet365.com"}},
		{name: "action nxdomain", q: Query{Action: "nxdomain"}, want: []string{"use-application-dns.net"}},
		{name: "since", q: Query{Since: t0.Add(-30 * time.Minute)}, want: []string{
			"examplexcom.net", "v16.tiktokcdn.com", "_dns.resolver.arpa", "cdn.example.com"}},
		{name: "until is exclusive", q: Query{Until: t0.Add(-3 * time.Hour)}, want: []string{
			"bet365.com", "www.example.com"}},
		{name: "range", q: Query{Since: t0.Add(-3 * time.Hour), Until: t0.Add(-time.Hour)}, want: []string{
			"tiktok.com", "www.google.com", "www.example.org"}},
		{name: "device and name and action", q: Query{Device: "tablet", Name: "tiktok", Action: "blocked"},
			want: []string{"v16.tiktokcdn.com", "tiktok.com"}},
		{name: "limit", q: Query{Limit: 2}, want: []string{"examplexcom.net", "v16.tiktokcdn.com"}},
		{name: "page two", q: Query{Limit: 2}, before: "v16.tiktokcdn.com", want: []string{"_dns.resolver.arpa", "cdn.example.com"}},
		{name: "last page", q: Query{Limit: 4}, before: "www.example.org", want: []string{"bet365.com", "www.example.com"}},
		{name: "paging with filter", q: Query{Device: "tablet", Limit: 2}, before: "cdn.example.com", want: []string{
			"tiktok.com", "bet365.com"}},
		{name: "paging past the end", q: Query{}, before: "www.example.com", want: []string{}},
		{name: "unknown action", q: Query{Action: "denied"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != "" {
				tc.q.Before = idOf[tc.before]
			}
			rows, err := w.Search(context.Background(), tc.q)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Search(%+v) = %v, want an error", tc.q, names(rows))
				}
				return
			}
			if err != nil {
				t.Fatalf("Search(%+v): %v", tc.q, err)
			}
			if got := names(rows); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Search(%+v) = %q, want %q", tc.q, got, tc.want)
			}
			for i := 1; i < len(rows); i++ {
				if rows[i].Time.After(rows[i-1].Time) {
					t.Errorf("rows not newest first: %v after %v", rows[i].Time, rows[i-1].Time)
				}
			}
		})
	}
}

func TestSearchOrdersByTime(t *testing.T) {
	w := newWriter(t, Config{})
	// c arrives late; b, d and e share a time. Listed by time, then by
	// arrival: e d b c a.
	logAll(w, []q{
		{t0, "tablet", "a", ActionAllowed, ""},
		{t0.Add(2 * time.Second), "tablet", "b", ActionAllowed, ""},
		{t0.Add(time.Second), "tablet", "c", ActionAllowed, ""},
		{t0.Add(2 * time.Second), "tablet", "d", ActionAllowed, ""},
		{t0.Add(2 * time.Second), "tablet", "e", ActionAllowed, ""},
	})
	flush(t, w)
	ctx := context.Background()
	for _, base := range []Query{{}, {Device: "tablet"}, {Since: t0}, {Until: t0.Add(time.Hour)}} {
		var pages [][]string
		var ids []int64
		var before int64
		for range 5 {
			q := base
			q.Limit, q.Before = 2, before
			rows, err := w.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				break
			}
			pages = append(pages, names(rows))
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			before = rows[len(rows)-1].ID
		}
		if want := [][]string{{"e", "d"}, {"b", "c"}, {"a"}}; !reflect.DeepEqual(pages, want) {
			t.Errorf("pages of %+v = %q, want %q", base, pages, want)
		}
		// Keys are the times in microseconds; b, d and e, which share
		// one, are spread over the following microseconds.
		us := t0.UnixMicro()
		if want := []int64{us + 2e6 + 2, us + 2e6 + 1, us + 2e6, us + 1e6, us}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ids = %v, want %v", ids, want)
		}
	}
	// A cursor is a time, so it still works once its row is pruned.
	if rows, _, err := w.Prune(ctx, t0.Add(DefaultRetention).Add(2*time.Second)); err != nil || rows != 2 {
		t.Fatalf("Prune = %d, %v; want a and c gone", rows, err)
	}
	rows, err := w.Search(ctx, Query{Before: t0.UnixMicro() + 2e6 + 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(rows), []string{"b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the cursor's row was pruned: %q, want %q", got, want)
	}
}

func TestKeysStayUniqueAcrossBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	w := newWriter(t, Config{Path: path})
	us := t0.UnixMicro()
	batches := []struct {
		times []int64 // microseconds after t0
		want  []int64 // keys, microseconds after t0
	}{
		{[]int64{0, 0, 0}, []int64{0, 1, 2}},
		{[]int64{0, 0}, []int64{3, 4}},              // late: after the taken run
		{[]int64{10, 4, 1}, []int64{5, 6, 10}},      // sorted first, then placed
		{[]int64{7, 7, 7, 7}, []int64{7, 8, 9, 11}}, // fills the gap, skips 10
	}
	for i, bt := range batches {
		before := map[int64]bool{}
		rows, err := w.Search(context.Background(), Query{Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			before[r.ID] = true
		}
		for j, off := range bt.times {
			e := q{t0.Add(time.Duration(off) * time.Microsecond), "tablet", "b" + strconv.Itoa(i) + "-" + strconv.Itoa(j), ActionAllowed, ""}.entry()
			w.Log(&e)
		}
		flush(t, w)
		rows, err = w.Search(context.Background(), Query{Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range rows {
			if !before[r.ID] {
				got = append([]int64{r.ID - us}, got...)
			}
		}
		if !reflect.DeepEqual(got, bt.want) {
			t.Errorf("batch %d at %v: keys %v, want %v", i, bt.times, got, bt.want)
		}
	}
	if s := w.Stats(); s.Failed != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestSearchPagesThroughEverything(t *testing.T) {
	w := newWriter(t, Config{})
	const n = 2500
	for i := range n {
		e := q{t0.Add(time.Duration(i) * time.Second), "tablet", "n" + strconv.Itoa(i) + ".example", ActionAllowed, ""}.entry()
		w.Log(&e)
	}
	flush(t, w)
	var seen []string
	var before int64
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		rows, err := w.Search(context.Background(), Query{Limit: 5000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > MaxLimit {
			t.Fatalf("got %d rows, more than MaxLimit", len(rows))
		}
		if len(rows) == 0 {
			break
		}
		seen = append(seen, names(rows)...)
		before = rows[len(rows)-1].ID
	}
	if len(seen) != n {
		t.Fatalf("paged through %d rows, want %d", len(seen), n)
	}
	for i, name := range seen {
		if want := "n" + strconv.Itoa(n-1-i) + ".example"; name != want {
			t.Fatalf("row %d is %q, want %q", i, name, want)
		}
	}
	rows, err := w.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != DefaultLimit {
		t.Errorf("default limit returned %d rows, want %d", len(rows), DefaultLimit)
	}
}

func TestRowFields(t *testing.T) {
	w := newWriter(t, Config{TruncateIPv4Bits: 24, TruncateIPv6Bits: 48})
	e := Entry{
		Time:      t0.Add(1234 * time.Microsecond).UnixNano(),
		Client:    netip.MustParseAddr("2001:db8:aa:bb::7"),
		Device:    "tablet",
		Profile:   "kid",
		Reason:    "tag",
		Tag:       "gambling",
		Duration:  1500,
		QType:     65,
		Rcode:     3,
		Action:    ActionBlocked,
		Transport: TransportDoH,
		Cached:    true,
	}
	e.SetName([]byte("Bet365.COM."))
	e.SetText([]byte("blocked: category=gambling source=hagezi-gambling rule=bet365.com profile=kid"))
	w.Log(&e)
	e = Entry{Time: t0.Add(time.Second).UnixNano(), QType: 65534, Rcode: 23}
	e.SetName([]byte("."))
	w.Log(&e)
	flush(t, w)

	rows, err := w.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{{
		ID: t0.UnixMicro() + 1e6, Time: t0.Add(time.Second), Name: ".", QType: "TYPE65534", Rcode: "RCODE23", Action: "allowed", Count: 1,
	}, {
		ID: t0.UnixMicro() + 1234, Time: t0.Add(1234 * time.Microsecond), Client: "2001:db8:aa::", Device: "tablet", Profile: "kid",
		Name: "bet365.com", QType: "HTTPS", Rcode: "NXDOMAIN", Action: "blocked", Reason: "tag", Tag: "gambling",
		Text:   "blocked: category=gambling source=hagezi-gambling rule=bet365.com profile=kid",
		Cached: true, Transport: "doh", DurationUS: 1500, Count: 1,
	}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", rows, want)
	}
}

func TestTruncateAddr(t *testing.T) {
	tests := []struct {
		addr   string
		v4, v6 int
		want   string
	}{
		{"192.168.1.77", 24, 48, "192.168.1.0"},
		{"192.168.1.77", 32, 128, "192.168.1.77"},
		{"192.168.1.77", 16, 128, "192.168.0.0"},
		{"192.168.1.77", 0, 128, ""},
		{"2001:db8:1:2:3::1", 24, 48, "2001:db8:1::"},
		{"2001:db8:1:2:3::1", 24, 64, "2001:db8:1:2::"},
		{"2001:db8:1:2:3::1", 32, 128, "2001:db8:1:2:3::1"},
		{"2001:db8:1:2:3::1", 32, 0, ""},
		{"::ffff:10.1.2.3", 24, 128, "10.1.2.0"}, // mapped counts as IPv4
		{"fe80::1%eth0", 32, 128, "fe80::1"},     // zone dropped
		{"", 32, 128, ""},                        // no address
	}
	for _, tc := range tests {
		var a netip.Addr
		if tc.addr != "" {
			a = netip.MustParseAddr(tc.addr)
		}
		got := truncateAddr(a, tc.v4, tc.v6)
		gs := ""
		if got.IsValid() {
			gs = got.String()
		}
		if gs != tc.want {
			t.Errorf("truncateAddr(%s, %d, %d) = %q, want %q", tc.addr, tc.v4, tc.v6, gs, tc.want)
		}
	}
}

func TestTruncationIsStored(t *testing.T) {
	tests := []struct {
		name   string
		v4, v6 int
		want   []string // for 10.20.30.40 and 2001:db8:1:2::9, newest first
	}{
		{"network only", 24, 48, []string{"2001:db8:1::", "10.20.30.0"}},
		{"whole", 32, 128, []string{"2001:db8:1:2::9", "10.20.30.40"}},
		{"none", 0, 0, []string{"", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(Config{Path: filepath.Join(t.TempDir(), "q.db"), TruncateIPv4Bits: tc.v4, TruncateIPv6Bits: tc.v6})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, a := range []string{"10.20.30.40", "2001:db8:1:2::9"} {
				e := q{t0, "d", "x.example", ActionAllowed, ""}.entry()
				e.Client = netip.MustParseAddr(a)
				w.Log(&e)
			}
			flush(t, w)
			rows, err := w.Search(context.Background(), Query{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Client)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("clients = %q, want %q", got, tc.want)
			}
			// The full address must not be in any stored record.
			if tc.v4 < 32 {
				full4 := netip.MustParseAddr("10.20.30.40").As4()
				full6 := netip.MustParseAddr("2001:db8:1:2::9").As16()
				for _, r := range storedRecs(t, w) {
					if r.client.As16() == full6 || (r.client.Is4() && r.client.As4() == full4) {
						t.Errorf("full address stored: %v", r.client)
					}
				}
			}
		})
	}
}

func TestCountersAndSummarySurvivePrune(t *testing.T) {
	w := newWriter(t, Config{Retention: 24 * time.Hour, CounterRetention: 10 * 24 * time.Hour})
	h := func(d time.Duration) time.Time { return t0.Add(d) }
	days := 24 * time.Hour
	logAll(w, []q{
		// Three days ago, 10:00-11:00: raw rows will expire.
		{h(-3*days + 5*time.Minute), "tablet", "bet365.com", ActionBlocked, "gambling"},
		{h(-3*days + 6*time.Minute), "tablet", "pokerstars.com", ActionBlocked, "gambling"},
		{h(-3*days + 7*time.Minute), "tablet", "example.com", ActionAllowed, ""},
		{h(-3*days + 8*time.Minute), "laptop", "tiktok.com", ActionBlocked, "tiktok"},
		// Three days ago, 11:00-12:00.
		{h(-3*days + 65*time.Minute), "tablet", "tiktok.com", ActionBlocked, "tiktok"},
		{h(-3*days + 66*time.Minute), "tablet", "tiktok.com", ActionBlocked, "tiktok"},
		{h(-3*days + 67*time.Minute), "laptop", "youtube.com", ActionAllowed, "youtube"}, // tagged, allowed
		// Recent: 09:00-10:00 today.
		{h(-30 * time.Minute), "tablet", "tiktok.com", ActionBlocked, "tiktok"},
		{h(-20 * time.Minute), "laptop", "example.com", ActionAllowed, ""},
		{h(-10 * time.Minute), "", "use-application-dns.net", ActionNXDomain, ""},
	})
	flush(t, w)
	ctx := context.Background()

	rows, counters, err := w.Prune(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 7 || counters != 0 {
		t.Errorf("Prune = %d rows, %d counters, want 7, 0", rows, counters)
	}
	left, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(left), []string{"use-application-dns.net", "example.com", "tiktok.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows after prune = %q, want %q", got, want)
	}

	hour0 := t0.Add(-3 * days)
	hour1 := hour0.Add(time.Hour)
	hourNow := t0.Add(-time.Hour)
	got, err := w.Counters(ctx, CounterQuery{Since: hour0, Until: hourNow})
	if err != nil {
		t.Fatal(err)
	}
	want := []Counter{
		{hour0, "laptop", "", 1, 1},
		{hour0, "laptop", "tiktok", 1, 1},
		{hour0, "tablet", "", 3, 2},
		{hour0, "tablet", "gambling", 2, 2},
		{hour1, "laptop", "", 1, 0},
		{hour1, "laptop", "youtube", 1, 0},
		{hour1, "tablet", "", 2, 2},
		{hour1, "tablet", "tiktok", 2, 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters:\n got %+v\nwant %+v", got, want)
	}
	got, err = w.Counters(ctx, CounterQuery{Device: "tablet", Since: hour1.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want = []Counter{
		{hour1, "tablet", "", 2, 2},
		{hour1, "tablet", "tiktok", 2, 2},
		{hourNow, "tablet", "", 1, 1},
		{hourNow, "tablet", "tiktok", 1, 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters(tablet, overlapping):\n got %+v\nwant %+v", got, want)
	}

	sum, err := w.Summary(ctx, t0.Add(-7*days), t0)
	if err != nil {
		t.Fatal(err)
	}
	wantSum := Summary{
		Queries: 10, Blocked: 7,
		TopBlocked: []TagCount{{"tiktok", 4}, {"gambling", 2}},
		Devices:    []DeviceCount{{"tablet", 6, 5}, {"laptop", 3, 1}, {"", 1, 1}},
	}
	if !reflect.DeepEqual(sum, wantSum) {
		t.Errorf("Summary:\n got %+v\nwant %+v", sum, wantSum)
	}
	// One household's dashboard: its devices alone, or nothing.
	sum, err = w.SummaryOf(ctx, t0.Add(-7*days), t0, []string{"laptop"})
	if err != nil {
		t.Fatal(err)
	}
	wantSum = Summary{Queries: 3, Blocked: 1, TopBlocked: []TagCount{{"tiktok", 1}}, Devices: []DeviceCount{{"laptop", 3, 1}}}
	if !reflect.DeepEqual(sum, wantSum) {
		t.Errorf("SummaryOf(laptop):\n got %+v\nwant %+v", sum, wantSum)
	}
	sum, err = w.SummaryOf(ctx, t0.Add(-7*days), t0, []string{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Queries != 0 || len(sum.Devices) != 0 || len(sum.TopBlocked) != 0 {
		t.Errorf("SummaryOf(no devices) = %+v, want nothing", sum)
	}
	hourly, err := w.Hourly(ctx, CounterQuery{Since: hour0, Until: t0, Devices: []string{}})
	if err != nil || len(hourly) != 0 {
		t.Errorf("Hourly(no devices) = %+v, %v; want nothing", hourly, err)
	}
	hourly, err = w.Hourly(ctx, CounterQuery{Since: hour0, Until: t0, Devices: []string{"laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	var laptop int64
	for _, c := range hourly {
		laptop += c.Queries
	}
	if laptop != 3 {
		t.Errorf("Hourly(laptop) counts %d queries, want 3", laptop)
	}
	sum, err = w.Summary(ctx, t0.Add(-time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	wantSum = Summary{
		Queries: 3, Blocked: 2,
		TopBlocked: []TagCount{{"tiktok", 1}},
		Devices:    []DeviceCount{{"", 1, 1}, {"laptop", 1, 0}, {"tablet", 1, 1}},
	}
	if !reflect.DeepEqual(sum, wantSum) {
		t.Errorf("Summary(last hour):\n got %+v\nwant %+v", sum, wantSum)
	}

	// When both old hours are ten days old, their counters go too.
	rows, counters, err = w.Prune(ctx, t0.Add(7*days+2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || counters != 8 {
		t.Errorf("second Prune = %d rows, %d counters, want 3, 8", rows, counters)
	}
	sum, err = w.Summary(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Queries != 3 || sum.Blocked != 2 {
		t.Errorf("Summary after counter prune = %d queries, %d blocked, want 3, 2", sum.Queries, sum.Blocked)
	}
}

func TestCountersAddUpAcrossBatches(t *testing.T) {
	w := newWriter(t, Config{})
	for range 3 {
		logAll(w, []q{
			{t0, "tablet", "bet365.com", ActionBlocked, "gambling"},
			{t0.Add(time.Minute), "tablet", "example.com", ActionAllowed, ""},
		})
		flush(t, w)
	}
	got, err := w.Counters(context.Background(), CounterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Counter{{t0, "tablet", "", 6, 3}, {t0, "tablet", "gambling", 3, 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters = %+v, want %+v", got, want)
	}
}

func TestRetention(t *testing.T) {
	now := t0
	w := newWriter(t, Config{Now: func() time.Time { return now }}) // default retentions: 7 and 90 days
	day := 24 * time.Hour
	logAll(w, []q{
		{now.Add(-91 * day), "tablet", "ancient.example", ActionAllowed, ""},
		{now.Add(-8 * day), "tablet", "old.example", ActionAllowed, ""},
		{now.Add(-7*day - time.Nanosecond), "tablet", "edge.example", ActionAllowed, ""},
		{now.Add(-7 * day), "tablet", "kept.example", ActionAllowed, ""},
		{now.Add(-time.Hour), "tablet", "new.example", ActionAllowed, ""},
	})
	flush(t, w)
	ctx := context.Background()
	rows, counters, err := w.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The 91-day-old hour's counters (total) are older than 90 days.
	if rows != 3 || counters != 1 {
		t.Errorf("Prune = %d rows, %d counters, want 3, 1", rows, counters)
	}
	left, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(left), []string{"new.example", "kept.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows left = %q, want %q", got, want)
	}
	var n int
	if err := w.db.QueryRow(`SELECT count(*) FROM names`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d names left, want the 2 still used", n)
	}
	c, err := w.Counters(ctx, CounterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// -8 days, -7 days - 1ns (the hour before), -7 days, -1 hour.
	if len(c) != 4 {
		t.Errorf("counters left = %+v, want 4 hours", c)
	}

	// A pruned name logged again is added again, not taken from a stale
	// cache.
	logAll(w, []q{{now, "tablet", "old.example", ActionAllowed, ""}})
	flush(t, w)
	got, err := w.Search(ctx, Query{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "old.example" {
		t.Errorf("re-logged pruned name: got %q", names(got))
	}

	// Pruning again at the same time deletes nothing.
	if rows, counters, err := w.Prune(ctx, now); err != nil || rows != 0 || counters != 0 {
		t.Errorf("second Prune = %d, %d, %v; want 0, 0, nil", rows, counters, err)
	}
}

// TestPruneInBackground runs in a synctest bubble: synctest.Wait returns
// once the writer's goroutine has pruned and sits waiting on its tickers,
// so the test needs no polling.
func TestPruneInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := t0
		w := newWriter(t, Config{Now: func() time.Time { return now }, Retention: time.Hour})
		logAll(w, []q{
			{now.Add(-2 * time.Hour), "tablet", "old.example", ActionAllowed, ""},
			{now, "tablet", "new.example", ActionAllowed, ""},
		})
		flush(t, w)
		// Start prunes once at once, with the configured clock.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w.Start(ctx)
		synctest.Wait()
		rows, err := w.Search(context.Background(), Query{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names(rows), []string{"new.example"}) {
			t.Fatalf("background prune did not run: rows %q", names(rows))
		}
	})
}

// TestWriterGoroutineWritesWithoutFlush runs in a synctest bubble: the
// flush ticker's hour passes at once, and synctest.Wait returns when the
// writer has written and waits again.
func TestWriterGoroutineWritesWithoutFlush(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		logs int
		wait time.Duration // bubble time to let pass
	}{
		// Four entries reach a quarter of the buffer and wake the writer
		// long before its hourly tick; it writes them at once and commits
		// them within maxCommitDelay.
		{"buffer filling", Config{Buffer: 16, FlushInterval: time.Hour}, 4, maxCommitDelay},
		// One entry waits for the tick.
		{"tick", Config{Buffer: 16, FlushInterval: time.Minute}, 1, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWriter(t, tc.cfg)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w.Start(ctx)
				synctest.Wait()
				for i := range tc.logs {
					e := q{t0, "tablet", "n" + strconv.Itoa(i), ActionAllowed, ""}.entry()
					w.Log(&e)
				}
				synctest.Wait()
				if tc.wait > 0 {
					if got := w.Stats().Written; got != 0 {
						t.Fatalf("written %d before the tick, want 0", got)
					}
					if tc.wait < tc.cfg.FlushInterval && w.buffered() != 0 {
						t.Fatalf("%d entries still in the buffer after the wake", w.buffered())
					}
					time.Sleep(tc.wait) // bubble time: the tick fires, no real wait
					synctest.Wait()
				}
				if got := w.Stats().Written; got != uint64(tc.logs) {
					t.Fatalf("written %d, want %d: %+v", got, tc.logs, w.Stats())
				}
			})
		})
	}
}

func TestLogDropsWhenFull(t *testing.T) {
	const size = 64
	w := newWriter(t, Config{Buffer: size})
	w.Start(context.Background())
	// Stall the storage side, as a slow disk would.
	w.wmu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range size + 10 {
			e := q{t0, "tablet", "n" + strconv.Itoa(i), ActionAllowed, ""}.entry()
			w.Log(&e)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // watchdog only
		t.Fatal("Log blocked on a full buffer")
	}
	s := w.Stats()
	if s.Logged != size || s.Dropped != 10 || s.Buffered != size || s.Written != 0 {
		t.Errorf("stats with a stalled writer = %+v, want %d logged and buffered, 10 dropped", s, size)
	}
	w.wmu.Unlock()
	flush(t, w)
	s = w.Stats()
	if s.Written != size || s.Buffered != 0 || s.Dropped != 10 {
		t.Errorf("stats after flush = %+v, want %d written, 0 buffered, 10 dropped", s, size)
	}
	// The dropped entries have no rows, but the counters count them.
	sum, err := w.Summary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Queries != size+10 {
		t.Errorf("counters count %d queries, want %d (10 of them dropped)", sum.Queries, size+10)
	}
	rows, err := w.Search(context.Background(), Query{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The first entries are kept, the last dropped.
	if len(rows) != 1 || rows[0].Name != "n"+strconv.Itoa(size-1) {
		t.Errorf("newest row = %q, want n%d", names(rows), size-1)
	}
	// Room again: the next entry is accepted.
	e := q{t0, "tablet", "again", ActionAllowed, ""}.entry()
	w.Log(&e)
	if s := w.Stats(); s.Logged != size+1 || s.Dropped != 10 {
		t.Errorf("after room is made: %+v", s)
	}
}

func TestRingWraps(t *testing.T) {
	// Buffer 10, flushed after every 7: the ring's slots wrap around.
	w := newWriter(t, Config{Buffer: 10})
	var want []string
	for round := range 5 {
		for i := range 7 {
			name := "r" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
			want = append([]string{name}, want...)
			e := q{t0, "tablet", name, ActionAllowed, ""}.entry()
			w.Log(&e)
		}
		flush(t, w)
	}
	rows, err := w.Search(context.Background(), Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %q\nwant %q", got, want)
	}
}

func TestConcurrentLog(t *testing.T) {
	w := newWriter(t, Config{Buffer: 1024, FlushInterval: time.Millisecond})
	w.Start(context.Background())
	const goroutines, each = 16, 1000
	devices := []string{"d0", "d1", "d2", "d3"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := q{t0.Add(time.Duration(i) * time.Millisecond), devices[g%len(devices)], "n" + strconv.Itoa(i%50) + ".example", ActionAllowed, ""}.entry()
				if i%3 == 0 {
					e.Action, e.Tag = ActionBlocked, "ads"
				}
				w.Log(&e)
				if i%100 == 0 {
					_ = w.Stats()
				}
			}
		})
	}
	// Searches run beside the writer.
	for range 5 {
		if _, err := w.Search(context.Background(), Query{Name: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	flush(t, w)
	s := w.Stats()
	if s.Logged+s.Dropped != goroutines*each {
		t.Errorf("logged %d + dropped %d != %d", s.Logged, s.Dropped, goroutines*each)
	}
	if s.Written != s.Logged || s.Buffered != 0 || s.Failed != 0 {
		t.Errorf("stats = %+v: not everything accepted was written", s)
	}
	sum, err := w.Summary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Dropped entries still count.
	if uint64(sum.Queries) != s.Written+s.Dropped {
		t.Errorf("counters total %d, want %d written + %d dropped", sum.Queries, s.Written, s.Dropped)
	}
	// Repeats of one second share a row; the counts add up.
	var rows int64
	for _, r := range storedRecs(t, w) {
		rows += r.count
	}
	if uint64(rows) != s.Written {
		t.Errorf("rows in the table count %d queries, %d written", rows, s.Written)
	}
}

// TestHeldAfterCommitCountedOnce checks the count of entries written when
// entries reach the held rows between two INSERTs of a tick (through
// Writer.hook, as Log does beside the writer): they stay held past the
// tick's commit, and the next write inserts them. Those rows were once
// inserted outside any transaction, so their entries stayed in txEntries
// and every later commit counted them again as written (TestConcurrentLog
// failed about once in 30 runs).
func TestHeldAfterCommitCountedOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		late q // logged between two INSERTs of the tick
	}{
		{"joins an inserted row", q{t0, "tablet", "one.example", ActionAllowed, ""}},
		{"a row of its own", q{t0, "tablet", "two.example", ActionAllowed, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A buffer of 4 wakes at 1 entry: one entry is moved between
			// INSERTs.
			w := newWriter(t, Config{Buffer: 4, FlushInterval: time.Hour})
			first := q{t0, "tablet", "one.example", ActionAllowed, ""}.entry()
			w.Log(&first)
			late := tc.late.entry()
			w.hook = func() {
				w.hook = nil
				w.Log(&late)
			}
			ctx := context.Background()
			// The writer goroutine's tick: the clock (t0 + 1h) has closed
			// t0's second, so its rows are inserted and committed; the
			// late entry stays held.
			if err := w.write(ctx, commitClosed); err != nil {
				t.Fatal(err)
			}
			if w.hook != nil {
				t.Fatal("the hook was not called: no entry arrived between INSERTs")
			}
			// The next tick inserts the late row; Flushes find nothing
			// more to write.
			for range 3 {
				if err := w.write(ctx, commitClosed); err != nil {
					t.Fatal(err)
				}
				flush(t, w)
			}
			s := w.Stats()
			if s.Logged != 2 || s.Written != 2 || s.Buffered != 0 || s.Failed != 0 {
				t.Errorf("stats = %+v, want 2 logged and written, none buffered", s)
			}
			var rows int64
			for _, r := range storedRecs(t, w) {
				rows += r.count
			}
			if rows != 2 {
				t.Errorf("rows in the table count %d queries, want 2", rows)
			}
		})
	}
}

func TestCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "querylog.db")
	w, err := New(Config{Path: path, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	logAll(w, []q{
		{t0, "tablet", "one.example", ActionAllowed, ""},
		{t0, "tablet", "two.example", ActionBlocked, "ads"},
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	e := q{t0, "tablet", "late.example", ActionAllowed, ""}.entry()
	w.Log(&e)
	if s := w.Stats(); s.Written != 2 || s.Dropped != 1 {
		t.Errorf("stats after Close and a late Log = %+v, want 2 written, 1 dropped", s)
	}
	if err := w.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if _, err := w.Search(context.Background(), Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Search after Close = %v, want ErrClosed", err)
	}

	w2 := newWriter(t, Config{Path: path})
	// The reopened writer knows the stored keys: a third entry of the
	// same microsecond goes after them.
	e = q{t0, "tablet", "three.example", ActionAllowed, ""}.entry()
	w2.Log(&e)
	flush(t, w2)
	rows, err := w2.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(rows), []string{"three.example", "two.example", "one.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening: %q, want %q", got, want)
	}
	sum, err := w2.Summary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Queries != 3 || sum.Blocked != 1 {
		t.Errorf("summary after reopening = %+v", sum)
	}
}

func TestCloseAfterContextEnds(t *testing.T) {
	w, err := New(Config{Path: filepath.Join(t.TempDir(), "q.db"), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.Start(ctx)
	logAll(w, []q{{t0, "tablet", "one.example", ActionAllowed, ""}})
	cancel()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 1 {
		t.Errorf("stats = %+v, want the entry written by Close", s)
	}
}

func TestLogDoesNotAllocate(t *testing.T) {
	w := newWriter(t, Config{Buffer: 256})
	e := q{t0, "tablet", "www.example.com", ActionBlocked, "ads"}.entry()
	// 300 runs: the first 256 are accepted, the rest take the full path.
	if n := testing.AllocsPerRun(300, func() { w.Log(&e) }); n != 0 {
		t.Errorf("Log allocates %v times per call", n)
	}
	if s := w.Stats(); s.Logged != 256 || s.Dropped == 0 {
		t.Errorf("stats = %+v: both paths should have run", s)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "q.db")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no path", Config{}, "path is empty"},
		{"question mark", Config{Path: p + "?mode=ro"}, `"` + p + `?mode=ro"`},
		{"negative buffer", Config{Path: p, Buffer: -1}, "buffer -1"},
		{"negative retention", Config{Path: p, Retention: -time.Hour}, "retention -1h0m0s"},
		{"counters shorter", Config{Path: p, Retention: 30 * 24 * time.Hour, CounterRetention: 24 * time.Hour}, "counter retention 24h0m0s"},
		{"ipv4 bits", Config{Path: p, TruncateIPv4Bits: 33}, "IPv4 truncation 33"},
		{"ipv6 bits", Config{Path: p, TruncateIPv6Bits: -1}, "IPv6 truncation -1"},
		{"no directory", Config{Path: filepath.Join(dir, "missing", "q.db")}, "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.cfg)
			if err == nil {
				w.Close()
				t.Fatalf("New(%+v) succeeded", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if w, err := New(Config{Path: path}); err == nil || !strings.Contains(err.Error(), "99") {
		if w != nil {
			w.Close()
		}
		t.Errorf("New on a newer schema: %v, want an error naming version 99", err)
	}
}

func TestEntryHelpers(t *testing.T) {
	var e Entry
	long := strings.Repeat("a", 300)
	e.SetName([]byte(long))
	if e.NameString() != long[:MaxNameLen] {
		t.Errorf("long name stored as %d bytes", len(e.NameString()))
	}
	e.SetName([]byte("short.example."))
	if e.NameString() != "short.example." {
		t.Errorf("NameString = %q", e.NameString())
	}
	e.SetText([]byte(long))
	if e.TextString() != long[:MaxTextLen] {
		t.Errorf("long text stored as %d bytes", len(e.TextString()))
	}

	for _, tc := range []struct{ in, want string }{
		{"WWW.Example.COM.", "www.example.com"},
		{"example.com", "example.com"},
		{".", "."},
		{"", ""},
		{"Ünï.de.", "Ünï.de"}, // only ASCII is folded
	} {
		var buf [MaxNameLen]byte
		if got := string(buf[:normalizeName(buf[:], []byte(tc.in))]); got != tc.want {
			t.Errorf("normalizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	for a := ActionAllowed; a <= ActionNoData; a++ {
		if got, ok := ParseAction(ActionLabel(a)); !ok || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", ActionLabel(a), got, ok)
		}
	}
	if _, ok := ParseAction("allow"); ok {
		t.Error(`ParseAction("allow") succeeded; the stored label is "allowed"`)
	}
	if ActionLabel(Action(200)) != "" || Transport(200).String() != "" {
		t.Error("unknown values should have empty labels")
	}
}

func TestActionCodes(t *testing.T) {
	for a := range policy.NumActions {
		code := actionCode(a)
		if got := codeLabel(code); got != ActionLabel(a) {
			t.Errorf("action %d: code %d reads back as %q, want %q", a, code, got, ActionLabel(a))
		}
		if c, ok := actionLabelCode(ActionLabel(a)); !ok || c != code {
			t.Errorf("label %q: code %d, %v, want %d", ActionLabel(a), c, ok, code)
		}
	}
}

// TestFailedBatchRollsBackTheTransaction makes a batch fail after earlier
// ones were written into the open transaction: all of them are counted as
// failed, none is half stored, and the names they added are not reused
// by later rows (the id caches are emptied with the rollback).
func TestFailedBatchRollsBackTheTransaction(t *testing.T) {
	ctx := context.Background()
	w := newWriter(t, Config{})
	if _, err := w.db.Exec(`CREATE TRIGGER fail BEFORE INSERT ON log
		WHEN (SELECT name FROM names WHERE id = NEW.name_id) = 'fail.example'
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	logAll(w, []q{{t0, "tablet", "a.example", ActionAllowed, ""}, {t0.Add(time.Second), "tablet", "b.example", ActionBlocked, "ads"}})
	if err := w.write(ctx, keepOpen); err != nil {
		t.Fatal(err)
	}
	// The row is held until its second is over or the transaction
	// commits: the commit fails.
	logAll(w, []q{{t0.Add(2 * time.Second), "phone", "fail.example", ActionAllowed, ""}})
	if err := w.write(ctx, commitAll); err == nil || !strings.Contains(err.Error(), "refused by the test") {
		t.Fatalf("write = %v, want the trigger's error", err)
	}
	if s := w.Stats(); s.Failed != 3 || s.Written != 0 || s.Buffered != 0 {
		t.Errorf("stats after the failure %+v, want 3 failed, none written or buffered", s)
	}
	if _, err := w.db.Exec(`DROP TRIGGER fail`); err != nil {
		t.Fatal(err)
	}
	logAll(w, []q{{t0.Add(3 * time.Second), "tv", "b.example", ActionAllowed, ""}, {t0.Add(4 * time.Second), "tv", "c.example", ActionAllowed, ""}})
	flush(t, w)
	rows, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(rows), []string{"c.example", "b.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
	for _, r := range rows {
		if r.Device != "tv" {
			t.Errorf("row %s: device %q, want tv", r.Name, r.Device)
		}
	}
	if s := w.Stats(); s.Written != 2 || s.Failed != 3 {
		t.Errorf("stats %+v, want 2 written, 3 failed", s)
	}
}

// TestRepeatsShareARowAcrossBatches: identical queries of one second
// collapse into one row across batches; a second's rows are inserted once
// two later seconds have begun, and an entry of a second already inserted
// gets a row of its own. The writer goroutine's tick closes the seconds
// by the clock too, so rows do not wait for more traffic.
func TestRepeatsShareARowAcrossBatches(t *testing.T) {
	ctx := context.Background()
	now := t0
	w := newWriter(t, Config{Now: func() time.Time { return now }})
	write := func(qs ...q) {
		t.Helper()
		logAll(w, qs)
		if err := w.write(ctx, keepOpen); err != nil {
			t.Fatal(err)
		}
	}
	a := q{t0, "tablet", "a.example", ActionAllowed, ""}
	write(a, a, a)
	write(a, a)
	b := q{t0.Add(time.Second), "tablet", "a.example", ActionAllowed, ""}
	write(b)
	if got := len(w.wconn.held); got != 2 || w.wconn.txRows != 0 {
		t.Fatalf("after two seconds: %d rows held, %d inserted; want 2, 0", got, w.wconn.txRows)
	}
	c := q{t0.Add(2 * time.Second), "phone", "c.example", ActionBlocked, "ads"}
	write(c)
	if got := len(w.wconn.held); got != 2 || w.wconn.txRows != 1 {
		t.Fatalf("after three seconds: %d rows held, %d inserted; want 2, 1", got, w.wconn.txRows)
	}
	late := a
	late.at = t0.Add(time.Millisecond)
	write(late)
	if s := w.Stats(); s.Buffered != 8 || s.Written != 0 {
		t.Errorf("stats before the commit %+v, want 8 buffered", s)
	}
	if err := w.write(ctx, commitClosed); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Buffered != 2 || s.Written != 6 {
		t.Errorf("stats after committing the first second %+v, want 6 written, 2 held", s)
	}
	now = t0.Add(10 * time.Second)
	if err := w.write(ctx, commitClosed); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Buffered != 0 || s.Written != 8 {
		t.Errorf("stats after the clock moved on %+v, want 8 written", s)
	}
	rows, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name  string
		at    time.Time
		count int
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Name, r.Time.Truncate(time.Millisecond), int(r.Count)})
	}
	want := []row{
		{"c.example", c.at, 1},
		{"a.example", b.at, 1},
		{"a.example", late.at, 1},
		{"a.example", t0, 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// TestCheckpointsOffTheWriter: while the checkpoint goroutine runs, the
// writer's commits do not checkpoint (wal_autocheckpoint 0 on its
// connection), a checkpoint on another connection copies what they
// committed, and the writer checkpoints itself again once it stops.
func TestCheckpointsOffTheWriter(t *testing.T) {
	ctx := context.Background()
	w := newWriter(t, Config{})
	auto := func() int {
		t.Helper()
		w.wmu.Lock()
		defer w.wmu.Unlock()
		var n int
		if err := w.wconn.conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := auto(); got != walAutoCheckpoint {
		t.Fatalf("wal_autocheckpoint before = %d, want %d", got, walAutoCheckpoint)
	}
	stop := w.startCheckpoints(ctx)
	if got := auto(); got != 0 {
		t.Errorf("wal_autocheckpoint with the goroutine = %d, want 0", got)
	}
	for i := range 50 {
		logAll(w, []q{{t0.Add(time.Duration(i) * time.Second), "tablet", "n" + strconv.Itoa(i) + ".example", ActionAllowed, ""}})
		flush(t, w)
	}
	wal, copied, err := w.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wal == 0 || copied != wal {
		t.Errorf("checkpoint: %d pages in the WAL, %d copied; want all of some", wal, copied)
	}
	stop()
	if got := auto(); got != walAutoCheckpoint {
		t.Errorf("wal_autocheckpoint after = %d, want %d", got, walAutoCheckpoint)
	}
}

// TestHashCollisionKeepsRowsApart: held rows are found by a hash of the
// entry; with every hash equal (hashMask 0) the same entries, written in
// batches whose rows stay held across them, must become the same rows
// with the same counts as with real hashes: a row is verified in full,
// never merged with another key's.
func TestHashCollisionKeepsRowsApart(t *testing.T) {
	ctx := context.Background()
	var batches [][]q
	for b := range 3 {
		var qs []q
		for i := range 40 {
			at := t0.Add(time.Duration(b*400+i*10) * time.Millisecond) // over two seconds
			x := q{at, []string{"tablet", "phone"}[i%2], []string{"a.example.", "B.example", "b.EXAMPLE."}[i%3], ActionAllowed, ""}
			if i%5 == 0 {
				x.action, x.tag = ActionBlocked, "ads"
			}
			qs = append(qs, x)
		}
		batches = append(batches, qs)
	}
	search := func(mask uint64) []Row {
		w := newWriter(t, Config{Now: func() time.Time { return t0 }})
		w.wmu.Lock()
		w.wconn.hashMask = mask
		w.wmu.Unlock()
		for _, qs := range batches {
			logAll(w, qs)
			if err := w.write(ctx, keepOpen); err != nil {
				t.Fatal(err)
			}
		}
		flush(t, w)
		rows, err := w.Search(ctx, Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	want, got := search(^uint64(0)), search(0)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows with every hash equal:\n%+v\nwant\n%+v", got, want)
	}
	// The keys: 2 devices x 2 names x 2 actions, in 2 seconds (6 rows a
	// second: a device's names alternate with the action's fifths).
	var n int64
	keys := map[string]bool{}
	for _, r := range got {
		n += r.Count
		keys[r.Time.Format("05")+" "+r.Device+" "+r.Name+" "+r.Action] = true
	}
	if n != 120 || len(got) != len(keys) {
		t.Errorf("%d rows for %d keys and %d entries, want a row a key and 120 entries", len(got), len(keys), n)
	}
}

// TestEqualStringsShareARow: entries whose strings are equal but at
// other addresses, and whose names differ only in case, are one row.
func TestEqualStringsShareARow(t *testing.T) {
	ctx := context.Background()
	w := newWriter(t, Config{Now: func() time.Time { return t0 }})
	for i := range 10 {
		e := q{t0.Add(time.Duration(i) * time.Millisecond), strings.Clone("tablet"), []string{"A.example.", "a.example"}[i%2], ActionBlocked, strings.Clone("ads")}.entry()
		e.Profile, e.Reason = strings.Clone("kid"), strings.Clone("none")
		w.Log(&e)
		if i%3 == 0 { // rows held across batches too
			if err := w.write(ctx, keepOpen); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush(t, w)
	rows, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Count != 10 || rows[0].Device != "tablet" || rows[0].Name != "a.example" || rows[0].Tag != "ads" {
		t.Errorf("rows = %+v, want one of tablet a.example ads counting 10", rows)
	}
}

// TestNewNamesInOneBatch logs more new names than one statement adds
// (namesPerUpsert), repeated and in mixed case within the batch, and
// checks that every row gets its own name and every name one id.
func TestNewNamesInOneBatch(t *testing.T) {
	w := newWriter(t, Config{})
	logAll(w, []q{{at: t0, device: "d", name: "known.example."}})
	flush(t, w)

	const distinct = 2*namesPerUpsert + 2 // the last statement is padded
	var qs []q
	var want []string
	for i := range distinct + 20 {
		k := i % distinct
		name := fmt.Sprintf("N%03d.Example.COM.", k)
		if i >= distinct {
			name = strings.ToLower(name) // same name, other case
		}
		qs = append(qs, q{at: t0.Add(time.Duration(i+1) * time.Second), device: "d", name: name})
		want = append(want, fmt.Sprintf("n%03d.example.com", k))
	}
	qs = append(qs, q{at: t0.Add(time.Hour), device: "d", name: "KNOWN.example"})
	want = append(want, "known.example")
	logAll(w, qs)
	flush(t, w)

	rows, err := w.Search(context.Background(), Query{Since: t0.Add(time.Second), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := names(rows)
	slices.Reverse(got) // Search is newest first
	if !slices.Equal(got, want) {
		t.Errorf("names of the rows:\n got %q\nwant %q", got, want)
	}
	var n int
	if err := w.db.QueryRow(`SELECT count(*) FROM names`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != distinct+1 {
		t.Errorf("%d names stored, want %d", n, distinct+1)
	}
}
