package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/profile"
)

// AskParent configures "ask a parent" (package askparent): the page at
// /ask where a child's blocked device asks for access, and the links in
// notifications that answer.
type AskParent struct {
	// Enabled serves /ask and /ask/decide (default true).
	Enabled bool `yaml:"enabled"`
	// PerDevice requests per Window from one device (default 3 per 10m).
	PerDevice int           `yaml:"per_device"`
	Window    time.Duration `yaml:"window"`
	// MaxRequests bounds the requests kept (default 500).
	MaxRequests int `yaml:"max_requests"`
	// LinkTTL is how long a notification's answer link works (default
	// 24h, at most 7 days).
	LinkTTL time.Duration `yaml:"link_ttl"`
	// URL is the base of those links, as parents' phones reach Hearth
	// ("https://hearth.home.arpa:8443"); "" means http://listen.http.
	URL string `yaml:"url"`
}

// Notify configures notifications (package notify). Each channel is off
// unless configured, and hears the events its events list names (empty:
// all of new_device, bypass, access_request, list_failure, error, digest).
type Notify struct {
	Webhook *NotifyWebhook `yaml:"webhook"`
	Ntfy    *NotifyNtfy    `yaml:"ntfy"`
	Email   *NotifyEmail   `yaml:"email"`
	// Queue is each channel's queue length (default 64); Attempts how
	// often an event is tried (default 5), waiting Backoff (default 5s)
	// after the first failure, doubled after each next one.
	Queue    int           `yaml:"queue"`
	Attempts int           `yaml:"attempts"`
	Backoff  time.Duration `yaml:"backoff"`
	// Bypass says when a device "keeps asking for a blocked category":
	// Threshold blocked queries of one category within Window (default
	// 30 in 10m). Queries for the bypass category (DoH, VPN, proxy, Tor)
	// and bypass-protection blocks count at once. One notification per
	// device and category per Window.
	Bypass NotifyBypass `yaml:"bypass"`
	// Digest is the weekly digest's schedule, in the household's time
	// zone (default sun 18:00).
	Digest NotifyDigest `yaml:"digest"`
}

// NotifyBypass is notify.bypass.
type NotifyBypass struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
}

// NotifyDigest is notify.digest.
type NotifyDigest struct {
	// Day is mon..sun; At is "HH:MM".
	Day string `yaml:"day"`
	At  string `yaml:"at"`
}

// NotifyWebhook posts JSON events to URL, signed with HMAC-SHA256 when a
// secret is given (X-Hearth-Signature over X-Hearth-Timestamp "." body).
type NotifyWebhook struct {
	URL string `yaml:"url"`
	// SecretFile or SecretEnv hold the signing secret; never the file.
	SecretFile string   `yaml:"secret_file"`
	SecretEnv  string   `yaml:"secret_env"`
	Events     []string `yaml:"events"`
}

// NotifyNtfy publishes events to an ntfy topic URL.
type NotifyNtfy struct {
	URL string `yaml:"url"`
	// TokenFile or TokenEnv hold an access token, if the topic needs one.
	TokenFile string   `yaml:"token_file"`
	TokenEnv  string   `yaml:"token_env"`
	Events    []string `yaml:"events"`
}

// NotifyEmail sends mail through an SMTP submission server with
// STARTTLS (required).
type NotifyEmail struct {
	Host string `yaml:"host"`
	// Port defaults to 587.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// PasswordFile or PasswordEnv hold the password; never the file.
	PasswordFile string   `yaml:"password_file"`
	PasswordEnv  string   `yaml:"password_env"`
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	// CAFile is a PEM bundle to trust instead of the system roots (a
	// server with a private CA).
	CAFile string   `yaml:"ca_file"`
	Events []string `yaml:"events"`
}

// notifyKinds are the event kinds (package notify's Kinds).
var notifyKinds = []string{"new_device", "bypass", "access_request", "list_failure", "error", "digest"}

// validateNotify checks the ask_parent and notify sections.
func (c *Config) validateNotify(bad func(path, format string, args ...any)) {
	a := c.AskParent
	if a.PerDevice < 1 {
		bad("ask_parent.per_device", "must be at least 1")
	}
	if a.Window <= 0 {
		bad("ask_parent.window", "must be positive")
	}
	if a.MaxRequests < 1 || a.MaxRequests > 100000 {
		bad("ask_parent.max_requests", "%d is not 1 to 100000", a.MaxRequests)
	}
	if a.LinkTTL < time.Minute || a.LinkTTL > 7*24*time.Hour {
		bad("ask_parent.link_ttl", "%s is not 1m to 168h", a.LinkTTL)
	}
	if a.URL != "" {
		checkHTTPURL(bad, "ask_parent.url", a.URL)
	}
	n := c.Notify
	events := func(path string, ev []string) {
		for i, e := range ev {
			if !slices.Contains(notifyKinds, e) {
				bad(fmt.Sprintf("%s.events[%d]", path, i), "%q is not one of %s", e, strings.Join(notifyKinds, ", "))
			}
		}
	}
	secret := func(path, file, env, fileKey, envKey string) {
		if file != "" && env != "" {
			bad(path+"."+fileKey, "give %s or %s, not both", fileKey, envKey)
		}
	}
	if w := n.Webhook; w != nil {
		checkHTTPURL(bad, "notify.webhook.url", w.URL)
		secret("notify.webhook", w.SecretFile, w.SecretEnv, "secret_file", "secret_env")
		events("notify.webhook", w.Events)
	}
	if t := n.Ntfy; t != nil {
		checkHTTPURL(bad, "notify.ntfy.url", t.URL)
		secret("notify.ntfy", t.TokenFile, t.TokenEnv, "token_file", "token_env")
		events("notify.ntfy", t.Events)
	}
	if e := n.Email; e != nil {
		if e.Host == "" {
			bad("notify.email.host", "required")
		}
		if e.Port < 0 || e.Port > 65535 {
			bad("notify.email.port", "%d is not 1-65535", e.Port)
		}
		if _, err := mail.ParseAddress(e.From); err != nil || e.From == "" {
			bad("notify.email.from", "%q is not a mail address", e.From)
		}
		if len(e.To) == 0 {
			bad("notify.email.to", "at least one address is required")
		}
		for i, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad(fmt.Sprintf("notify.email.to[%d]", i), "%q is not a mail address", to)
			}
		}
		if e.Username == "" && (e.PasswordFile != "" || e.PasswordEnv != "") {
			bad("notify.email.username", "required with a password")
		}
		secret("notify.email", e.PasswordFile, e.PasswordEnv, "password_file", "password_env")
		events("notify.email", e.Events)
	}
	if n.Queue < 1 || n.Queue > 10000 {
		bad("notify.queue", "%d is not 1 to 10000", n.Queue)
	}
	if n.Attempts < 1 || n.Attempts > 20 {
		bad("notify.attempts", "%d is not 1 to 20", n.Attempts)
	}
	if n.Backoff <= 0 {
		bad("notify.backoff", "must be positive")
	}
	if n.Bypass.Threshold < 1 {
		bad("notify.bypass.threshold", "must be at least 1")
	}
	if n.Bypass.Window <= 0 {
		bad("notify.bypass.window", "must be positive")
	}
	if _, err := profile.ParseDays(profile.Days{n.Digest.Day}); err != nil || len(n.Digest.Day) != 3 {
		bad("notify.digest.day", "%q is not one day, mon..sun", n.Digest.Day)
	}
	if _, err := profile.ParseClock(n.Digest.At); err != nil {
		bad("notify.digest.at", "%v", err)
	}
}

// checkHTTPURL reports a value that is not an absolute http(s) URL.
func checkHTTPURL(bad func(path, format string, args ...any), path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		bad(path, "%q is not an http:// or https:// URL (without a user or password in it)", s)
	}
}

// defaultAskParent and defaultNotify are the built-in settings.
func defaultAskParent() AskParent {
	return AskParent{Enabled: true, PerDevice: 3, Window: 10 * time.Minute, MaxRequests: 500, LinkTTL: 24 * time.Hour}
}

func defaultNotify() Notify {
	return Notify{
		Queue: 64, Attempts: 5, Backoff: 5 * time.Second,
		Bypass: NotifyBypass{Threshold: 30, Window: 10 * time.Minute},
		Digest: NotifyDigest{Day: "sun", At: "18:00"},
	}
}
