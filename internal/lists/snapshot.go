package lists

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// A compiled index is saved beside the list cache so that a restart with
// the same lists loads it in a fraction of a second instead of parsing
// every list again. It is keyed by a fingerprint of the inputs: each list's
// id, tag, format and options, and the size and modification time of the
// copy compiled (the content, for embedded lists). The meta file also
// names the size and checksum of the index file it describes. Any change,
// a file that fails its checksums, or an index file that is not the one
// the meta file describes, means a full compile.
const (
	snapshotIndex = "index.bin"
	snapshotMeta  = "index.json"
)

// snapshotMetaFile is the JSON beside the index file.
type snapshotMetaFile struct {
	Fingerprint string
	Lists       []Status
	IPs         []IPRule
	Rules       int
	// IndexSize and IndexSum identify the index file this meta file
	// describes: its size and its last four bytes (the CRC-32C of its
	// body). An index file from another compile, left beside this meta
	// file by two saves that raced or by hand, does not match, so it is
	// compiled afresh rather than served for the wrong lists.
	IndexSize int64
	IndexSum  uint32
}

// sumWriter counts the bytes written through it and keeps the last four.
type sumWriter struct {
	w    io.Writer
	n    int64
	last [4]byte
}

func (t *sumWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	b := p[:n]
	if len(b) >= 4 {
		copy(t.last[:], b[len(b)-4:])
	} else {
		k := copy(t.last[:], t.last[len(b):])
		copy(t.last[k:], b)
	}
	t.n += int64(n)
	return n, err
}

// fingerprint describes the current inputs of the manager; "" when some
// input cannot be described (then no snapshot is used).
func (m *Manager) fingerprint() string {
	h := sha256.New()
	// The version of what a compile keeps: v2 added address ranges.
	fmt.Fprintf(h, "v2|")
	for _, e := range m.entries {
		fmt.Fprintf(h, "%q %q %q %v %v %q|", e.Source.ID, e.Tag, e.Source.Format, e.Source.PlainSubtree, e.Source.PlainWWW, e.Exclude)
		switch {
		case e.FS != nil:
			b, err := fs.ReadFile(e.FS, e.Source.File)
			if err != nil {
				fmt.Fprintf(h, "missing|")
				continue
			}
			h.Write(b)
		default:
			path := e.Source.File
			if path == "" {
				var ok bool
				if path, ok = m.fetcher.Cached(e.Source); !ok {
					fmt.Fprintf(h, "missing|")
					continue
				}
			}
			fi, err := os.Stat(path)
			if err != nil {
				fmt.Fprintf(h, "missing|")
				continue
			}
			fmt.Fprintf(h, "%q %d %d|", path, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CompileCached is Compile with a saved snapshot in dir: when dir holds a
// compiled index of exactly the current inputs it is loaded, else the
// lists are compiled and, when save is true, the result saved for next
// time. A snapshot that cannot be read or written is not an error: the
// lists are compiled.
//
// The snapshot is written in the background, after CompileCached returns,
// and not before StartSaving is called: at a cold start, writing a 5 M-name
// index (about 50 MB) would otherwise delay the first answer, or, on one
// core, take CPU from it. Calls are serialised: the next CompileCached lets
// the last save start and waits for it, and WaitSaved does the same before
// the process exits, so that the next start finds the snapshot.
func (m *Manager) CompileCached(dir string, save bool) (*Compiled, error) {
	m.openGate()
	m.saveMu.Lock()
	saving := false
	defer func() {
		if !saving {
			m.saveMu.Unlock()
		}
	}()
	fp := m.fingerprint()
	if c, err := m.loadSnapshot(dir, fp); err == nil {
		return c, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("compiled lists snapshot not used", "dir", dir, "err", err)
	}
	c, err := m.Compile()
	if err != nil {
		return nil, err
	}
	if !save {
		return c, nil
	}
	// The copy keeps the save independent of what the caller does with
	// c's slices; the index itself is immutable.
	meta := snapshotMetaFile{Fingerprint: fp, Lists: slices.Clone(c.Lists), IPs: slices.Clone(c.IPs), Rules: c.Rules}
	var gate chan struct{}
	m.gateMu.Lock()
	if !m.serving {
		gate = make(chan struct{})
		m.gate = gate
	}
	m.gateMu.Unlock()
	saving = true
	go func() {
		defer m.saveMu.Unlock()
		if gate != nil {
			<-gate
		}
		start := time.Now()
		if err := saveSnapshot(dir, meta, c.Index); err != nil {
			m.log.Warn("saving compiled lists snapshot", "dir", dir, "err", err)
			return
		}
		m.log.Debug("compiled lists snapshot saved", "dir", dir, "took", time.Since(start).Round(time.Millisecond))
	}()
	return c, nil
}

// StartSaving tells m that the server is answering queries: a snapshot
// save that CompileCached left waiting starts now, and later ones start at
// once.
func (m *Manager) StartSaving() {
	m.gateMu.Lock()
	m.serving = true
	m.gateMu.Unlock()
	m.openGate()
}

// WaitSaved lets a waiting snapshot save start and waits until it is done
// (see CompileCached). Call it before the process exits.
func (m *Manager) WaitSaved() {
	m.openGate()
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
}

// openGate lets the save that waits for StartSaving, if any, start.
func (m *Manager) openGate() {
	m.gateMu.Lock()
	defer m.gateMu.Unlock()
	if m.gate != nil {
		close(m.gate)
		m.gate = nil
	}
}

func (m *Manager) loadSnapshot(dir, fp string) (*Compiled, error) {
	start := time.Now()
	b, err := os.ReadFile(filepath.Join(dir, snapshotMeta))
	if err != nil {
		return nil, err
	}
	var meta snapshotMetaFile
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("read %s: %w", snapshotMeta, err)
	}
	if meta.Fingerprint != fp || len(meta.Lists) != len(m.entries) {
		return nil, fs.ErrNotExist // lists changed: compile afresh
	}
	f, err := os.Open(filepath.Join(dir, snapshotIndex))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var sum [4]byte
	if fi.Size() != meta.IndexSize || fi.Size() < 4 {
		return nil, fmt.Errorf("%s is %d bytes, %s describes one of %d", snapshotIndex, fi.Size(), snapshotMeta, meta.IndexSize)
	}
	if _, err := f.ReadAt(sum[:], fi.Size()-4); err != nil {
		return nil, fmt.Errorf("read %s: %w", snapshotIndex, err)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != meta.IndexSum {
		return nil, fmt.Errorf("%s has checksum %08x, %s describes %08x", snapshotIndex, got, snapshotMeta, meta.IndexSum)
	}
	ix, err := domainindex.Read(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", snapshotIndex, err)
	}
	for i := range meta.Lists {
		// Download state is this process's, not the snapshot's.
		meta.Lists[i].Err, meta.Lists[i].FetchedAt = m.lastDownload(meta.Lists[i].ID)
	}
	return &Compiled{Index: ix, Lists: meta.Lists, IPs: meta.IPs, Rules: meta.Rules, Took: time.Since(start), FromSnapshot: true}, nil
}

// saveSnapshot writes ix and meta (which it completes with the size and
// checksum of the index file) to dir.
func saveSnapshot(dir string, meta snapshotMetaFile, ix *domainindex.Index) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Saves are serialised (saveMu), so a temporary file left here is
	// from a process that stopped in the middle of one: never renamed,
	// never read, only in the way.
	if stale, err := filepath.Glob(filepath.Join(dir, "*.tmp*")); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	write := func(name string, fill func(io.Writer) error) error {
		tmp, err := os.CreateTemp(dir, name+".tmp*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		w := bufio.NewWriterSize(tmp, 1<<20)
		if err := fill(w); err != nil {
			tmp.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	// Meta out, index in, meta in: a meta file never describes an index
	// other than the one beside it, whatever step a crash interrupts.
	if err := os.Remove(filepath.Join(dir, snapshotMeta)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	sw := &sumWriter{}
	if err := write(snapshotIndex, func(w io.Writer) error {
		sw.w = w
		_, err := ix.WriteTo(sw)
		return err
	}); err != nil {
		return err
	}
	meta.IndexSize, meta.IndexSum = sw.n, binary.LittleEndian.Uint32(sw.last[:])
	return write(snapshotMeta, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(meta)
	})
}
