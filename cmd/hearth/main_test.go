package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// binary is the hearth binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hearth")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hearth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "hearth ") {
		t.Errorf("version: code %d, out %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("unknown command: code %d, err %q", code, errb.String())
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("upstream: {servers: [\"127.0.0.1:53\"]}\nlocal: {records: [\"router.lan A 192.168.1.1\"]}\n"), 0o644)
	os.WriteFile(bad, []byte("upstream:\n  servers: [\"127.0.0.1:53\"]\n  strategy: fastest\ncolour: blue\n"), 0o644)
	tests := []struct {
		file     string
		wantCode int
		wantOut  []string
	}{
		{good, 0, []string{"good.yaml: ok"}},
		{bad, 1, []string{"bad.yaml:4: colour: unknown field"}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run([]string{"check", "--config", tc.file}, &out, &errb)
		if code != tc.wantCode {
			t.Errorf("check %s: code %d, want %d (stderr %q)", tc.file, code, tc.wantCode, errb.String())
		}
		for _, w := range tc.wantOut {
			if !strings.Contains(out.String()+errb.String(), w) {
				t.Errorf("check %s: output %q lacks %q", tc.file, out.String()+errb.String(), w)
			}
		}
	}
	// A semantic error caught by the config layer names file, line and field.
	os.WriteFile(bad, []byte("upstream:\n  servers: [\"127.0.0.1:53\"]\n  strategy: fastest\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "bad.yaml:3: upstream.strategy:") {
		t.Errorf("check: code %d, stderr %q", code, errb.String())
	}
}

// process is a running hearth binary whose log lines arrive on lines.
type process struct {
	cmd   *exec.Cmd
	lines chan string
	addr  string
	// read are the log lines waitFor has read so far.
	read []string
}

var servingRE = regexp.MustCompile(`msg="hearth serving" dns="?\[([0-9.:]+)`)

func startProcess(t *testing.T, config string) *process {
	t.Helper()
	return startCmd(t, exec.Command(binary, "serve", "--config", config))
}

// startCmd starts cmd, a hearth serve command, and waits until it serves.
func startCmd(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, lines: make(chan string, 1000)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	m := p.waitFor(t, servingRE)
	p.addr = m[1]
	return p
}

// waitFor reads log lines until one matches re, failing if the process
// exits or nothing matches within 30 s.
func (p *process) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("hearth exited while waiting for %q", re)
			}
			p.read = append(p.read, line)
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no log line matching %q in 30 s", re)
		}
	}
}

func writeConfig(t *testing.T, path, upstream, routerIP string) {
	t.Helper()
	// The tests ask as fast as they can from one address, far above a
	// device's rate: the per-client and repeated-answer limits, which
	// would drop or truncate some of those queries, are off.
	doc := fmt.Sprintf("listen: {dns: [\"127.0.0.1:0\"], http: \"\"}\nupstream: {servers: [%q], timeout: 1s}\nlocal: {records: [\"router.lan A %s\"]}\ndata_dir: %q\nlimits: {qps: 0, repeat_qps: 0}\n",
		upstream, routerIP, filepath.Join(filepath.Dir(path), "data"))
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoadLosesNoQuery runs the real binary, keeps queries
// flowing while it reloads good and bad configs with SIGHUP, and checks
// that every query was answered, reloads took effect, bad configs were
// refused, and SIGTERM exits 0.
func TestReloadUnderLoadLosesNoQuery(t *testing.T) {
	up := dnstest.NewServer(t, dnstest.Zone(t, "example.com. 300 IN A 192.0.2.1"))
	cfg := filepath.Join(t.TempDir(), "hearth.yaml")
	writeConfig(t, cfg, up.Addr, "192.168.1.1")
	p := startProcess(t, cfg)

	var sent, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
			names := []string{"example.com.", "router.lan."}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				r, _, err := c.Exchange(new(dns.Msg).SetQuestion(names[(i+w)%2], dns.TypeA), p.addr)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					failed.Add(1)
					t.Logf("query failed: %v %v", err, r)
				}
			}
		}()
	}
	reloaded := regexp.MustCompile(`msg="config reloaded"`)
	refused := regexp.MustCompile(`msg="reload failed; the running config keeps serving".*hearth.yaml:3: local.records\[0\]`)
	for i := range 5 {
		ip := fmt.Sprintf("192.168.1.%d", 10+i)
		writeConfig(t, cfg, up.Addr, ip)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitFor(t, reloaded)
		r, _, err := (&dns.Client{Net: "udp"}).Exchange(new(dns.Msg).SetQuestion("router.lan.", dns.TypeA), p.addr)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != ip {
			t.Errorf("after reload %d router.lan = %v %v, want %s", i, r, err, ip)
		}
		// A broken config is refused and the last good one keeps serving.
		writeConfig(t, cfg, up.Addr, "not-an-ip")
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitFor(t, refused)
		r, _, err = (&dns.Client{Net: "udp"}).Exchange(new(dns.Msg).SetQuestion("router.lan.", dns.TypeA), p.addr)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != ip {
			t.Errorf("after bad reload %d router.lan = %v %v, want %s", i, r, err, ip)
		}
	}
	close(stop)
	wg.Wait()
	if sent.Load() < 20 {
		t.Errorf("only %d queries sent during the reloads", sent.Load())
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d queries failed during reloads", failed.Load(), sent.Load())
	}
	t.Logf("%d queries answered across 10 reloads", sent.Load())

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitFor(t, regexp.MustCompile(`msg=stopped`))
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestExplain(t *testing.T) {
	// The upstream answers the allowed names; one hides a gambling name
	// behind an alias (CNAME cloaking), which explain must see as the
	// server does.
	zone := dnstest.Zone(t, "khanacademy.org. 300 IN AAAA 2001:db8::1")
	up := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if q.Question[0].Name != "cloaked.example." {
			zone(w, q)
			return
		}
		// A resolver's answer: the alias and its target's address.
		m := new(dns.Msg).SetReply(q)
		for _, s := range []string{"cloaked.example. 300 IN CNAME www.bet365.com.", "www.bet365.com. 300 IN A 192.0.2.50"} {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	}))
	dir := t.TempDir()
	list := filepath.Join(dir, "gambling.txt")
	os.WriteFile(list, []byte("bet365.com\n"), 0o644)
	cfg := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`profiles:
  kid: {preset: kid, allow: [khanacademy.org]}
devices:
  - {name: emma-tablet, ip: 192.168.1.20, profile: kid}
default_profile: adult
sources:
  - {tag: gambling, file: %q, format: domains}
upstream: {servers: [%q], timeout: 1s}
data_dir: %q
`, list, up.Addr, filepath.Join(dir, "data"))), 0o644)
	tests := []struct {
		args     []string
		wantCode int
		want     []string
	}{
		{[]string{"--config", cfg, "--device", "emma-tablet", "www.bet365.com"}, 0,
			[]string{"device:   emma-tablet", "profile:  kid", "action:   block", `category "gambling" (Gambling) is blocked and its list config-gambling-0 has bet365.com`, "reason:   blocked: category=gambling source=config-gambling-0 rule=bet365.com profile=kid"}},
		{[]string{"--config", cfg, "--client", "192.168.1.20", "--at", "2026-11-27T21:30:00Z", "khanacademy.org", "AAAA"}, 0,
			[]string{"query:    khanacademy.org AAAA at 2026-11-27T21:30:00Z", "device:   emma-tablet (recognised by ip)", "action:   allow", "allow list has khanacademy.org"}},
		{[]string{"--config", cfg, "--client", "192.168.1.99", "www.bet365.com"}, 0,
			[]string{"(unknown device)", "profile:  adult", "action:   allow"}},
		{[]string{"--config", cfg, "--client", "192.168.1.20", "www.tiktok.com"}, 0,
			[]string{"service \"tiktok\" (TikTok) is blocked"}},
		{[]string{"--config", cfg, "--device", "emma-tablet", "cloaked.example"}, 0,
			[]string{"action:   block", "its answer is an alias (CNAME) of a blocked name", `category "gambling" (Gambling) is blocked and its list config-gambling-0 has bet365.com`, "via=cname:cloaked.example."}},
		{[]string{"--config", cfg, "--device", "nobody", "x.com"}, 1, []string{`no device named "nobody"`}},
		{[]string{"--config", cfg, "x.com"}, 2, []string{"usage"}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(append([]string{"explain"}, tc.args...), &out, &errb)
		if code != tc.wantCode {
			t.Errorf("explain %v: code %d, want %d (stderr %q)", tc.args, code, tc.wantCode, errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String()+errb.String(), w) {
				t.Errorf("explain %v: output lacks %q:\n%s%s", tc.args, w, out.String(), errb.String())
			}
		}
	}
}

func TestListsCommand(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "gambling.txt")
	os.WriteFile(list, []byte("# ours\nbet365.com\nnot a domain\n||x.com^$third-party\ncasino.example\n"), 0o644)
	cfg := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("sources:\n  - {id: extra, tag: gambling, file: %q, format: domains}\n  - {id: gone, tag: gambling, file: %q, format: hosts}\ndata_dir: %q\n", list, filepath.Join(dir, "missing.txt"), filepath.Join(dir, "data"))), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"lists", "--config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	for _, want := range []string{`service-youtube\s+youtube\s+true`, `extra\s+gambling\s+true\s+2\s+0\s+0\s+2\s+0\s+ok`, `gone\s+gambling\s+false.*no such file`, `extra:3: .*"not a domain"`, `\d+ names in the index`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output does not match %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("hearth lists wrote to the data directory")
	}
}

func TestAdminSetPasswordAndToken(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %q\n", filepath.Join(dir, "data"))), 0o644)
	tests := []struct {
		args     []string
		stdin    string
		wantCode int
		want     string
	}{
		{[]string{"set-password", "--config", cfg}, "short\n", 1, "at least 10"},
		{[]string{"set-password", "--config", cfg}, "          \n", 1, "must not be only spaces"},
		{[]string{"set-password", "--config", cfg}, "password123\n", 1, "one of the most common passwords"},
		{[]string{"set-password", "--config", cfg}, "correct horse battery\n", 0, "password of admin set"},
		{[]string{"token", "--config", cfg, "--name", "prometheus"}, "", 0, "hth_"},
		{[]string{"token", "--config", cfg, "--name", "scraper", "--scope", "metrics", "--expires", "720h"}, "", 0, "hth_"},
		{[]string{"token", "--config", cfg, "--name", "x", "--scope", "root"}, "", 1, `scope: "root"`},
		{[]string{"token", "--config", cfg, "--name", "x", "--expires", "-1h"}, "", 2, "--expires: negative"},
		{[]string{"token", "--config", cfg, "--user", "nobody", "--name", "x"}, "", 1, ""},
		{[]string{"token", "--config", cfg}, "", 2, "--name is required"},
		{[]string{"setup-code", "--config", cfg}, "", 1, "setup is done"},
		{[]string{"frobnicate"}, "", 2, "want set-password, token, setup-code, add-user, export or import"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := admin(tc.args, strings.NewReader(tc.stdin), &out, &errb)
		if code != tc.wantCode || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("admin %v: code %d, output %q%q; want %d with %q", tc.args, code, out.String(), errb.String(), tc.wantCode, tc.want)
		}
	}
}

// TestAdminSetupCode: before setup, `hearth admin setup-code` prints the
// same code on every call (the one `hearth serve` logs).
func TestAdminSetupCode(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %q\n", filepath.Join(dir, "data"))), 0o644)
	var codes []string
	for range 2 {
		var out, errb bytes.Buffer
		if code := admin([]string{"setup-code", "--config", cfg}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("setup-code: %d %s", code, errb.String())
		}
		codes = append(codes, strings.TrimSpace(out.String()))
	}
	if !regexp.MustCompile(`^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$`).MatchString(codes[0]) || codes[0] != codes[1] {
		t.Errorf("codes %q, want the same XXXX-XXXX-XXXX code twice", codes)
	}
}

// TestExplainReadsTheStore: devices and profiles made in the web UI are
// explained from the command line too.
func TestExplainReadsTheStore(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "gambling.txt")
	os.WriteFile(list, []byte("bet365.com\n"), 0o644)
	cfgPath := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("default_profile: adult\nsources:\n  - {tag: gambling, file: %q, format: domains}\ndata_dir: %q\n", list, filepath.Join(dir, "data"))), 0o644)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutProfile(ctx, store.Profile{ID: "emma", Household: app.HomeHousehold, Name: "Emma", Preset: "kid"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutDevice(ctx, store.Device{ID: "emmas-tablet", Household: app.HomeHousehold, Name: "Emma's tablet", Profile: "emma", IPs: []string{"192.168.1.30"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{
		{"--config", cfgPath, "--device", "emmas-tablet", "www.bet365.com"},
		{"--config", cfgPath, "--device", "Emma's tablet", "www.bet365.com"},
		{"--config", cfgPath, "--device", "EMMA'S TABLET", "www.bet365.com"},
		{"--config", cfgPath, "--client", "192.168.1.30", "www.bet365.com"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"explain"}, args...), &out, &errb); code != 0 || !strings.Contains(out.String(), "profile:  emma") || !strings.Contains(out.String(), "action:   block") {
			t.Errorf("explain %v: %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
}
