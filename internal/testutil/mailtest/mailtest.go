// Package mailtest runs the receivers notification tests talk to: an SMTP
// submission server on loopback that offers STARTTLS with a test
// certificate, takes AUTH PLAIN only once TLS is up, and records every
// message with whether it came over TLS; and a webhook receiver that
// records every request. Tests wait for deliveries on channels, never by
// sleeping.
package mailtest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one mail the SMTP server accepted.
type Message struct {
	From string
	To   []string
	// User is who authenticated ("" for nobody).
	User string
	// TLS is whether the message came over STARTTLS.
	TLS     bool
	Subject string
	// Body is the decoded body; Raw the whole message.
	Body, Raw string
}

// SMTP is a local SMTP server.
type SMTP struct {
	// Addr is host:port; Host and Port the same, split.
	Addr string
	Host string
	Port int
	// Messages receives each accepted message.
	Messages chan Message
	// Fail, while it holds a value above 0, makes that many next DATA
	// commands fail with a temporary error (a server having trouble).
	mu             sync.Mutex
	fail           int
	user, password string
}

// NewSMTP starts a server that accepts user/password over STARTTLS with
// tlsCfg, until the test ends.
func NewSMTP(t testing.TB, tlsCfg *tls.Config, user, password string) *SMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTP{Addr: ln.Addr().String(), Messages: make(chan Message, 100), user: user, password: password}
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "mail.test"
	srv.TLSConfig = tlsCfg
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// FailNext makes the next n deliveries fail with a temporary error.
func (s *SMTP) FailNext(n int) {
	s.mu.Lock()
	s.fail = n
	s.mu.Unlock()
}

// Wait returns the next message, failing the test after 10 s.
func (s *SMTP) Wait(t testing.TB) Message {
	t.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived in 10 s")
		return Message{}
	}
}

type session struct {
	s    *SMTP
	c    *smtp.Conn
	user string
	msg  Message
}

var _ smtp.AuthSession = (*session)(nil)

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != x.s.user || password != x.s.password {
			return errors.New("invalid username or password")
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.msg = Message{From: from, User: x.user}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	fail := x.s.fail > 0
	if fail {
		x.s.fail--
	}
	x.s.mu.Unlock()
	if fail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := x.msg
	m.Raw = string(raw)
	_, m.TLS = x.c.TLSConnectionState()
	if pm, err := mail.ReadMessage(strings.NewReader(m.Raw)); err == nil {
		dec := new(mime.WordDecoder)
		m.Subject, _ = dec.DecodeHeader(pm.Header.Get("Subject"))
		body, _ := io.ReadAll(decodeBody(pm))
		m.Body = string(body)
	}
	x.s.Messages <- m
	return nil
}

func (x *session) Reset()        { x.msg = Message{} }
func (x *session) Logout() error { return nil }

// decodeBody undoes the body's Content-Transfer-Encoding.
func decodeBody(pm *mail.Message) io.Reader {
	switch strings.ToLower(pm.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		return quotedprintable.NewReader(pm.Body)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, pm.Body)
	}
	return pm.Body
}

// Request is one request the webhook receiver got.
type Request struct {
	Header http.Header
	Body   []byte
}

// Webhook is a local HTTP receiver.
type Webhook struct {
	URL      string
	Requests chan Request
	mu       sync.Mutex
	fail     int
}

// NewWebhook starts a receiver until the test ends.
func NewWebhook(t testing.TB) *Webhook {
	t.Helper()
	w := &Webhook{Requests: make(chan Request, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.mu.Lock()
		fail := w.fail > 0
		if fail {
			w.fail--
		}
		w.mu.Unlock()
		if fail {
			http.Error(rw, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Requests <- Request{Header: r.Header.Clone(), Body: body}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// FailNext makes the next n requests get 503.
func (w *Webhook) FailNext(n int) {
	w.mu.Lock()
	w.fail = n
	w.mu.Unlock()
}

// Wait returns the next request, failing the test after 10 s.
func (w *Webhook) Wait(t testing.TB) Request {
	t.Helper()
	select {
	case r := <-w.Requests:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request arrived in 10 s")
		return Request{}
	}
}
