package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckReportsEveryProblem: `hearth check` prints every problem of a
// config at once, each as file:line: field: message in the file's order,
// whether the YAML layer, the validation, the files it names or the
// components (upstreams, local records, profiles) find it.
func TestCheckReportsEveryProblem(t *testing.T) {
	tests := []struct {
		file     string
		wantCode int
		// wantErr is the whole of stderr.
		wantErr string
	}{
		{"good.yaml", 0, ""},
		{"empty.yaml", 1, "testdata/check/empty.yaml: empty config file: nothing is configured (start from the packaged example or the README's reference)\n" +
			"testdata/check/empty.yaml: 1 problem(s)\n"},
		{"everything.yaml", 1, `testdata/check/everything.yaml:5: colour: unknown field
testdata/check/everything.yaml:7: upstream.servers[1]: upstream "quic://9.9.9.9": unsupported scheme "quic" (want udp, tcp, tls or https)
testdata/check/everything.yaml:7: upstream.servers[2]: upstream "tls://": missing host
testdata/check/everything.yaml:8: upstream.timeout: cannot unmarshal !!str ` + "`soon`" + ` into time.Duration
testdata/check/everything.yaml:10: cache.size: must not be negative
testdata/check/everything.yaml:14: local.records[1]: record "nas.lan A 192.168.1": dns: bad A A: "192.168.1" at line: 1:19
testdata/check/everything.yaml:17: sources[1].file: "testdata/check/missing.txt": no such file or directory
testdata/check/everything.yaml: 7 problem(s)
`},
		{"profile.yaml", 1, `testdata/check/profile.yaml:4: profiles.emma.block[0]: "no-such-category" is not a category or service
testdata/check/profile.yaml: 1 problem(s)
`},
		{"missing.yaml", 1, "read config: open testdata/check/missing.yaml: no such file or directory\ntestdata/check/missing.yaml: 1 problem(s)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var out, errb bytes.Buffer
			path := "testdata/check/" + tc.file
			code := run([]string{"check", "--config", path}, &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if errb.String() != tc.wantErr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), tc.wantErr)
			}
			if wantOut := path + ": ok\n"; tc.wantCode == 0 && out.String() != wantOut {
				t.Errorf("stdout %q, want %q", out.String(), wantOut)
			}
		})
	}
	if _, err := os.Stat("testdata/check/data"); err == nil {
		t.Error("check wrote a data directory; it must only read")
	}
}

// TestHealthcheck runs the real binary and asks its /healthz the way the
// container's HEALTHCHECK does, then asks a port nothing listens on.
func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hearth.yaml")
	doc := fmt.Sprintf("listen: {dns: [\"127.0.0.1:0\"], http: \"127.0.0.1:0\"}\nupstream: {servers: [\"127.0.0.1:9\"]}\ndata_dir: %q\nquery_log: {enabled: false}\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	off := filepath.Join(dir, "off.yaml")
	if err := os.WriteFile(off, []byte("listen: {http: \"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcessHTTP(t, cfg)
	// A port that was just free: nothing answers there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"running", []string{"--url", "http://" + p.http + "/healthz"}, 0, "/healthz: ok"},
		{"not healthz", []string{"--url", "http://" + p.http + "/nope"}, 1, "404"},
		{"down", []string{"--url", "http://" + closed + "/healthz", "--timeout", "2s"}, 1, "connection refused"},
		{"http off", []string{"--config", off}, 1, "listen.http is off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"healthcheck"}, tc.args...), &out, &errb)
			if code != tc.wantCode || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("code %d, output %q%q; want %d with %q", code, out.String(), errb.String(), tc.wantCode, tc.want)
			}
		})
	}
}

func TestLoopbackFor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0.0.0.0:8053", "127.0.0.1:8053"},
		{":8053", "127.0.0.1:8053"},
		{"[::]:8053", "[::1]:8053"},
		{"192.168.1.2:8053", "192.168.1.2:8053"},
		{"127.0.0.1:8053", "127.0.0.1:8053"},
	}
	for _, tc := range tests {
		if got := loopbackFor(tc.in); got != tc.want {
			t.Errorf("loopbackFor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var servingHTTPRE = regexp.MustCompile(`msg="hearth serving" dns="?\[([0-9.:]+).*http=([0-9.:]+)`)

// httpProcess is a running hearth binary with its DNS and HTTP addresses.
type httpProcess struct {
	*process
	dns, http string
}

// startProcessHTTP starts the binary and reads its HTTP address from the
// "hearth serving" line.
func startProcessHTTP(t *testing.T, config string) *httpProcess {
	t.Helper()
	p := &process{lines: make(chan string, 1000)}
	p.cmd = exec.Command(binary, "serve", "--config", config)
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
	m := p.waitFor(t, servingHTTPRE)
	return &httpProcess{process: p, dns: m[1], http: m[2]}
}
