package api

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/querylog"
)

func (a *API) queryLog(w http.ResponseWriter, r *http.Request) {
	q := querylog.Query{Device: r.URL.Query().Get("device"), Name: r.URL.Query().Get("name"), Action: r.URL.Query().Get("action")}
	if q.Action != "" {
		if _, ok := querylog.ParseAction(q.Action); !ok {
			fail(w, http.StatusBadRequest, "action: %q is not allowed, blocked, rewritten, nxdomain or nodata", q.Action)
			return
		}
	}
	var err error
	if q.Since, err = queryTime(r, "since"); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if q.Until, err = queryTime(r, "until"); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err == nil && limit > querylog.MaxLimit {
		fail(w, http.StatusBadRequest, "limit: at most %d", querylog.MaxLimit)
		return
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	q.Limit = int(limit)
	if q.Before, err = queryInt(r, "before"); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if q.Device != "" {
		if _, _, err := a.scopedDevice(r, q.Device); err != nil {
			a.storeError(w, r, "device "+q.Device, err)
			return
		}
	}
	if q.Devices, err = a.scopedDeviceIDs(r); err != nil {
		a.storeError(w, r, "devices", err)
		return
	}
	if a.c.Log == nil {
		writeJSON(w, http.StatusOK, map[string]any{"rows": []querylog.Row{}, "disabled": true})
		return
	}
	rows, err := a.c.Log.Search(r.Context(), q)
	if err != nil {
		a.storeError(w, r, "query log", err)
		return
	}
	resp := map[string]any{"rows": nonNil(rows)}
	page := q.Limit
	if page == 0 {
		page = querylog.DefaultLimit
	}
	if n := len(rows); n > 0 && n == page {
		// A full page: there may be more before its last row.
		resp["next_before"] = rows[n-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// stats answers the dashboard: totals, top blocked tags and devices, and
// hourly counters, by default for today in the home's time zone.
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	since, err := queryTime(r, "since")
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	until, err := queryTime(r, "until")
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	now := a.c.Now()
	if until.IsZero() {
		until = now
	}
	device := r.URL.Query().Get("device")
	if device != "" {
		if _, _, err := a.scopedDevice(r, device); err != nil {
			a.storeError(w, r, "device "+device, err)
			return
		}
	}
	devices, err := a.scopedDeviceIDs(r)
	if err != nil {
		a.storeError(w, r, "devices", err)
		return
	}
	if since.IsZero() {
		loc := a.homeLocation(r.Context())
		y, m, d := now.In(loc).Date()
		since = time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	if !since.Before(until) {
		fail(w, http.StatusBadRequest, "since: must be before until")
		return
	}
	resp := map[string]any{
		"since": since.UTC(), "until": until.UTC(),
		"queries": 0, "blocked": 0, "top_blocked": []querylog.TagCount{}, "devices": []querylog.DeviceCount{},
		"hourly": []querylog.Counter{}, "daily": []querylog.Counter{}, "dropped_log_rows": uint64(0),
	}
	if scopeOf(r).all() {
		// The writer's drops are every household's: operators only.
		resp["dropped_log_rows"] = a.c.Backend.LogDropped()
	}
	if a.c.Log != nil {
		sum, err := a.c.Log.SummaryOf(r.Context(), since, until, devices)
		if err != nil {
			a.storeError(w, r, "stats", err)
			return
		}
		// Past two days the chart has a point a day, not an hour.
		cq := querylog.CounterQuery{Since: since, Until: until, Device: device, Devices: devices}
		var hourly, daily []querylog.Counter
		if until.Sub(since) > 48*time.Hour {
			daily, err = a.c.Log.Daily(r.Context(), cq)
		} else {
			hourly, err = a.c.Log.Hourly(r.Context(), cq)
		}
		if err != nil {
			a.storeError(w, r, "stats", err)
			return
		}
		resp["daily"] = nonNil(daily)
		resp["queries"], resp["blocked"] = sum.Queries, sum.Blocked
		resp["top_blocked"], resp["devices"], resp["hourly"] = nonNil(sum.TopBlocked), nonNil(sum.Devices), nonNil(hourly)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) explain(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := ExplainRequest{Name: strings.TrimSpace(v.Get("name")), Device: v.Get("device"), Type: dns.TypeA}
	client := v.Get("client")
	if q.Name == "" {
		fail(w, http.StatusBadRequest, "name: required")
		return
	}
	if _, ok := dns.IsDomainName(q.Name); !ok {
		fail(w, http.StatusBadRequest, "name: %q is not a domain name", q.Name)
		return
	}
	if t := v.Get("type"); t != "" {
		qt, ok := dns.StringToType[strings.ToUpper(t)]
		if !ok {
			fail(w, http.StatusBadRequest, "type: %q is not a DNS type", t)
			return
		}
		q.Type = qt
	}
	if (q.Device == "") == (client == "") {
		fail(w, http.StatusBadRequest, "device: give a device or a client address")
		return
	}
	if q.Device != "" {
		if _, _, err := a.scopedDevice(r, q.Device); err != nil {
			a.storeError(w, r, "device "+q.Device, err)
			return
		}
	}
	if client != "" && !scopeOf(r).all() {
		// An address may be another household's device.
		fail(w, http.StatusForbidden, "client: operators only; give one of your devices")
		return
	}
	if client != "" {
		c, err := netip.ParseAddr(client)
		if err != nil {
			fail(w, http.StatusBadRequest, "client: %q is not an IP address", client)
			return
		}
		q.Client = c.Unmap()
	}
	at, err := queryTime(r, "at")
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if at.IsZero() {
		at = a.c.Now()
	}
	q.At = at
	e, err := a.c.Backend.Explain(r.Context(), q)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}
