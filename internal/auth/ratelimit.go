package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// RateLimit bounds failed password attempts, counted per (user name,
// client address) in a sliding window (and per address over all names,
// with four times the room), and failed setup codes per client address.
type RateLimit struct {
	// Failures is how many failed attempts a key may make in Window
	// before it is refused (default 5).
	Failures int
	// Window is the sliding window (default 15 minutes).
	Window time.Duration
	// MaxKeys caps the addresses and names remembered; past it the one
	// that failed least recently is forgotten (default 10000).
	MaxKeys int
}

// limiter counts recent password attempts per key. Memory is bounded by
// maxKeys entries of at most max timestamps each.
type limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu sync.Mutex
	// byKey indexes order; order runs from the key touched least
	// recently (front, evicted first) to the most recent (back).
	byKey map[string]*list.Element
	order *list.List
}

// limitEntry is one key's attempts in the window, oldest first.
type limitEntry struct {
	key      string
	attempts []time.Time
}

func newLimiter(c RateLimit) *limiter {
	return &limiter{
		max:     c.Failures,
		window:  c.Window,
		maxKeys: c.MaxKeys,
		byKey:   map[string]*list.Element{},
		order:   list.New(),
	}
}

// reserve counts an attempt against every key, unless one of them is
// already at its limit: then it counts nothing and returns how long until
// that key may try again. The attempt is counted before the password is
// checked so that parallel guesses cannot all slip in while the (slow)
// hash runs; succeed forgets it again.
func (l *limiter) reserve(now time.Time, keys ...string) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		el, found := l.byKey[k]
		if !found {
			continue
		}
		e := el.Value.(*limitEntry)
		e.expire(now.Add(-l.window))
		if len(e.attempts) >= l.max {
			if w := e.attempts[0].Add(l.window).Sub(now); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		return wait, false
	}
	for _, k := range keys {
		if el, found := l.byKey[k]; found {
			e := el.Value.(*limitEntry)
			e.attempts = append(e.attempts, now)
			l.order.MoveToBack(el)
			continue
		}
		for l.order.Len() >= l.maxKeys {
			front := l.order.Front()
			delete(l.byKey, front.Value.(*limitEntry).key)
			l.order.Remove(front)
		}
		e := &limitEntry{key: k, attempts: make([]time.Time, 1, l.max)}
		e.attempts[0] = now
		l.byKey[k] = l.order.PushBack(e)
	}
	return 0, true
}

// succeed forgets the attempts of keys: a correct password resets them.
func (l *limiter) succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if el, found := l.byKey[k]; found {
			delete(l.byKey, k)
			l.order.Remove(el)
		}
	}
}

// prune forgets keys with no attempt in the window.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.Add(-l.window)
	for el := l.order.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*limitEntry)
		if e.expire(cutoff); len(e.attempts) == 0 {
			delete(l.byKey, e.key)
			l.order.Remove(el)
		}
		el = next
	}
}

// len returns the number of keys remembered.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}

// expire drops the attempts at or before cutoff.
func (e *limitEntry) expire(cutoff time.Time) {
	i := 0
	for i < len(e.attempts) && !e.attempts[i].After(cutoff) {
		i++
	}
	if i > 0 {
		e.attempts = append(e.attempts[:0], e.attempts[i:]...)
	}
}

// addrKey is the rate-limit key of a client address (host:port, as in
// http.Request.RemoteAddr). An IPv6 client is keyed by its /64, since one
// host commonly holds a whole /64 and could otherwise rotate addresses.
func addrKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return "addr:" + remote
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// userAddrKey is the rate-limit key of a user name tried from a client
// address: failures lock out that pair only, so nobody can lock another
// person out by failing on purpose from their own device.
func userAddrKey(name, remote string) string {
	return "user:" + name + "|" + addrKey(remote)
}
