package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// SignatureHeader carries a webhook body's signature: "sha256=" and the
// hex HMAC-SHA256, keyed with the webhook secret, of the TimestampHeader
// value, a '.', and the body. Receivers recompute it and check that the
// timestamp is recent, which stops a captured request being replayed.
const (
	SignatureHeader = "X-Hearth-Signature"
	TimestampHeader = "X-Hearth-Timestamp"
)

// Sign returns the SignatureHeader value of body sent at ts (Unix
// seconds) with secret.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL", what, s)
	}
	return u, nil
}

// httpClient is the client of the HTTP channels: bounded, and never
// following a redirect (a receiver that moved is a configuration to fix,
// not a reason to send a signed body somewhere else).
func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends req and turns a non-2xx answer into an error.
func post(c *http.Client, req *http.Request, what string) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	}
	return nil
}

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL receives a JSON POST of each Event.
	URL string
	// Secret keys the SignatureHeader; "" sends no signature.
	Secret string
	// Client is the HTTP client; nil means a bounded default.
	Client *http.Client
	Now    func() time.Time
}

// Webhook POSTs events as JSON.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var _ Channel = (*Webhook)(nil)

// NewWebhook checks c and returns the channel.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	if _, err := checkURL("webhook url", c.URL); err != nil {
		return nil, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Webhook{url: c.URL, secret: []byte(c.Secret), client: httpClient(c.Client), now: c.Now}, nil
}

// Name implements Channel.
func (w *Webhook) Name() string { return "webhook" }

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("webhook: encoding event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Hearth")
	if len(w.secret) > 0 {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, Sign(w.secret, ts, body))
	}
	return post(w.client, req, "webhook")
}

// NtfyConfig configures an Ntfy channel.
type NtfyConfig struct {
	// URL is the topic's URL ("https://ntfy.sh/our-family-x7f3").
	URL string
	// Token is an ntfy access token; "" sends none.
	Token  string
	Client *http.Client
}

// Ntfy publishes events to an ntfy topic: the text as the body, the title
// and up to three links as ntfy's Title and Actions headers.
type Ntfy struct {
	url    string
	token  string
	client *http.Client
}

var _ Channel = (*Ntfy)(nil)

// NewNtfy checks c and returns the channel.
func NewNtfy(c NtfyConfig) (*Ntfy, error) {
	if _, err := checkURL("ntfy url", c.URL); err != nil {
		return nil, err
	}
	return &Ntfy{url: c.URL, token: c.Token, client: httpClient(c.Client)}, nil
}

// Name implements Channel.
func (n *Ntfy) Name() string { return "ntfy" }

// Send implements Channel.
func (n *Ntfy) Send(ctx context.Context, e Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, strings.NewReader(e.Text))
	if err != nil {
		return fmt.Errorf("ntfy: %w", err)
	}
	req.Header.Set("Title", headerSafe(e.Title))
	req.Header.Set("Tags", e.Kind)
	var actions []string
	for i, l := range e.Links {
		if i == 3 { // ntfy shows at most three actions
			break
		}
		// The confirm page asks before doing anything, so a view action
		// (open the link) is all a notification needs.
		actions = append(actions, "view, "+strings.NewReplacer(",", " ", ";", " ").Replace(headerSafe(l.Label))+", "+l.URL)
	}
	if len(actions) > 0 {
		req.Header.Set("Actions", strings.Join(actions, "; "))
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	return post(n.client, req, "ntfy")
}

// headerSafe keeps s to one line of printable ASCII, for a header.
func headerSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}

// EmailConfig configures an Email channel.
type EmailConfig struct {
	// Host and Port are the SMTP submission server (Port 0 means 587).
	Host string
	Port int
	// Username and Password authenticate (PLAIN, only over TLS); an
	// empty Username sends without authentication.
	Username, Password string
	From               string
	To                 []string
	// TLS is the TLS configuration of STARTTLS (a RootCAs for a private
	// server); nil means the system roots and ServerName Host.
	TLS *tls.Config
}

// Email sends events as plain-text mail. STARTTLS is mandatory: a server
// that does not offer it gets nothing, so a password and a child's
// activity never cross the network in clear.
type Email struct {
	c EmailConfig
}

var _ Channel = (*Email)(nil)

// NewEmail checks c and returns the channel.
func NewEmail(c EmailConfig) (*Email, error) {
	if c.Host == "" {
		return nil, errors.New("email: host is required")
	}
	if c.Port == 0 {
		c.Port = 587
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, fmt.Errorf("email: port %d is not 1-65535", c.Port)
	}
	if len(c.To) == 0 {
		return nil, errors.New("email: to: at least one address is required")
	}
	for _, a := range append([]string{c.From}, c.To...) {
		if err := mail.NewMsg().SetAddrHeader(mail.HeaderFrom, a); err != nil || !strings.Contains(a, "@") {
			return nil, fmt.Errorf("email: %q is not a mail address", a)
		}
	}
	if c.TLS == nil {
		c.TLS = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	}
	return &Email{c: c}, nil
}

// Name implements Channel.
func (m *Email) Name() string { return "email" }

// Send implements Channel.
func (m *Email) Send(ctx context.Context, e Event) error {
	msg := mail.NewMsg()
	if err := msg.From(m.c.From); err != nil {
		return fmt.Errorf("email: from: %w", err)
	}
	if err := msg.To(m.c.To...); err != nil {
		return fmt.Errorf("email: to: %w", err)
	}
	msg.Subject("Hearth: " + e.Title)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, Body(e))
	opts := []mail.Option{
		mail.WithPort(m.c.Port),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(m.c.TLS),
		mail.WithTimeout(30 * time.Second),
	}
	if m.c.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.c.Username), mail.WithPassword(m.c.Password))
	}
	client, err := mail.NewClient(m.c.Host, opts...)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("email to %s:%d: %w", m.c.Host, m.c.Port, err)
	}
	return nil
}

// Body is an event as plain text: its text, then its links one a line.
func Body(e Event) string {
	var b strings.Builder
	b.WriteString(e.Text)
	if len(e.Links) > 0 {
		b.WriteString("\n\n")
		for _, l := range e.Links {
			b.WriteString(l.Label + ": " + l.URL + "\n")
		}
	}
	return b.String()
}
