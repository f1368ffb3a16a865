package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// healthcheck asks a running Hearth's /healthz and exits 0 when it
// answers "ok": the container's HEALTHCHECK, since a distroless image has
// no curl. The address comes from the config's listen.http, with an
// unspecified host (0.0.0.0, [::]) asked on loopback.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file whose listen.http to ask (default: the embedded default config)")
	url := fs.String("url", "", "ask this URL instead, e.g. http://127.0.0.1:8053/healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if cfg.Listen.HTTP == "" {
			fmt.Fprintln(stderr, "hearth healthcheck: listen.http is off; nothing to ask (use --url)")
			return 1
		}
		*url = "http://" + loopbackFor(cfg.Listen.HTTP) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "hearth healthcheck: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hearth healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		fmt.Fprintf(stderr, "hearth healthcheck: %s: %s %q\n", *url, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *url)
	return 0
}

// loopbackFor turns a listen address into one a local client can dial:
// "0.0.0.0:8053" and ":8053" become "127.0.0.1:8053", "[::]:8053"
// becomes "[::1]:8053".
func loopbackFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		if ip.Is4() {
			return net.JoinHostPort("127.0.0.1", port)
		}
		return net.JoinHostPort("::1", port)
	}
	return listen
}
