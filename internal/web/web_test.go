package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServes(t *testing.T) {
	h := Handler()
	appJS, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		Path     string
		WantType string
		WantBody []byte
	}{
		{"/", "text/html; charset=utf-8", nil}, // per language: TestIndexLanguage
		{"/index.html", "text/html; charset=utf-8", nil},
		{"/static/app.js", "text/javascript; charset=utf-8", appJS},
		{"/static/app.css", "text/css; charset=utf-8", nil},
		{"/static/icon.svg", "image/svg+xml", nil},
	}
	for _, c := range cases {
		t.Run(c.Path, func(t *testing.T) {
			rec := get(t, h, http.MethodGet, c.Path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			want := map[string]string{
				"Content-Type":            c.WantType,
				"Cache-Control":           "no-cache",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": uiCSP,
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
			if rec.Body.Len() == 0 {
				t.Error("empty body")
			}
			if c.WantBody != nil && !bytes.Equal(rec.Body.Bytes(), c.WantBody) {
				t.Error("body differs from the file")
			}
		})
	}
}

func TestHandlerCSPIsStrict(t *testing.T) {
	rec := get(t, Handler(), http.MethodGet, "/", nil)
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP %q allows something unsafe", csp)
	}
}

func TestHandlerRejects(t *testing.T) {
	h := Handler()
	cases := []struct {
		Method, Path string
		Want         int
	}{
		{http.MethodGet, "/static/nope.js", http.StatusNotFound},
		{http.MethodGet, "/static/", http.StatusNotFound},
		{http.MethodGet, "/static", http.StatusNotFound},
		{http.MethodGet, "/static/app.js/x", http.StatusNotFound},
		{http.MethodGet, "/static/../web.go", http.StatusNotFound},
		{http.MethodGet, "/static/%2e%2e/web.go", http.StatusNotFound},
		{http.MethodGet, "/web.go", http.StatusNotFound},
		{http.MethodGet, "/block.css", http.StatusNotFound},
		{http.MethodGet, "/devices", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/static/app.js", http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		rec := get(t, h, c.Method, c.Path, nil)
		if rec.Code != c.Want {
			t.Errorf("%s %s: status %d, want %d", c.Method, c.Path, rec.Code, c.Want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", c.Method, c.Path)
		}
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	first := get(t, h, http.MethodGet, "/static/app.css", nil)
	etag := first.Header().Get("ETag")
	again := get(t, h, http.MethodGet, "/static/app.css", map[string]string{"If-None-Match": etag})
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("If-None-Match %s: status %d with %d bytes, want 304 and none", etag, again.Code, again.Body.Len())
	}
	other := get(t, h, http.MethodGet, "/static/app.js", nil).Header().Get("ETag")
	if other == etag {
		t.Errorf("app.js and app.css share the ETag %s", etag)
	}
	head := get(t, h, http.MethodHead, "/", nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 {
		t.Errorf("HEAD /: status %d with %d bytes, want 200 and none", head.Code, head.Body.Len())
	}
}

// TestIndexHasNothingInline parses index.html: the CSP forbids inline
// scripts, styles and handlers, so the page must not rely on any, and
// every asset it names must be served.
func TestIndexHasNothingInline(t *testing.T) {
	h := Handler()
	body := get(t, h, http.MethodGet, "/", nil).Body.String()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	scripts := 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script":
			scripts++
			if attr(n, "src") == "" {
				t.Errorf("inline <script> (no src)")
			}
			if n.FirstChild != nil && strings.TrimSpace(n.FirstChild.Data) != "" {
				t.Errorf("<script src=%q> has inline content", attr(n, "src"))
			}
		case "style":
			t.Errorf("inline <style> element")
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			switch {
			case key == "style":
				t.Errorf("<%s> has a style attribute", n.Data)
			case strings.HasPrefix(key, "on"):
				t.Errorf("<%s> has an inline handler %s", n.Data, key)
			case key == "src" || key == "href":
				v := strings.TrimSpace(strings.ToLower(a.Val))
				if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "http:") || strings.HasPrefix(v, "https:") || strings.HasPrefix(v, "//") {
					t.Errorf("<%s %s=%q> points outside the page", n.Data, key, a.Val)
				}
				if strings.HasPrefix(a.Val, "/") {
					refs = append(refs, a.Val)
				}
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d scripts, want 1 (app.js)", scripts)
	}
	if !slices.Contains(refs, "/static/app.js") || !slices.Contains(refs, "/static/app.css") {
		t.Errorf("index.html references %v, want app.js and app.css among them", refs)
	}
	for _, ref := range refs {
		if rec := get(t, h, http.MethodGet, ref, nil); rec.Code != http.StatusOK {
			t.Errorf("index.html references %s: status %d", ref, rec.Code)
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestScriptsAvoidHTMLSinks guards against XSS: the UI builds its DOM from
// text nodes and properties, never from HTML strings, and never writes
// style attributes, which the CSP would block.
func TestScriptsAvoidHTMLSinks(t *testing.T) {
	for _, f := range jsFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code := stripComments(string(src))
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", `setAttribute("style"`, "javascript:"} {
			if strings.Contains(code, bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
	}
}

func jsFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("static/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts under static/: %v", err)
	}
	return files
}

var commentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)

func stripComments(s string) string { return commentRE.ReplaceAllString(s, "") }

// TestJSSyntax runs node --check on every script when node is installed.
func TestJSSyntax(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: JavaScript syntax not checked")
	}
	for _, f := range jsFiles(t) {
		out, err := exec.Command(node, "--check", f).CombinedOutput()
		if err != nil {
			t.Errorf("node --check %s: %v\n%s", f, err, out)
		}
	}
}

func TestCSSBalanced(t *testing.T) {
	for _, f := range []string{"static/app.css", "block.css"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := commentRE.ReplaceAllString(string(b), "")
		depth := 0
		for i, c := range s {
			switch c {
			case '{':
				depth++
			case '}':
				depth--
			}
			if depth < 0 {
				t.Fatalf("%s: unbalanced } at byte %d", f, i)
			}
		}
		if depth != 0 {
			t.Errorf("%s: %d unclosed {", f, depth)
		}
	}
}

// testIDList parses the data-testid list in app.js's header comment.
func testIDList(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	header := commentRE.FindString(string(src))
	start := strings.Index(header, "data-testid list:")
	end := strings.Index(header, "Values a test sets")
	if start < 0 || end < start {
		t.Fatal("app.js has no data-testid list in its header comment")
	}
	var ids []string
	for _, line := range strings.Split(header[start+len("data-testid list:"):end], "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if i := strings.Index(line, ":"); i >= 0 {
			line = line[i+1:]
		}
		for _, f := range strings.Split(line, ",") {
			if f = strings.TrimSpace(f); f != "" {
				ids = append(ids, f)
			}
		}
	}
	return ids
}

// templateRE turns a listed id ("log-row-{rowid}") into a pattern.
func templateRE(id string) *regexp.Regexp {
	parts := regexp.MustCompile(`\{[a-z]+\}`).Split(id, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, `[^\s'"]+`) + "$")
}

// TestTestIDsListed keeps the list a browser test relies on in step with
// the code: every listed id is made somewhere, and every id made is listed.
func TestTestIDsListed(t *testing.T) {
	listed := testIDList(t)
	src, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	code := stripComments(string(src))

	// Ids the code makes: literal strings and template literals, with
	// ${...} standing for a variable part.
	var made []string
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile("testid: ['`]([^'`]+)['`]"),
		regexp.MustCompile("ctl\\('[a-z]+', ['`]([^'`]+)['`]"),
		regexp.MustCompile("checkbox\\(['`]([^'`]+)['`]"),
		regexp.MustCompile("errorBox\\(['`]([^'`]+)['`]"),
		regexp.MustCompile("mount\\(seq, '([^']+)'"),
		regexp.MustCompile("barRow\\(`([^`]+)`"),
		regexp.MustCompile("zonePicker\\('([a-z]+)'"),
	} {
		for _, m := range re.FindAllStringSubmatch(code, -1) {
			id := m[1]
			if strings.HasPrefix(re.String(), "zonePicker") {
				made = append(made, id+"-timezone", id+"-timezone-text")
				continue
			}
			if !strings.HasPrefix(id, "${") {
				made = append(made, id)
			}
		}
	}
	for _, m := range regexp.MustCompile(`data-testid="([^"]+)"`).FindAllStringSubmatch(string(index), -1) {
		made = append(made, m[1])
	}
	if len(made) < 50 {
		t.Fatalf("found only %d ids in the code: the patterns of this test are stale", len(made))
	}
	dynamic := regexp.MustCompile(`\$\{[^}]+\}`)
	// A made id with ${...} parts ("log-row-${row.id}") is a pattern too.
	madeREs := make([]*regexp.Regexp, len(made))
	concrete := make([]string, len(made))
	for i, id := range made {
		parts := dynamic.Split(id, -1)
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		madeREs[i] = regexp.MustCompile("^" + strings.Join(parts, `[^\s'"]+`) + "$")
		concrete[i] = dynamic.ReplaceAllString(id, "X1")
	}
	listedREs := make([]*regexp.Regexp, len(listed))
	for i, l := range listed {
		listedREs[i] = templateRE(l)
	}
	matches := func(i, j int) bool {
		return made[i] == listed[j] || listedREs[j].MatchString(concrete[i]) || madeREs[i].MatchString(listed[j])
	}
	for i, id := range made {
		found := false
		for j := range listed {
			if matches(i, j) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("the code makes data-testid %q, which the list in app.js does not name", id)
		}
	}
	for j, l := range listed {
		found := false
		for i := range made {
			if matches(i, j) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("the list names data-testid %q, which the code does not make", l)
		}
	}

	// The ids the browser test was promised.
	for _, want := range []string{
		"wizard-code", "wizard-password", "wizard-password2", "wizard-next", "wizard-timezone", "wizard-default-profile", "wizard-finish",
		"login-user", "login-password", "login-submit", "nav-devices", "nav-profiles", "nav-log",
		"device-row-{id}", "device-profile-select", "device-save", "profile-row-{id}", "schedule-add",
		"schedule-name-{i}", "schedule-kind-{i}", "schedule-from-{i}", "schedule-to-{i}", "schedule-day-{i}-{day}",
		"profile-save", "log-row-{rowid}", "log-allow-{rowid}", "log-allow-duration-{rowid}", "toast", "log-refresh",
	} {
		if !slices.Contains(listed, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
}

func TestAssetsAreNotEmpty(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/static/app.js", "/static/app.css", "/static/icon.svg"} {
		rec := get(t, h, http.MethodGet, p, nil)
		b, _ := io.ReadAll(rec.Body)
		if len(b) < 100 {
			t.Errorf("%s: %d bytes", p, len(b))
		}
	}
}
