package lists

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

func TestManager(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("||casino.example^\n@@||ok.casino.example^\n"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "extra.txt")
	if err := os.WriteFile(file, []byte("0.0.0.0 bet.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fetcher, err := New(filepath.Join(dir, "cache"), srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	embedded := fstest.MapFS{"services/youtube.txt": {Data: []byte("# youtube\nyoutube.com\nytimg.com\n")}}
	m, err := NewManager(ManagerConfig{Fetcher: fetcher, Entries: []Entry{
		{Source: Source{ID: "service-youtube", File: "services/youtube.txt", Format: FormatDomains, PlainSubtree: true}, Tag: "youtube", FS: embedded},
		{Source: Source{ID: "extra", File: file, Format: FormatHosts}, Tag: "gambling"},
		{Source: Source{ID: "remote", URL: srv.URL + "/list.txt", Format: FormatAdblock}, Tag: "gambling"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	matches := func(c *Compiled, name string) bool {
		r := c.Index.Lookup(name)
		return r.Matched()
	}

	// Before any download, the remote list is missing but the rest works.
	c, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if c.Lists[2].Loaded || c.Lists[2].Err == "" {
		t.Errorf("remote list before download: %+v", c.Lists[2])
	}
	for name, want := range map[string]bool{"i.ytimg.com": true, "bet.example": true, "www.bet.example": false, "casino.example": false} {
		if got := matches(c, name); got != want {
			t.Errorf("before download, %s matched = %v, want %v", name, got, want)
		}
	}

	if !m.Refresh(context.Background()) {
		t.Error("first download not reported as a change")
	}
	if m.Refresh(context.Background()) {
		t.Error("unchanged list reported as a change")
	}
	c, err = m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Lists[2].Loaded || c.Lists[2].Stats.Rules != 2 || c.Lists[2].Stats.Exceptions != 1 {
		t.Errorf("remote list after download: %+v", c.Lists[2])
	}
	for name, want := range map[string]bool{"a.casino.example": true, "ok.casino.example": false} {
		if got := matches(c, name); got != want {
			t.Errorf("after download, %s matched = %v, want %v", name, got, want)
		}
	}

	// A failed download keeps the last good copy and reports the error.
	fail.Store(true)
	if m.Refresh(context.Background()) {
		t.Error("failed download reported as a change")
	}
	c, err = m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Lists[2].Loaded || c.Lists[2].Err == "" || !matches(c, "casino.example") {
		t.Errorf("after a failed download: %+v", c.Lists[2])
	}
}

func TestNewManagerErrors(t *testing.T) {
	if _, err := NewManager(ManagerConfig{Entries: []Entry{{Source: Source{ID: "x", URL: "https://example.com/x", Format: FormatDomains}}}}); err == nil {
		t.Error("URL source without fetcher accepted")
	}
	dup := Entry{Source: Source{ID: "x", File: "/tmp/x", Format: FormatDomains}}
	if _, err := NewManager(ManagerConfig{Entries: []Entry{dup, dup}}); err == nil {
		t.Error("duplicate list accepted")
	}
}

func TestCompileCached(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(file, []byte("casino.example\n1.2.3.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerConfig{Entries: []Entry{{Source: Source{ID: "l", File: file, Format: FormatDomains, PlainSubtree: true}, Tag: "gambling"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.WaitSaved) // before t.TempDir removes the directory
	snap := filepath.Join(dir, "index")
	first, err := m.CompileCached(snap, true)
	if err != nil || first.FromSnapshot {
		t.Fatalf("first compile: %+v, %v", first, err)
	}
	second, err := m.CompileCached(snap, true)
	if err != nil || !second.FromSnapshot {
		t.Fatalf("second compile did not use the snapshot: %+v, %v", second, err)
	}
	r := second.Index.Lookup("www.casino.example")
	if !r.Matched() || len(second.IPs) != 1 || second.Lists[0].Stats.Rules != 1 || second.Lists[0].Tag != "gambling" {
		t.Errorf("snapshot lost data: %+v", second)
	}
	// A changed list is compiled again.
	if err := os.WriteFile(file, []byte("bet.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := m.CompileCached(snap, true)
	if err != nil || third.FromSnapshot {
		t.Fatalf("changed list served from the snapshot: %+v, %v", third, err)
	}
	if r := third.Index.Lookup("bet.example"); !r.Matched() {
		t.Error("recompiled index lacks the new name")
	}
	// A corrupt index file is not trusted.
	m.WaitSaved()
	idx := filepath.Join(snap, snapshotIndex)
	b, _ := os.ReadFile(idx)
	b[len(b)/2] ^= 0xff
	os.WriteFile(idx, b, 0o644)
	fourth, err := m.CompileCached(snap, true)
	if err != nil || fourth.FromSnapshot {
		t.Fatalf("corrupt snapshot used: %+v, %v", fourth, err)
	}
}

// TestCompileCachedSavesInBackground checks that the snapshot is not
// written before StartSaving (the server answers first), and what the save
// leaves behind: the index and its description, and no temporary file, not
// even one an interrupted save of an earlier process left.
func TestCompileCachedSavesInBackground(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(file, []byte("casino.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerConfig{Entries: []Entry{{Source: Source{ID: "l", File: file, Format: FormatDomains}, Tag: "gambling"}}})
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "index")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(snap, snapshotIndex+".tmp123")
	if err := os.WriteFile(stale, []byte("half an index"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := m.CompileCached(snap, true); err != nil || c.FromSnapshot {
		t.Fatalf("first compile: %+v, %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(snap, snapshotMeta)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the snapshot was written before StartSaving: %v", err)
	}
	m.StartSaving()
	m.WaitSaved()
	got, err := os.ReadDir(snap)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name())
	}
	if want := []string{snapshotIndex, snapshotMeta}; !slices.Equal(names, want) {
		t.Errorf("after the save the directory holds %q, want %q", names, want)
	}
	// Another manager (the next start) loads it.
	m2, err := NewManager(ManagerConfig{Entries: []Entry{{Source: Source{ID: "l", File: file, Format: FormatDomains}, Tag: "gambling"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := m2.CompileCached(snap, false); err != nil || !c.FromSnapshot {
		t.Fatalf("the next start did not load the saved snapshot: %+v, %v", c, err)
	}
}

// TestCompileMatchesSerialParse checks that Compile, which parses lists on
// several goroutines, gives exactly the index, address rules, counts and
// statuses of parsing the lists one after the other into one Builder.
func TestCompileMatchesSerialParse(t *testing.T) {
	dir := t.TempDir()
	var entries []Entry
	for i := range 24 {
		var sb strings.Builder
		for j := range 300 {
			// Names shared between lists, so sets have several members.
			fmt.Fprintf(&sb, "h%d.example%d.com\n", (i*37+j)%500, j%4)
		}
		fmt.Fprintf(&sb, "192.0.2.%d\n", i)
		file := filepath.Join(dir, fmt.Sprintf("l%d.txt", i))
		if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		e := Entry{Source: Source{ID: fmt.Sprintf("l%d", i), File: file, Format: FormatDomains, PlainSubtree: i%2 == 0}, Tag: "t"}
		if i%5 == 0 {
			e.Exclude = []string{"h1.example1.com"}
		}
		entries = append(entries, e)
	}
	m, err := NewManager(ManagerConfig{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	// A list that disappears after the manager is made is left out.
	if err := os.Remove(entries[7].Source.File); err != nil {
		t.Fatal(err)
	}
	got, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}

	b := domainindex.NewBuilder(0)
	var ips []IPRule
	rules := 0
	for i, e := range entries {
		rc, err := Open(e.Source.File)
		if err != nil {
			continue
		}
		list := domainindex.ListID(i)
		_, err = Parse(rc, e.Source.Format, e.Source.ParseOptions(), func(r Rule) {
			switch {
			case r.IsIP():
				ips = append(ips, IPRule{Addr: r.IP, List: list})
			case r.Kind == Subtree:
				b.Add(r.Name, list, domainindex.Subtree)
				rules++
			default:
				b.Add(r.Name, list, domainindex.Exact)
				rules++
			}
		})
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range e.Exclude {
			b.Add(n, list, domainindex.Exception)
		}
	}
	want, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var gotFile, wantFile bytes.Buffer
	got.Index.WriteTo(&gotFile)
	want.WriteTo(&wantFile)
	if !bytes.Equal(gotFile.Bytes(), wantFile.Bytes()) {
		t.Error("Compile built another index than a serial parse")
	}
	if !reflect.DeepEqual(got.IPs, ips) || got.Rules != rules {
		t.Errorf("IPs, Rules = %v, %d; want %v, %d", got.IPs, got.Rules, ips, rules)
	}
	for i, st := range got.Lists {
		if st.ID != entries[i].Source.ID || st.Loaded != (i != 7) || (i == 7) != (st.Err != "") {
			t.Errorf("list %d: status %+v", i, st)
		}
	}
}

// TestCompileCachedRejectsBadSnapshots damages the saved index in every
// way a disk, a crash or two racing saves can, and checks that each is
// detected, compiled afresh (never served) and saved again.
func TestCompileCachedRejectsBadSnapshots(t *testing.T) {
	newManager := func(t *testing.T, dir, content string) *Manager {
		file := filepath.Join(dir, "list.txt")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := NewManager(ManagerConfig{Entries: []Entry{{Source: Source{ID: "l", File: file, Format: FormatDomains, PlainSubtree: true}, Tag: "t"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.WaitSaved) // before t.TempDir removes the directory
		return m
	}
	var names strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&names, "n%d.casino.example\n", i)
	}
	flip := func(off func(size int) int) func(t *testing.T, snap string) {
		return func(t *testing.T, snap string) {
			p := filepath.Join(snap, snapshotIndex)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off(len(b))] ^= 0x40
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, snap string)
	}{
		{"header byte", flip(func(int) int { return 20 })},
		{"slot byte", flip(func(n int) int { return n - 40 })},
		{"checksum byte", flip(func(n int) int { return n - 1 })},
		{"truncated", func(t *testing.T, snap string) {
			p := filepath.Join(snap, snapshotIndex)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-100); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty index", func(t *testing.T, snap string) {
			if err := os.WriteFile(filepath.Join(snap, snapshotIndex), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index missing", func(t *testing.T, snap string) {
			if err := os.Remove(filepath.Join(snap, snapshotIndex)); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta not JSON", func(t *testing.T, snap string) {
			if err := os.WriteFile(filepath.Join(snap, snapshotMeta), []byte("{\"Fingerprint\": "), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index of other lists", func(t *testing.T, snap string) {
			// A valid index file, saved for other lists, beside this
			// meta file: what two saves that raced can leave.
			other := t.TempDir()
			om := newManager(t, other, "bet.example\n")
			if _, err := om.CompileCached(filepath.Join(other, "index"), true); err != nil {
				t.Fatal(err)
			}
			om.WaitSaved()
			b, err := os.ReadFile(filepath.Join(other, "index", snapshotIndex))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(snap, snapshotIndex), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := newManager(t, dir, names.String())
			snap := filepath.Join(dir, "index")
			if c, err := m.CompileCached(snap, true); err != nil || c.FromSnapshot {
				t.Fatalf("first compile: %v", err)
			}
			if c, err := m.CompileCached(snap, true); err != nil || !c.FromSnapshot {
				t.Fatalf("the intact snapshot was not used: %v", err)
			}
			tc.damage(t, snap)
			c, err := m.CompileCached(snap, true)
			if err != nil {
				t.Fatal(err)
			}
			if c.FromSnapshot {
				t.Fatal("a damaged snapshot was served")
			}
			if r := c.Index.Lookup("www.n1999.casino.example"); !r.Matched() || c.Index.Len() != 2000 {
				t.Errorf("the recompiled index is wrong: Len %d", c.Index.Len())
			}
			if c, err := m.CompileCached(snap, true); err != nil || !c.FromSnapshot || c.Index.Len() != 2000 {
				t.Errorf("the snapshot was not saved again: %v", err)
			}
		})
	}
}
