package lists

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// A large plain list (a file of several megabytes, not gzip) is parsed in
// pieces on several goroutines: at a cold start with 5 M names one
// synthetic or ISP list can hold most of them, and parsing it whole keeps
// one CPU busy while the others wait. The file is cut at line starts, each
// piece parsed into a Builder of its own, and the pieces' Stats joined in
// file order, so the index and the Stats are those of one parse.
//
// Only formats without state across lines are cut: an RPZ zone file's
// $ORIGIN and blank owners refer to earlier lines.

// defaultPieceBytes is the least size of a piece: a list is cut into at
// most 2*workers pieces of at least this many bytes.
const defaultPieceBytes = 4 << 20

// piece is one part of a plain list file: bytes [off, end) of f, end -1
// for the rest of the file.
type piece struct {
	list     int
	f        *os.File
	path     string
	off, end int64
}

// pieceResult is what parsing one piece gave.
type pieceResult struct {
	b     *domainindex.Builder
	stats Stats
	rules int
	ips   []IPRule
	err   error
}

// splittable reports whether lines of format f can be parsed apart from
// the lines before them.
func splittable(f Format) bool {
	return f != FormatRPZ
}

// split returns the pieces to parse list i in on workers goroutines, or
// nil to parse it whole (a small, compressed, embedded or unreadable list,
// or one goroutine). The pieces share one open file, which the caller
// closes after parsing.
func (m *Manager) split(i, workers int) []piece {
	e := m.entries[i]
	if workers < 2 || e.FS != nil || !splittable(e.Source.Format) {
		return nil
	}
	path := e.Source.File
	if path == "" {
		var ok bool
		if path, ok = m.fetcher.Cached(e.Source); !ok {
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil // compileOne opens it again and reports the error
	}
	cuts, err := cutLines(f, m.pieceBytes, 2*workers)
	if err != nil || len(cuts) < 3 {
		f.Close()
		return nil
	}
	ps := make([]piece, len(cuts)-1)
	for k := range ps {
		ps[k] = piece{list: i, f: f, path: path, off: cuts[k], end: cuts[k+1]}
	}
	ps[len(ps)-1].end = -1 // to the end, as a whole parse reads
	return ps
}

// cutLines returns the offsets that cut the plain file f into at most n
// pieces of at least least bytes, each starting at a line: 0, the cuts,
// then the size. A gzip file (by its magic bytes) is not cut: it returns
// only 0 and the size.
func cutLines(f *os.File, least int64, n int) ([]int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if least > 0 {
		n = int(max(1, min(int64(n), size/least)))
	}
	if n < 2 {
		return []int64{0, size}, nil
	}
	var magic [2]byte
	if k, _ := f.ReadAt(magic[:], 0); k == 2 && magic == [2]byte{0x1f, 0x8b} {
		return []int64{0, size}, nil
	}
	cuts := []int64{0}
	buf := make([]byte, 64<<10)
	for k := 1; k < n; k++ {
		at := size * int64(k) / int64(n)
		if at <= cuts[len(cuts)-1] {
			continue
		}
		c, err := lineStart(f, at, size, buf)
		if err != nil {
			return nil, err
		}
		if c > cuts[len(cuts)-1] && c < size {
			cuts = append(cuts, c)
		}
	}
	return append(cuts, size), nil
}

// lineStart returns the first offset at or after at (at > 0) that starts a
// line of f: just after a newline. It returns size when no line starts
// there.
func lineStart(f *os.File, at, size int64, buf []byte) (int64, error) {
	for pos := at - 1; pos < size; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if i := bytes.IndexByte(buf[:k], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("cut list: %w", err)
		}
		if k == 0 {
			break
		}
		pos += int64(k)
	}
	return size, nil
}

// parsePiece parses one piece of list e (number list) into a new Builder.
func (m *Manager) parsePiece(e Entry, pc piece) pieceResult {
	var r pieceResult
	end := pc.end
	if end < 0 {
		end = math.MaxInt64
	}
	// Room for a name every 16 bytes (a piece is at least 4 MiB): the
	// first chunk is then as large as chunks get, in huge pages, instead
	// of growing from 64 KiB in 4 KiB pages in every piece.
	r.b = domainindex.NewBuilder(int(min(end-pc.off, math.MaxInt32) / 16))
	list := domainindex.ListID(pc.list)
	sr := io.NewSectionReader(pc.f, pc.off, end-pc.off)
	r.stats, r.err = parseNames(sr, e.Source.Format, e.Source.ParseOptions(), func(name []byte, k Kind, exception bool) {
		r.b.AddBytes(name, list, indexKind(k, exception))
		r.rules++
	}, func(rule Rule) {
		if !rule.Exception {
			r.ips = append(r.ips, IPRule{Addr: rule.IP, Prefix: rule.Prefix, List: list})
		}
	}, pc.off > 0)
	if r.err != nil {
		r.err = fmt.Errorf("at byte %d: %w", pc.off, r.err)
	}
	return r
}

// joinPieces joins the results of parsing list i's pieces, in file order,
// into b and the list's status, as one parse of the whole file would have
// given them. A piece that failed ends the list there: later pieces are
// dropped, as a whole parse stops at a read error.
func (m *Manager) joinPieces(i int, ps []piece, rs []pieceResult, st *Status, b *domainindex.Builder) (rules int, ips []IPRule) {
	e := m.entries[i]
	st.ID, st.Tag = e.Source.ID, e.Tag
	st.Err, st.FetchedAt = m.lastDownload(e.Source.ID)
	var s Stats
	for _, r := range rs {
		for _, bl := range r.stats.BadExamples {
			if len(s.BadExamples) < MaxBadExamples {
				bl.Line += s.Lines
				s.BadExamples = append(s.BadExamples, bl)
			}
		}
		s.Lines += r.stats.Lines
		s.Rules += r.stats.Rules
		s.Exceptions += r.stats.Exceptions
		s.IPs += r.stats.IPs
		s.Comments += r.stats.Comments
		s.Bad += r.stats.Bad
		s.Unsupported += r.stats.Unsupported
		b.Merge(r.b)
		rules += r.rules
		ips = append(ips, r.ips...)
		if r.err != nil {
			st.Stats = s
			st.Err = fmt.Sprintf("read list %q: %v", e.Source.ID, r.err)
			return rules, ips
		}
	}
	st.Stats = s
	list := domainindex.ListID(i)
	for _, n := range e.Exclude {
		b.Add(n, list, domainindex.Exception)
	}
	st.Loaded, st.Path = true, ps[0].path
	return rules, ips
}

// indexKind is the index's kind of a parsed name rule.
func indexKind(k Kind, exception bool) domainindex.Kind {
	switch {
	case exception:
		return domainindex.Exception
	case k == Subtree:
		return domainindex.Subtree
	}
	return domainindex.Exact
}
