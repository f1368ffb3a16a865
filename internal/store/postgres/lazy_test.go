package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
)

// TestLazyOpen: a node started while its database is down opens its
// store anyway (Config.Lazy), and every call says the store is
// unavailable, with store.ErrUnavailable and without the password.
func TestLazyOpen(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on port 1.
	const dsn = "postgres://hearth:secretpw@127.0.0.1:1/hearth?connect_timeout=5"
	s, err := Open(ctx, &Config{DSN: dsn, Lazy: true})
	if err != nil {
		t.Fatalf("lazy open of an unreachable database: %v", err)
	}
	defer s.Close()
	calls := []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, err := s.Load(ctx); return err }},
		{"Version", func() error { _, err := s.Version(ctx); return err }},
		{"Changes", func() error { _, err := s.Changes(ctx, 0, 10); return err }},
		{"PutHousehold", func() error { _, err := s.PutHousehold(ctx, store.Household{ID: "h1"}); return err }},
		{"Grant", func() error { _, err := s.Grant(ctx, "g1"); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want store.ErrUnavailable", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: %q shows the password", c.name, err)
		}
	}
}

// TestLazyOpenMigrates: a lazily opened store on a new schema migrates it
// on its first connection and works.
func TestLazyOpenMigrates(t *testing.T) {
	s := openDSN(t, &Config{DSN: newSchema(t), Lazy: true})
	if len(s.applied) != len(migrations) {
		t.Errorf("applied %v, want every one of %d steps", s.applied, len(migrations))
	}
	if _, err := s.PutHousehold(context.Background(), store.Household{ID: "h1"}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Version(context.Background())
	if err != nil || v.Kinds[store.KindHousehold].Count != 1 {
		t.Errorf("version %+v, %v: want one household", v, err)
	}
}
