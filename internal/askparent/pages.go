package askparent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Who is what the caller knows of the device a page request comes from.
type Who struct {
	// Device is the device id ("" when no device is recognised: such a
	// source cannot ask) and DeviceName its display name.
	Device, DeviceName string
	// Blocked says the host asked about is blocked for the device now;
	// Tag, TagName, TagKind and Reason say by what.
	Blocked                       bool
	Tag, TagName, TagKind, Reason string
}

// DecideFunc carries out an answer: it makes the grant (or, for a deny,
// nothing) and returns what was allowed and until when (zero: always).
type DecideFunc func(ctx context.Context, r Request, choice string) (target string, until time.Time, err error)

// Resolve answers request id with choice on behalf of by: it claims the
// request (so a second answer gets ErrDecided), runs do, and records the
// outcome; if do fails the request stays pending.
func (b *Book) Resolve(ctx context.Context, id, choice, by string, do DecideFunc) (Request, error) {
	if !ValidChoice(choice) {
		return Request{}, errors.New("choice: want 15m, 1h, today, always or deny")
	}
	r, err := b.Claim(id)
	if err != nil {
		return r, err
	}
	var a Answer
	a.Choice, a.By = choice, by
	if choice != ChoiceDeny {
		a.Target, a.Until, err = do(ctx, r, choice)
		if err != nil {
			b.Release(id)
			return r, err
		}
	}
	return b.Settle(id, a)
}

// PagesConfig configures the pages.
type PagesConfig struct {
	Book *Book
	// Identify says which device r comes from and whether host ("" for
	// none) is blocked for it now.
	Identify func(r *http.Request, host string) (Who, error)
	// Decide carries out an answer given through a link.
	Decide DecideFunc
	// Asked hears each new request (to tell the parents).
	Asked func(Request)
	// Location is the household's time zone for the times shown; nil
	// means UTC.
	Location func() *time.Location
	Logger   *slog.Logger
}

// pageCSS styles both pages; the CSP allows it by hash and nothing else.
const pageCSS = `body{font:16px/1.5 system-ui,sans-serif;background:#f4f1ea;color:#222;margin:0}
main{max-width:34rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;color:#2f6f5e}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],textarea{width:100%;box-sizing:border-box;font:inherit;padding:.4rem;border:1px solid #999;border-radius:6px}
button{font:inherit;margin:.6rem .4rem 0 0;padding:.4rem .9rem;border-radius:6px;border:1px solid #2f6f5e;background:#2f6f5e;color:#fff;cursor:pointer}
button.deny{background:#fff;color:#8a1c1c;border-color:#8a1c1c}.error{color:#8a1c1c;font-weight:600}
.msg{font-style:italic;white-space:pre-wrap;overflow-wrap:anywhere}ul{padding-left:1.2rem}li{margin:.3rem 0}
.pending{color:#8a5a00}.approved{color:#1d6b2a}.denied{color:#8a1c1c}.meta{color:#666;font-size:.9rem}`

// pageTmpl renders both pages; html/template escapes every value (the
// host and the child's message included) for its context.
var pageTmpl = template.Must(template.New("ask").Funcs(template.FuncMap{"label": ChoiceLabel}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title><style>{{.CSS}}</style></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{- if eq .Kind "ask"}}
{{- if .Who.Device}}
<form method="post" action="/ask">
<label for="host">Site</label>
<input type="text" id="host" name="host" value="{{.Host}}" maxlength="253" required autocomplete="off" placeholder="example.com">
<label for="message">Message for your parent (optional)</label>
<textarea id="message" name="message" rows="3" maxlength="280" placeholder="What do you need it for?"></textarea>
<button type="submit">Ask for access</button>
</form>
{{- if .Requests}}
<h2>Your requests</h2>
<ul id="requests">{{range .Requests}}
<li data-host="{{.Host}}" data-status="{{.Status}}"><strong>{{.Host}}</strong>: <span class="{{.Status}}">{{$.Status .}}</span></li>{{end}}
</ul>
{{- end}}
{{- else}}
<p>Hearth does not know this device, so it cannot ask. Ask a parent in person.</p>
{{- end}}
{{- else if eq .Kind "decide"}}
{{- with .Req}}
<p><strong>{{.DeviceName}}</strong> asks for <strong>{{.Host}}</strong>{{if .TagName}} ({{.TagName}}){{end}}.</p>
{{if .Message}}<p class="msg">“{{.Message}}”</p>{{end}}
<p class="meta">Asked {{$.When .Created}}</p>
{{- end}}
{{- if eq .Req.Status "pending"}}
<form method="post" action="/ask/decide">
<input type="hidden" name="t" value="{{.Token}}">
{{range .Choices}}<button type="submit" name="choice" value="{{.}}"{{if eq . "deny"}} class="deny"{{end}}>{{label .}}</button>{{end}}
</form>
<p class="meta">{{if .Req.Tag}}Allowing covers all of {{if .Req.TagName}}{{.Req.TagName}}{{else}}{{.Req.Tag}}{{end}}.{{else}}Allowing covers {{.Req.Host}} and its subdomains.{{end}}</p>
{{- else}}
<p id="answer" class="{{.Req.Status}}">{{.Status .Req}}</p>
{{- end}}
{{- end}}
<p class="meta">Hearth</p>
</main></body></html>
`))

// page is what pageTmpl reads.
type page struct {
	Kind     string // "ask", "decide" or "error"
	Title    string
	Error    string
	CSS      template.CSS
	Who      Who
	Host     string
	Requests []Request
	Req      Request
	Token    string
	Choices  []string
	loc      *time.Location
}

// When formats t in the household's zone.
func (p page) When(t time.Time) string { return t.In(p.loc).Format("Mon 2 Jan 15:04") }

// Status words a request's state for the child and the parent.
func (p page) Status(r Request) string {
	switch r.Status {
	case Approved:
		if r.Until.IsZero() {
			return "Approved: always allowed"
		}
		return "Approved until " + r.Until.In(p.loc).Format("Mon 15:04")
	case Denied:
		return "A parent said no"
	}
	return "Waiting for a parent"
}

// pages serves /ask and /ask/decide.
type pages struct {
	c   PagesConfig
	csp string
}

// Pages returns the handler of GET and POST /ask (the child's page) and
// GET and POST /ask/decide (a notification link's confirm page: the GET
// only shows the request, the POST answers it, so a mail client or chat
// app that fetches links to preview them answers nothing). Both pages are
// HTML with no script, never cached, with a CSP that allows only their
// own style and forms posting to this origin.
func Pages(c PagesConfig) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Location == nil {
		c.Location = func() *time.Location { return time.UTC }
	}
	sum := sha256.Sum256([]byte(pageCSS))
	p := &pages{c: c, csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ask", p.askPage)
	mux.HandleFunc("POST /ask", p.ask)
	mux.HandleFunc("GET /ask/decide", p.decidePage)
	mux.HandleFunc("POST /ask/decide", p.decide)
	return mux
}

// maxForm bounds a form body: a host and a message fit in far less.
const maxForm = 8 << 10

func (p *pages) render(w http.ResponseWriter, code int, pg page) {
	pg.CSS = template.CSS(pageCSS)
	pg.loc = p.c.Location()
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pg); err != nil {
		p.c.Logger.Error("ask page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// The decide page's URL holds the link's token: no Referer may carry
	// it to another origin (the CSP loads nothing from one anyway). Not
	// no-referrer: with it, browsers send "Origin: null" on the forms'
	// POSTs, which the admin listener's cross-origin guard refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// askPage shows the form and the device's requests.
func (p *pages) askPage(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	if host != "" {
		if h, err := CheckHost(host); err == nil {
			host = h
		} else {
			host = ""
		}
	}
	who, err := p.c.Identify(r, "")
	pg := page{Kind: "ask", Title: "Ask a parent", Host: host, Who: who}
	if err != nil {
		p.c.Logger.Warn("ask page: identifying the device", "err", err)
		pg.Who = Who{}
	}
	if pg.Who.Device != "" {
		pg.Requests = p.c.Book.List(pg.Who.Device)
		if len(pg.Requests) > 10 {
			pg.Requests = pg.Requests[:10]
		}
	}
	p.render(w, http.StatusOK, pg)
}

// ask records a child's request.
func (p *pages) ask(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, page{Kind: "error", Title: "Ask a parent", Error: "The form could not be read."})
		return
	}
	fail := func(code int, who Who, host, msg string) {
		pg := page{Kind: "ask", Title: "Ask a parent", Who: who, Host: host, Error: msg}
		if who.Device != "" {
			pg.Requests = p.c.Book.List(who.Device)
		}
		p.render(w, code, pg)
	}
	host, err := CheckHost(r.PostForm.Get("host"))
	if err != nil {
		who, _ := p.c.Identify(r, "")
		fail(http.StatusBadRequest, who, "", "Please type a site name like example.com.")
		return
	}
	msg, err := CheckMessage(r.PostForm.Get("message"))
	if err != nil {
		who, _ := p.c.Identify(r, "")
		fail(http.StatusBadRequest, who, host, "The message is too long: at most 280 characters.")
		return
	}
	who, err := p.c.Identify(r, host)
	switch {
	case err != nil:
		p.c.Logger.Warn("ask: identifying the device", "err", err)
		fail(http.StatusServiceUnavailable, Who{}, host, "Hearth could not check this device right now. Try again in a minute.")
		return
	case who.Device == "":
		fail(http.StatusForbidden, who, host, "Hearth does not know this device, so it cannot ask.")
		return
	case !who.Blocked:
		fail(http.StatusBadRequest, who, host, host+" is not blocked on this device.")
		return
	}
	req, created, err := p.c.Book.Ask(Request{
		Device: who.Device, DeviceName: who.DeviceName, Host: host, Tag: who.Tag, TagName: who.TagName,
		TagKind: who.TagKind, Reason: who.Reason, Message: msg,
	})
	switch {
	case errors.Is(err, ErrRateLimited):
		fail(http.StatusTooManyRequests, who, host, "You have asked a lot just now. Wait a little, or ask a parent in person.")
		return
	case errors.Is(err, ErrFull):
		fail(http.StatusServiceUnavailable, who, host, "Too many questions are waiting for a parent. Ask again later.")
		return
	case err != nil:
		fail(http.StatusInternalServerError, who, host, "Something went wrong.")
		return
	}
	if created && p.c.Asked != nil {
		p.c.Asked(req)
	}
	// Post, redirect, get: reloading the page does not ask again.
	http.Redirect(w, r, "/ask?host="+url.QueryEscape(host), http.StatusSeeOther)
}

// linkRequest verifies the token of r's link and returns its request.
func (p *pages) linkRequest(token string) (Request, error) {
	id, err := p.c.Book.Verify(token)
	if err != nil {
		return Request{}, err
	}
	return p.c.Book.Get(id)
}

func (p *pages) badLink(w http.ResponseWriter) {
	p.render(w, http.StatusForbidden, page{Kind: "error", Title: "Link not valid",
		Error: "This link is not valid or has expired. Open Hearth to answer the request."})
}

// decidePage shows a request and the answers to choose from.
func (p *pages) decidePage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("t")
	req, err := p.linkRequest(token)
	if err != nil {
		p.badLink(w)
		return
	}
	p.render(w, http.StatusOK, page{Kind: "decide", Title: "Answer a request", Req: req, Token: token, Choices: Choices})
}

// decide answers a request through a link.
func (p *pages) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.badLink(w)
		return
	}
	token := r.PostForm.Get("t")
	id, err := p.c.Book.Verify(token)
	if err != nil {
		p.badLink(w)
		return
	}
	choice := r.PostForm.Get("choice")
	req, err := p.c.Book.Resolve(r.Context(), id, choice, "link", p.c.Decide)
	pg := page{Kind: "decide", Title: "Answer a request", Req: req, Token: token, Choices: Choices}
	switch {
	case errors.Is(err, ErrNotFound):
		p.badLink(w)
		return
	case errors.Is(err, ErrDecided):
		pg.Error = "This request was already answered."
		p.render(w, http.StatusConflict, pg)
		return
	case err != nil:
		p.c.Logger.Warn("ask: answering through a link", "request", id, "err", err)
		pg.Error = "Could not answer: " + err.Error()
		p.render(w, http.StatusBadRequest, pg)
		return
	}
	p.render(w, http.StatusOK, pg)
}
