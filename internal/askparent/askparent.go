// Package askparent owns "ask a parent": a child whose device is blocked
// from a site asks for access from a page at Hearth's own address (or the
// block page), with an optional message; the request reaches the parents
// in the UI and as a notification carrying a signed, expiring link; a
// parent approves it for 15 minutes, an hour, the rest of the day or
// always, or denies it; and the child's page shows the answer.
//
// The child's side needs no login: the device is the one its source
// address identifies, as for DNS. Everything a child sends is bounded and
// checked here, once: the name must be a DNS name the device is blocked
// from now, the message is at most MaxMessage characters of printable
// text, each device may ask PerDevice times per Window, and the table of
// requests holds at most Max (the oldest answered ones go first; when all
// are pending, new requests are refused until a parent answers).
//
// What an approval does (which grant it creates) is the caller's: Book
// records requests and answers; package app turns an approval into a
// grant or a profile allow entry.
package askparent

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Limits of what a child may send.
const (
	// MaxMessage is the longest message, in characters.
	MaxMessage = 280
	// KeySize is the size of the link-signing key.
	KeySize = 32
)

// Errors of Ask and Decide, matched with errors.Is.
var (
	// ErrRateLimited: the device asked PerDevice times in the last Window.
	ErrRateLimited = errors.New("too many requests from this device; wait a while or ask a parent in person")
	// ErrFull: the table holds Max pending requests.
	ErrFull = errors.New("too many requests are waiting for an answer")
	// ErrNotFound: no request has that id.
	ErrNotFound = errors.New("no such request")
	// ErrDecided: the request was already answered (a link is single use).
	ErrDecided = errors.New("the request was already answered")
	// ErrBadLink: a link's signature does not verify, or it expired.
	ErrBadLink = errors.New("the link is not valid or has expired")
	// ErrInvalid: the child sent a name or message that is not allowed.
	ErrInvalid = errors.New("invalid request")
)

// Status of a request.
const (
	Pending  = "pending"
	Approved = "approved"
	Denied   = "denied"
)

// Choices a parent has.
const (
	Choice15m    = "15m"
	Choice1h     = "1h"
	ChoiceToday  = "today"
	ChoiceAlways = "always"
	ChoiceDeny   = "deny"
)

// Choices lists the answers in the order pages offer them.
var Choices = []string{Choice15m, Choice1h, ChoiceToday, ChoiceAlways, ChoiceDeny}

// ChoiceLabel is how pages and notifications word a choice.
func ChoiceLabel(c string) string {
	switch c {
	case Choice15m:
		return "Allow for 15 minutes"
	case Choice1h:
		return "Allow for 1 hour"
	case ChoiceToday:
		return "Allow for today"
	case ChoiceAlways:
		return "Always allow"
	case ChoiceDeny:
		return "Deny"
	}
	return c
}

// ValidChoice reports whether c is one of Choices.
func ValidChoice(c string) bool { return slices.Contains(Choices, c) }

// Request is one child's question and, once given, the answer.
type Request struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	// DeviceName is what parents call the device.
	DeviceName string `json:"device_name"`
	// Host is the name asked for.
	Host string `json:"host"`
	// Tag is the category or service that blocks Host ("" when a rule,
	// schedule or pause does), TagName its display name, TagKind
	// "category" or "service".
	Tag     string `json:"tag,omitempty"`
	TagName string `json:"tag_name,omitempty"`
	TagKind string `json:"tag_kind,omitempty"`
	// Reason is the block's bounded label ("tag", "schedule", ...).
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Created time.Time `json:"created"`

	Status string `json:"status"`
	// Choice is the answer (one of Choices), By who gave it, Decided
	// when; Target what was allowed (a name or a tag); Until when the
	// allowance ends (zero for always).
	Choice  string    `json:"choice,omitempty"`
	By      string    `json:"by,omitempty"`
	Decided time.Time `json:"decided,omitzero"`
	Target  string    `json:"target,omitempty"`
	Until   time.Time `json:"until,omitzero"`
}

// Config configures a Book.
type Config struct {
	// Key signs links; KeySize random bytes the caller keeps (NewKey).
	Key []byte
	// PerDevice requests per Window; 0 means 3 per 10 minutes.
	PerDevice int
	Window    time.Duration
	// Max bounds the table; 0 means 500.
	Max int
	// LinkTTL is how long a notification's link works; 0 means 24h.
	LinkTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Book holds the requests. It is used from HTTP handlers only, never on
// the DNS query path, so a mutex guards it.
type Book struct {
	cfg Config

	mu       sync.Mutex
	requests []*Request // oldest first
	// asked holds each device's recent request times, for the rate
	// limit; entries older than Window are dropped as they are read, and
	// the map is bounded by the devices that have requests in the table.
	asked map[string][]time.Time
}

// NewKey returns a fresh random signing key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// New checks c and returns an empty Book.
func New(c Config) (*Book, error) {
	if len(c.Key) < 16 {
		return nil, errors.New("askparent: the signing key must be at least 16 bytes")
	}
	if c.PerDevice == 0 {
		c.PerDevice = 3
	}
	if c.Window == 0 {
		c.Window = 10 * time.Minute
	}
	if c.Max == 0 {
		c.Max = 500
	}
	if c.LinkTTL == 0 {
		c.LinkTTL = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PerDevice < 0 || c.Window < 0 || c.Max < 0 || c.LinkTTL < 0 {
		return nil, errors.New("askparent: per_device, window, max and link_ttl must not be negative")
	}
	return &Book{cfg: c, asked: map[string][]time.Time{}}, nil
}

// CheckHost returns host as a lower-case DNS name without a trailing dot,
// or an error wrapping ErrInvalid.
func CheckHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if n, ok := dns.IsDomainName(h); !ok || n > 253 || !strings.Contains(h, ".") || strings.ContainsAny(h, " *=!/:\\\"'<>") {
		return "", fmt.Errorf("%w: %q is not a site name like example.com", ErrInvalid, trim(host, 64))
	}
	return h, nil
}

// CheckMessage returns msg with its spaces collapsed, or an error
// wrapping ErrInvalid when it is too long or not text.
func CheckMessage(msg string) (string, error) {
	if !utf8.ValidString(msg) {
		return "", fmt.Errorf("%w: the message is not text", ErrInvalid)
	}
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(msg) {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case !unicode.IsPrint(r):
			continue // control and format characters (bidi overrides)
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	if n > MaxMessage {
		return "", fmt.Errorf("%w: the message is longer than %d characters", ErrInvalid, MaxMessage)
	}
	return b.String(), nil
}

// trim shortens s to n bytes for an error message.
func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Ask records r (Device, DeviceName, Host, Tag..., Message, all already
// checked) as a pending request and returns it with its id. A device
// that already has a pending request for the same name gets that one
// back, with created false, and costs nothing of its rate limit.
func (b *Book) Ask(r Request) (req Request, created bool, err error) {
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, old := range b.requests {
		if old.Device == r.Device && old.Host == r.Host && old.Status == Pending {
			return *old, false, nil
		}
	}
	recent := b.recent(r.Device, now)
	if len(recent) >= b.cfg.PerDevice {
		return Request{}, false, ErrRateLimited
	}
	if len(b.requests) >= b.cfg.Max && !b.evict() {
		return Request{}, false, ErrFull
	}
	var id [8]byte
	rand.Read(id[:])
	r.ID = hex.EncodeToString(id[:])
	r.Created = now.UTC()
	r.Status = Pending
	r.Choice, r.By, r.Target = "", "", ""
	r.Decided, r.Until = time.Time{}, time.Time{}
	b.requests = append(b.requests, &r)
	b.asked[r.Device] = append(recent, now)
	return r, true, nil
}

// recent returns device's request times within Window, dropping older
// ones (and the device's entry when none is left).
func (b *Book) recent(device string, now time.Time) []time.Time {
	ts := b.asked[device]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= b.cfg.Window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(b.asked, device)
		return nil
	}
	b.asked[device] = ts
	return ts
}

// evict drops the oldest answered request; false when all are pending.
func (b *Book) evict() bool {
	for i, r := range b.requests {
		if r.Status != Pending {
			b.requests = slices.Delete(b.requests, i, i+1)
			return true
		}
	}
	return false
}

// Get returns the request with that id.
func (b *Book) Get(id string) (Request, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		if r.ID == id {
			return *r, nil
		}
	}
	return Request{}, ErrNotFound
}

// List returns the requests, newest first; device "" lists all.
func (b *Book) List(device string) []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []Request{}
	for i := len(b.requests) - 1; i >= 0; i-- {
		if r := b.requests[i]; device == "" || r.Device == device {
			out = append(out, *r)
		}
	}
	return out
}

// Pending counts the requests waiting for an answer.
func (b *Book) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.requests {
		if r.Status == Pending {
			n++
		}
	}
	return n
}

// Answer is a parent's decision on a request.
type Answer struct {
	Choice string
	// By is who answered ("emma's dad", "link").
	By string
	// Target is what was allowed and Until its end (zero for always or
	// deny); the caller sets them after making the grant.
	Target string
	Until  time.Time
}

// Claim marks pending request id as being answered, so that a second
// answer (a link clicked twice, the UI and a link at once) gets
// ErrDecided; the caller then makes the grant and calls Settle, or
// Release if the grant failed.
func (b *Book) Claim(id string) (Request, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		if r.ID == id {
			if r.Status != Pending {
				return *r, ErrDecided
			}
			r.Status = "deciding"
			return *r, nil
		}
	}
	return Request{}, ErrNotFound
}

// Release returns a claimed request to pending.
func (b *Book) Release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		if r.ID == id && r.Status == "deciding" {
			r.Status = Pending
		}
	}
}

// Settle records the answer of a claimed request and returns it.
func (b *Book) Settle(id string, a Answer) (Request, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.requests {
		if r.ID == id {
			if r.Status != "deciding" {
				return *r, ErrDecided
			}
			r.Status = Approved
			if a.Choice == ChoiceDeny {
				r.Status = Denied
			}
			r.Choice, r.By, r.Target, r.Until = a.Choice, a.By, a.Target, a.Until.UTC()
			r.Decided = b.cfg.Now().UTC()
			return *r, nil
		}
	}
	return Request{}, ErrNotFound
}

// Link returns the token of a link that answers request id, valid for
// LinkTTL: the id and the expiry, signed with HMAC-SHA256.
func (b *Book) Link(id string) string {
	exp := b.cfg.Now().Add(b.cfg.LinkTTL).Unix()
	payload := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(payload, uint64(exp))
	payload = append(payload, id...)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(b.sign(payload))
}

// Verify checks a link token and returns its request id.
func (b *Book) Verify(token string) (string, error) {
	p, s, ok := strings.Cut(token, ".")
	if !ok || len(token) > 200 {
		return "", ErrBadLink
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sig, err2 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil || len(payload) <= 8 || !hmac.Equal(sig, b.sign(payload)) {
		return "", ErrBadLink
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !b.cfg.Now().Before(exp) {
		return "", ErrBadLink
	}
	return string(payload[8:]), nil
}

// sign is the HMAC of payload under the key, for links only (a fixed
// prefix keeps these signatures apart from any other use of the key).
func (b *Book) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, b.cfg.Key)
	m.Write([]byte("hearth ask-a-parent link v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}
