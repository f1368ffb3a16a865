package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterSlidingWindow(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(RateLimit{Failures: 3, Window: time.Minute, MaxKeys: 10})
	type step struct {
		advance  time.Duration
		key      string
		wantOK   bool
		wantWait time.Duration
	}
	steps := []step{
		{0, "a", true, 0},                           // t=0
		{20 * time.Second, "a", true, 0},            // t=20
		{20 * time.Second, "a", true, 0},            // t=40: third attempt
		{0, "a", false, 20 * time.Second},           // t=40: until the first leaves the window
		{0, "b", true, 0},                           // other keys are not affected
		{19 * time.Second, "a", false, time.Second}, // t=59
		{time.Second, "a", true, 0},                 // t=60: the first attempt left the window
		{0, "a", false, 20 * time.Second},           // t=60: full again, until t=80
		{20 * time.Second, "a", true, 0},            // t=80
		{2 * time.Minute, "a", true, 0},             // t=200: all expired, 1 in window
		{0, "a", true, 0},                           // 2 in window
		{0, "a", true, 0},                           // 3 in window
		{0, "a", false, time.Minute},                // refused a full window
		{0, "b", true, 0},                           // b's attempt at t=40 expired
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		wait, ok := l.reserve(clock.Now(), s.key)
		if ok != s.wantOK || wait != s.wantWait {
			t.Fatalf("step %d (%s at %v): reserve = %v, %v; want %v, %v", i, s.key, clock.Now().Format("15:04:05"), wait, ok, s.wantWait, s.wantOK)
		}
	}
}

func TestLimiterAllKeysOrNone(t *testing.T) {
	now := newFakeClock().Now()
	l := newLimiter(RateLimit{Failures: 2, Window: time.Minute, MaxKeys: 10})
	for range 2 {
		if _, ok := l.reserve(now, "ip", "u1"); !ok {
			t.Fatal("reserve refused under the limit")
		}
	}
	// ip is full: an attempt on ip and a fresh user counts for neither.
	if _, ok := l.reserve(now, "ip", "u2"); ok {
		t.Fatal("reserve allowed a full key")
	}
	if _, ok := l.byKey["u2"]; ok {
		t.Error("a refused attempt was counted against the other key")
	}
	l.succeed("ip")
	if _, ok := l.reserve(now, "ip", "u2"); !ok {
		t.Error("succeed did not reset the key")
	}
	if _, ok := l.reserve(now, "u1"); ok {
		t.Error("succeed reset a key it was not given")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(RateLimit{Failures: 1, Window: time.Hour, MaxKeys: 3})
	for i := range 10 {
		clock.Advance(time.Second)
		if _, ok := l.reserve(clock.Now(), fmt.Sprint("k", i)); !ok {
			t.Fatalf("k%d refused", i)
		}
		if n := l.len(); n > 3 {
			t.Fatalf("after k%d: %d keys, cap 3", i, n)
		}
	}
	// The newest three are kept, the oldest were evicted.
	for i := range 10 {
		_, kept := l.byKey[fmt.Sprint("k", i)]
		if want := i >= 7; kept != want {
			t.Errorf("k%d kept = %v, want %v", i, kept, want)
		}
	}
	if _, ok := l.reserve(clock.Now(), "k9"); ok {
		t.Error("k9 is full but was allowed")
	}
	// Eviction loses the count of k0: the price of bounded memory.
	if _, ok := l.reserve(clock.Now(), "k0"); !ok {
		t.Error("k0 was evicted but is still refused")
	}
}

func TestLimiterPrune(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(RateLimit{Failures: 5, Window: time.Minute, MaxKeys: 100})
	l.reserve(clock.Now(), "old")
	clock.Advance(30 * time.Second)
	l.reserve(clock.Now(), "new")
	clock.Advance(30 * time.Second)
	l.prune(clock.Now())
	if _, ok := l.byKey["old"]; ok {
		t.Error("prune kept a key with no attempt in the window")
	}
	if _, ok := l.byKey["new"]; !ok {
		t.Error("prune dropped a key with an attempt in the window")
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1:1234", "192.0.2.1:5678", true},
		{"192.0.2.1:1234", "192.0.2.2:1234", false},
		{"[2001:db8:1:2::1]:443", "[2001:db8:1:2:ffff::9]:80", true},
		{"[2001:db8:1:2::1]:443", "[2001:db8:1:3::1]:443", false},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2", true},
		{"not an address", "not an address", true},
		{"not an address", "192.0.2.1:2", false},
	}
	for _, tt := range tests {
		if got := addrKey(tt.a) == addrKey(tt.b); got != tt.same {
			t.Errorf("addrKey(%q) == addrKey(%q): %v, want %v (%q, %q)", tt.a, tt.b, got, tt.same, addrKey(tt.a), addrKey(tt.b))
		}
	}
}
