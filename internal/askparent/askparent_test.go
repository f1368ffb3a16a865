package askparent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/askparent"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func newBook(t *testing.T, c askparent.Config) (*askparent.Book, *dnstest.Clock) {
	t.Helper()
	clock := dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	if c.Key == nil {
		c.Key = askparent.NewKey()
	}
	c.Now = clock.Now
	b, err := askparent.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return b, clock
}

func req(device, host string) askparent.Request {
	return askparent.Request{Device: device, DeviceName: device, Host: host}
}

// TestLinks: a link works until it expires; a tampered one, one signed
// with another key, or one cut short never does.
func TestLinks(t *testing.T) {
	b, clock := newBook(t, askparent.Config{LinkTTL: time.Hour})
	other, _ := newBook(t, askparent.Config{})
	r, _, err := b.Ask(req("tablet", "tiktok.com"))
	if err != nil {
		t.Fatal(err)
	}
	good := b.Link(r.ID)
	flip := []byte(good)
	flip[3] ^= 1
	for _, tc := range []struct {
		name    string
		book    *askparent.Book
		token   string
		advance time.Duration
		wantErr error
	}{
		{"fresh", b, good, 0, nil},
		{"tampered payload", b, string(flip), 0, askparent.ErrBadLink},
		{"tampered signature", b, good[:len(good)-2] + "AA", 0, askparent.ErrBadLink},
		{"another key", other, good, 0, askparent.ErrBadLink},
		{"no signature", b, strings.Split(good, ".")[0], 0, askparent.ErrBadLink},
		{"garbage", b, "%%%.%%%", 0, askparent.ErrBadLink},
		{"just before expiry", b, good, 59 * time.Minute, nil},
		{"expired", b, good, time.Minute, askparent.ErrBadLink},
	} {
		clock.Advance(tc.advance)
		id, err := tc.book.Verify(tc.token)
		if !errors.Is(err, tc.wantErr) || (err == nil && id != r.ID) {
			t.Errorf("%s: Verify = %q, %v; want %v", tc.name, id, err, tc.wantErr)
		}
	}
}

// TestRateLimitAndBound: a device may ask PerDevice times per Window; a
// repeat of a pending request costs nothing; the table never holds more
// than Max, dropping answered requests first and refusing when all wait.
func TestRateLimitAndBound(t *testing.T) {
	b, clock := newBook(t, askparent.Config{PerDevice: 2, Window: 10 * time.Minute, Max: 3})
	for _, tc := range []struct {
		device, host string
		advance      time.Duration
		wantErr      error
		wantCreated  bool
	}{
		{"a", "one.com", 0, nil, true},
		{"a", "one.com", 0, nil, false}, // the same pending request
		{"a", "two.com", 0, nil, true},
		{"a", "three.com", 0, askparent.ErrRateLimited, false},
		{"a", "three.com", 10 * time.Minute, nil, true}, // the window moved on
		{"b", "one.com", 0, askparent.ErrFull, false},   // three pending
	} {
		clock.Advance(tc.advance)
		_, created, err := b.Ask(req(tc.device, tc.host))
		if !errors.Is(err, tc.wantErr) || created != tc.wantCreated {
			t.Errorf("%s asks %s: created %v, %v; want %v, %v", tc.device, tc.host, created, err, tc.wantCreated, tc.wantErr)
		}
	}
	first := b.List("a")[2]
	if _, err := b.Resolve(context.Background(), first.ID, askparent.ChoiceDeny, "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Ask(req("b", "one.com")); err != nil {
		t.Errorf("after an answer, a new request: %v", err)
	}
	if got := len(b.List("")); got != 3 {
		t.Errorf("table holds %d, want 3", got)
	}
	if _, err := b.Get(first.ID); !errors.Is(err, askparent.ErrNotFound) {
		t.Errorf("the answered request was not the one dropped: %v", err)
	}
}

// TestResolveOnce: an answer is given once; a failed grant leaves the
// request pending for another try.
func TestResolveOnce(t *testing.T) {
	b, _ := newBook(t, askparent.Config{})
	r, _, _ := b.Ask(req("tablet", "tiktok.com"))
	ctx := context.Background()
	failing := func(context.Context, askparent.Request, string) (string, time.Time, error) {
		return "", time.Time{}, errors.New("store down")
	}
	if _, err := b.Resolve(ctx, r.ID, askparent.Choice1h, "dad", failing); err == nil {
		t.Fatal("a failed grant was reported as done")
	}
	until := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	ok := func(context.Context, askparent.Request, string) (string, time.Time, error) {
		return "tiktok", until, nil
	}
	got, err := b.Resolve(ctx, r.ID, askparent.Choice1h, "dad", ok)
	if err != nil || got.Status != askparent.Approved || got.Target != "tiktok" || !got.Until.Equal(until) || got.By != "dad" {
		t.Fatalf("approve: %+v %v", got, err)
	}
	if _, err := b.Resolve(ctx, r.ID, askparent.ChoiceDeny, "mum", ok); !errors.Is(err, askparent.ErrDecided) {
		t.Errorf("second answer: %v, want ErrDecided", err)
	}
	if _, err := b.Resolve(ctx, r.ID, "forever", "mum", ok); err == nil {
		t.Error("an unknown choice was accepted")
	}
}

func TestCheckInput(t *testing.T) {
	for _, tc := range []struct {
		host, msg string
		wantHost  string
		wantMsg   string
		wantErr   bool
	}{
		{"TikTok.com.", "  for  school\n\tproject ", "tiktok.com", "for school project", false},
		{"tiktok.com", "<script>alert(1)</script>", "tiktok.com", "<script>alert(1)</script>", false}, // escaped on output
		{"tiktok.com", "a\u202eb\x00c", "tiktok.com", "abc", false},
		{"tiktok.com", strings.Repeat("é", 281), "", "", true},
		{"localhost", "", "", "", true},
		{"a b.com", "", "", "", true},
		{"javascript:alert(1)", "", "", "", true},
		{strings.Repeat("a", 64) + ".com", "", "", "", true},
		{"tiktok.com", "\xff", "", "", true},
	} {
		h, err1 := askparent.CheckHost(tc.host)
		m, err2 := askparent.CheckMessage(tc.msg)
		gotErr := err1 != nil || err2 != nil
		if gotErr != tc.wantErr || !gotErr && (h != tc.wantHost || m != tc.wantMsg) {
			t.Errorf("(%q, %q) = (%q, %q), %v %v", tc.host, tc.msg, h, m, err1, err2)
		}
	}
}
