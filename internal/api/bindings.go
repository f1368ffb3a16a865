package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Subscriber bindings: an ISP's systems tie subscriber identifiers (an
// IPv4 address, an IPv6 prefix, a CPE id, a client id) to households, one
// at a time or a million in one NDJSON import.

// ImportBindingsPath is the path of the bulk import of bindings; the
// admin server lets its body reach MaxImportBytes.
const ImportBindingsPath = "/api/v1/bindings:import"

// Import bounds. An import is read line by line and applied in batches,
// so memory stays at one batch whatever the body's size.
const (
	// MaxImportBytes bounds one import's body: some ten million lines.
	MaxImportBytes = 1 << 30
	// maxImportLine bounds one line; a longer one is a bad line.
	maxImportLine = 4 << 10
	// importBatch is how many lines go to the store in one transaction.
	importBatch = 1000
	// maxLineErrors is how many bad lines the answer lists; all are
	// counted.
	maxLineErrors = 100
	// importIdle is how long an import may wait for its client: the
	// read deadline moves on by this much with each batch, so a large
	// import outlives the API's request timeout while a client that
	// stops sending does not hold the connection.
	importIdle = time.Minute
)

func (a *API) listBindings(w http.ResponseWriter, r *http.Request) {
	h := r.URL.Query().Get("household")
	if h == "" {
		// A whole ISP's bindings are millions: one household at a time.
		fail(w, http.StatusBadRequest, "household: required")
		return
	}
	if err := store.ValidateID("household", h); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	bs, err := a.c.Store.Bindings(r.Context(), h)
	if err != nil {
		a.storeError(w, r, "bindings", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"bindings": nonNil(bs)})
}

// bindingKey reads and checks the {kind}/{key...} of the path.
func bindingKey(w http.ResponseWriter, r *http.Request) (kind, key string, ok bool) {
	kind = r.PathValue("kind")
	key, err := store.CanonicalBindingKey(kind, r.PathValue("key"))
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return "", "", false
	}
	return kind, key, true
}

func (a *API) getBinding(w http.ResponseWriter, r *http.Request) {
	kind, key, ok := bindingKey(w, r)
	if !ok {
		return
	}
	b, err := a.c.Store.Binding(r.Context(), kind, key)
	if err != nil {
		a.storeError(w, r, "binding "+store.BindingID(kind, key), err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// BindingBody is the body of PUT /api/v1/bindings/{kind}/{key}.
type BindingBody struct {
	Household string `json:"household"`
}

func (a *API) putBinding(w http.ResponseWriter, r *http.Request) {
	kind, key, ok := bindingKey(w, r)
	if !ok {
		return
	}
	var body BindingBody
	if !decode(w, r, &body) {
		return
	}
	b := store.Binding{Kind: kind, Key: key, Household: body.Household, Origin: store.OriginAPI, Updated: a.c.Now()}
	if _, err := a.c.Store.PutBindings(r.Context(), []store.Binding{b}); err != nil {
		a.storeError(w, r, "binding "+store.BindingID(kind, key), err)
		return
	}
	got, err := a.c.Store.Binding(r.Context(), kind, key)
	if err != nil {
		a.storeError(w, r, "binding "+store.BindingID(kind, key), err)
		return
	}
	a.synced(w, r, http.StatusOK, got)
}

func (a *API) deleteBinding(w http.ResponseWriter, r *http.Request) {
	kind, key, ok := bindingKey(w, r)
	if !ok {
		return
	}
	n, err := a.c.Store.DeleteBindings(r.Context(), []store.BindingKey{{Kind: kind, Key: key}})
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		a.storeError(w, r, "binding "+store.BindingID(kind, key), err)
		return
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// ImportLine is one line of an import: a binding to create or replace,
// or with Delete to remove.
type ImportLine struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Household string `json:"household,omitempty"`
	Delete    bool   `json:"delete,omitempty"`
}

// ImportResult is the answer to an import.
type ImportResult struct {
	// Lines counts the lines read, blank ones aside.
	Lines int `json:"lines"`
	// Changed counts bindings created, moved or deleted; Unchanged the
	// good lines that found the store as they asked already.
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
	// Bad counts the lines refused; Errors lists the first of them.
	Bad    int         `json:"bad"`
	Errors []LineError `json:"errors"`
	// Error, when set, says why the import stopped before the end of
	// the body; the batches before it are stored.
	Error string `json:"error,omitempty"`
}

// LineError is a refused line of an import.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

func (res *ImportResult) bad(line int, format string, args ...any) {
	res.Bad++
	if len(res.Errors) < maxLineErrors {
		res.Errors = append(res.Errors, LineError{Line: line, Error: fmt.Sprintf(format, args...)})
	}
}

// importLine is a good line waiting for its batch.
type importLine struct {
	n int
	b store.Binding
}

// importBindings streams an NDJSON body into the store: each line is
// checked on its own, good lines go to the store a batch at a time, each
// batch in one transaction (a delete line starts a new batch, so lines
// apply in order). The answer comes once the running policy has them.
func (a *API) importBindings(w http.ResponseWriter, r *http.Request) {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-ndjson" {
		fail(w, http.StatusUnsupportedMediaType, "request body must be application/x-ndjson")
		return
	}
	ctx := r.Context()
	rc := http.NewResponseController(w)
	extend := func() {
		// Not every ResponseWriter can (a test recorder): the
		// server's own timeout then stays.
		_ = rc.SetReadDeadline(time.Now().Add(importIdle))
		_ = rc.SetWriteDeadline(time.Now().Add(importIdle))
	}
	extend()
	res := ImportResult{Errors: []LineError{}}
	var (
		batch   []importLine
		deletes bool // batch holds deletes, else puts
		now     = a.c.Now()
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := a.applyImport(ctx, &res, batch, deletes)
		batch = batch[:0]
		extend()
		return err
	}
	lr := lineReader{r: bufio.NewReaderSize(r.Body, maxImportLine)}
	var stopErr error
	for n := 1; ; n++ {
		line, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			stopErr = err
			break
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 && !long {
			continue
		}
		res.Lines++
		if long {
			res.bad(n, "longer than %d bytes", maxImportLine)
			continue
		}
		var il ImportLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&il); err != nil {
			res.bad(n, "not a JSON binding: %v", err)
			continue
		}
		if dec.More() {
			res.bad(n, "more than one JSON value")
			continue
		}
		b := store.Binding{Kind: il.Kind, Key: il.Key, Household: il.Household, Origin: store.OriginImport, Updated: now}
		if il.Delete {
			key, err := store.CanonicalBindingKey(il.Kind, il.Key)
			if err != nil {
				res.bad(n, "%v", err)
				continue
			}
			b = store.Binding{Kind: il.Kind, Key: key}
		} else if c, err := b.Canonical(); err != nil {
			res.bad(n, "%v", err)
			continue
		} else {
			b = c
		}
		if il.Delete != deletes || len(batch) == importBatch {
			if stopErr = flush(); stopErr != nil {
				break
			}
			deletes = il.Delete
		}
		batch = append(batch, importLine{n: n, b: b})
	}
	if stopErr == nil {
		stopErr = flush()
	}
	// A batch the store refused reports its lines after later ones.
	slices.SortStableFunc(res.Errors, func(a, b LineError) int { return a.Line - b.Line })
	code := http.StatusOK
	if stopErr != nil {
		res.Error = stopErr.Error()
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(stopErr, &tooBig):
			code, res.Error = http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit)
		case errors.Is(stopErr, errStore):
			a.log.Error("api: bindings import", "err", stopErr)
			code, res.Error = http.StatusInternalServerError, "storing a batch failed; the batches before it are stored"
		default:
			code = http.StatusBadRequest
		}
	}
	if res.Changed == 0 {
		writeJSON(w, code, res)
		return
	}
	a.synced(w, r, code, res)
}

// errStore marks an import stopped by the store, not by its body.
var errStore = errors.New("store")

// applyImport stores one batch. When the store refuses it (a household
// that does not exist: ErrInvalid), the lines of missing households are
// reported and the rest stored.
func (a *API) applyImport(ctx context.Context, res *ImportResult, batch []importLine, deletes bool) error {
	if deletes {
		keys := make([]store.BindingKey, len(batch))
		for i, l := range batch {
			keys[i] = store.BindingKey{Kind: l.b.Kind, Key: l.b.Key}
		}
		n, err := a.c.Store.DeleteBindings(ctx, keys)
		if err != nil {
			return fmt.Errorf("%w: %w", errStore, err)
		}
		res.Changed += n
		res.Unchanged += len(batch) - n
		return nil
	}
	bs := make([]store.Binding, len(batch))
	for i, l := range batch {
		bs[i] = l.b
	}
	n, err := a.c.Store.PutBindings(ctx, bs)
	if errors.Is(err, store.ErrInvalid) {
		missing := map[string]bool{}
		for _, b := range bs {
			if _, seen := missing[b.Household]; seen {
				continue
			}
			_, herr := a.c.Store.Household(ctx, b.Household)
			if herr != nil && !errors.Is(herr, store.ErrNotFound) {
				return fmt.Errorf("%w: %w", errStore, herr)
			}
			missing[b.Household] = herr != nil
		}
		bs = bs[:0]
		for _, l := range batch {
			if missing[l.b.Household] {
				res.bad(l.n, "household %q does not exist", l.b.Household)
				continue
			}
			bs = append(bs, l.b)
		}
		n, err = a.c.Store.PutBindings(ctx, bs)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	res.Changed += n
	res.Unchanged += len(bs) - n
	return nil
}

// lineReader reads lines of at most its buffer's size; the rest of a
// longer line is skipped and the line reported long.
type lineReader struct {
	r *bufio.Reader
}

// next returns the next line without its newline. At the end of the body
// it returns io.EOF (after a last line without a newline).
func (lr lineReader) next() (line []byte, long bool, err error) {
	line, err = lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = lr.r.ReadSlice('\n')
		}
		if err == io.EOF {
			err = nil
		}
		return nil, true, err
	}
	if err == io.EOF && len(line) > 0 {
		return line, false, nil
	}
	return bytes.TrimSuffix(line, []byte("\n")), false, err
}
