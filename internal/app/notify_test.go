package app

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/activity"
	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/notify"
)

// TestNotifyEvents: the parents hear, over a real webhook, of each event
// the issue names, from real DNS traffic: a VPN or DoH name asked by a
// child's device at once; a blocked category asked for again and again
// once it reaches the threshold (and only once a window); a new device;
// an error Hearth logs (once an hour per message); and the weekly digest,
// built from the activity counters with the query log off entirely.
func TestNotifyEvents(t *testing.T) {
	p := startParents(t, "query_log: {enabled: false}\n", "  bypass: {threshold: 3, window: 10m}\n")
	const tablet = "127.0.0.5"
	for _, tc := range []struct {
		name       string
		do         func()
		wantKind   string
		wantInText string
	}{
		{"a DoH resolver's name", func() { ask(t, p.env, tablet, "dns.google") }, notify.KindBypass, "get around the filter"},
		{"three blocked gambling names", func() {
			for range 5 { // the 4th and 5th add nothing in this window
				ask(t, p.env, tablet, "bet365.com")
			}
		}, notify.KindBypass, "Gambling names 3 times"},
		{"a new device", func() {
			ask(t, p.env, "127.0.0.66", "www.example.org")
			waitNewDevice(t, p.env, "127.0.0.66")
		}, notify.KindNewDevice, "127.0.0.66"},
		{"an error", func() {
			p.app.log.Error("the disk is full", "path", "/secret/place")
			p.app.log.Error("the disk is full", "path", "/secret/place") // within the hour: not again
		}, notify.KindError, "the disk is full"},
	} {
		tc.do()
		e := p.webhookEvent(t)
		if e.Kind != tc.wantKind || !strings.Contains(e.Text, tc.wantInText) {
			t.Errorf("%s: got %s %q, want %s with %q", tc.name, e.Kind, e.Text, tc.wantKind, tc.wantInText)
		}
		if strings.Contains(e.Text, "/secret/place") {
			t.Errorf("%s: a log attribute reached the notification", tc.name)
		}
	}
	select {
	case r := <-p.hook.Requests:
		t.Errorf("an extra notification: %s", r.Body)
	default:
	}

	ask(t, p.env, tablet, "www.roblox.com") // games: allowed for the kid preset
	var d Digest
	if code := p.parent.do("GET", "/api/v1/digest", nil, &d); code != 200 || len(d.Devices) == 0 {
		t.Fatalf("digest: %d %+v", code, d)
	}
	var leo *DigestDevice
	for i := range d.Devices {
		if d.Devices[i].Device == "leos-tablet" {
			leo = &d.Devices[i]
		}
	}
	if leo == nil || leo.Name != "Leo's tablet" || leo.BypassAttempts != 2 || len(leo.TopBlocked) != 2 ||
		leo.TopBlocked[0].ID != "gambling" || leo.TopBlocked[0].Blocked != 5 || len(leo.Services) != 1 || leo.Services[0].ID != "roblox" {
		t.Errorf("Leo's week: %+v", leo)
	}
	// Leo's tablet (added by the parent today) and the one that joined.
	if len(d.NewDevices) != 2 || d.NewDevices[0].Device != waitNewDevice(t, p.env, "127.0.0.66") && d.NewDevices[1].Device != waitNewDevice(t, p.env, "127.0.0.66") {
		t.Errorf("new devices %+v", d.NewDevices)
	}
	if code := p.parent.do("POST", "/api/v1/digest", nil, nil); code != 202 {
		t.Fatalf("send digest: %d", code)
	}
	e := p.webhookEvent(t)
	if e.Kind != notify.KindDigest || !strings.Contains(e.Text, "Leo's tablet") || !strings.Contains(e.Text, "Bypass attempts: 2") {
		t.Errorf("digest event %s:\n%s", e.Kind, e.Text)
	}
	if m := p.mail.Wait(t); !strings.Contains(m.Subject, "Your week with Hearth") || !strings.Contains(m.Body, "Gambling") {
		t.Errorf("digest mail %q:\n%s", m.Subject, m.Body)
	}

	// The counters survive a restart: what is saved, the next start reads.
	p.app.parents.activity.Flush(t.Context())
	p.app.saveActivity()
	next := activity.New(activity.Config{Now: p.clock.Now})
	if err := next.Load(filepath.Join(p.app.cfg.DataDir, activityFile)); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(next.Week(p.clock.Now())), fmt.Sprint(p.app.parents.activity.Week(p.clock.Now())); got != want || !strings.Contains(got, "leos-tablet") {
		t.Errorf("counters read back %s, want %s", got, want)
	}
}

// TestListFailureEvents: a list is reported once when its downloads start
// failing, and again only after it worked in between.
func TestListFailureEvents(t *testing.T) {
	told := map[string]bool{}
	src := func(state string, failures int) []api.Source {
		return []api.Source{{ID: "hagezi-gambling", Tag: "gambling", State: state, Failures: failures, Error: "HTTP 503"}}
	}
	for _, tc := range []struct {
		name    string
		sources []api.Source
		want    int
	}{
		{"fresh", src("fresh", 0), 0},
		{"fails, keeps the old copy", src("stale", 1), 1},
		{"still failing", src("stale", 4), 0},
		{"works again", src("fresh", 0), 0},
		{"never downloaded", src("failed", 1), 1},
	} {
		evs := listFailures(told, tc.sources)
		if len(evs) != tc.want {
			t.Errorf("%s: %d events, want %d", tc.name, len(evs), tc.want)
		}
		for _, e := range evs {
			if e.Kind != notify.KindListFailure || !strings.Contains(e.Text, "HTTP 503") {
				t.Errorf("%s: %+v", tc.name, e)
			}
		}
	}
}

// TestNextDigest: the digest goes out on the configured weekday and time
// in the household's zone, across a daylight-saving change.
func TestNextDigest(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		day  time.Weekday
		at   int
		want string
	}{
		{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), time.Sunday, 18 * 60, "2026-11-29T18:00:00+01:00"},
		{time.Date(2026, 11, 29, 16, 59, 0, 0, time.UTC), time.Sunday, 18 * 60, "2026-11-29T18:00:00+01:00"},
		{time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC), time.Sunday, 18 * 60, "2026-12-06T18:00:00+01:00"},
		{time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), time.Sunday, 9 * 60, "2026-03-29T09:00:00+02:00"},
	} {
		if got := nextDigest(tc.now, paris, tc.day, tc.at).Format(time.RFC3339); got != tc.want {
			t.Errorf("nextDigest(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}
