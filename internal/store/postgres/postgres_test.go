package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/storetest"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

// wait bounds how long a test waits for something that should happen
// soon; reaching it is a failure, never a way to synchronise.
const wait = 30 * time.Second

// testDSN returns the DSN of the throwaway cluster scripts/postgres
// starts. Without one the tests skip on a laptop and fail in CI.
func testDSN(t testing.TB) string { return pgtest.Cluster(t) }

// newSchema creates an empty schema, dropped when the test ends, and
// returns a DSN whose connections use it.
func newSchema(t testing.TB) string { return pgtest.DSN(t) }

// openDSN opens the store at dsn, closed when the test ends.
func openDSN(t testing.TB, c *Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := newSchema(t)
		return func() store.Store {
			s, err := Open(context.Background(), &Config{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func TestMigrate(t *testing.T) {
	dsn := newSchema(t)
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: dsn})
	if len(s.applied) != len(migrations) {
		t.Errorf("new database: applied %v, want every one of %d steps", s.applied, len(migrations))
	}
	s.Close()
	s = openDSN(t, &Config{DSN: dsn})
	if len(s.applied) != 0 {
		t.Errorf("second open applied %v again", s.applied)
	}
	// A database a newer Hearth migrated is refused, not damaged.
	if _, err := s.pool.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)", len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, &Config{DSN: dsn})
	if err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("open of a newer schema: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, dsn, want string
	}{
		{"empty", "", "no dsn"},
		{"not a dsn", "postgres://h:secretpw@[bad", "open store"},
		// Nothing listens on port 1: the error names the server, never
		// the password.
		{"no server", "postgres://hearth:secretpw@127.0.0.1:1/hearth?connect_timeout=5", "127.0.0.1:1/hearth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, &Config{DSN: tc.dsn})
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// listening waits for the listener of a store opened with c to LISTEN.
func listening(t *testing.T, c *Config, what string) {
	t.Helper()
	select {
	case <-c.listened:
	case <-time.After(wait):
		t.Fatalf("the listener did not LISTEN within %v %s", wait, what)
	}
}

func notified(t *testing.T, s *Store, what string) {
	t.Helper()
	select {
	case <-s.Notify():
	case <-time.After(wait):
		t.Fatalf("no wake-up within %v after %s", wait, what)
	}
}

func drain(s *Store) {
	select {
	case <-s.Notify():
	default:
	}
}

// TestListenAcrossNodes: a write through one node wakes another node's
// store, which learnt of it (and of its seq, HeardSeq) only through
// LISTEN.
func TestListenAcrossNodes(t *testing.T) {
	dsn := newSchema(t)
	ctx := context.Background()
	writer := openDSN(t, &Config{DSN: dsn})
	rc := &Config{DSN: dsn, listened: make(chan struct{})}
	reader := openDSN(t, rc)
	listening(t, rc, "at open")
	drain(reader)

	tests := []struct {
		name string
		do   func() error
		want store.Change
	}{
		{"put household", func() error { _, err := writer.PutHousehold(ctx, store.Household{ID: "h"}); return err },
			store.Change{Seq: 1, Kind: store.KindHousehold, ID: "h"}},
		{"put device", func() error { _, err := writer.PutDevice(ctx, store.Device{ID: "d", Household: "h"}); return err },
			store.Change{Seq: 2, Kind: store.KindDevice, ID: "d"}},
		{"delete device", func() error { return writer.DeleteDevice(ctx, "d") },
			store.Change{Seq: 3, Kind: store.KindDevice, ID: "d", Deleted: true}},
	}
	for _, tc := range tests {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		notified(t, reader, tc.name+" on the other node")
		if got := reader.HeardSeq(); got != tc.want.Seq {
			t.Errorf("after %s the other node heard of seq %d, want %d", tc.name, got, tc.want.Seq)
		}
		cs, err := reader.Changes(ctx, tc.want.Seq-1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0] != tc.want {
			t.Errorf("after %s the other node reads the feed %+v, want [%+v]", tc.name, cs, tc.want)
		}
	}
	// A write that changes no policy wakes no one.
	if err := writer.PutUser(ctx, store.User{Name: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.DeleteExpiredGrants(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.PutHousehold(ctx, store.Household{ID: "h2"}); err != nil {
		t.Fatal(err)
	}
	notified(t, reader, "put household h2")
	st, err := reader.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Households) != 2 || st.Seq != 4 {
		t.Errorf("the other node loads %d households at seq %d, want 2 at seq 4", len(st.Households), st.Seq)
	}
}

// TestServerRestart restarts the test cluster: the listener reconnects
// (and says so with a wake-up, since notifications sent meanwhile are
// lost), LISTEN works again, and both stores' pools serve writes and
// loads on the first try although every pooled connection died.
func TestServerRestart(t *testing.T) {
	dsn := newSchema(t)
	ctl := os.Getenv("HEARTH_TEST_POSTGRES_CTL")
	if ctl == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HEARTH_TEST_POSTGRES_CTL is not set: run the tests through scripts/test or scripts/postgres")
		}
		t.Skip("HEARTH_TEST_POSTGRES_CTL is not set: scripts/postgres sets it")
	}
	ctx := context.Background()
	writer := openDSN(t, &Config{DSN: dsn})
	rc := &Config{DSN: dsn, listened: make(chan struct{})}
	reader := openDSN(t, rc)
	listening(t, rc, "at open")
	h, err := writer.PutHousehold(ctx, store.Household{ID: "after-not"})
	if err != nil {
		t.Fatal(err)
	}
	notified(t, reader, "the write before the restart")
	if _, err := reader.Load(ctx); err != nil { // a pooled connection to kill
		t.Fatal(err)
	}

	// The server inherits pg_ctl's output: a file, not a pipe that
	// would stay open as long as the server runs.
	out, err := os.Create(t.TempDir() + "/pg_ctl.out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	args := append(strings.Fields(ctl), "restart", "-m", "fast")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("restart the cluster: %v\n%s", err, b)
	}

	listening(t, rc, "after the restart")
	notified(t, reader, "the listener reconnected")
	h, err = writer.PutHousehold(ctx, store.Household{ID: "after"})
	if err != nil {
		t.Fatalf("first write after the restart: %v", err)
	}
	notified(t, reader, "the write after the restart")
	st, err := reader.Load(ctx)
	if err != nil {
		t.Fatalf("first load after the restart: %v", err)
	}
	if len(st.Households) != 2 || st.Households[0].ID != h.ID {
		t.Errorf("households after the restart: %+v", st.Households)
	}
}

// TestConstraint: a unique key another node won is ErrConflict, a
// reference another node removed is ErrInvalid.
func TestConstraint(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"23505", store.ErrConflict},
		{"23503", store.ErrInvalid},
		{"22001", nil},
	}
	for _, tc := range tests {
		got := constraint(fmt.Errorf("insert: %w", &pgconn.PgError{Code: tc.code, Message: "m"}))
		if tc.want == nil {
			if errors.Is(got, store.ErrConflict) || errors.Is(got, store.ErrInvalid) {
				t.Errorf("%s: %v", tc.code, got)
			}
			continue
		}
		if !errors.Is(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.code, got, tc.want)
		}
	}
}

// TestNodesWriteConcurrently: two nodes (two Stores on one database)
// increment one counter at once. Optimistic versions keep every update
// (a stale one is ErrConflict and tried again), and the change feed holds
// one entry per committed write, numbered without gaps in commit order,
// whichever node wrote it.
func TestNodesWriteConcurrently(t *testing.T) {
	dsn := newSchema(t)
	ctx := context.Background()
	nodes := []*Store{openDSN(t, &Config{DSN: dsn}), openDSN(t, &Config{DSN: dsn})}
	if _, err := nodes[0].PutHousehold(ctx, store.Household{ID: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].PutDevice(ctx, store.Device{ID: "d", Household: "h", Hostname: "0"}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 25 // per node
	errs := make(chan error, 2*workers)
	for _, s := range nodes {
		for range workers {
			go func() {
				for range each {
					for {
						d, err := s.Device(ctx, "d")
						if err != nil {
							errs <- err
							return
						}
						n, _ := strconv.Atoi(d.Hostname)
						d.Hostname = strconv.Itoa(n + 1)
						if _, err = s.PutDevice(ctx, d); errors.Is(err, store.ErrConflict) {
							continue
						}
						if err != nil {
							errs <- err
							return
						}
						break
					}
				}
				errs <- nil
			}()
		}
	}
	for range 2 * workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	const total = 2 * workers * each
	d, err := nodes[1].Device(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != strconv.Itoa(total) || d.Version != total+1 {
		t.Errorf("counter %s at version %d, want %d at version %d", d.Hostname, d.Version, total, total+1)
	}
	feed, err := nodes[1].Changes(ctx, 0, 10*total)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != total+2 {
		t.Fatalf("%d changes, want %d", len(feed), total+2)
	}
	for i, c := range feed {
		if c.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: the feed has a gap or is out of order", i, c.Seq)
		}
	}
}

// TestFeedInCommitOrder: grants (one statement each that locks the feed
// head only to append, feedOne) and devices (which lock it first) written at once
// from two nodes reach the feed numbered in commit order: a reader that
// follows the feed while they are written never sees a seq before the
// one after its position has committed, and in the end the feed holds
// one entry per change.
func TestFeedInCommitOrder(t *testing.T) {
	dsn := newSchema(t)
	ctx := context.Background()
	nodes := []*Store{openDSN(t, &Config{DSN: dsn}), openDSN(t, &Config{DSN: dsn})}
	if _, err := nodes[0].PutHousehold(ctx, store.Household{ID: "h"}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	const workers, each = 4, 20 // per node
	errs := make(chan error, 2*workers)
	for ni, s := range nodes {
		for w := range workers {
			go func() {
				dev := fmt.Sprintf("d%d-%d", ni, w)
				for i := range each {
					var err error
					switch i % 3 {
					case 0:
						_, err = s.PutDevice(ctx, store.Device{ID: dev, Household: "h", Hostname: strconv.Itoa(i)})
						if errors.Is(err, store.ErrConflict) { // exists: update it
							var d store.Device
							if d, err = s.Device(ctx, dev); err == nil {
								d.Hostname = strconv.Itoa(i)
								_, err = s.PutDevice(ctx, d)
							}
						}
					case 1:
						_, err = s.AddGrant(ctx, store.Grant{ID: fmt.Sprintf("g%d-%d-%d", ni, w, i), Device: dev, Kind: store.GrantPause, Until: until})
					case 2:
						err = s.DeleteGrant(ctx, fmt.Sprintf("g%d-%d-%d", ni, w, i-1))
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
	}
	// The reader follows the feed until every writer is done and it has
	// read the last entry.
	const total = 1 + 2*workers*each
	var after int64
	done := 0
	for after < total {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			done++
		default:
		}
		cs, err := nodes[1].Changes(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Seq != after+1 {
				t.Fatalf("the feed shows seq %d after %d: a later seq committed first", c.Seq, after)
			}
			after = c.Seq
		}
		if len(cs) == 0 && done == 2*workers {
			break
		}
	}
	for ; done < 2*workers; done++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	cs, err := nodes[0].Changes(ctx, 0, 10*total)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != total || after != total {
		t.Errorf("%d changes in the feed, reader at %d, want %d", len(cs), after, total)
	}
	for i, c := range cs {
		if c.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: the feed has a gap or is out of order", i, c.Seq)
		}
	}
}
