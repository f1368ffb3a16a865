//go:build unix

package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Environment of the child process TestKillDurability starts.
const (
	helperDB     = "HEARTH_STORE_KILL_DB"
	helperPrefix = "HEARTH_STORE_KILL_PREFIX"
)

// TestHelperWriter is not a test: TestKillDurability runs it in a child
// process, where it writes until it is killed and prints a line for each
// write after the write returned, that is after it was acknowledged.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperDB)
	if path == "" {
		t.Skip("the child process of TestKillDurability")
	}
	prefix := os.Getenv(helperPrefix)
	s := openPath(t, path)
	ctx := context.Background()
	for i := range 100_000 {
		id := fmt.Sprintf("%s-%06d", prefix, i)
		if _, err := s.PutDevice(ctx, store.Device{ID: id, Household: "home", Name: id, FirstSeen: time.Now()}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "device %s\n", id)
		// Every third device gets a grant: a second kind of row, and
		// the next write deletes the device before it with its grant,
		// a transaction of several rows.
		if i%3 == 0 {
			g, err := s.AddGrant(ctx, store.Grant{Device: id, Kind: store.GrantPause, Until: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(os.Stdout, "grant %s\n", g.ID)
		}
		if i%3 == 1 {
			gone := fmt.Sprintf("%s-%06d", prefix, i-1)
			if err := s.DeleteDevice(ctx, gone); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(os.Stdout, "deleted %s\n", gone)
		}
	}
}

// TestKillDurability kills a writer with SIGKILL at different moments and
// checks that every write it acknowledged is in the file, and that the
// file is sound.
func TestKillDurability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	s := openPath(t, path)
	if _, err := s.PutHousehold(context.Background(), store.Household{ID: "home"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for round, killAt := range []int{200, 1, 333} {
		t.Run(fmt.Sprintf("kill after %d acks", killAt), func(t *testing.T) {
			acks := runAndKill(t, path, fmt.Sprintf("r%d", round), killAt)
			s := openPath(t, path)
			defer s.Close()
			checkIntegrity(t, s)

			st, err := s.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, d := range st.Devices {
				have["device "+d.ID] = true
			}
			for _, g := range st.Grants {
				have["grant "+g.ID] = true
			}
			// A write the child made but had no time to acknowledge may
			// have deleted an acknowledged one: the feed says which.
			feed, err := s.Changes(context.Background(), 0, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			gone := map[string]bool{}
			for _, c := range feed {
				gone[c.Kind+" "+c.ID] = c.Deleted
			}
			lost := 0
			for _, ack := range acks {
				if id, ok := strings.CutPrefix(ack, "deleted "); ok {
					if have["device "+id] {
						t.Errorf("acknowledged delete of %s undone", id)
					}
					continue
				}
				if !have[ack] && !gone[ack] {
					lost++
					t.Errorf("acknowledged %s lost", ack)
				}
			}
			t.Logf("%d acknowledged writes, %d lost", len(acks), lost)
		})
	}
}

// runAndKill starts TestHelperWriter on path, kills it with SIGKILL when
// it has acknowledged killAt writes, and returns every write it
// acknowledged, including those printed after the count was reached.
func runAndKill(t *testing.T, path, prefix string, killAt int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDB+"="+path, helperPrefix+"="+prefix)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A guard against a hung child, not a synchronisation: the test
	// fails below if it fires before killAt acknowledgements.
	guard := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()

	var acks []string
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "device ") && !strings.HasPrefix(line, "grant ") && !strings.HasPrefix(line, "deleted ") {
			continue // the test framework's own output
		}
		acks = append(acks, line)
		if len(acks) == killAt && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Reading to EOF collects what the child printed before it died.
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !killed || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v after %d acks, want killed after %d; stderr:\n%s", err, len(acks), killAt, stderr.String())
	}
	return acks
}

// checkIntegrity fails unless SQLite finds the file sound.
func checkIntegrity(t *testing.T, s *Store) {
	t.Helper()
	var res string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Fatalf("integrity check: %s", res)
	}
	rows, err := s.db.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("foreign key check found dangling references")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
