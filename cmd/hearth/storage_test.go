package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestReadOnlyDataDir runs the real binary on a data directory it cannot
// write: it must start, answer DNS by its policy, and log the storage
// problem. Root ignores file modes, so when the tests run as root the
// second run drops to the nobody user (a plain user needs nothing more).
func TestReadOnlyDataDir(t *testing.T) {
	up := dnstest.NewServer(t, dnstest.Zone(t, "bet365.com. 300 IN A 192.0.2.50", "example.com. 300 IN A 192.0.2.1"))
	dir := t.TempDir()
	list := filepath.Join(dir, "gambling.txt")
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "hearth.yaml")
	if err := os.WriteFile(list, []byte("bet365.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`listen: {dns: ["127.0.0.1:0"], http: ""}
upstream: {servers: [%q], timeout: 1s}
default_profile: kid
profiles:
  kid: {block: [gambling]}
sources:
  - {tag: gambling, file: %q, format: domains}
query_log: {enabled: true}
data_dir: %q
`, up.Addr, list, data)
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}

	// The first run creates the store, the query log and the snapshot.
	p := startProcess(t, cfg)
	checkBlocked(t, p.addr)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// Then the data directory turns read-only.
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			mode := os.FileMode(0o444)
			if info.IsDir() {
				mode = 0o555
			}
			os.Chmod(path, mode)
		}
		return nil
	})
	t.Cleanup(func() {
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil {
				os.Chmod(path, 0o755)
			}
			return nil
		})
	})
	cmd := exec.Command(binary, "serve", "--config", cfg)
	if os.Geteuid() == 0 {
		// Every directory above the test's files must let nobody in.
		for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
				os.Chmod(d, fi.Mode().Perm()|0o005)
			}
		}
		for d := filepath.Dir(binary); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
				os.Chmod(d, fi.Mode().Perm()|0o005)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	p2 := startCmd(t, cmd)
	checkBlocked(t, p2.addr)
	// The store cannot be opened for writing, or the snapshot cannot be
	// saved: either way it is logged as an error by the time it serves.
	re := regexp.MustCompile(`level=ERROR .*(database|snapshot|query log)`)
	for _, line := range p2.read {
		if re.MatchString(line) {
			t.Logf("logged: %s", line)
			return
		}
	}
	t.Errorf("no storage error logged before serving:\n%s", strings.Join(p2.read, "\n"))
}

// checkBlocked asks addr for bet365.com and wants the kid block.
func checkBlocked(t *testing.T, addr string) {
	t.Helper()
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), addr)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "0.0.0.0" {
		t.Fatalf("answer %v, want the blocked 0.0.0.0", r)
	}
}
