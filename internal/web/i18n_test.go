package web

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"
)

// jsString is a string literal of a script: its text (a template
// literal's text between its ${...}), where it is, and whether it is the
// first argument of t().
type jsString struct {
	text     string
	line     int
	template bool // a template literal, or a part of one
	key      bool // t('...')'s first argument
	keyBad   bool // t(`...`) or t('a' + b): not a plain literal
}

// scanJS returns the string literals of src, skipping comments and
// regular expression literals.
func scanJS(src string) []jsString {
	s := &jsScanner{src: src, line: 1}
	s.code(0)
	return s.out
}

type jsScanner struct {
	src  string
	i    int
	line int
	out  []jsString
	// last is the code before the current position, without strings and
	// comments, to tell t( and regex literals.
	last strings.Builder
}

var tCallRE = regexp.MustCompile(`(?:^|[^\w$.])t\(\s*$`)

// code scans code until an unmatched '}' when depth > 0 (the end of a
// template's ${...}) or the end.
func (s *jsScanner) code(depth int) {
	braces := 0
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\n':
			s.line++
			s.last.WriteByte(c)
			s.i++
		case strings.HasPrefix(s.src[s.i:], "//"):
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		case strings.HasPrefix(s.src[s.i:], "/*"):
			end := strings.Index(s.src[s.i+2:], "*/")
			if end < 0 {
				end = len(s.src) - s.i - 2
			}
			s.line += strings.Count(s.src[s.i:s.i+2+end], "\n")
			s.i += end + 4
		case c == '\'' || c == '"':
			s.str(c)
		case c == '`':
			s.tmpl()
		case c == '/' && s.regexAllowed():
			s.regex()
		case c == '{':
			braces++
			s.last.WriteByte(c)
			s.i++
		case c == '}':
			if braces == 0 && depth > 0 {
				s.i++
				return
			}
			braces--
			s.last.WriteByte(c)
			s.i++
		default:
			s.last.WriteByte(c)
			s.i++
		}
	}
}

// regexAllowed says whether a '/' here starts a regular expression.
func (s *jsScanner) regexAllowed() bool {
	code := s.last.String()
	code = strings.TrimRightFunc(code[max(0, len(code)-64):], unicode.IsSpace)
	if code == "" {
		return true
	}
	if strings.ContainsRune("(,=:[!&|?{};+-*%<>~^", rune(code[len(code)-1])) {
		return true
	}
	return strings.HasSuffix(code, "return") || strings.HasSuffix(code, "typeof")
}

func (s *jsScanner) regex() {
	s.i++
	class := false
	for s.i < len(s.src) {
		c := s.src[s.i]
		s.i++
		switch {
		case c == '\\':
			s.i++
		case c == '[':
			class = true
		case c == ']':
			class = false
		case c == '/' && !class:
			s.last.WriteString("/re/")
			return
		}
	}
}

// isKey reports whether a literal starting now is t()'s first argument.
func (s *jsScanner) isKey() bool {
	code := s.last.String()
	// t( and the spaces after it are all that matters.
	return tCallRE.MatchString(code[max(0, len(code)-64):])
}

func (s *jsScanner) str(q byte) {
	key := s.isKey()
	line := s.line
	s.i++
	var b strings.Builder
	for s.i < len(s.src) && s.src[s.i] != q {
		if s.src[s.i] == '\\' && s.i+1 < len(s.src) {
			switch n := s.src[s.i+1]; n {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(n)
			}
			s.i += 2
			continue
		}
		b.WriteByte(s.src[s.i])
		s.i++
	}
	s.i++
	// t('a' + b) is no plain key: what follows the literal must end the
	// argument.
	rest := strings.TrimLeftFunc(s.src[s.i:], unicode.IsSpace)
	bad := key && !(strings.HasPrefix(rest, ")") || strings.HasPrefix(rest, ","))
	s.out = append(s.out, jsString{text: b.String(), line: line, key: key && !bad, keyBad: bad})
	s.last.WriteString(`""`)
}

func (s *jsScanner) tmpl() {
	key := s.isKey()
	line := s.line
	s.i++
	var b strings.Builder
	flush := func() {
		s.out = append(s.out, jsString{text: b.String(), line: line, template: true, keyBad: key})
		b.Reset()
	}
	for s.i < len(s.src) && s.src[s.i] != '`' {
		switch {
		case s.src[s.i] == '\\' && s.i+1 < len(s.src):
			b.WriteByte(s.src[s.i+1])
			s.i += 2
		case strings.HasPrefix(s.src[s.i:], "${"):
			flush()
			s.i += 2
			saved := s.last.String()
			s.last.Reset()
			s.code(1)
			s.last.Reset()
			s.last.WriteString(saved)
			line = s.line
		default:
			if s.src[s.i] == '\n' {
				s.line++
			}
			b.WriteByte(s.src[s.i])
			s.i++
		}
	}
	s.i++
	flush()
	s.last.WriteString(`""`)
}

// notUIText are literals of app.js that have capitals or spaces but are
// not shown to people: HTTP methods and headers, key names, locales.
// Add a literal here only when it is never shown.
var notUIText = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "DELETE": true, "HEAD": true,
	"Accept": true, "Content-Type": true, "X-CSRF-Token": true, "Retry-After": true,
	"Escape": true, "Enter": true, "UTC": true, "Hearth": true,
	"en-CA": true, "en-US": true, "Etc/UTC": true,
	"use strict": true, "DOMContentLoaded": true, "timeZone": true, "#nav a[data-route]": true,
	"XXXX-XXXX-XXXX": true, // the setup code's shape
	"; Secure":       true, "; Path=/; Max-Age=31536000; SameSite=Strict": true, "hearth-lang=; Path=/; Max-Age=0; SameSite=Strict": true,
}

// cssClasses are the classes app.css defines: a literal made of them
// only ("card narrow") is a class list.
func cssClasses(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.([a-zA-Z][\w-]*)`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

var (
	letterRE = regexp.MustCompile(`\pL`)
	wordRE   = regexp.MustCompile(`\pL{2,}`)
)

// uiText reports whether a literal outside t() reads like words a person
// sees: letters with a space, a capital or a non-ASCII letter. A class
// list, a path or an identifier does not.
func uiText(s jsString, classes map[string]bool) bool {
	text := strings.TrimSpace(s.text)
	if !letterRE.MatchString(text) || notUIText[text] {
		return false
	}
	if s.template {
		// A part of a template literal: text with a space beside words
		// (`${n} devices`); paths and test ids have none.
		return strings.ContainsAny(s.text, " \u00a0") && wordRE.MatchString(text)
	}
	words := strings.Fields(text)
	allClasses := true
	for _, w := range words {
		allClasses = allClasses && classes[w]
	}
	if allClasses {
		return false
	}
	if len(words) > 1 {
		return true
	}
	for _, r := range text {
		if unicode.IsUpper(r) || r > unicode.MaxASCII && unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// goKeyRE finds the keys of Go code and templates: tr(lang, "..."),
// trHTML(lang, "..."), msg("...") and {{.T "..."}}.
var goKeyRE = regexp.MustCompile(`(?:\btr(?:HTML)?\([^,()]+, |\bmsg\(|\{\{\s*\.T )"((?:[^"\\]|\\.)*)"`)

// uiKeys returns every message key of the UI: app.js's t() literals, and
// the Go code's and templates'. It fails the test for a t() whose key is
// not a plain literal, or a UI string written without t().
func uiKeys(t *testing.T) map[string]string {
	t.Helper()
	keys := map[string]string{}
	classes := cssClasses(t)
	for _, f := range jsFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scanJS(string(src)) {
			where := fmt.Sprintf("%s:%d", f, s.line)
			switch {
			case s.keyBad:
				t.Errorf("%s: t() takes a plain string literal, so that this test sees the key: %q", where, s.text)
			case s.key:
				keys[s.text] = where
			case uiText(s, classes):
				t.Errorf("%s: %q is shown untranslated: write t('...') (docs/translations.md)", where, s.text)
			}
		}
	}
	for _, f := range []string{"index.html", "block.go", "web.go", "i18n.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKeyRE.FindAllStringSubmatch(string(src), -1) {
			k := m[1]
			if strings.HasSuffix(f, ".go") {
				var err error
				if k, err = unquote(k); err != nil {
					t.Fatalf("%s: %q: %v", f, m[1], err)
				}
			}
			keys[k] = f
		}
	}
	return keys
}

func unquote(s string) (string, error) {
	var out string
	err := json.Unmarshal([]byte(`"`+s+`"`), &out)
	return out, err
}

var placeholderRE = regexp.MustCompile(`\{\w+\}`)

func placeholders(s string) []string {
	p := placeholderRE.FindAllString(s, -1)
	sort.Strings(p)
	return p
}

// TestCatalogComplete: every UI string is written t('English'), and every
// language's catalogue translates every key, keeps its placeholders, and
// holds no key the UI no longer uses.
func TestCatalogComplete(t *testing.T) {
	keys := uiKeys(t)
	if len(keys) < 50 {
		t.Fatalf("only %d keys found: the scan is broken", len(keys))
	}
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range codes()[1:] {
		m := c.msgs[lang]
		var missing []string
		for k, where := range keys {
			v, ok := m[k]
			switch {
			case !ok:
				missing = append(missing, fmt.Sprintf("%q (%s)", k, where))
			case strings.TrimSpace(v) == "":
				t.Errorf("%s: %q is empty", lang, k)
			case !slices.Equal(placeholders(v), placeholders(k)):
				t.Errorf("%s: %q → %q: placeholders %v, want %v", lang, k, v, placeholders(v), placeholders(k))
			}
		}
		sort.Strings(missing)
		for _, k := range missing {
			t.Errorf("static/i18n/%s.json lacks %s", lang, k)
		}
		for k := range m {
			if _, ok := keys[k]; !ok {
				t.Errorf("static/i18n/%s.json: %q is used nowhere: remove it", lang, k)
			}
		}
	}
}

// TestCatalogFilesSorted keeps the catalogues easy to merge: one key a
// line, sorted, so that two people adding strings rarely touch the same
// line.
func TestCatalogFilesSorted(t *testing.T) {
	for _, lang := range codes()[1:] {
		path := filepath.Join("static", "i18n", lang+".json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if want := formatCatalog(m); string(b) != want {
			t.Errorf("%s is not in canonical form (sorted, one key a line): run `go test ./internal/web -run TestCatalogFilesSorted -fix-catalog`", path)
			if *fixCatalog {
				os.WriteFile(path, []byte(want), 0o644)
			}
		}
	}
}

// fixCatalog rewrites the catalogues in canonical form.
var fixCatalog = flag.Bool("fix-catalog", false, "rewrite static/i18n/*.json sorted, one key a line")

// formatCatalog writes m one key a line, sorted.
func formatCatalog(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(m[k])
		b.WriteString("  " + strings.ReplaceAll(string(kb), `\u0026`, "&") + ": " + strings.ReplaceAll(string(vb), `\u0026`, "&"))
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// TestScanJS checks the literal scanner on what app.js writes.
func TestScanJS(t *testing.T) {
	src := "const a = t('Log in'); // 'comment'\n" +
		"/* 'block' */ const b = `Paused until ${when(x ? 'a b' : t('tomorrow'))} now`;\n" +
		"const r = /[^'\"]+/g; h('p', { class: 'card narrow', text: 'Hello there' });\n" +
		"t(`tmpl ${x}`); t('a' + b); st('Not a key');\n"
	got := scanJS(src)
	var keys, strs, bad []string
	for _, s := range got {
		switch {
		case s.key:
			keys = append(keys, s.text)
		case s.keyBad:
			bad = append(bad, s.text)
		default:
			strs = append(strs, s.text)
		}
	}
	if want := []string{"Log in", "tomorrow"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if want := []string{"Paused until ", "a b", " now", "p", "card narrow", "Hello there", "Not a key"}; !slices.Equal(strs, want) {
		t.Errorf("strings %q, want %q", strs, want)
	}
	if want := []string{"tmpl ", "", "a"}; !slices.Equal(bad, want) {
		t.Errorf("bad keys %q, want %q", bad, want)
	}
	classes := map[string]bool{"card": true, "narrow": true}
	for _, c := range []struct {
		s    jsString
		want bool
	}{
		{jsString{text: "card narrow"}, false},
		{jsString{text: "Hello there"}, true},
		{jsString{text: "/api/v1/devices"}, false},
		{jsString{text: "token-row-"}, false},
		{jsString{text: "never used"}, true},
		{jsString{text: "Mon"}, true},
		{jsString{text: " min", template: true}, true},
		{jsString{text: "/api/v1/devices/", template: true}, false},
		{jsString{text: "GET"}, false},
	} {
		if got := uiText(c.s, classes); got != c.want {
			t.Errorf("uiText(%q) = %v, want %v", c.s.text, got, c.want)
		}
	}
}

// TestIndexLanguage: the page comes in the language of the menu's cookie,
// else the browser's Accept-Language, else English; its strings are
// translated, and the answer varies with both.
func TestIndexLanguage(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, accept, cookie string
		wantLang, wantText   string
	}{
		{"no preference", "", "", "en", "Skip to content"},
		{"German browser", "de-DE,de;q=0.9,en;q=0.8", "", "de", "Zum Inhalt springen"},
		{"Austrian German", "de-AT", "", "de", "Geräte"},
		{"Spanish browser", "es-MX,es;q=0.9", "", "es", "Dispositivos"},
		{"unsupported", "fr-FR,fr;q=0.9", "", "en", "Devices"},
		{"second choice", "fr-FR,es;q=0.5", "", "es", "Ajustes"},
		{"cookie wins", "de-DE", "es", "es", "Dispositivos"},
		{"cookie English", "de-DE", "en", "en", "Devices"},
		{"bad cookie", "de-DE", "xx", "de", "Geräte"},
		{"garbage header", "@@@;;q=x", "", "en", "Devices"},
		{"huge header", strings.Repeat("de-DE,", 200), "", "en", "Devices"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]string{"Accept-Language": tc.accept}
			if tc.cookie != "" {
				req["Cookie"] = LangCookie + "=" + tc.cookie
			}
			rec := get(t, h, http.MethodGet, "/", req)
			body := rec.Body.String()
			if !strings.Contains(body, `<html lang="`+tc.wantLang+`">`) || !strings.Contains(body, tc.wantText) {
				t.Errorf("lang %s, want %s with %q:\n%s", rec.Header().Get("Content-Language"), tc.wantLang, tc.wantText, body)
			}
			if v := rec.Header().Get("Vary"); !strings.Contains(v, "Accept-Language") || !strings.Contains(v, "Cookie") {
				t.Errorf("Vary %q", v)
			}
		})
	}
	// No English is left in the German page but names.
	body := get(t, h, http.MethodGet, "/", map[string]string{"Accept-Language": "de"}).Body.String()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	en := get(t, h, http.MethodGet, "/", nil).Body.String()
	for n := range doc.Descendants() {
		if n.Type != html.TextNode || strings.TrimSpace(n.Data) == "" || n.Parent.Data == "option" || strings.TrimSpace(n.Data) == "Hearth" {
			continue
		}
		if strings.Contains(en, ">"+n.Data+"<") {
			t.Errorf("German page shows %q as in English", n.Data)
		}
	}
}

// TestBlockPageLanguage: the block page honours the child's
// Accept-Language (not the UI's cookie: it is served on the blocked
// site's name), values are still escaped, and the reason is translated.
func TestBlockPageLanguage(t *testing.T) {
	h := BlockPage(func(r *http.Request) BlockInfo {
		return BlockInfo{Host: "bet365.com", Device: "<b>Emma</b>", Profile: "Kid", Reason: "tag", Category: "Glücksspiel", Blocked: true}
	})
	tests := []struct {
		accept, cookie string
		want           []string
	}{
		{"de-DE,de;q=0.9", "", []string{`<html lang="de">`, `bet365.com</span> ist auf &lt;b&gt;Emma&lt;/b&gt; gesperrt`, "Kategorie „Glücksspiel“", "Frag deine Eltern", "Profil: Kid"}},
		{"es-ES", "", []string{`<html lang="es">`, `bet365.com</span> está bloqueado en &lt;b&gt;Emma&lt;/b&gt;`, "«Glücksspiel»", "Pregunta a tus padres"}},
		{"fr", "", []string{`<html lang="en">`, `bet365.com</span> is blocked on &lt;b&gt;Emma&lt;/b&gt;`, "Ask a parent"}},
		{"", "de", []string{`<html lang="en">`, "is blocked on"}},
	}
	for _, tc := range tests {
		hdr := map[string]string{"Accept-Language": tc.accept}
		if tc.cookie != "" {
			hdr["Cookie"] = LangCookie + "=" + tc.cookie
		}
		rec := get(t, h, http.MethodGet, "http://bet365.com/", hdr)
		for _, w := range tc.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("Accept-Language %q: page lacks %q:\n%s", tc.accept, w, rec.Body.String())
			}
		}
		if strings.Contains(rec.Body.String(), "<b>") {
			t.Errorf("Accept-Language %q: the device name is not escaped", tc.accept)
		}
	}
}
