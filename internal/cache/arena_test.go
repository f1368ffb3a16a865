package cache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// testEntry returns a heap entry for hash h with a wire answer of n bytes
// whose bytes all read h's low byte, expiring at expires.
func testEntry(h uint64, n int, expires int64) *entry {
	wire := []byte(strings.Repeat(string(rune('a'+h%26)), n))
	e := packEntry(h, []uint16{2, 4}, wire, fmt.Sprintf("key%d", h))
	e.expires = expires
	e.ttl = 300
	return e
}

// checkRing walks s's ring from its tail and checks what the rest of the
// shard assumes of it: records that tile the used words without
// straddling a segment, a map entry for every live record and a live
// record for every map entry, the live words counted, and the bytes
// within MaxBytes.
func checkRing(t *testing.T, s *shard) {
	t.Helper()
	segWords := uint64(1) << s.segShift
	if s.capWords != uint64(len(s.segs))*segWords || s.used > s.capWords {
		t.Fatalf("capWords %d, %d segments of %d words, used %d", s.capWords, len(s.segs), segWords, s.used)
	}
	live, liveWords := 0, uint64(0)
	p := s.tail
	for walked := uint64(0); walked < s.used; {
		if p == s.capWords {
			p = 0
		}
		rec := s.recordAt(uint32(p))
		n := uint64(rec.size / 8)
		if n == 0 || p%segWords+n > segWords {
			t.Fatalf("record at %d of %d words straddles a segment or is empty", p, n)
		}
		if rec.flags.Load()&flagPad == 0 {
			e := s.at(uint32(p))
			if i, ok := s.entries[e.hash]; ok && uint64(i) == p {
				live++
				liveWords += n
			}
		}
		p += n
		walked += n
	}
	if live != len(s.entries) || liveWords != s.live {
		t.Fatalf("ring holds %d live entries of %d words; map %d, live counted %d", live, liveWords, len(s.entries), s.live)
	}
	if b := s.bytes(); b > s.maxBytes {
		t.Fatalf("%d bytes held, over %d", b, s.maxBytes)
	}
}

// held returns the hashes of the entries s holds, sorted.
func held(s *shard) []uint64 {
	var hs []uint64
	for h := range s.entries {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

func newTestShard(size int, maxBytes int64) *shard {
	s := new(shard)
	s.init(size, maxBytes, 8)
	return s
}

// TestRingEviction checks the ring's policy directly on a shard: oldest
// first, a second chance for entries hit since they were stored unless
// they expired past serve-stale, replaced entries left dead, and the
// bounds in bytes and in entries.
func TestRingEviction(t *testing.T) {
	const far = 1 << 62 // an expiry never reached
	t.Run("oldest first", func(t *testing.T) {
		s := newTestShard(1000, 64<<10)
		var evicted uint64
		for h := range uint64(2000) {
			evicted += s.insert(testEntry(h, 300, far), 0)
			checkRing(t, s)
		}
		hs := held(s)
		if evicted == 0 || uint64(len(hs))+evicted != 2000 {
			t.Fatalf("%d held, %d evicted, want 2000 in all and some evicted", len(hs), evicted)
		}
		// What is held is the newest, in one run.
		if first := hs[0]; hs[len(hs)-1] != 1999 || uint64(len(hs)) != 2000-first {
			t.Errorf("held %d..%d (%d entries), want the newest", first, hs[len(hs)-1], len(hs))
		}
		if b := s.bytes(); b < s.maxBytes*3/4 {
			t.Errorf("%d bytes held, want close to %d", b, s.maxBytes)
		}
	})
	t.Run("second chance", func(t *testing.T) {
		s := newTestShard(1000, 64<<10)
		for h := range uint64(100) {
			s.insert(testEntry(h, 300, far), 0)
		}
		s.lookupString(0, "key0").touch()
		s.lookupString(1, "key1").touch()
		for h := uint64(100); s.lookupString(2, "key2") != nil; h++ {
			s.insert(testEntry(h, 300, far), 0)
			checkRing(t, s)
			if h > 10000 {
				t.Fatal("entry 2 never evicted")
			}
		}
		// Entry 2, never hit, went before 0 and 1, hit and moved.
		if s.lookupString(0, "key0") == nil || s.lookupString(1, "key1") == nil {
			t.Fatal("hit entries 0 and 1 evicted before unhit entry 2")
		}
		// Moved without their mark: not hit again, they go in the next turn.
		for h := uint64(10000); s.lookupString(0, "key0") != nil; h++ {
			s.insert(testEntry(h, 300, far), 0)
			checkRing(t, s)
			if h > 20000 {
				t.Fatal("moved entry 0 never evicted")
			}
		}
	})
	t.Run("expired not kept", func(t *testing.T) {
		s := newTestShard(1000, 64<<10)
		s.insert(testEntry(0, 300, 50), 0)
		s.insert(testEntry(1, 300, far), 0)
		s.lookupString(0, "key0").touch()
		s.lookupString(1, "key1").touch()
		for h := uint64(2); s.lookupString(0, "key0") != nil; h++ {
			s.insert(testEntry(h, 300, far), 100) // keep: expired before 100 goes
			checkRing(t, s)
		}
		if s.lookupString(1, "key1") == nil {
			t.Error("fresh hit entry 1 evicted with expired entry 0")
		}
	})
	t.Run("replaced", func(t *testing.T) {
		s := newTestShard(1000, 64<<10)
		for round := range 50 {
			for h := range uint64(10) {
				s.insert(testEntry(h, 100+round*40, far), 0)
				checkRing(t, s)
			}
		}
		if len(s.entries) != 10 {
			t.Fatalf("%d entries, want 10", len(s.entries))
		}
		if e := s.lookupString(3, "key3"); e == nil || len(e.wire()) != 100+49*40 {
			t.Fatalf("entry 3 is not the last stored")
		}
	})
	t.Run("entries bound", func(t *testing.T) {
		s := newTestShard(10, 1<<20)
		for h := range uint64(5000) {
			s.insert(testEntry(h, 200, far), 0)
			checkRing(t, s)
			if len(s.entries) > 10 {
				t.Fatalf("%d entries, over 10", len(s.entries))
			}
		}
		// Ten live entries fill nowhere near half a segment: the head
		// reuses the dead space rather than growing the ring.
		if len(s.segs) != 1 {
			t.Errorf("%d segments for 10 entries", len(s.segs))
		}
	})
	t.Run("sizes mixed", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		s := newTestShard(100000, 256<<10)
		for h := range uint64(20000) {
			s.insert(testEntry(rng.Uint64N(3000), 1+rng.IntN(maxEntryWire), far), 0)
			if h%7 == 0 {
				if hs := held(s); len(hs) > 0 {
					k := hs[rng.IntN(len(hs))]
					s.lookupString(k, fmt.Sprintf("key%d", k)).touch()
				}
			}
			checkRing(t, s)
		}
	})
}

// TestConcurrentReadersMovingEntries has readers hit entries while
// misses evict and move others in a cache far smaller than the names
// asked, and checks every answer is the one for its name: a reader must
// never see an entry that a writer moved or overwrote. Run it with -race.
func TestConcurrentReadersMovingEntries(t *testing.T) {
	u := &fakeUpstream{reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		name := q.Question[0].Name
		pad := strings.Repeat("p", len(name)*7%300)
		m.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
			Txt: []string{name, pad}}}
		return m
	}}
	c, _ := newTestCache(t, Config{Size: 100000, MaxBytes: 1 << 20}, u)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range 3000 {
				// A hot set, hit and kept, and a cold stream that
				// evicts.
				name := fmt.Sprintf("hot%d.test.", rng.IntN(300))
				if rng.IntN(2) == 0 {
					name = fmt.Sprintf("cold%d.test.", rng.IntN(20000))
				}
				q := query{name: name, qtype: dns.TypeTXT, edns: true}
				m := mustAsk(t, c, q)
				if len(m.Answer) != 1 {
					t.Errorf("%s: %d answers", name, len(m.Answer))
					return
				}
				if txt, ok := m.Answer[0].(*dns.TXT); !ok || txt.Txt[0] != name || txt.Hdr.Name != name {
					t.Errorf("%s: answered %v", name, m.Answer[0])
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		checkRing(t, s)
		s.mu.Unlock()
	}
	if st := c.Stats(); st.Evictions == 0 || st.Hits == 0 {
		t.Errorf("stats %+v: want hits and evictions", st)
	}
}
