// Package web owns Hearth's browser-facing pages: the parents' single-page
// UI (hand-written HTML, CSS and JavaScript embedded in the binary, with no
// build step), which talks only to the JSON API of package api, and the
// block page a device sees when it opens a blocked site over plain HTTP.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// staticFS holds the UI: index.html and the assets under static/.
//
//go:embed index.html static
var staticFS embed.FS

// uiCSP is the Content-Security-Policy of every UI response. It allows
// nothing but this origin: no inline scripts or styles, no framing (the UI
// changes a child's filtering, so clickjacking it must be impossible), no
// <base> tricks and no form posts elsewhere.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// contentTypes maps the extensions the UI uses to their types. It is a
// fixed table rather than mime.TypeByExtension, whose answers depend on
// the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// ui serves the embedded UI.
type ui struct {
	cat *catalog
	// index is the page in each language, by code.
	index  map[string]asset
	static map[string]asset // by path below /static/
}

// indexPage is what index.html's template reads.
type indexPage struct {
	Lang string
	cat  *catalog
}

// T translates key into the page's language (tr).
func (p indexPage) T(key string) string { return p.cat.tr(p.Lang, key) }

// Handler returns the parents' UI: "/" (and "/index.html") serve the page,
// "/static/..." its scripts, styles and icons. Every answer carries
// Cache-Control: no-cache with an ETag, so a new binary's assets are
// picked up at once while unchanged ones cost a 304, and a strict CSP.
// Any other path is 404; methods other than GET and HEAD are 405.
func Handler() http.Handler {
	u := &ui{cat: mustCatalog(), index: map[string]asset{}, static: map[string]asset{}}
	// The files are embedded at build time: an error is a build bug.
	tmpl, err := template.ParseFS(staticFS, "index.html")
	if err != nil {
		panic(fmt.Sprintf("web: embedded index.html: %v", err))
	}
	for _, lang := range codes() {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, indexPage{Lang: lang, cat: u.cat}); err != nil {
			panic(fmt.Sprintf("web: index.html in %s: %v", lang, err))
		}
		u.index[lang] = newAsset("index.html", b.Bytes())
	}
	err = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		u.static[strings.TrimPrefix(p, "static/")] = newAsset(p, b)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: embedded assets: %v", err))
	}
	return u
}

func newAsset(name string, b []byte) asset {
	sum := sha256.Sum256(b)
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	return asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// ServeHTTP serves the page and its assets.
func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var a asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		// The page is in the language of the menu's cookie, else of
		// Accept-Language; app.js reads it from <html lang>.
		lang := u.cat.lang(r, true)
		a = u.index[lang]
		h.Set("Content-Language", lang)
		h.Set("Vary", "Accept-Language, Cookie")
	case strings.HasPrefix(p, "/static/"):
		var ok bool
		if a, ok = u.static[strings.TrimPrefix(p, "/static/")]; !ok {
			http.NotFound(w, r)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304 and handles HEAD and
	// ranges; a zero time leaves Last-Modified out (the ETag is enough).
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
