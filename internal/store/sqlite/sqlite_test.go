package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// openPath opens the store at path, failing the test on an error.
func openPath(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), &Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "hearth.db")
		return func() store.Store { return openPath(t, path) }
	})
}

// TestPragmas checks the settings on several pooled connections at once:
// each connection must have them, not just the first.
func TestPragmas(t *testing.T) {
	s := openPath(t, filepath.Join(t.TempDir(), "hearth.db"))
	defer s.Close()
	ctx := context.Background()

	const conns = 3
	for i := range conns {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // hold it, so that the next Conn is another one
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", i, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("connection %d: %s = %s, want %s", i, tc.pragma, got, tc.want)
			}
		}
	}
	if n := s.db.Stats().OpenConnections; n < conns {
		t.Errorf("%d connections open, want at least %d", n, conns)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		config  *Config
		mention string
	}{
		{"nil config", nil, "no path"},
		{"no path", &Config{}, "no path"},
		{"query in path", &Config{Path: filepath.Join(dir, "a?mode=ro")}, "'?'"},
		{"uri", &Config{Path: "file:" + filepath.Join(dir, "a.db")}, "file:"},
		{"missing directory", &Config{Path: filepath.Join(dir, "nope", "a.db")}, "nope"},
		{"not a database", &Config{Path: garbage}, "garbage.db"},
		{"negative busy timeout", &Config{Path: filepath.Join(dir, "b.db"), BusyTimeout: -1}, "busy timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.config)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// TestCloseTwice checks that Close is idempotent and that a closed store
// reports errors instead of panicking.
func TestCloseTwice(t *testing.T) {
	s := openPath(t, filepath.Join(t.TempDir(), "hearth.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := s.Load(context.Background()); err == nil {
		t.Error("load after close succeeded")
	}
	if _, err := s.PutHousehold(context.Background(), store.Household{ID: "h"}); err == nil {
		t.Error("put after close succeeded")
	}
}

// TestErrorsName checks that errors say what failed, with the id.
func TestErrorsName(t *testing.T) {
	s := openPath(t, filepath.Join(t.TempDir(), "hearth.db"))
	defer s.Close()
	_, err := s.Device(context.Background(), "tablet")
	if !errors.Is(err, store.ErrNotFound) || err.Error() != `get device "tablet": not found` {
		t.Errorf("got %q", err)
	}
}

// TestTwoHandles opens the file twice, as two processes would: the
// handles do not share the in-process writer turn, so this exercises
// BEGIN IMMEDIATE and busy_timeout. Every read-modify-write must succeed
// or conflict, never fail with SQLITE_BUSY.
func TestTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	a := openPath(t, path)
	defer a.Close()
	b := openPath(t, path)
	defer b.Close()
	ctx := context.Background()
	if _, err := a.PutHousehold(ctx, store.Household{ID: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutDevice(ctx, store.Device{ID: "d", Household: "h", Hostname: "0"}); err != nil {
		t.Fatal(err)
	}

	const workers, each = 4, 25
	var wg sync.WaitGroup
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				for {
					d, err := s.Device(ctx, "d")
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					n, _ := strconv.Atoi(d.Hostname)
					d.Hostname = strconv.Itoa(n + 1)
					_, err = s.PutDevice(ctx, d)
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("write: %v", err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	d, err := b.Device(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != strconv.Itoa(workers*each) {
		t.Errorf("counter %s, want %d", d.Hostname, workers*each)
	}
}
