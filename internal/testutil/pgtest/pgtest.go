// Package pgtest gives a test an empty schema of the throwaway PostgreSQL
// cluster that scripts/postgres starts (HEARTH_TEST_POSTGRES_DSN).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Cluster returns the DSN of the throwaway cluster itself. Without the
// cluster the test skips on a laptop and fails in CI (CI=true).
func Cluster(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("HEARTH_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HEARTH_TEST_POSTGRES_DSN is not set: run the tests through scripts/test or scripts/postgres")
		}
		t.Skip("HEARTH_TEST_POSTGRES_DSN is not set: run through scripts/postgres to test the PostgreSQL store")
	}
	return dsn
}

// DSN returns a DSN whose connections use a new, empty schema, dropped when
// the test ends. Without the cluster the test skips on a laptop and fails
// in CI (CI=true).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := Cluster(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	exec := func(sql string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to the test cluster: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	return WithParam(dsn, "search_path", schema)
}

// WithParam returns dsn (a URL or key=value DSN) with key=value added.
func WithParam(dsn, key, value string) string {
	sep := " "
	if strings.Contains(dsn, "://") {
		sep = "&"
		if !strings.Contains(dsn, "?") {
			sep = "?"
		}
	}
	return dsn + sep + key + "=" + value
}
