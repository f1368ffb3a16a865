package lists

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// Entry is one list the Manager compiles into the index.
type Entry struct {
	Source Source
	// Tag is the category or service the list's names belong to.
	Tag string
	// FS, when set, holds the list at Source.File (the embedded lists).
	FS fs.FS
	// Exclude are names the list must not match, with their subdomains
	// (the catalog's exclude entries): compiled as exceptions of the list.
	Exclude []string
}

// Status is what is known of one list after a compile.
type Status struct {
	ID, Tag string
	// Stats are the parse counts of the copy compiled.
	Stats Stats
	// Loaded reports whether a copy of the list is in the index.
	Loaded bool
	// Path is the copy compiled: a file, a cached download or an
	// embedded path.
	Path string
	// FetchedAt is when the compiled copy was downloaded (zero for files).
	FetchedAt time.Time
	// Err is the last read or download error, "" when none.
	Err string
}

// Compiled is one build of the index with the lists behind it. The
// ListID of a list in the index is its position in Lists.
type Compiled struct {
	Index *domainindex.Index
	Lists []Status
	// Rules counts the names added to the index.
	Rules int
	// IPs are the lists' address rules (IP literals in name lists and
	// ip-list sources), matched against the addresses in answers.
	IPs []IPRule
	// Took is how long parsing and building (or loading) took.
	Took time.Duration
	// FromSnapshot reports that the index was loaded from a saved
	// compile of the same lists rather than parsed.
	FromSnapshot bool
}

// IPRule is one address a list names.
type IPRule struct {
	Addr netip.Addr
	List domainindex.ListID
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Entries []Entry
	// Fetcher downloads URL sources and keeps their last good copies.
	Fetcher *Fetcher
	Logger  *slog.Logger
}

// Manager compiles lists into an index and keeps URL lists fresh. It is
// safe for concurrent use.
type Manager struct {
	entries []Entry
	fetcher *Fetcher
	log     *slog.Logger

	mu      sync.Mutex
	fetched map[string]time.Time // by source ID
	errs    map[string]string    // by source ID
}

// NewManager checks the entries and returns a manager for them.
func NewManager(c ManagerConfig) (*Manager, error) {
	if len(c.Entries) > 1<<16 {
		return nil, fmt.Errorf("lists: %d lists, at most 65536", len(c.Entries))
	}
	seen := map[string]bool{}
	for _, e := range c.Entries {
		if e.FS == nil {
			if err := e.Source.Validate(); err != nil {
				return nil, err
			}
		}
		if seen[e.Source.ID] {
			return nil, fmt.Errorf("list %q: defined twice", e.Source.ID)
		}
		seen[e.Source.ID] = true
		if e.Source.URL != "" && c.Fetcher == nil {
			return nil, fmt.Errorf("list %q: a URL source needs a fetcher (a data directory)", e.Source.ID)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{entries: c.Entries, fetcher: c.Fetcher, log: c.Logger, fetched: map[string]time.Time{}, errs: map[string]string{}}, nil
}

// Compile parses every list from what is on disk now (files, the last
// good copies of downloads, embedded lists) and builds the index. It never
// touches the network, so it is fast at start and works offline. A list
// that cannot be read is reported in its Status and left out.
func (m *Manager) Compile() (*Compiled, error) {
	start := time.Now()
	c := &Compiled{Lists: make([]Status, len(m.entries))}
	b := domainindex.NewBuilder(1 << 16)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, e := range m.entries {
		st := &c.Lists[i]
		st.ID, st.Tag, st.Err, st.FetchedAt = e.Source.ID, e.Tag, m.errs[e.Source.ID], m.fetched[e.Source.ID]
		rc, path, err := m.open(e)
		if err != nil {
			if st.Err == "" {
				st.Err = err.Error()
			}
			continue
		}
		list := domainindex.ListID(i)
		st.Stats, err = Parse(rc, e.Source.Format, e.Source.ParseOptions(), func(r Rule) {
			if r.IsIP() {
				if !r.Exception {
					c.IPs = append(c.IPs, IPRule{Addr: r.IP, List: list})
				}
				return
			}
			kind := domainindex.Exact
			switch {
			case r.Exception:
				kind = domainindex.Exception
			case r.Kind == Subtree:
				kind = domainindex.Subtree
			}
			b.Add(r.Name, list, kind)
			c.Rules++
		})
		rc.Close()
		if err != nil {
			st.Err = fmt.Sprintf("read list %q: %v", e.Source.ID, err)
			continue
		}
		for _, n := range e.Exclude {
			b.Add(n, list, domainindex.Exception)
		}
		st.Loaded, st.Path = true, path
	}
	ix, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("build index: %w", err)
	}
	c.Index = ix
	c.Took = time.Since(start)
	return c, nil
}

// open returns a reader for the copy of e to compile.
func (m *Manager) open(e Entry) (io.ReadCloser, string, error) {
	switch {
	case e.FS != nil:
		f, err := e.FS.Open(e.Source.File)
		if err != nil || !strings.HasSuffix(e.Source.File, ".gz") {
			return f, "embedded:" + e.Source.File, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("list %q: %w", e.Source.ID, err)
		}
		return &readCloser{Reader: zr, close: f.Close}, "embedded:" + e.Source.File, nil
	case e.Source.File != "":
		rc, err := Open(e.Source.File)
		return rc, e.Source.File, err
	default:
		path, ok := m.fetcher.Cached(e.Source)
		if !ok {
			return nil, "", fmt.Errorf("list %q: not downloaded yet", e.Source.ID)
		}
		rc, err := Open(path)
		return rc, path, err
	}
}

// Refresh downloads every URL list (conditionally: an unchanged list costs
// one request) and reports whether any copy changed. Failures are logged
// and kept for Status; the last good copy stays in place.
func (m *Manager) Refresh(ctx context.Context) (changed bool) {
	failed, tried := 0, 0
	var firstErr error
	defer func() {
		if failed > 0 {
			m.log.Warn("list downloads failed; keeping the last good copies", "failed", failed, "of", tried, "first_err", firstErr)
		}
	}()
	for _, e := range m.entries {
		if e.Source.URL == "" || e.FS != nil {
			continue
		}
		tried++
		res, err := m.fetcher.Fetch(ctx, e.Source)
		m.mu.Lock()
		if err != nil {
			m.errs[e.Source.ID] = err.Error()
			failed++
			if firstErr == nil {
				firstErr = err
			}
			m.log.Debug("list download failed", "list", e.Source.ID, "err", err)
		} else {
			delete(m.errs, e.Source.ID)
			m.fetched[e.Source.ID] = res.FetchedAt
			changed = changed || res.Changed
		}
		m.mu.Unlock()
	}
	return changed
}

// HasDownloads reports whether any list comes from a URL.
func (m *Manager) HasDownloads() bool {
	for _, e := range m.entries {
		if e.Source.URL != "" && e.FS == nil {
			return true
		}
	}
	return false
}
