package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/notify"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/hearth-dns/hearth/internal/testutil/mailtest"
)

// instant is a backoff timer that fires at once and records the waits.
type instant struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (i *instant) After(d time.Duration) <-chan time.Time {
	i.mu.Lock()
	i.waits = append(i.waits, d)
	i.mu.Unlock()
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// syncLog is a log buffer safe for the workers' goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, c notify.Config) *notify.Notifier {
	t.Helper()
	n, err := notify.New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

var request = notify.Event{
	Kind: notify.KindAccessRequest, Title: "Emma asks for tiktok.com", Text: "Emma's tablet asks: \"homework\"",
	Device: "emma-tablet", Links: []notify.Link{{Label: "Answer", URL: "http://hearth.test/ask/decide?t=abc"}},
}

// TestChannelsDeliver sends one event through each channel to a local
// receiver and checks what arrived: the webhook's JSON and its HMAC
// signature, ntfy's title and action, and a mail that came over STARTTLS
// after AUTH PLAIN.
func TestChannelsDeliver(t *testing.T) {
	cert := dnstest.NewCert(t)
	hook := mailtest.NewWebhook(t)
	ntfy := mailtest.NewWebhook(t)
	mail := mailtest.NewSMTP(t, cert.TLS, "hearth", "s3cret-pw")
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }

	wh, err := notify.NewWebhook(notify.WebhookConfig{URL: hook.URL, Secret: "hook-key", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	nt, err := notify.NewNtfy(notify.NtfyConfig{URL: ntfy.URL + "/family", Token: "tk_1"})
	if err != nil {
		t.Fatal(err)
	}
	em, err := notify.NewEmail(notify.EmailConfig{
		Host: mail.Host, Port: mail.Port, Username: "hearth", Password: "s3cret-pw",
		From: "hearth@home.test", To: []string{"parent@home.test"},
		TLS: &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := start(t, notify.Config{Routes: []notify.Route{{Channel: wh}, {Channel: nt}, {Channel: em}}, Now: now})
	n.Notify(request)

	r := hook.Wait(t)
	if got, want := r.Header.Get(notify.SignatureHeader), notify.Sign([]byte("hook-key"), "1800000000", r.Body); got != want || got == "" {
		t.Errorf("webhook signature %q, want %q", got, want)
	}
	if r.Header.Get(notify.TimestampHeader) != "1800000000" {
		t.Errorf("webhook timestamp %q", r.Header.Get(notify.TimestampHeader))
	}
	var got notify.Event
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Kind != request.Kind || got.Title != request.Title || len(got.Links) != 1 {
		t.Errorf("webhook body %s (%v)", r.Body, err)
	}

	p := ntfy.Wait(t)
	if p.Header.Get("Title") != request.Title || !strings.Contains(p.Header.Get("Actions"), "view, Answer, http://hearth.test/ask/decide?t=abc") ||
		p.Header.Get("Authorization") != "Bearer tk_1" || string(p.Body) != request.Text {
		t.Errorf("ntfy got %v %q", p.Header, p.Body)
	}

	m := mail.Wait(t)
	if !m.TLS || m.User != "hearth" || m.From != "hearth@home.test" || len(m.To) != 1 || m.To[0] != "parent@home.test" {
		t.Errorf("mail: TLS %v user %q from %q to %v", m.TLS, m.User, m.From, m.To)
	}
	if m.Subject != "Hearth: "+request.Title || !strings.Contains(m.Body, "Answer: http://hearth.test/ask/decide?t=abc") {
		t.Errorf("mail subject %q body %q", m.Subject, m.Body)
	}
}

// TestEmailNeedsSTARTTLS: a server that does not offer STARTTLS gets
// nothing, not even the password, and the failure is counted and shown.
func TestEmailNeedsSTARTTLS(t *testing.T) {
	plain := mailtest.NewSMTP(t, nil, "hearth", "s3cret-pw")
	em, err := notify.NewEmail(notify.EmailConfig{
		Host: plain.Host, Port: plain.Port, Username: "hearth", Password: "s3cret-pw",
		From: "hearth@home.test", To: []string{"parent@home.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	reg := metrics.NewRegistry()
	timer := &instant{}
	out := make(outcomes, 10)
	n := start(t, notify.Config{
		Routes: []notify.Route{{Channel: em}}, Attempts: 2, After: timer.After, Metrics: reg, Done: out.done,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	n.Notify(request)
	st := out.wait(t, n)
	if st.Failed != 1 || st.LastError == "" || st.Sent != 0 || st.Retried != 1 {
		t.Errorf("status %+v, want one failure after a retry, with its error", st)
	}
	select {
	case m := <-plain.Messages:
		t.Fatalf("a mail went out without TLS: %+v", m)
	default:
	}
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Errorf("the SMTP password is in the log:\n%s", logs.String())
	}
	var scrape bytes.Buffer
	reg.WriteTo(&scrape)
	if !strings.Contains(scrape.String(), `hearth_notify_failed_total{channel="email"} 1`) {
		t.Errorf("metrics lack the failure:\n%s", scrape.String())
	}
}

// outcomes collects the final outcomes a Notifier reports.
type outcomes chan error

func (o outcomes) done(_ string, _ notify.Event, err error) { o <- err }

// wait returns the first channel's status once an event's outcome is in.
func (o outcomes) wait(t *testing.T, n *notify.Notifier) notify.ChannelStatus {
	t.Helper()
	select {
	case <-o:
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome in 10 s")
	}
	return n.Status()[0]
}

// TestRetriesWithBackoff: a receiver that fails twice gets the event on
// the third try, after waits of 1s then 2s; one that always fails is
// given up after Attempts and counted.
func TestRetriesWithBackoff(t *testing.T) {
	for _, tc := range []struct {
		name               string
		fail               int
		wantSent, wantFail uint64
		wantWaits          []time.Duration
		wantDelivered      bool
	}{
		{"recovers", 2, 1, 0, []time.Duration{time.Second, 2 * time.Second}, true},
		{"gives up", 10, 0, 1, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := mailtest.NewWebhook(t)
			hook.FailNext(tc.fail)
			wh, err := notify.NewWebhook(notify.WebhookConfig{URL: hook.URL})
			if err != nil {
				t.Fatal(err)
			}
			timer := &instant{}
			out := make(outcomes, 10)
			n := start(t, notify.Config{Routes: []notify.Route{{Channel: wh}}, Attempts: 4, Backoff: time.Second, After: timer.After, Done: out.done})
			n.Notify(request)
			st := out.wait(t, n)
			if st.Sent != tc.wantSent || st.Failed != tc.wantFail {
				t.Errorf("status %+v, want sent %d failed %d", st, tc.wantSent, tc.wantFail)
			}
			timer.mu.Lock()
			waits := timer.waits
			timer.mu.Unlock()
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tc.wantWaits)
			}
			for i := range waits {
				if waits[i] != tc.wantWaits[i] {
					t.Errorf("waits %v, want %v", waits, tc.wantWaits)
				}
			}
			if tc.wantDelivered {
				hook.Wait(t)
			}
		})
	}
}

// blocking is a channel whose Send waits until released.
type blocking struct{ release chan struct{} }

func (b *blocking) Name() string { return "blocking" }
func (b *blocking) Send(ctx context.Context, e notify.Event) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

// TestQueueBounded: a stuck receiver fills its queue; further events are
// dropped and counted, and Notify never waits.
func TestQueueBounded(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	n := start(t, notify.Config{Routes: []notify.Route{{Channel: b}}, Queue: 3})
	defer close(b.release)
	for range 20 {
		n.Notify(request) // would hang here if Notify waited
	}
	st := n.Status()[0]
	// One event is in Send, three queued; the rest dropped. The worker
	// may not have taken the first yet, so 16 or 17 are dropped.
	if st.Dropped < 16 || st.Dropped > 17 || st.Queued > 3 {
		t.Errorf("status %+v, want 16-17 dropped and at most 3 queued", st)
	}
}

// TestRoutesByKind: a channel hears only the events it is configured for.
func TestRoutesByKind(t *testing.T) {
	hook := mailtest.NewWebhook(t)
	wh, _ := notify.NewWebhook(notify.WebhookConfig{URL: hook.URL})
	n := start(t, notify.Config{Routes: []notify.Route{{Channel: wh, Kinds: []string{notify.KindBypass}}}})
	if n.Wants(notify.KindAccessRequest) || !n.Wants(notify.KindBypass) {
		t.Fatal("Wants does not follow the route's kinds")
	}
	n.Notify(request)
	n.Notify(notify.Event{Kind: notify.KindBypass, Title: "bypass"})
	var e notify.Event
	if err := json.Unmarshal(hook.Wait(t).Body, &e); err != nil || e.Kind != notify.KindBypass {
		t.Errorf("first delivery %+v (%v), want the bypass event only", e, err)
	}
	if _, err := notify.New(notify.Config{Routes: []notify.Route{{Channel: wh, Kinds: []string{"everything"}}}}); err == nil {
		t.Error("an unknown event kind was accepted")
	}
}
