package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"strings"
)

// BlockInfo is what the block page says about one request: the name the
// browser asked for and why the device may not reach it.
type BlockInfo struct {
	// Host is the blocked name; "" falls back to the request's Host.
	Host string
	// Device and Profile are display names; either may be "".
	Device, Profile string
	// Reason is the decision's bounded label (policy.Reason's String:
	// "tag", "schedule", "paused", "deny-rule", ...).
	Reason string
	// Text is the explanation parents read.
	Text string
	// Category is the display name of the blocking category or service.
	Category string
	// Blocked is false when the name is not blocked (any more) for this
	// device: the browser still had the block address cached.
	Blocked bool
	// AskForm offers the "ask for access" form, which posts to /ask on
	// the same listener (package askparent).
	AskForm bool
}

//go:embed block.css
var blockCSS string

// blockTmpl is the block page. html/template escapes every value for its
// context; the page has no script and no link to anywhere.
var blockTmpl = template.Must(template.New("block").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{if .Blocked}}{{.T "Blocked: {host}" "host" .Host}}{{else}}{{.Host}}{{end}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<main class="box">
<svg class="icon" aria-hidden="true" viewBox="0 0 48 48" width="56" height="56">
{{- if .Blocked}}<path d="M24 4 8 10v12c0 10 7 18 16 22 9-4 16-12 16-22V10z" fill="#2f6f5e"/><path d="M17 24h14" stroke="#fff" stroke-width="4" stroke-linecap="round"/>
{{- else}}<circle cx="24" cy="24" r="20" fill="#2f6f5e"/><path d="m15 25 6 6 12-13" stroke="#fff" stroke-width="4" fill="none" stroke-linecap="round" stroke-linejoin="round"/>
{{- end}}</svg>
<h1>{{.Heading}}</h1>
{{if .Blocked -}}
<p class="why">{{.Why}}</p>
{{if .Text}}<p class="text">{{.Text}}</p>{{end}}
{{if .AskForm -}}
<form class="ask" method="post" action="/ask">
<input type="hidden" name="host" value="{{.Host}}">
<label for="message">{{.Ask}} {{.T "You can add a message:"}}</label>
<textarea id="message" name="message" rows="2" maxlength="280"></textarea>
<button type="submit">{{.T "Ask for access"}}</button>
</form>
{{- else -}}
<p class="ask">{{.Ask}}</p>
{{- end}}
{{- else -}}
<p class="why">{{.T "Your device may still remember the old answer for a minute. Try reloading the page."}}</p>
{{- end}}
{{if .Profile}}<p class="meta">{{.T "Profile: {profile}" "profile" .Profile}}</p>{{end}}
<p class="meta">Hearth</p>
</main>
</body>
</html>
`))

// blockPage is what the template reads.
type blockPage struct {
	BlockInfo
	// Lang is the page's language; cat translates into it.
	Lang         string
	cat          *catalog
	Heading, Ask template.HTML
	Why          string
	CSS          template.CSS
}

// T translates key into the page's language (tr).
func (p blockPage) T(key string, args ...string) string { return p.cat.tr(p.Lang, key, args...) }

// maxHost bounds the host shown: a DNS name is at most 253 bytes.
const maxHost = 253

// BlockPage returns the handler of the block page: every request, whatever
// its path and Host, gets an HTML page saying the site is blocked on this
// device, why in plain words, and that a parent can allow it. lookup says
// what is blocked for the request's client. The answer is 403 (200 when
// lookup says the name is not blocked), never cached, with a CSP that
// allows only the page's own inline style (by hash): no scripts, images,
// frames, and no forms but the ask form, which posts to this origin.
func BlockPage(lookup func(r *http.Request) BlockInfo) http.Handler {
	sum := sha256.Sum256([]byte(blockCSS))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return &blockHandler{lookup: lookup, csp: csp, cat: mustCatalog()}
}

// blockHandler serves the block page.
type blockHandler struct {
	lookup func(r *http.Request) BlockInfo
	csp    string
	cat    *catalog
}

// ServeHTTP answers every request with the block page.
func (b *blockHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := b.lookup(r)
	// The page is in the language of the child's browser: it is served
	// on the blocked site's name, where the UI's language cookie is not.
	lang := b.cat.lang(r, false)
	if info.Host == "" {
		info.Host = requestHost(r)
	}
	if info.Host == "" {
		info.Host = b.cat.tr(lang, "This site")
	}
	if len(info.Host) > maxHost {
		info.Host = info.Host[:maxHost] + "…"
	}
	page := blockPage{BlockInfo: info, Lang: lang, cat: b.cat, Why: why(b.cat, lang, info), CSS: template.CSS(blockCSS)}
	host := `<span class="host">` + template.HTML(template.HTMLEscapeString(info.Host)) + `</span>`
	if info.Blocked {
		device := info.Device
		if device == "" {
			device = b.cat.tr(lang, "this device")
		}
		page.Heading = b.cat.trHTML(lang, "{host} is blocked on {device}", "host", host, "device", template.HTML(template.HTMLEscapeString(device)))
		page.Ask = b.cat.trHTML(lang, "Think you need it? {ask}: they can allow it from Hearth.",
			"ask", "<strong>"+template.HTML(template.HTMLEscapeString(b.cat.tr(lang, "Ask a parent")))+"</strong>")
	} else {
		page.Heading = b.cat.trHTML(lang, "{host} is not blocked any more", "host", host)
	}
	var buf bytes.Buffer
	if err := blockTmpl.Execute(&buf, page); err != nil {
		// The template and its data are ours, and a bytes.Buffer does not
		// fail: this cannot happen short of a bug, and says little anyway.
		http.Error(w, "blocked by Hearth", http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", b.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", lang)
	h.Set("Vary", "Accept-Language")
	code := http.StatusForbidden
	if !info.Blocked {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// requestHost is the request's Host without its port; "" when it has
// none.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return host
}

// why says in plain words, in lang, why a site is blocked, for a child
// reading the block page.
func why(c *catalog, lang string, info BlockInfo) string {
	return c.tr(lang, whyKey(info), "what", info.Category)
}

// whyKey is why's message key; {what} is the category or service.
func whyKey(info BlockInfo) string {
	what := info.Category != ""
	switch info.Reason {
	case "tag":
		if what {
			return msg("It is in the category “{what}”, which is blocked on this device.")
		}
		return msg("It is on a block list for this device.")
	case "schedule":
		if what {
			return msg("“{what}” is not allowed at this time of day (a schedule, like homework time).")
		}
		return msg("It is not allowed at this time of day (a schedule, like homework time).")
	case "paused":
		return msg("The internet is paused on this device right now (for example, it is bedtime).")
	case "budget":
		if what {
			return msg("Time budget used: today’s time for “{what}” is used up. It starts again at midnight, or a parent can give extra time.")
		}
		return msg("Time budget used: today’s time for it is used up. It starts again at midnight, or a parent can give extra time.")
	case "deny-rule":
		return msg("A parent put it on this device’s list of blocked sites.")
	case "protected":
		if what {
			return msg("It is listed as “{what}”, which is always blocked to keep this device safe.")
		}
		return msg("It is always blocked to keep this device safe.")
	case "canary", "private-relay", "ddr":
		return msg("It could be used to get around the filter on this device.")
	}
	if what {
		return msg("It is in the category “{what}”, which is blocked on this device.")
	}
	return msg("The settings for this device block it.")
}

// msg marks s as a message key that is translated later (tr); the
// catalogue test finds keys by it.
func msg(s string) string { return s }
