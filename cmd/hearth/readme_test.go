package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// docFiles are the operator documentation whose names are checked: the
// README, docs/*.md and the Grafana dashboard.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	paths := []string{filepath.Join(repoRoot, "README.md"), filepath.Join(repoRoot, "docs", "grafana-dashboard.json")}
	md, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, md...)
	docs := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, p)
		docs[rel] = string(b)
	}
	if len(docs) < 5 {
		t.Fatalf("found only %v", slices.Sorted(mapKeys(docs)))
	}
	return docs
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestREADMENamesExist: every metric, flag, file and route that the README,
// docs/ and the Grafana dashboard name exists. Metrics and routes are
// asked of the real binary, flags of each command's flag set, files of the
// repository and of the package's recipe.
func TestREADMENamesExist(t *testing.T) {
	docs := docFiles(t)
	srv := startDocServer(t)
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, docs, srv) })
	t.Run("flags", func(t *testing.T) { checkFlags(t, docs) })
	t.Run("files", func(t *testing.T) { checkFiles(t, docs, srv) })
	t.Run("yaml", func(t *testing.T) { checkDocsYAML(t, docs) })
}

// docServer is the real binary serving HTTP, with a token for /metrics.
type docServer struct {
	http, token string
}

// startDocServer runs the real binary with a local upstream, a deny rule
// and a list downloaded from a local HTTP server, and sends it one
// forwarded and one blocked query, so that every metric family has a
// series (families without one are not exposed).
func startDocServer(t *testing.T) docServer {
	t.Helper()
	up := dnstest.NewServer(t, dnstest.Zone(t, "www.example.test. 300 IN A 192.0.2.1"))
	list := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "casino.example.test")
	}))
	t.Cleanup(list.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hearth.yaml")
	doc := fmt.Sprintf(`listen: {dns: ["127.0.0.1:0"], http: "127.0.0.1:0"}
upstream: {servers: [%q]}
profiles:
  adult: {preset: adult, deny: [denied.example.test]}
sources:
  - {tag: gambling, url: %q, format: domains}
data_dir: %q
`, up.Addr, list.URL+"/list.txt", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := admin([]string{"set-password", "--config", cfg}, strings.NewReader("correct horse battery\n"), &out, &errb); code != 0 {
		t.Fatalf("set-password: %d %s", code, errb.String())
	}
	out.Reset()
	if code := admin([]string{"token", "--config", cfg, "--name", "readme"}, nil, &out, &errb); code != 0 {
		t.Fatalf("token: %d %s", code, errb.String())
	}
	p := startProcessHTTP(t, cfg)
	// The first refresh downloads the list and compiles it in: wait for
	// a compile with every list loaded.
	// The download runs in the background from the start, so that compile
	// may be logged before "hearth serving": look at what was read too.
	compiled := regexp.MustCompile(`msg="lists compiled" lists=(\d+) of=(\d+) `)
	all := func(m []string) bool { return m != nil && m[1] == m[2] }
	done := false
	for _, line := range p.read {
		done = done || all(compiled.FindStringSubmatch(line))
	}
	for !done {
		done = all(p.waitFor(t, compiled))
	}
	c := new(dns.Client)
	for _, name := range []string{"www.example.test.", "denied.example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if _, _, err := c.Exchange(m, p.dns); err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
	}
	return docServer{http: p.http, token: strings.TrimSpace(out.String())}
}

func (s docServer) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var (
	metricNameRE = regexp.MustCompile(`\bhearth_[a-z0-9_]*[a-z0-9]\b`)
	typeLineRE   = regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
)

func checkMetrics(t *testing.T, docs map[string]string, srv docServer) {
	code, body := srv.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	exposed := map[string]bool{}
	for _, m := range typeLineRE.FindAllStringSubmatch(body, -1) {
		exposed[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exposed[m[1]+s] = true
			}
		}
	}
	if len(exposed) < 10 {
		t.Fatalf("/metrics exposes only %d names:\n%s", len(exposed), body)
	}
	// The README promises the standard runtime and process collectors.
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		if !exposed[name] {
			t.Errorf("/metrics does not expose %s", name)
		}
	}
	named := 0
	for file, text := range docs {
		for _, name := range metricNameRE.FindAllString(text, -1) {
			named++
			if !exposed[name] && !sparseMetrics[name] {
				t.Errorf("%s names metric %s, which /metrics does not expose", file, name)
			}
		}
	}
	if named == 0 {
		t.Error("no document names a metric")
	}
	// And the other way: the dashboard charts every Hearth metric there
	// is (go_* and process_* are client_golang's standard collectors).
	dash := docs[filepath.Join("docs", "grafana-dashboard.json")]
	for name := range exposed {
		if !strings.HasPrefix(name, "hearth_") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.Contains(dash, base) {
			t.Errorf("the Grafana dashboard has no panel for %s", name)
		}
	}
}

// sparseMetrics are labelled metrics with no series until something
// happens (a source guessing client ids): a fresh server does not expose
// them, so the docs may name them without /metrics showing them yet.
var sparseMetrics = map[string]bool{
	// Registered only when dnstap output is configured.
	"hearth_dnstap_sent_total":                 true,
	"hearth_dnstap_dropped_total":              true,
	"hearth_client_id_unknown_by_source_total": true,
	// Per downloaded list: none until a config has a URL source.
	"hearth_list_age_seconds":    true,
	"hearth_list_failures_total": true,
	// Per notification channel: none until the config sets one.
	"hearth_notify_sent_total":    true,
	"hearth_notify_failed_total":  true,
	"hearth_notify_dropped_total": true,
	"hearth_notify_retries_total": true,

	// Only while the RADIUS listener is on (radius.listen).
	"hearth_radius_packets_total": true,
}

// foreignFlags are the flags the docs name that belong to other programs.
var foreignFlags = map[string]string{
	"--add-mac": "dnsmasq",
	"--build":   "docker compose up",
	"--now":     "systemctl enable",
	"--pipe":    "systemd-run",
	"--wait":    "systemd-run",
	"--quiet":   "systemd-run",

	// The bindings import in the README.
	"--data-binary": "curl",
}

// hearthCommands are the commands `hearth` takes; admin has subcommands.
var hearthCommands = []string{"serve", "check", "healthcheck", "explain", "lists", "admin", "version", "help"}

var (
	flagLineRE = regexp.MustCompile(`(?m)^\s+-(\S+)`)
	// flagRE is a long flag as the docs write it (not a table rule "---").
	flagRE = regexp.MustCompile(`^--[a-z][a-z0-9-]*$`)
)

// commandFlags asks a command's flag set which flags it has.
func commandFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	var out, errb bytes.Buffer
	run(append(strings.Fields(cmd), "-h"), &out, &errb)
	flags := map[string]bool{}
	for _, m := range flagLineRE.FindAllStringSubmatch(errb.String(), -1) {
		flags["--"+m[1]] = true
	}
	return flags
}

// docLines splits a document into lines, joining shell continuations.
func docLines(text string) []string {
	return strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n")
}

func normToken(s string) string { return strings.Trim(s, "`[](),.:;\"'") }

func checkFlags(t *testing.T, docs map[string]string) {
	known := map[string]map[string]bool{}
	flagsOf := func(cmd string) map[string]bool {
		if known[cmd] == nil {
			known[cmd] = commandFlags(t, cmd)
		}
		return known[cmd]
	}
	if !flagsOf("serve")["--config"] || !flagsOf("admin token")["--name"] {
		t.Fatalf("could not read the flag sets: serve %v, admin token %v", flagsOf("serve"), flagsOf("admin token"))
	}
	checked := 0
	for file, text := range docs {
		for n, line := range docLines(text) {
			toks := strings.Fields(line)
			claimed := map[int]bool{}
			for i := 0; i < len(toks); i++ {
				tok := toks[i]
				if k := strings.LastIndexAny(tok, "($="); k >= 0 {
					tok = tok[k+1:] // TOKEN=$(hearth ...
				}
				if tok = normToken(tok); tok != "hearth" && !strings.HasSuffix(tok, "/bin/hearth") || i+1 >= len(toks) {
					continue
				}
				cmd, j := normToken(toks[i+1]), i+2
				switch {
				case cmd == "admin" && j < len(toks):
					cmd, j = "admin "+normToken(toks[j]), j+1
				case strings.HasPrefix(cmd, "--"):
					cmd, j = "serve", i+1
				case !slices.Contains(hearthCommands, cmd):
					continue // "hearth" the word, or a unit name
				}
				for ; j < len(toks); j++ {
					if toks[j] == "|" || toks[j] == "&&" || toks[j] == "||" || toks[j] == ";" || toks[j] == "#" {
						break
					}
					f, _, _ := strings.Cut(normToken(toks[j]), "=")
					if !flagRE.MatchString(f) {
						continue
					}
					claimed[j] = true
					checked++
					if !flagsOf(cmd)[f] {
						t.Errorf("%s:%d: hearth %s has no flag %s", file, n+1, cmd, f)
					}
				}
			}
			for i, tok := range toks {
				f, _, _ := strings.Cut(normToken(tok), "=")
				if claimed[i] || !flagRE.MatchString(f) {
					continue
				}
				if _, ok := foreignFlags[f]; !ok {
					t.Errorf("%s:%d: names %s, which is no hearth command's flag (nor a known other program's)", file, n+1, f)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked only %d hearth flags in the docs", checked)
	}
}

var (
	absPathRE  = regexp.MustCompile("(?:^|[\\s`\"'(=])((?:/[A-Za-z0-9._~*-]+)+)")
	repoPathRE = regexp.MustCompile(`\b((?:packaging|scripts|docs|internal|cmd|blocklists)/[A-Za-z0-9._*/-]*|Dockerfile)`)
)

// adminFiles are Hearth's paths the docs name that no package installs:
// the admin, systemd or a command in the docs makes them.
var adminFiles = map[string]string{
	"/etc/hearth/cert.pem":                     "the admin's certificate",
	"/etc/hearth/key.pem":                      "the admin's key",
	"/etc/systemd/resolved.conf.d/hearth.conf": "written by the README's tee command",
	"/etc/prometheus/hearth.token":             "written by docs/grafana.md's tee command",
	"/var/lib/private/hearth":                  "systemd's DynamicUser home of StateDirectory=hearth",

	// docs/operator.md's RADIUS example.
	"/etc/hearth/nas.secret": "the operator's RADIUS shared secret",
}

func checkFiles(t *testing.T, docs map[string]string, srv docServer) {
	recipe, err := os.ReadFile(filepath.Join(repoRoot, "packaging", "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var nfpm struct {
		Contents []struct{ Dst string } `yaml:"contents"`
	}
	if err := yaml.Unmarshal(recipe, &nfpm); err != nil {
		t.Fatal(err)
	}
	packaged := map[string]bool{}
	for _, c := range nfpm.Contents {
		packaged[c.Dst] = true
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot, "packaging", "hearth.service"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	packagedCfg, err := config.Load(filepath.Join(repoRoot, "packaging", "hearth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkedAbs, checkedRepo := 0, 0
	for file, text := range docs {
		if strings.HasSuffix(file, ".json") {
			continue
		}
		for n, line := range docLines(text) {
			for _, m := range absPathRE.FindAllStringSubmatch(line, -1) {
				p := strings.TrimRight(m[1], ".")
				switch {
				case p == "/healthz" || p == "/metrics" || strings.HasPrefix(p, "/api/v1"):
					checkedAbs++
					route := p
					if route == "/api/v1" {
						route += "/openapi.json" // the API's root names no resource
					}
					if code, _ := srv.get(t, route); code == http.StatusNotFound {
						t.Errorf("%s:%d: route %s: 404 from the server", file, n+1, p)
					}
				case p == "/dns-query":
					// The DoH listener's path, served by internal/server.
				case p == "/data":
					checkedAbs++
					if !bytes.Contains(dockerfile, []byte(`VOLUME ["/data"]`)) {
						t.Errorf("%s:%d: /data is not the Dockerfile's volume", file, n+1)
					}
				case !strings.Contains(p, "hearth"):
					// Another program's file (/etc/resolv.conf, dnsmasq's leases).
				case p == "/var/lib/hearth" || strings.HasPrefix(p, "/var/lib/hearth/"):
					checkedAbs++
					if !bytes.Contains(unit, []byte("\nStateDirectory=hearth\n")) || packagedCfg.DataDir != "/var/lib/hearth" {
						t.Errorf("%s:%d: %s: the unit's StateDirectory and the packaged data_dir are not /var/lib/hearth", file, n+1, p)
					}
				case packaged[p]:
					checkedAbs++
				case adminFiles[p] != "":
				case strings.Contains(p, "*"):
					// A glob over build output (dist/hearth_*.deb).
				default:
					t.Errorf("%s:%d: names %s, which the package does not install", file, n+1, p)
				}
			}
			for _, m := range repoPathRE.FindAllStringSubmatch(line, -1) {
				p := strings.TrimRight(strings.TrimSuffix(m[1], "..."), "./")
				if p == "" || strings.Contains(p, "*") {
					continue
				}
				checkedRepo++
				if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
					t.Errorf("%s:%d: names %s, which is not in the repository", file, n+1, p)
				}
			}
		}
	}
	if checkedAbs < 5 || checkedRepo < 10 {
		t.Errorf("checked only %d installed paths and %d repository paths", checkedAbs, checkedRepo)
	}
}

var yamlBlockRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// checkDocsYAML parses the YAML examples of docs/ (the README's are
// parsed by internal/config's test).
func checkDocsYAML(t *testing.T, docs map[string]string) {
	for file, text := range docs {
		if !strings.HasPrefix(file, "docs") {
			continue
		}
		for i, b := range yamlBlockRE.FindAllStringSubmatch(text, -1) {
			if _, err := config.Parse(fmt.Sprintf("%s example %d", file, i+1), []byte(b[1])); err != nil {
				t.Errorf("%v", err)
			}
		}
	}
}
