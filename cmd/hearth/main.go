// Command hearth is the Hearth parental-control DNS resolver.
//
//	hearth [serve] [--config FILE] [--log-level LEVEL]
//	hearth check --config FILE
//	hearth healthcheck [--config FILE | --url URL]
//	hearth explain --config FILE (--device NAME | --client IP) [--at TIME] NAME [TYPE]
//	hearth lists [--config FILE]
//	hearth admin set-password [--config FILE] [--user NAME] < password
//	hearth admin token [--config FILE] [--user NAME] --name NAME [--scope SCOPE] [--expires DURATION]
//	hearth admin setup-code [--config FILE]
//	hearth admin export [--config FILE] [--out FILE]
//	hearth admin import [--config FILE] [--replace] FILE
//	hearth admin add-user [--config FILE] --user NAME [--household ID] < password
//	hearth version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // profiles' time zones work on machines without zoneinfo

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/heapprof"
	"github.com/hearth-dns/hearth/internal/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  hearth [serve] [--config FILE] [--log-level debug|info|warn|error]
  hearth check --config FILE
  hearth healthcheck [--config FILE | --url URL]
  hearth explain [--config FILE] (--device NAME | --client IP) [--at TIME] NAME [TYPE]
  hearth lists [--config FILE]
  hearth admin set-password [--config FILE] [--user NAME]   (password on stdin)
  hearth admin token [--config FILE] [--user NAME] --name NAME [--scope read|metrics|admin] [--expires 720h]
  hearth admin setup-code [--config FILE]   (the code the first-run wizard asks for)
  hearth admin export [--config FILE] [--out FILE]   (households, profiles, devices, settings as JSON)
  hearth admin import [--config FILE] [--replace] FILE   (FILE "-" is stdin)
  hearth admin add-user [--config FILE] --user NAME [--household ID]   (password on stdin; with
      --household the user sees and changes only that household, else an operator)
  hearth version
`

// run is main without the exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "healthcheck":
		return healthcheck(args, stdout, stderr)
	case "explain":
		return explain(args, stdout, stderr)
	case "lists":
		return listsCmd(args, stdout, stderr)
	case "admin":
		return admin(args, os.Stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "hearth", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "hearth: unknown command %q\n%s", cmd, usage)
	return 2
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(unknown)"
}

// loadConfig reads path, or the embedded default when path is "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse("(default)", config.DefaultYAML())
	}
	return config.Load(path)
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit (for performance work)")
	tracefile := fs.String("trace", "", "write an execution trace to this file until exit (for latency work)")
	memprofile := fs.String("memprofile", "", "write a heap profile to this file when told to stop, before shutting down (for memory work)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "hearth: --cpuprofile: %v\n", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "hearth: --cpuprofile: %v\n", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *tracefile != "" {
		f, err := os.Create(*tracefile)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "hearth: --trace: %v\n", err)
			return 2
		}
		defer func() {
			trace.Stop()
			f.Close()
		}()
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "hearth: --log-level %q: %v\n", *level, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if runtime.GOMAXPROCS(0) < 2 {
		// On one CPU, two Ps: a UDP reader waits in the kernel on its own
		// socket while it holds one (internal/server, udpfd_linux.go), and
		// the query log's writer thread gets the other, so the kernel,
		// which runs that thread at a lower priority, rather than Go's
		// scheduler, decides between it and the answers. With the log off,
		// one P meant the netpoller path: 64-70 us of CPU per query at
		// 5 k QPS against 38-40 with two, and 10.5 against 8.2 at 50 k
		// (QUERY_LOG=false scripts/bench-cpu-vs, docs/performance.md).
		runtime.GOMAXPROCS(2)
	}
	a, err := app.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Listen for signals before serving, so that a SIGHUP sent as soon as
	// the "serving" line appears reloads instead of killing the process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := a.Start(); err != nil {
		log.Error("start", "err", err)
		return 1
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			next, err := loadConfig(*path)
			if err == nil {
				err = a.Reload(next)
			}
			if err != nil {
				log.Error("reload failed; the running config keeps serving", "err", err)
			}
			continue
		}
		log.Info("shutting down", "signal", sig.String())
		break
	}
	if *memprofile != "" {
		// Before Shutdown, while the cache and the query log still hold
		// what they held under load.
		if err := heapprof.Write(*memprofile); err != nil {
			log.Error("memprofile", "err", err)
		}
	}
	signal.Stop(sigs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func explain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	device := fs.String("device", "", "a configured device's name")
	client := fs.String("client", "", "the client's IP address")
	at := fs.String("at", "", "when: RFC 3339 (2026-11-27T21:30:00+01:00) or local HH:MM today (default: now)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) < 1 || len(rest) > 2 || (*device == "") == (*client == "") {
		fmt.Fprintln(stderr, "usage: hearth explain [--config FILE] (--device NAME | --client IP) [--at TIME] NAME [TYPE]")
		return 2
	}
	q := app.ExplainQuery{Device: *device, Name: rest[0], Type: dns.TypeA, At: time.Now()}
	if len(rest) == 2 {
		t, ok := dns.StringToType[strings.ToUpper(rest[1])]
		if !ok {
			fmt.Fprintf(stderr, "hearth explain: unknown query type %q\n", rest[1])
			return 2
		}
		q.Type = t
	}
	if *client != "" {
		ip, err := netip.ParseAddr(*client)
		if err != nil {
			fmt.Fprintf(stderr, "hearth explain: --client %q is not an IP address\n", *client)
			return 2
		}
		q.Client = ip
	}
	if *at != "" {
		t, err := parseAt(*at, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "hearth explain: --at: %v\n", err)
			return 2
		}
		q.At = t
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	e, err := app.Explain(cfg, q, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	app.PrintExplanation(stdout, e, q)
	return 0
}

// parseAt reads an RFC 3339 time, or HH:MM on now's day in local time.
func parseAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	hm, err := time.Parse("15:04", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor HH:MM", s)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), 0, 0, now.Location()), nil
}

// listsCmd prints every list of the config as the server would load it
// now, from disk: rules, bad lines with examples, and errors.
func listsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lists", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	c, err := app.ListsStatus(cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIST\tTAG\tLOADED\tRULES\tEXCEPTIONS\tIPS\tBAD\tUNSUPPORTED\tSTATUS")
	for _, l := range c.Lists {
		status := "ok"
		if l.Err != "" {
			status = l.Err
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\t%s\n", l.ID, l.Tag, l.Loaded, l.Stats.Rules, l.Stats.Exceptions, l.Stats.IPs, l.Stats.Bad, l.Stats.Unsupported, status)
	}
	tw.Flush()
	for _, l := range c.Lists {
		for _, b := range l.Stats.BadExamples {
			fmt.Fprintf(stdout, "%s:%d: %s: %q\n", l.ID, b.Line, b.Reason, b.Text)
		}
	}
	fmt.Fprintf(stdout, "%d names in the index (%d bytes)\n", c.Index.Len(), c.Index.Bytes())
	return 0
}

// admin manages accounts in the store: set-password (the first-run
// wizard's job, for a machine without a browser, or a forgotten
// password), token (a bearer token for automation such as Prometheus)
// and setup-code (the one-time code the first-run wizard asks for).
func admin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "export" || args[0] == "import") {
		return backupCmd(args[0], args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "set-password" && args[0] != "token" && args[0] != "setup-code" && args[0] != "add-user") {
		fmt.Fprintf(stderr, "hearth admin: want set-password, token, setup-code, add-user, export or import\n%s", usage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded default config)")
	user := fs.String("user", "admin", "user name")
	name := fs.String("name", "", "token name (token)")
	scope := fs.String("scope", "read", "token scope: read, metrics or admin (token)")
	expires := fs.Duration("expires", 0, "token lifetime, e.g. 720h; 0 never expires (token)")
	household := fs.String("household", "", "the one household the user or token manages; \"\" for an operator (add-user, token)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer st.Close()
	a, err := auth.New(auth.Config{Accounts: st})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	switch sub {
	case "set-password":
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintln(stderr, "read password:", err)
			return 1
		}
		if err := a.SetPassword(ctx, *user, strings.TrimRight(line, "\r\n")); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "password of %s set in %s\n", *user, app.StoreName(cfg))
	case "token":
		if *name == "" {
			fmt.Fprintln(stderr, "hearth admin token: --name is required")
			return 2
		}
		if *expires < 0 {
			fmt.Fprintln(stderr, "hearth admin token: --expires: negative")
			return 2
		}
		o := auth.TokenOptions{Scope: *scope, Household: *household}
		if *expires > 0 {
			o.Expires = time.Now().Add(*expires)
		}
		tok, _, err := a.CreateToken(ctx, *user, *name, o)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, tok)
	case "add-user":
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintln(stderr, "read password:", err)
			return 1
		}
		if err := a.CreateUser(ctx, *user, strings.TrimRight(line, "\r\n"), *household); err != nil {
			if errors.Is(err, store.ErrInvalid) {
				err = fmt.Errorf("household %q: no such household in %s", *household, app.StoreName(cfg))
			}
			fmt.Fprintln(stderr, "hearth admin add-user:", err)
			return 1
		}
		role := "operator"
		if *household != "" {
			role = "user of household " + *household
		}
		fmt.Fprintf(stdout, "%s added to %s as %s\n", *user, app.StoreName(cfg), role)
	case "setup-code":
		code, needed, err := a.SetupCode(ctx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if !needed {
			fmt.Fprintln(stderr, "hearth admin setup-code: setup is done (an admin user exists); use `hearth admin set-password` to reset a password")
			return 1
		}
		fmt.Fprintln(stdout, code)
	}
	return 0
}
