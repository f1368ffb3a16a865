package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestBlockPage(t *testing.T) {
	cases := []struct {
		Name       string
		Target     string // request URL; its Host is the request's Host
		Info       BlockInfo
		WantCode   int
		Want       []string // in the body
		WantAbsent []string
	}{
		{
			Name:     "category",
			Target:   "http://bet365.com/poker?x=1",
			Info:     BlockInfo{Host: "bet365.com", Device: "Emma's tablet", Profile: "Kid", Reason: "tag", Category: "Gambling", Text: "blocked: category=gambling", Blocked: true},
			WantCode: http.StatusForbidden,
			Want:     []string{"bet365.com</span> is blocked on Emma&#39;s tablet", "“Gambling”", "blocked: category=gambling", "Ask a parent", "allow it from Hearth", "Profile: Kid"},
		},
		{
			Name:       "hostile host and text",
			Target:     "http://evil.example/",
			Info:       BlockInfo{Host: `<script>alert(1)</script>.example`, Device: `<img src=x onerror=alert(2)>`, Reason: "deny-rule", Text: `"><script>alert(3)</script>`, Category: `</style><script>`, Blocked: true},
			WantCode:   http.StatusForbidden,
			Want:       []string{"&lt;script&gt;alert(1)&lt;/script&gt;.example", "&lt;img src=x onerror=alert(2)&gt;", "list of blocked sites", "&#34;&gt;&lt;script&gt;alert(3)"},
			WantAbsent: []string{"<script", "<img", "onerror=alert(2)>"},
		},
		{
			Name:     "bedtime",
			Target:   "http://youtube.com/",
			Info:     BlockInfo{Host: "youtube.com", Reason: "paused", Blocked: true},
			WantCode: http.StatusForbidden,
			Want:     []string{"youtube.com</span> is blocked on this device", "paused", "bedtime"},
		},
		{
			Name:     "schedule",
			Target:   "http://roblox.com/",
			Info:     BlockInfo{Host: "roblox.com", Reason: "schedule", Category: "Games", Blocked: true},
			WantCode: http.StatusForbidden,
			Want:     []string{"“Games” is not allowed at this time of day"},
		},
		{
			Name:       "host from the request",
			Target:     "http://tiktok.com:8080/@someone",
			Info:       BlockInfo{Reason: "tag", Category: "Social media", Blocked: true},
			WantCode:   http.StatusForbidden,
			Want:       []string{"tiktok.com</span> is blocked", "Social media"},
			WantAbsent: []string{"8080"},
		},
		{
			Name:       "no longer blocked",
			Target:     "http://khanacademy.org/",
			Info:       BlockInfo{Host: "khanacademy.org"},
			WantCode:   http.StatusOK,
			Want:       []string{"khanacademy.org</span> is not blocked any more", "reloading"},
			WantAbsent: []string{"Ask a parent"},
		},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var seen *http.Request
			h := BlockPage(func(r *http.Request) BlockInfo { seen = r; return c.Info })
			req := httptest.NewRequest(http.MethodGet, c.Target, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if seen != req {
				t.Error("lookup was not given the request")
			}
			if rec.Code != c.WantCode {
				t.Errorf("status %d, want %d", rec.Code, c.WantCode)
			}
			body := rec.Body.String()
			for _, w := range c.Want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range c.WantAbsent {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
			checkBlockPage(t, rec)
		})
	}
}

// checkBlockPage checks what every block page must be: HTML, not cached,
// no script, and a CSP whose style hash is the page's own style.
func checkBlockPage(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q: want default-src 'none' and no script source", csp)
	}
	doc, err := html.Parse(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	styles := 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "iframe", "object", "embed", "img", "form", "link":
			t.Errorf("block page has a <%s>", n.Data)
		case "style":
			styles++
			css := ""
			if n.FirstChild != nil {
				css = n.FirstChild.Data
			}
			sum := sha256.Sum256([]byte(css))
			want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks the hash of the page's style (%s)", csp, want)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") || a.Key == "style" {
				t.Errorf("<%s> has attribute %s", n.Data, a.Key)
			}
		}
	}
	if styles != 1 {
		t.Errorf("%d <style> elements, want 1", styles)
	}
}

func TestBlockPageAnyPathAndMethod(t *testing.T) {
	calls := 0
	h := BlockPage(func(r *http.Request) BlockInfo {
		calls++
		return BlockInfo{Host: "x.example", Reason: "tag", Category: "Games", Blocked: true}
	})
	for _, c := range []struct{ Method, Target string }{
		{http.MethodGet, "http://x.example/"},
		{http.MethodGet, "http://x.example/deep/path/file.js"},
		{http.MethodGet, "http://x.example/.hearth/block.css"},
		{http.MethodPost, "http://x.example/login"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.Method, c.Target, nil))
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "x.example</span> is blocked") {
			t.Errorf("%s %s: status %d, body %q", c.Method, c.Target, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "http://x.example/", nil))
	if rec.Code != http.StatusForbidden || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d with %d bytes, want 403 and none", rec.Code, rec.Body.Len())
	}
	if calls != 5 {
		t.Errorf("lookup called %d times, want 5", calls)
	}
}

func TestBlockPageLongHost(t *testing.T) {
	long := strings.Repeat("a", 1000) + ".example"
	h := BlockPage(func(r *http.Request) BlockInfo { return BlockInfo{Host: long, Blocked: true} })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://y.example/", nil))
	if strings.Contains(rec.Body.String(), long[:maxHost+1]) {
		t.Errorf("a %d-byte host is shown whole", len(long))
	}
}

func TestWhy(t *testing.T) {
	cases := []struct {
		Info BlockInfo
		Want string
	}{
		{BlockInfo{Reason: "tag", Category: "Adult content"}, "“Adult content”"},
		{BlockInfo{Reason: "tag"}, "block list"},
		{BlockInfo{Reason: "schedule", Category: "Games"}, "time of day"},
		{BlockInfo{Reason: "paused"}, "paused"},
		{BlockInfo{Reason: "deny-rule"}, "list of blocked sites"},
		{BlockInfo{Reason: "protected", Category: "Malware"}, "always blocked"},
		{BlockInfo{Reason: "canary"}, "get around the filter"},
		{BlockInfo{Reason: "ddr"}, "get around the filter"},
		{BlockInfo{Reason: "something-new", Category: "Dating"}, "“Dating”"},
		{BlockInfo{}, "settings for this device"},
	}
	for _, c := range cases {
		if got := why(mustCatalog(), "en", c.Info); !strings.Contains(got, c.Want) {
			t.Errorf("why(%+v) = %q, want it to contain %q", c.Info, got, c.Want)
		}
	}
}
