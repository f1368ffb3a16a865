package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/askparent"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/notify"
	"github.com/hearth-dns/hearth/internal/profile"
)

// Digest is the weekly digest: per device, the services it used (by
// queries: DNS tells how often a service was asked for, not how long it
// was used), the categories blocked most, and bypass attempts; and the
// devices that joined. It is built from the activity counters, so it
// needs neither the query log nor its raw rows.
type Digest struct {
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	TimeZone string         `json:"time_zone"`
	Devices  []DigestDevice `json:"devices"`
	// NewDevices joined in the week.
	NewDevices []DigestNewDevice `json:"new_devices"`
}

// DigestDevice is one device's week.
type DigestDevice struct {
	Device  string `json:"device"`
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Services are the services used, most queries first (top 10).
	Services []DigestCount `json:"services"`
	// TopBlocked are the categories and services blocked most (top 5).
	TopBlocked     []DigestCount `json:"top_blocked"`
	BypassAttempts int64         `json:"bypass_attempts"`
}

// DigestCount is a tag's count in a digest.
type DigestCount struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Queries int64  `json:"queries"`
	Blocked int64  `json:"blocked,omitempty"`
	// Minutes are a service's active minutes: minutes in which the
	// device asked for it (see docs/budgets.md for what DNS can tell).
	Minutes int64 `json:"minutes,omitempty"`
}

// DigestNewDevice is a device that joined.
type DigestNewDevice struct {
	Device    string    `json:"device"`
	Name      string    `json:"name"`
	FirstSeen time.Time `json:"first_seen"`
}

// buildDigest builds the digest of the seven days before now.
func (a *App) buildDigest(ctx context.Context, now time.Time) (Digest, error) {
	loc := a.householdLocation()
	d := Digest{From: now.Add(-7 * 24 * time.Hour).UTC(), To: now.UTC(), TimeZone: loc.String(), Devices: []DigestDevice{}, NewDevices: []DigestNewDevice{}}
	if a.parents.activity == nil {
		return d, errors.New("no activity counters (read-only)")
	}
	a.parents.activity.Flush(ctx)
	live := a.cur.Load().live.Load()
	tagName := func(id string) string {
		if s, ok := a.cat.Service(id); ok {
			return s.Name
		}
		if c, ok := a.cat.Category(id); ok {
			return c.Name
		}
		return id
	}
	for _, w := range a.parents.activity.Week(now) {
		dd := DigestDevice{Device: w.Device, Name: a.deviceName(ctx, w.Device), Profile: live.ProfileOf(w.Device),
			Services: []DigestCount{}, TopBlocked: []DigestCount{}, BypassAttempts: w.BypassAttempts}
		for i, s := range w.Services {
			if i == 10 {
				break
			}
			dd.Services = append(dd.Services, DigestCount{ID: s.Tag, Name: tagName(s.Tag), Queries: s.Queries, Minutes: s.Minutes})
		}
		for i, b := range w.Blocked {
			if i == 5 {
				break
			}
			dd.TopBlocked = append(dd.TopBlocked, DigestCount{ID: b.Tag, Name: tagName(b.Tag), Queries: b.Queries, Blocked: b.Blocked})
		}
		d.Devices = append(d.Devices, dd)
	}
	if a.store != nil {
		devices, err := a.store.Devices(ctx, "")
		if err != nil {
			return d, fmt.Errorf("reading devices: %w", err)
		}
		for _, dev := range devices {
			if !dev.FirstSeen.IsZero() && !dev.FirstSeen.Before(d.From) && !dev.FirstSeen.After(now) {
				d.NewDevices = append(d.NewDevices, DigestNewDevice{Device: dev.ID, Name: dev.Name, FirstSeen: dev.FirstSeen})
			}
		}
		sort.Slice(d.NewDevices, func(i, j int) bool { return d.NewDevices[i].FirstSeen.Before(d.NewDevices[j].FirstSeen) })
	}
	return d, nil
}

// Text is the digest as a plain-text mail.
func (d Digest) Text() string {
	var b strings.Builder
	loc, err := time.LoadLocation(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	fmt.Fprintf(&b, "Hearth's week, %s to %s.\n", d.From.In(loc).Format("Mon 2 Jan"), d.To.In(loc).Format("Mon 2 Jan 15:04"))
	if len(d.Devices) == 0 {
		b.WriteString("\nNo activity was counted this week.\n")
	}
	for _, dev := range d.Devices {
		fmt.Fprintf(&b, "\n%s (profile %s)\n", dev.Name, dev.Profile)
		if len(dev.Services) > 0 {
			b.WriteString("  Services used (active minutes, DNS queries):\n")
			for _, s := range dev.Services {
				fmt.Fprintf(&b, "    %-20s %4d min %8d\n", s.Name, s.Minutes, s.Queries)
			}
		}
		if len(dev.TopBlocked) > 0 {
			b.WriteString("  Blocked most:\n")
			for _, s := range dev.TopBlocked {
				fmt.Fprintf(&b, "    %-20s %d\n", s.Name, s.Blocked)
			}
		}
		if dev.BypassAttempts > 0 {
			fmt.Fprintf(&b, "  Bypass attempts: %d\n", dev.BypassAttempts)
		}
	}
	if len(d.NewDevices) > 0 {
		b.WriteString("\nNew devices:\n")
		for _, nd := range d.NewDevices {
			fmt.Fprintf(&b, "  %s, first seen %s\n", nd.Name, nd.FirstSeen.In(loc).Format("Mon 2 Jan 15:04"))
		}
	}
	return b.String()
}

// sendDigest builds the digest and notifies it.
func (a *App) sendDigest(ctx context.Context) (Digest, error) {
	d, err := a.buildDigest(ctx, a.now())
	if err != nil {
		return d, err
	}
	a.parents.notifier.Notify(notify.Event{Kind: notify.KindDigest, Title: "Your week with Hearth", Text: d.Text()})
	return d, nil
}

// nextDigest is the first instant after now that is weekday day at
// minutes past midnight in loc.
func nextDigest(now time.Time, loc *time.Location, day time.Weekday, minutes int) time.Time {
	l := now.In(loc)
	for i := 0; i <= 7; i++ {
		d := time.Date(l.Year(), l.Month(), l.Day()+i, minutes/60, minutes%60, 0, 0, loc)
		if d.Weekday() == day && d.After(now) {
			return d
		}
	}
	return now.Add(7 * 24 * time.Hour) // unreachable: one of 8 days matches
}

// digestLoop sends the digest every week at notify.digest's day and time
// in the household's time zone.
func (a *App) digestLoop(ctx context.Context) {
	days, _ := profile.ParseDays(profile.Days{a.cfg.Notify.Digest.Day}) // checked by Validate
	var day time.Weekday
	for i, on := range days {
		if on {
			day = time.Weekday(i)
		}
	}
	minutes, _ := profile.ParseClock(a.cfg.Notify.Digest.At)
	for {
		now := a.now()
		next := nextDigest(now, a.householdLocation(), day, minutes)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := a.sendDigest(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("weekly digest", "err", err)
		}
	}
}

// listWatchLoop tells the parents when a list fails to download, once
// per failure streak.
func (a *App) listWatchLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	told := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ev := range listFailures(told, a.sourcesReport(a.cur.Load()).Sources) {
			a.parents.notifier.Notify(ev)
		}
	}
}

// listFailures returns the events for lists that started failing since
// the last call, and forgets lists that work again; told is updated.
func listFailures(told map[string]bool, sources []api.Source) []notify.Event {
	var out []notify.Event
	for _, s := range sources {
		failing := s.Failures > 0 && (s.State == "failed" || s.State == "stale")
		switch {
		case failing && !told[s.ID]:
			told[s.ID] = true
			what := "Hearth keeps its last good copy and tries again."
			if s.State == "failed" {
				what = "Hearth has no copy of it yet, so nothing of " + s.Tag + " is blocked from it."
			}
			out = append(out, notify.Event{Kind: notify.KindListFailure, Title: "Block list " + s.ID + " failed to download",
				Text: fmt.Sprintf("The list %s (%s) failed to download %d times: %s\n%s", s.ID, s.Tag, s.Failures, s.Error, what)})
		case !failing && told[s.ID]:
			delete(told, s.ID)
		}
	}
	return out
}

// writeJSON answers v as JSON.
func writeJSONTo(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func failJSON(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSONTo(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// listRequests is GET /api/v1/requests: the requests, newest first.
func (a *App) listRequests(w http.ResponseWriter, r *http.Request) {
	if a.parents.book == nil {
		writeJSONTo(w, http.StatusOK, map[string]any{"enabled": false, "requests": []askparent.Request{}, "pending": 0})
		return
	}
	writeJSONTo(w, http.StatusOK, map[string]any{"enabled": true, "requests": a.parents.book.List(""), "pending": a.parents.book.Pending()})
}

// answerRequest is POST /api/v1/requests/{id} {"choice": "1h"}.
func (a *App) answerRequest(w http.ResponseWriter, r *http.Request) {
	if a.parents.book == nil {
		failJSON(w, http.StatusServiceUnavailable, "ask a parent is off")
		return
	}
	var body struct {
		Choice string `json:"choice"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		failJSON(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	if !askparent.ValidChoice(body.Choice) {
		failJSON(w, http.StatusBadRequest, "choice: %q is not 15m, 1h, today, always or deny", body.Choice)
		return
	}
	by := "a parent"
	if p, ok := auth.FromContext(r.Context()); ok {
		by = p.User
	}
	req, err := a.parents.book.Resolve(r.Context(), r.PathValue("id"), body.Choice, by, a.grantRequest)
	switch {
	case errors.Is(err, askparent.ErrNotFound):
		failJSON(w, http.StatusNotFound, "request %q: not found", r.PathValue("id"))
	case errors.Is(err, askparent.ErrDecided):
		failJSON(w, http.StatusConflict, "request %q was already answered (%s)", req.ID, req.Status)
	case err != nil:
		failJSON(w, http.StatusBadRequest, "%v", err)
	default:
		writeJSONTo(w, http.StatusOK, req)
	}
}

// notificationStatus is GET /api/v1/notifications: each channel's
// deliveries, and the activity counters' drops.
func (a *App) notificationStatus(w http.ResponseWriter, r *http.Request) {
	var dropped uint64
	if a.parents.activity != nil {
		dropped = a.parents.activity.Dropped()
	}
	writeJSONTo(w, http.StatusOK, map[string]any{"channels": a.parents.notifier.Status(), "activity_dropped": dropped})
}

// serveDigest is GET /api/v1/digest: the digest of the last seven days.
func (a *App) serveDigest(w http.ResponseWriter, r *http.Request) {
	d, err := a.buildDigest(r.Context(), a.now())
	if err != nil {
		failJSON(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSONTo(w, http.StatusOK, d)
}

// sendDigestNow is POST /api/v1/digest: send the digest now.
func (a *App) sendDigestNow(w http.ResponseWriter, r *http.Request) {
	if !a.parents.notifier.Wants(notify.KindDigest) {
		failJSON(w, http.StatusConflict, "no notification channel is configured for the digest (notify.*.events)")
		return
	}
	d, err := a.sendDigest(r.Context())
	if err != nil {
		failJSON(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSONTo(w, http.StatusAccepted, d)
}
