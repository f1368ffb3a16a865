package app

import (
	"context"
	"fmt"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/dnstap"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/usage"
)

// What ISP mode adds to the App: per-household counters (kept in every
// mode: a home has one household, an ISP a million) and dnstap output.

// openUsage makes the per-household counter table, sized by
// isp.counter_households, counting blocked queries by the catalog's
// categories (a service's blocks count for its category).
func (a *App) openUsage(cfg *config.Config) (*usage.Table, func(string) string, error) {
	cats := make([]string, 0, len(a.cat.Categories))
	for _, c := range a.cat.Categories {
		cats = append(cats, c.ID)
	}
	if len(cats) > usage.MaxCategories {
		cats = cats[:usage.MaxCategories]
	}
	n := cfg.ISP.CounterHouseholds
	if n == 0 {
		n = 1024
	}
	t, err := usage.New(usage.Config{Households: n, Categories: cats})
	if err != nil {
		return nil, nil, cfg.Errorf("isp.counter_households", "%v", err)
	}
	parent := map[string]string{}
	for _, s := range a.cat.Services {
		parent[s.ID] = s.Category
	}
	categoryOf := func(tag string) string {
		if c, ok := parent[tag]; ok {
			return c
		}
		return tag
	}
	a.metrics.CounterFunc("hearth_household_counters_overflow_total",
		"Queries not counted per household because the counter table is full (raise isp.counter_households).",
		func() float64 { return float64(t.Overflow()) })
	a.metrics.GaugeFunc("hearth_household_counters_households", "Households with a slot in the per-household counter table.",
		func() float64 { return float64(t.Households()) })
	return t, categoryOf, nil
}

// openTap makes the dnstap output when the config asks for one.
func (a *App) openTap(cfg *config.Config) (*dnstap.Tap, error) {
	d := cfg.Dnstap
	if !d.Enabled() {
		return nil, nil
	}
	q, r := d.DnstapLogs()
	t, err := dnstap.New(dnstap.Config{
		Socket: d.Socket, TCP: d.TCP, Identity: d.Identity, Version: d.Version,
		Queries: q, Responses: r, Queue: d.Queue, Timeout: d.Timeout,
		Metrics: a.metrics, Logger: a.log,
	})
	if err != nil {
		return nil, cfg.Errorf("dnstap", "%v", err)
	}
	return t, nil
}

// withTap puts the dnstap step inside observe (nil when either is off).
func withTap(observe pipeline.Middleware, t *dnstap.Tap) pipeline.Middleware {
	if t == nil {
		return observe
	}
	tap := t.Middleware()
	if observe == nil {
		return tap
	}
	return func(next pipeline.Handler) pipeline.Handler { return observe(tap(next)) }
}

// startTap starts the dnstap output, if any.
func (a *App) startTap() error {
	if a.tap == nil {
		return nil
	}
	if err := a.tap.Start(); err != nil {
		return fmt.Errorf("dnstap: %w", err)
	}
	return nil
}

// stopTap sends what dnstap still holds, within ctx.
func (a *App) stopTap(ctx context.Context) error {
	if a.tap == nil {
		return nil
	}
	return a.tap.Shutdown(ctx)
}
