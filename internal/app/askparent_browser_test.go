package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sourceProxy is an HTTP forward proxy whose connections leave from
// source: a browser set to use it reaches Hearth as the device with that
// address, the way a child's tablet does on the LAN.
func sourceProxy(t *testing.T, source string) string {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host == "" {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Connection")
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestBrowserAskParent is the ask-a-parent round trip in two headless
// Chromiums: Leo's tablet (its traffic leaves from 127.0.0.5, the
// tablet's address, through a proxy) is blocked from TikTok, opens
// Hearth's ask page and asks with a message; the parent's browser logs
// in, sees the request with the message under Requests and allows it for
// an hour; the tablet's next DNS answer is TikTok's address, and its
// page shows the answer.
func TestBrowserAskParent(t *testing.T) {
	p := startParents(t, "", "")
	const tablet = "127.0.0.5"
	kid := browser(t, chromedp.ProxyServer("http://"+sourceProxy(t, tablet)), chromedp.Flag("proxy-bypass-list", "<-loopback>"))
	parent := browser(t)
	base := "http://" + p.app.HTTPAddr()
	shots := artifacts(t)
	failed := func(ctx context.Context, step string, err error) {
		t.Helper()
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "ask-failed-"+step+".png"), buf, 0o644)
		}
		t.Fatalf("%s: %v (screenshot ask-failed-%s.png in %s)", step, err, step, shots)
	}
	run := func(ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(ctx, step, err)
		}
	}

	if addr, _ := ask(t, p.env, tablet, "www.tiktok.com"); addr != "0.0.0.0" {
		t.Fatalf("before: TikTok answered %q, want blocked", addr)
	}
	// 1. The child asks.
	run(kid, "child-asks",
		chromedp.Navigate(base+"/ask?host=www.tiktok.com"),
		chromedp.WaitVisible("#message"),
		chromedp.SetValue("#message", "It's for my <i>school</i> project"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`li[data-host="www.tiktok.com"][data-status="pending"]`),
		screenshot(shots, "ask-child-waiting"),
	)
	var list struct{ Requests []struct{ ID, Device string } }
	if p.parent.do("GET", "/api/v1/requests", nil, &list); len(list.Requests) != 1 || list.Requests[0].Device != "leos-tablet" {
		t.Fatalf("requests %+v, want one from Leo's tablet (the proxy's source address)", list)
	}
	id := list.Requests[0].ID

	// 2. The parent answers in the UI (setup is done: no wizard).
	if code := p.parent.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "UTC"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	run(parent, "parent-login",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("login-password")),
		chromedp.SetValue(tid("login-password"), "correct horse battery"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("nav-requests")),
		chromedp.Click(tid("nav-requests")),
		chromedp.WaitVisible(tid("request-"+id+"-message")),
		screenshot(shots, "ask-parent-requests"),
	)
	msg, err := chromedp.Run(parent, chromedp.Text(tid("request-"+id+"-message")))
	if err != nil || !strings.Contains(msg, "It's for my <i>school</i> project") {
		t.Errorf("the parent sees %q (%v), want the child's message as text", msg, err)
	}
	run(parent, "parent-allows",
		chromedp.Click(tid("request-"+id+"-1h")),
		chromedp.WaitVisible(tid("request-"+id+"-status")),
		screenshot(shots, "ask-parent-answered"),
	)
	status, _ := chromedp.Run(parent, chromedp.Text(tid("request-"+id+"-status")))
	if !strings.Contains(status, "Allowed until") {
		t.Errorf("status %q, want \"Allowed until ...\"", status)
	}

	// 3. The next DNS answer is allowed, and the child's page says so.
	if addr, text := ask(t, p.env, tablet, "www.tiktok.com"); addr != "192.0.2.51" {
		t.Errorf("after the approval: %q %q, want TikTok's address", addr, text)
	}
	run(kid, "child-sees-answer",
		chromedp.Reload(),
		chromedp.WaitVisible(`li[data-host="www.tiktok.com"][data-status="approved"]`),
		screenshot(shots, "ask-child-approved"),
	)
}
