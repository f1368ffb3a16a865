package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/notify"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/hearth-dns/hearth/internal/testutil/mailtest"
)

// parentsEnv is a running Hearth with a webhook receiver and a local SMTP
// server (STARTTLS with a test certificate) as its notification channels.
type parentsEnv struct {
	*env
	hook   *mailtest.Webhook
	mail   *mailtest.SMTP
	secret string
	parent *apiClient
}

// startParents starts Hearth with notifications to local receivers and
// Leo's tablet (127.0.0.5, a store profile on the kid preset). extra is
// more config; notifyExtra more lines of the notify section.
func startParents(t *testing.T, extra, notifyExtra string) *parentsEnv {
	t.Helper()
	return startParentsOn(t, `http: "127.0.0.1:0"`, extra, notifyExtra)
}

// startParentsOn is startParents with listen settings of the caller's.
func startParentsOn(t *testing.T, listen, extra, notifyExtra string) *parentsEnv {
	t.Helper()
	cert := dnstest.NewCert(t)
	p := &parentsEnv{hook: mailtest.NewWebhook(t), mail: mailtest.NewSMTP(t, cert.TLS, "hearth", "mail-pw-6f1c"), secret: "hook-secret-91ab"}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook.secret")
	os.WriteFile(secretFile, []byte(p.secret+"\n"), 0o600)
	pwFile := filepath.Join(dir, "smtp.password")
	os.WriteFile(pwFile, []byte("mail-pw-6f1c"), 0o600)
	doc := policyConfig(t) + fmt.Sprintf(`notify:
  backoff: 1ms
  webhook: {url: %q, secret_file: %q}
  email: {host: 127.0.0.1, port: %d, username: hearth, password_file: %q, ca_file: %q, from: hearth@home.test, to: [parent@home.test], events: [access_request, digest]}
`, p.hook.URL, secretFile, p.mail.Port, pwFile, cert.CertFile) + notifyExtra + extra
	p.env = startListening(t, listen, doc, dnstest.Zone(t, policyRecords...))
	p.parent = newAPIClient(t, p.env)
	if code := p.parent.do("POST", "/api/v1/profiles", map[string]any{"name": "Leo", "preset": "kid"}, nil); code != 201 {
		t.Fatalf("profile: %d", code)
	}
	if code := p.parent.do("POST", "/api/v1/devices", map[string]any{"name": "Leo's tablet", "profile": "leo", "ips": []string{"127.0.0.5"}}, nil); code != 201 {
		t.Fatalf("device: %d", code)
	}
	return p
}

// child is a browser on a device: its HTTP requests leave from the same
// source address as its DNS queries.
type child struct {
	t    *testing.T
	base string
	http *http.Client
}

func newChild(t *testing.T, e *env, ip string) *child {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &child{t: t, base: "http://" + e.app.HTTPAddr(), http: &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second,
	}}
}

// get and post return the status and body of a page.
func (c *child) get(path string) (int, string) {
	c.t.Helper()
	return readPage(c.t)(c.http.Get(c.base + path))
}

func (c *child) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	return readPage(c.t)(c.http.PostForm(c.base+path, form))
}

// readPage returns a function that reads a response's status and body.
func readPage(t *testing.T) func(*http.Response, error) (int, string) {
	return func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

var linkRE = regexp.MustCompile(`/ask/decide\?t=[A-Za-z0-9_.%-]+`)

// webhookEvent waits for the next webhook request, checks its signature
// and returns its event.
func (p *parentsEnv) webhookEvent(t *testing.T) notify.Event {
	t.Helper()
	r := p.hook.Wait(t)
	ts := r.Header.Get(notify.TimestampHeader)
	if got, want := r.Header.Get(notify.SignatureHeader), notify.Sign([]byte(p.secret), ts, r.Body); got != want {
		t.Errorf("webhook signature %q, want %q", got, want)
	}
	var e notify.Event
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("webhook body %q: %v", r.Body, err)
	}
	return e
}

// TestAskParentRoundTrip is the whole story end to end, with real DNS,
// HTTP, webhook and SMTP: Leo's tablet is blocked from TikTok, opens the
// ask page from the tablet's own address and asks with a message; the
// parents get the webhook (signed) and the mail (over STARTTLS), both
// with the link; a tampered link is refused; opening the link answers
// nothing until the confirm page's POST; then the next DNS answer is
// allowed, the link cannot be used again, and the child's page says so.
func TestAskParentRoundTrip(t *testing.T) {
	p := startParents(t, "", "")
	const tablet = "127.0.0.5"
	if addr, text := ask(t, p.env, tablet, "www.tiktok.com"); addr != "0.0.0.0" {
		t.Fatalf("before: %q %q, want TikTok blocked", addr, text)
	}
	kid := newChild(t, p.env, tablet)
	if code, page := kid.get("/ask?host=www.tiktok.com"); code != 200 || !strings.Contains(page, `value="www.tiktok.com"`) || !strings.Contains(page, "Ask for access") {
		t.Fatalf("ask page: %d\n%s", code, page)
	}
	code, page := kid.post("/ask", url.Values{"host": {"www.tiktok.com"}, "message": {"<b>school project</b>"}})
	if code != 200 || !strings.Contains(page, "Waiting for a parent") {
		t.Fatalf("asking: %d\n%s", code, page)
	}

	e := p.webhookEvent(t)
	if e.Kind != notify.KindAccessRequest || e.Device != "leos-tablet" || !strings.Contains(e.Text, "<b>school project</b>") || len(e.Links) != 1 {
		t.Fatalf("webhook event %+v", e)
	}
	link, err := url.Parse(e.Links[0].URL)
	if err != nil || link.Path != "/ask/decide" || link.Host != p.app.HTTPAddr() {
		t.Fatalf("link %q (%v)", e.Links[0].URL, err)
	}
	m := p.mail.Wait(t)
	if !m.TLS || m.User != "hearth" || !strings.Contains(m.Subject, "Leo's tablet asks for www.tiktok.com") || !strings.Contains(m.Body, link.RawQuery) {
		t.Fatalf("mail: TLS %v user %q subject %q\n%s", m.TLS, m.User, m.Subject, m.Body)
	}

	parent := &http.Client{Timeout: 10 * time.Second}
	token := link.Query().Get("t")
	tampered := []byte(token)
	tampered[len(tampered)-3] ^= 1
	for _, tc := range []struct {
		name      string
		method    string
		token     string
		choice    string
		wantCode  int
		wantPage  string
		wantAddr  string
		wantState string
	}{
		{"tampered GET", "GET", string(tampered), "", 403, "not valid or has expired", "0.0.0.0", "pending"},
		{"tampered POST", "POST", string(tampered), "1h", 403, "not valid or has expired", "0.0.0.0", "pending"},
		{"no choice", "POST", token, "forever", 400, "Could not answer", "0.0.0.0", "pending"},
		{"the link opens the confirm page only", "GET", token, "", 200, "Allow for 1 hour", "0.0.0.0", "pending"},
		{"approve for an hour", "POST", token, "1h", 200, "Approved until", "192.0.2.51", "approved"},
		{"used twice", "POST", token, "deny", 409, "already answered", "192.0.2.51", "approved"},
	} {
		var code int
		var page string
		if tc.method == "GET" {
			code, page = readPage(t)(parent.Get("http://" + link.Host + "/ask/decide?t=" + url.QueryEscape(tc.token)))
		} else {
			code, page = readPage(t)(parent.PostForm("http://"+link.Host+"/ask/decide", url.Values{"t": {tc.token}, "choice": {tc.choice}}))
		}
		if code != tc.wantCode || !strings.Contains(page, tc.wantPage) {
			t.Errorf("%s: %d, want %d with %q\n%s", tc.name, code, tc.wantCode, tc.wantPage, page)
		}
		if strings.Contains(page, "<b>school") {
			t.Errorf("%s: the child's message is not escaped", tc.name)
		}
		if addr, text := ask(t, p.env, tablet, "www.tiktok.com"); addr != tc.wantAddr {
			t.Errorf("%s: DNS answered %q %q, want %q", tc.name, addr, text, tc.wantAddr)
		}
		var list struct {
			Requests []struct{ Status, Target string }
		}
		if c := p.parent.do("GET", "/api/v1/requests", nil, &list); c != 200 || len(list.Requests) != 1 || list.Requests[0].Status != tc.wantState {
			t.Errorf("%s: requests %d %+v, want one %s", tc.name, c, list, tc.wantState)
		}
	}
	if _, page := kid.get("/ask"); !strings.Contains(page, `data-status="approved"`) || !strings.Contains(page, "Approved until") {
		t.Errorf("the child's page does not show the answer:\n%s", page)
	}
	// The grant allows the service, not just the name asked about.
	var grants struct{ Grants []struct{ Target string } }
	if p.parent.do("GET", "/api/v1/grants?device=leos-tablet", nil, &grants); len(grants.Grants) != 1 || grants.Grants[0].Target != "tiktok" {
		t.Errorf("grants %+v, want one for the tiktok service", grants)
	}
}

// TestAskParentRefusals: what a child's device may not do, each refused
// with a clear page, and nothing reaches the parents: ask for a name that
// is not blocked, a name that is not a name, a message that is too long,
// from a device Hearth does not know, or more often than the rate limit
// allows. An expired link answers nothing.
func TestAskParentRefusals(t *testing.T) {
	p := startParents(t, "ask_parent: {per_device: 2, window: 10m, link_ttl: 1h}\n", "")
	kid := newChild(t, p.env, "127.0.0.5")
	stranger := newChild(t, p.env, "127.0.0.99")
	for _, tc := range []struct {
		name     string
		from     *child
		host     string
		msg      string
		wantCode int
		wantPage string
		notified bool
	}{
		{"not blocked", kid, "www.example.org", "", 400, "is not blocked on this device", false},
		{"not a name", kid, "<script>x</script>", "", 400, "site name like example.com", false},
		{"message too long", kid, "bet365.com", strings.Repeat("x", 281), 400, "too long", false},
		{"unknown device", stranger, "bet365.com", "", 403, "does not know this device", false},
		{"first", kid, "bet365.com", "", 200, "Waiting for a parent", true},
		{"the same again", kid, "bet365.com", "", 200, "Waiting for a parent", false},
		{"second", kid, "casino.example", "", 200, "Waiting for a parent", true},
		{"over the limit", kid, "www.tiktok.com", "", 429, "asked a lot", false},
	} {
		code, page := tc.from.post("/ask", url.Values{"host": {tc.host}, "message": {tc.msg}})
		if code != tc.wantCode || !strings.Contains(page, tc.wantPage) {
			t.Errorf("%s: %d, want %d with %q\n%s", tc.name, code, tc.wantCode, tc.wantPage, page)
		}
		if strings.Contains(page, "<script>x") {
			t.Errorf("%s: input echoed unescaped", tc.name)
		}
		if tc.notified {
			if e := p.webhookEvent(t); !strings.Contains(e.Title, tc.host) {
				t.Errorf("%s: notified %q", tc.name, e.Title)
			}
		}
	}
	var list struct {
		Requests []struct{ Host, Status string }
	}
	if p.parent.do("GET", "/api/v1/requests", nil, &list); len(list.Requests) != 2 {
		t.Fatalf("requests %+v, want the two accepted", list)
	}
	// Only two notifications were sent: the webhook has nothing more.
	select {
	case r := <-p.hook.Requests:
		t.Errorf("an extra notification: %s", r.Body)
	default:
	}

	// The casino request's link, after its hour.
	link := linkRE.FindString(p.mail.Wait(t).Body + p.mail.Wait(t).Body)
	if link == "" {
		t.Fatal("no link in the mails")
	}
	u, _ := url.Parse(link)
	p.clock.Advance(61 * time.Minute)
	code, page := readPage(t)(http.PostForm("http://"+p.app.HTTPAddr()+"/ask/decide", url.Values{"t": {u.Query().Get("t")}, "choice": {"always"}}))
	if code != 403 || !strings.Contains(page, "expired") {
		t.Errorf("expired link: %d\n%s", code, page)
	}
	if addr, _ := ask(t, p.env, "127.0.0.5", "bet365.com"); addr != "0.0.0.0" {
		t.Errorf("after the expired link, bet365.com answered %q", addr)
	}
}

// TestAskParentFromUI: a parent answers in the UI's API: "always" puts
// the name in the profile's allow list; "deny" leaves it blocked and the
// child's page says no.
func TestAskParentFromUI(t *testing.T) {
	p := startParents(t, "", "")
	kid := newChild(t, p.env, "127.0.0.5")
	for _, host := range []string{"bet365.com", "casino.example"} {
		if code, page := kid.post("/ask", url.Values{"host": {host}}); code != 200 {
			t.Fatalf("ask %s: %d\n%s", host, code, page)
		}
	}
	var list struct{ Requests []struct{ ID, Host string } }
	p.parent.do("GET", "/api/v1/requests", nil, &list)
	ids := map[string]string{}
	for _, r := range list.Requests {
		ids[r.Host] = r.ID
	}
	for _, tc := range []struct {
		host, choice string
		wantCode     int
	}{
		{"bet365.com", "always", 200},
		{"casino.example", "deny", 200},
		{"casino.example", "1h", 409},
		{"nothing", "1h", 404},
	} {
		id := ids[tc.host]
		if id == "" {
			id = "0000"
		}
		if code := p.parent.do("POST", "/api/v1/requests/"+id, map[string]string{"choice": tc.choice}, nil); code != tc.wantCode {
			t.Errorf("%s %s: %d, want %d", tc.host, tc.choice, code, tc.wantCode)
		}
	}
	var prof struct{ Allow []string }
	if p.parent.do("GET", "/api/v1/profiles/leo", nil, &prof); len(prof.Allow) != 1 || prof.Allow[0] != "bet365.com" {
		t.Errorf("profile allow %v, want [bet365.com]", prof.Allow)
	}
	if addr, _ := ask(t, p.env, "127.0.0.5", "bet365.com"); addr != "192.0.2.50" {
		t.Errorf("always-allowed bet365.com answered %q", addr)
	}
	if _, page := kid.get("/ask"); !strings.Contains(page, "A parent said no") || !strings.Contains(page, "Approved: always allowed") {
		t.Errorf("child's page:\n%s", page)
	}
}

// TestBlockPageAsks: the block page (blocking by address) carries the ask
// form; posted from the device, on the block-page listener with the
// blocked site's Host, it files the request and the parents hear of it.
func TestBlockPageAsks(t *testing.T) {
	p := startParentsOn(t, `http: "127.0.0.1:0", block_page: "127.0.0.1:0"`, "blocking: {mode: address, address: [127.0.0.1]}\n", "")
	if addr, _ := ask(t, p.env, "127.0.0.5", "bet365.com"); addr != "127.0.0.1" {
		t.Fatalf("blocked answer %q, want the block-page address", addr)
	}
	kid := newChild(t, p.env, "127.0.0.5")
	kid.base = "http://" + p.app.BlockPageAddr()
	req, _ := http.NewRequest("GET", kid.base+"/", nil)
	req.Host = "bet365.com"
	code, page := readPage(t)(kid.http.Do(req))
	if code != 403 || !strings.Contains(page, `<form class="ask" method="post" action="/ask">`) || !strings.Contains(page, `value="bet365.com"`) {
		t.Fatalf("block page: %d\n%s", code, page)
	}
	req, _ = http.NewRequest("POST", kid.base+"/ask", strings.NewReader(url.Values{"host": {"bet365.com"}, "message": {"please"}}.Encode()))
	req.Host = "bet365.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, page := readPage(t)(kid.http.Do(req)); code != 200 || !strings.Contains(page, "Waiting for a parent") {
		t.Fatalf("asking from the block page: %d\n%s", code, page)
	}
	if e := p.webhookEvent(t); e.Kind != notify.KindAccessRequest || !strings.Contains(e.Text, "please") {
		t.Errorf("event %+v", e)
	}
}
