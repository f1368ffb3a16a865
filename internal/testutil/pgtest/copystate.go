package pgtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
)

// CopyState writes st into the PostgreSQL store's tables (already
// migrated) with COPY, in the rows the store's own writes make: version 1,
// the JSON they marshal, a DNS id's hash in its own column, times in
// nanoseconds. Benchmarks use it to fill a million households in seconds.
func CopyState(t testing.TB, dsn string, st store.State) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	js := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	nanos := func(at time.Time) any {
		if at.IsZero() {
			return nil
		}
		return at.UnixNano()
	}
	tables := []struct {
		name string
		cols []string
		n    int
		row  func(i int) []any
	}{
		{"households", []string{"id", "version", "default_profile", "data"}, len(st.Households), func(i int) []any {
			h := st.Households[i]
			h.Version = 1
			return []any{h.ID, h.Version, null(h.DefaultProfile), js(h)}
		}},
		{"profiles", []string{"id", "household", "version", "data"}, len(st.Profiles), func(i int) []any {
			p := st.Profiles[i]
			p.Version = 1
			return []any{p.ID, p.Household, p.Version, js(p)}
		}},
		{"devices", []string{"id", "household", "profile", "version", "data", "dns_id_hash"}, len(st.Devices), func(i int) []any {
			d := st.Devices[i]
			d.Version = 1
			var hash any
			if d.DNSID != nil {
				id := *d.DNSID
				hash, id.Hash = null(id.Hash), ""
				d.DNSID = &id
			}
			return []any{d.ID, d.Household, null(d.Profile), d.Version, js(d), hash}
		}},
		{"grants", []string{"id", "device", "kind", "target", "until", "created_by", "created"}, len(st.Grants), func(i int) []any {
			g := st.Grants[i]
			return []any{g.ID, g.Device, g.Kind, g.Target, g.Until.UnixNano(), g.By, nanos(g.Created)}
		}},
		{"bindings", []string{"kind", "key", "household", "origin", "session", "updated"}, len(st.Bindings), func(i int) []any {
			bd := st.Bindings[i]
			return []any{bd.Kind, bd.Key, bd.Household, bd.Origin, bd.Session, nanos(bd.Updated)}
		}},
	}
	for _, tb := range tables {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, pgx.CopyFromSlice(tb.n, func(i int) ([]any, error) { return tb.row(i), nil })); err != nil {
			t.Fatalf("copy %s: %v", tb.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE policy_feed_head SET last = $1 WHERE id = 1", st.Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE households, profiles, devices, grants, bindings"); err != nil {
		t.Fatal(err)
	}
}
