package lists

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCompileSplitMatchesWhole checks that a list cut into pieces and
// parsed on several goroutines gives exactly what one parse of the whole
// file gives: the same index file, address rules, rule count and Stats,
// bad lines counted the same and reported with their line in the file.
func TestCompileSplitMatchesWhole(t *testing.T) {
	// lines returns n lines of a list: mostly names, with comments, blank
	// lines and addresses spread through the file and bad lines in its
	// second half only, so the bad-line examples come from a later piece
	// and their line numbers must count the pieces before.
	lines := func(n int, name func(i int) string) string {
		var sb strings.Builder
		sb.WriteString("\xef\xbb\xbf") // a byte-order mark, trimmed on line 1 only
		for i := range n {
			switch {
			case i%97 == 5 && i > n/2:
				fmt.Fprintf(&sb, "bad_%d..example\n", i)
			case i%89 == 3:
				sb.WriteString("# a comment\n")
			case i%83 == 1:
				sb.WriteString("\n")
			case i%331 == 7 && i > n/2:
				fmt.Fprintf(&sb, "%s\n", strings.Repeat("x", MaxLineBytes+10)) // too long
			default:
				sb.WriteString(name(i))
			}
		}
		return sb.String()
	}
	for _, tc := range []struct {
		name    string
		format  Format
		content string
		gz      bool
		pieces  bool // whether the list is cut
	}{
		{"domains", FormatDomains, lines(20000, func(i int) string { return fmt.Sprintf("n%d.Example%d.com\n", i, i%7) }), false, true},
		{"hosts", FormatHosts, lines(20000, func(i int) string {
			if i%501 == 0 {
				return fmt.Sprintf("10.0.%d.%d\n", i/256%256, i%256)
			}
			return fmt.Sprintf("0.0.0.0 h%d.example.org w%d.example.org\n", i, i)
		}), false, true},
		{"adblock", FormatAdblock, lines(20000, func(i int) string {
			if i%13 == 0 {
				return fmt.Sprintf("@@||ok%d.ads.example^\n", i)
			}
			return fmt.Sprintf("||a%d.ads.example^\n", i)
		}), false, true},
		{"no newline at the end", FormatDomains, strings.TrimSuffix(lines(5000, func(i int) string { return fmt.Sprintf("e%d.example\n", i) }), "\n"), false, true},
		{"gzip is parsed whole", FormatDomains, lines(20000, func(i int) string { return fmt.Sprintf("z%d.example\n", i) }), true, false},
		{"rpz is parsed whole", FormatRPZ, "$ORIGIN rpz.example.\n" + lines(20000, func(i int) string { return fmt.Sprintf("r%d.example CNAME .\n", i) }), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			small := filepath.Join(dir, "small.txt")
			if err := os.WriteFile(small, []byte("s.example\nn1.example0.com\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "list")
			data := []byte(tc.content)
			if tc.gz {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(data)
				zw.Close()
				data = buf.Bytes()
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			entries := []Entry{
				{Source: Source{ID: "small", File: small, Format: FormatDomains}, Tag: "t"},
				{Source: Source{ID: "big", File: file, Format: tc.format}, Tag: "t", Exclude: []string{"n3.example3.com"}},
			}
			compile := func(workers int) (*Compiled, []byte) {
				m, err := NewManager(ManagerConfig{Entries: entries})
				if err != nil {
					t.Fatal(err)
				}
				m.workers, m.pieceBytes = workers, 16<<10
				if got := len(m.split(1, workers)) > 1; workers > 1 && got != tc.pieces {
					t.Fatalf("list cut into pieces: %v, want %v", got, tc.pieces)
				}
				c, err := m.Compile()
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := c.Index.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				return c, buf.Bytes()
			}
			whole, wholeIndex := compile(1)
			if whole.Lists[1].Stats.Bad == 0 || len(whole.Lists[1].Stats.BadExamples) == 0 || !whole.Lists[1].Loaded {
				t.Fatalf("the whole parse found no bad lines or failed: %+v", whole.Lists[1].Stats)
			}
			for _, workers := range []int{2, 3, 7} {
				got, gotIndex := compile(workers)
				if !bytes.Equal(gotIndex, wholeIndex) {
					t.Errorf("%d workers: another index than one parse", workers)
				}
				if !reflect.DeepEqual(got.Lists, whole.Lists) {
					t.Errorf("%d workers: statuses\n%+v\nwant\n%+v", workers, got.Lists, whole.Lists)
				}
				if got.Rules != whole.Rules || !reflect.DeepEqual(got.IPs, whole.IPs) {
					t.Errorf("%d workers: rules %d, IPs %v; want %d, %v", workers, got.Rules, got.IPs, whole.Rules, whole.IPs)
				}
			}
		})
	}
}

// TestCutLines checks the cuts: each at a line start, in order, none
// for a small file or gzip, and a file without newlines left whole.
func TestCutLines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		min     int64
		n       int
		want    []int64
	}{
		{"two", "aaaa\nbbbb\ncccc\ndddd\n", 1, 2, []int64{0, 10, 20}},
		{"cut inside a line moves to the next", "aaaaaaa\nb\ncccc\n", 1, 2, []int64{0, 8, 15}},
		{"cut at a line start stays", "aaaa\nbbbb\n", 1, 2, []int64{0, 5, 10}},
		{"small", "aaaa\nbbbb\ncccc\ndddd\n", 100, 4, []int64{0, 20}},
		{"no newline", strings.Repeat("a", 100), 1, 4, []int64{0, 100}},
		{"one newline", strings.Repeat("a", 100) + "\n" + "b", 1, 4, []int64{0, 101, 102}},
		{"gzip", "\x1f\x8baaaa\nbbbb\ncccc\n", 1, 2, []int64{0, 17}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "l")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := cutLines(f, tc.min, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cutLines = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseMidFileKeepsBOM checks that a piece starting inside a file does
// not trim a byte-order mark from its first line, as a whole parse trims
// it only on the file's first line.
func TestParseMidFileKeepsBOM(t *testing.T) {
	for _, tc := range []struct {
		midFile bool
		bad     int
	}{{false, 0}, {true, 1}} {
		// (A domains list maps U+FEFF away as IDNA does; a hosts line
		// starting with it is not an address.)
		st, err := parseNames(strings.NewReader("\xef\xbb\xbf0.0.0.0 a.example\n0.0.0.0 b.example\n"), FormatHosts, ParseOptions{}, nil, nil, tc.midFile)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bad != tc.bad || st.Rules != 2-tc.bad {
			t.Errorf("midFile %v: %d bad, %d rules; want %d bad", tc.midFile, st.Bad, st.Rules, tc.bad)
		}
	}
}
