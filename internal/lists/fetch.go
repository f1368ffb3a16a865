package lists

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Defaults for the zero values of [Source] limits.
const (
	// DefaultMaxBytes bounds a list (after decompression) when
	// Source.MaxBytes is zero. The largest real category lists are a few
	// MiB; the UT1 adult list is about 100 MiB and needs a larger setting.
	DefaultMaxBytes = 64 << 20
	// DefaultTimeout bounds one download when Source.Timeout is zero.
	DefaultTimeout = 2 * time.Minute
)

// Source is one list: where it comes from and how to read it.
type Source struct {
	// ID names the source in logs, errors and the cache directory; letters,
	// digits, '.', '_' and '-', not starting with '.', at most 100 bytes.
	ID string
	// URL is an http or https address. Exactly one of URL and File is set.
	URL string
	// File is a local path, read in place (no copy is made).
	File string
	// Format is the syntax of the list.
	Format Format
	// PlainSubtree makes plain entries cover subdomains; see ParseOptions.
	PlainSubtree bool
	// PlainWWW makes plain exact entries match "www." + name too; see
	// ParseOptions.
	PlainWWW bool
	// MaxBytes bounds the list's size after decompression; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds one download; 0 means DefaultTimeout.
	Timeout time.Duration
	// Refresh is how often the caller should fetch the source again; Fetch
	// itself does not schedule anything.
	Refresh time.Duration
}

// Validate checks the source and returns an error naming it and the bad field.
func (s Source) Validate() error {
	if err := validID(s.ID); err != nil {
		return fmt.Errorf("list %q: %w", s.ID, err)
	}
	switch {
	case s.URL == "" && s.File == "":
		return fmt.Errorf("list %q: neither url nor file set", s.ID)
	case s.URL != "" && s.File != "":
		return fmt.Errorf("list %q: both url and file set", s.ID)
	case s.URL != "":
		u, err := url.Parse(s.URL)
		if err != nil {
			return fmt.Errorf("list %q: url: %w", s.ID, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("list %q: url %q: want an http or https address", s.ID, s.URL)
		}
	}
	if _, err := ParseFormat(string(s.Format)); err != nil {
		return fmt.Errorf("list %q: %w", s.ID, err)
	}
	if s.MaxBytes < 0 || s.Timeout < 0 || s.Refresh < 0 {
		return fmt.Errorf("list %q: negative max bytes, timeout or refresh", s.ID)
	}
	return nil
}

// ParseOptions returns the parse settings the source implies.
func (s Source) ParseOptions() ParseOptions {
	return ParseOptions{PlainSubtree: s.PlainSubtree, PlainWWW: s.PlainWWW}
}

func (s Source) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s Source) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func validID(id string) error {
	if id == "" || len(id) > 100 || id[0] == '.' {
		return fmt.Errorf("invalid id %q: want 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("invalid id %q: character %q not allowed", id, c)
		}
	}
	return nil
}

// Result describes the copy of a list that Fetch leaves for the caller.
type Result struct {
	// Path is the file to parse: the fresh copy, the cached copy after a
	// 304 or a failure, or Source.File. Empty if there is nothing to parse.
	Path string
	// Changed is true if Path holds content the caller has not been given
	// before: a download with different bytes, or a File whose size or
	// modification time changed. Parse again only when it is true.
	Changed bool
	// FetchedAt is when the content at Path was last confirmed current
	// (downloaded, or a 304 received); zero if unknown.
	FetchedAt time.Time
	// ETag and LastModified are the validators stored for the next
	// conditional request.
	ETag         string
	LastModified string
}

// meta is the JSON sidecar kept next to a cached copy.
type meta struct {
	URL          string    `json:"url,omitempty"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256,omitempty"`
	ModTime      time.Time `json:"mod_time,omitzero"` // File sources
}

// Fetcher downloads list sources into a cache directory and keeps the last
// good copy of each. It is safe for concurrent use on different sources;
// concurrent fetches of one source are not coalesced (the last complete
// download wins).
type Fetcher struct {
	dir    string
	client *http.Client
	log    *slog.Logger
}

// New returns a Fetcher caching copies in dir (created at the first
// download, so that a Fetcher that only reads touches nothing). A nil
// client means a plain http.Client (per-request timeouts come from the
// source); a nil logger discards logs.
func New(dir string, client *http.Client, logger *slog.Logger) (*Fetcher, error) {
	if dir == "" {
		return nil, errors.New("list cache: empty directory")
	}
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{dir: dir, client: client, log: logger}, nil
}

func (f *Fetcher) listPath(id string) string { return filepath.Join(f.dir, id+".list") }
func (f *Fetcher) metaPath(id string) string { return filepath.Join(f.dir, id+".meta.json") }

// Cached returns the last good copy of src, to load at start before any
// download, and whether there is one. For a File source it is the file.
func (f *Fetcher) Cached(src Source) (path string, ok bool) {
	if src.File != "" {
		fi, err := os.Stat(src.File)
		return src.File, err == nil && fi.Mode().IsRegular()
	}
	if validID(src.ID) != nil {
		return "", false
	}
	p := f.listPath(src.ID)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// FetchedAt returns when the last good copy of a URL source was last
// confirmed current (its modification time if its metadata is lost), and
// whether there is a copy at all.
func (f *Fetcher) FetchedAt(src Source) (time.Time, bool) {
	if src.File != "" {
		return time.Time{}, false
	}
	path, ok := f.Cached(src)
	if !ok {
		return time.Time{}, false
	}
	if m, ok := f.readMeta(src.ID); ok && m.URL == src.URL && !m.FetchedAt.IsZero() {
		return m.FetchedAt, true
	}
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// Fetch brings the copy of src up to date. URL sources use a conditional
// GET (If-None-Match, If-Modified-Since) and a response of at most
// MaxBytes after decompression within Timeout; a new copy replaces the old
// one (temp file, then rename) only once it has arrived complete. File
// sources are checked in place.
//
// On failure Fetch returns the error and, if one exists, the last good copy
// in Result.Path with Changed false, so the caller keeps blocking with it.
func (f *Fetcher) Fetch(ctx context.Context, src Source) (Result, error) {
	if err := src.Validate(); err != nil {
		return Result{}, fmt.Errorf("fetch list %q: %w", src.ID, err)
	}
	if src.File != "" {
		return f.fetchFile(src)
	}
	old, haveOld := f.readMeta(src.ID)
	cached, haveCopy := f.Cached(src)
	// The validators only describe the copy if the copy is the one they
	// were stored with (a crash between the two renames, or a new URL).
	if haveCopy && haveOld {
		if fi, err := os.Stat(cached); err != nil || fi.Size() != old.Size || old.URL != src.URL {
			old.ETag, old.LastModified = "", ""
		}
	}
	fallback := Result{}
	if haveCopy {
		fallback = Result{Path: cached}
		if haveOld {
			fallback.FetchedAt, fallback.ETag, fallback.LastModified = old.FetchedAt, old.ETag, old.LastModified
		}
	}

	res, err := f.download(ctx, src, old, haveCopy && haveOld)
	if err != nil {
		f.log.Debug("list fetch failed", "list", src.ID, "err", err, "kept", fallback.Path)
		return fallback, fmt.Errorf("fetch list %q: %w", src.ID, err)
	}
	return res, nil
}

// download performs one GET and installs the result.
func (f *Fetcher) download(ctx context.Context, src Source, old meta, conditional bool) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return Result{}, err
	}
	// Asking for gzip ourselves turns off the transport's transparent
	// decompression, so the size limit applies to the decompressed bytes
	// (a small gzip bomb cannot fill the disk).
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "hearth-lists/1")
	if conditional {
		if old.ETag != "" {
			req.Header.Set("If-None-Match", old.ETag)
		}
		if old.LastModified != "" {
			req.Header.Set("If-Modified-Since", old.LastModified)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()

	now := time.Now()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		old.FetchedAt = now
		if err := f.writeMeta(src.ID, old); err != nil {
			f.log.Warn("list cache: cannot update metadata", "list", src.ID, "err", err)
		}
		f.log.Debug("list not modified", "list", src.ID)
		return Result{Path: f.listPath(src.ID), FetchedAt: now, ETag: old.ETag, LastModified: old.LastModified}, nil
	case resp.StatusCode != http.StatusOK:
		return Result{}, fmt.Errorf("unexpected status %s", resp.Status)
	}
	limit := src.maxBytes()
	if resp.ContentLength > limit {
		return Result{}, fmt.Errorf("response of %d bytes exceeds the limit of %d", resp.ContentLength, limit)
	}
	body, err := decoded(resp, limit)
	if err != nil {
		return Result{}, err
	}
	size, sum, err := f.install(src.ID, body, limit)
	if err != nil {
		return Result{}, err
	}
	m := meta{URL: src.URL, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
		FetchedAt: now, Size: size, SHA256: sum}
	if err := f.writeMeta(src.ID, m); err != nil {
		// The copy is in place; without validators the next fetch is
		// simply unconditional.
		f.log.Warn("list cache: cannot write metadata", "list", src.ID, "err", err)
	}
	changed := sum != old.SHA256
	f.log.Info("list downloaded", "list", src.ID, "bytes", size, "changed", changed)
	return Result{Path: f.listPath(src.ID), Changed: changed, FetchedAt: now, ETag: m.ETag, LastModified: m.LastModified}, nil
}

// decoded returns the response body, decompressed if the server sent gzip
// (Content-Encoding) or the list itself is a .gz file (by its magic bytes).
func decoded(resp *http.Response, limit int64) (io.Reader, error) {
	// The compressed stream is bounded too, by the same limit: gzip never
	// makes a text list larger than it was.
	raw := bufio.NewReader(io.LimitReader(resp.Body, limit+1))
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			return gzipReader(raw)
		}
		return raw, nil
	case "gzip", "x-gzip":
		return gzipReader(raw)
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
}

func gzipReader(r io.Reader) (io.Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return zr, nil
}

// install copies body to a temporary file in the cache directory and
// renames it over the cached copy once body has ended cleanly within limit.
func (f *Fetcher) install(id string, body io.Reader, limit int64) (int64, string, error) {
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return 0, "", fmt.Errorf("list cache: %w", err)
	}
	tmp, err := os.CreateTemp(f.dir, id+".*.tmp")
	if err != nil {
		return 0, "", fmt.Errorf("list cache: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, limit+1))
	switch {
	case err != nil:
		return 0, "", fmt.Errorf("download after %d bytes: %w", n, err)
	case n > limit:
		return 0, "", fmt.Errorf("list exceeds the limit of %d bytes", limit)
	case n == 0:
		// An empty 200 from a broken mirror would silently unblock the
		// whole category; keep the old copy instead.
		return 0, "", errors.New("empty response body")
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", fmt.Errorf("list cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, "", fmt.Errorf("list cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.listPath(id)); err != nil {
		return 0, "", fmt.Errorf("list cache: %w", err)
	}
	done = true
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// fetchFile checks a local list in place.
func (f *Fetcher) fetchFile(src Source) (Result, error) {
	fi, err := os.Stat(src.File)
	if err != nil {
		return Result{}, fmt.Errorf("fetch list %q: %w", src.ID, err)
	}
	if !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("fetch list %q: %s is not a regular file", src.ID, src.File)
	}
	if fi.Size() > src.maxBytes() {
		return Result{}, fmt.Errorf("fetch list %q: %s has %d bytes, over the limit of %d", src.ID, src.File, fi.Size(), src.maxBytes())
	}
	old, _ := f.readMeta(src.ID)
	changed := old.URL != "file:"+src.File || old.Size != fi.Size() || !old.ModTime.Equal(fi.ModTime())
	now := time.Now()
	m := meta{URL: "file:" + src.File, FetchedAt: now, Size: fi.Size(), ModTime: fi.ModTime()}
	if changed {
		if err := f.writeMeta(src.ID, m); err != nil {
			f.log.Warn("list cache: cannot write metadata", "list", src.ID, "err", err)
		}
	}
	return Result{Path: src.File, Changed: changed, FetchedAt: now}, nil
}

func (f *Fetcher) readMeta(id string) (meta, bool) {
	var m meta
	data, err := os.ReadFile(f.metaPath(id))
	if err != nil {
		return m, false
	}
	if err := json.Unmarshal(data, &m); err != nil {
		f.log.Warn("list cache: ignoring unreadable metadata", "list", id, "err", err)
		return meta{}, false
	}
	return m, true
}

// writeMeta replaces the sidecar atomically.
func (f *Fetcher) writeMeta(id string, m meta) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, id+".meta.*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), f.metaPath(id)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Open opens a list copy for Parse, decompressing it if it is gzip (by its
// magic bytes), as a File source or a shipped .gz list may be.
func Open(path string) (io.ReadCloser, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(fh, readBufferBytes)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("open list %s: %w", path, err)
		}
		return &readCloser{Reader: zr, close: fh.Close}, nil
	}
	// A plain list is read by Parse's own buffer: rewound, the file
	// saves copying every byte through br as well.
	if _, err := fh.Seek(0, io.SeekStart); err == nil {
		return fh, nil
	}
	return &readCloser{Reader: br, close: fh.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
