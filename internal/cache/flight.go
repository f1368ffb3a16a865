package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// A flight is one upstream exchange for a cache key, shared by every miss
// for that key that arrives while it runs (a small singleflight). Its
// fields are written once, before done is closed.
type flight struct {
	done   chan struct{}
	client netip.Addr // whose in-flight slot the flight holds
	resp   *dns.Msg
	entry  *entry // the entry stored from resp, nil if not cacheable
	err    error
}

// join returns the flight for key in shard s, starting one for query q if
// none is running. For a miss (refresh false) it returns instead the entry
// for key if one became fresh since the caller looked; a refresh (a
// prefetch) always flies. Joining a flight is free; starting one takes an
// in-flight slot of client (the zero Addr for a prefetch), and when there
// is none join returns errBusy and starts nothing: the flights table, the
// pending queries, is so bounded by MaxInflight.
//
// The flight runs in its own goroutine with a context of its own, bounded
// by ctx's deadline but not cancelled with it: a client that gives up must
// not fail the others waiting on its flight. Shutdown cancels it.
func (c *Cache) join(ctx context.Context, s *shard, h uint64, key string, q *dns.Msg, client netip.Addr, refresh bool) (*flight, *entry, error) {
	now := c.clock(c.now())
	s.mu.Lock()
	if e := s.lookupString(h, key); !refresh && e != nil && e.fresh(now) {
		e = e.clone() // rare: stored by a flight that ended after the caller looked
		s.mu.Unlock()
		return nil, e, nil
	}
	if f := s.flights[key]; f != nil {
		s.mu.Unlock()
		if !refresh {
			c.coalesced.Add(1)
		}
		c.joined()
		return f, nil, nil
	}
	if !c.inflight.acquire(client) {
		s.mu.Unlock()
		return nil, nil, errBusy
	}
	f := &flight{done: make(chan struct{}), client: client}
	s.flights[key] = f
	s.mu.Unlock()
	c.joined()

	deadline, ok := ctx.Deadline()
	if limit := time.Now().Add(flightTimeout); !ok || deadline.After(limit) {
		deadline = limit
	}
	fctx, cancel := context.WithDeadline(c.base, deadline)
	q = q.Copy() // the listener may reuse the caller's query once it is answered
	if !c.goBackground(func() {
		defer cancel()
		c.fly(fctx, s, h, key, q, f, refresh)
	}) {
		cancel()
		c.land(s, key, f, nil, nil, errShutdown)
	}
	return f, nil, nil
}

func (c *Cache) joined() {
	if c.joinHook != nil {
		c.joinHook()
	}
}

// fly asks the upstream and lands the flight.
func (c *Cache) fly(ctx context.Context, s *shard, h uint64, key string, q *dns.Msg, f *flight, refresh bool) {
	c.upstream.Add(1)
	resp, err := c.exchange(ctx, q)
	var e *entry
	if err == nil {
		e = c.newEntry(h, key, q, resp, c.now())
	} else if refresh {
		c.log.Debug("prefetch failed", slog.String("qname", q.Question[0].Name), slog.Any("err", err))
	}
	c.land(s, key, f, resp, e, err)
}

// exchange asks the upstream. A flight runs outside the listener's
// per-query panic recovery, so a panic in the upstream becomes an error
// here rather than a crash of the resolver.
func (c *Cache) exchange(ctx context.Context, q *dns.Msg) (resp *dns.Msg, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("upstream exchange panicked", slog.String("qname", q.Question[0].Name), slog.Any("panic", p))
			resp, err = nil, fmt.Errorf("upstream exchange panicked: %v", p)
		}
	}()
	resp, err = c.up.Exchange(ctx, q)
	if err == nil && resp == nil {
		err = errors.New("upstream returned no answer")
	}
	return resp, err
}

// land stores the flight's entry and ends the flight in one critical
// section, so that a miss sees either the flight or the entry, never
// neither, and no second flight starts for an answer just stored.
func (c *Cache) land(s *shard, key string, f *flight, resp *dns.Msg, e *entry, err error) {
	now := c.now()
	s.mu.Lock()
	if e != nil {
		c.evictions.Add(s.insert(e, c.clock(now)-int64(c.serveStale)))
		delete(s.fails, key)
	} else if text, failed := failureFor(resp, err); failed && c.failTTL > 0 {
		s.addFailure(key, failure{until: now.Add(c.failTTL), text: text}, now)
	}
	delete(s.flights, key)
	s.mu.Unlock()
	c.inflight.release(f.client)
	f.resp, f.entry, f.err = resp, e, err
	close(f.done)
}
