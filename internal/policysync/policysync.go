// Package policysync is the node side of the store: it loads the policy
// state (households, profiles, devices, grants), hands it to the builder
// of the policy snapshot, and does so again after every change the store
// announces, and on a slow safety poll in case an announcement was lost.
// Queries never wait for it: the builder swaps a finished snapshot in.
package policysync

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Config configures a Syncer.
type Config struct {
	Store store.Store
	// Apply builds a policy from the state and swaps it in. When it
	// fails, the running policy keeps serving and the error is logged;
	// the same state is tried again at the next change or poll.
	Apply func(ctx context.Context, st store.State) error
	// Poll is the safety poll period; default 30 s.
	Poll time.Duration
	// GrantSweep is how often expired grants are deleted from the store;
	// default 1 min. (An expired grant stops applying at its end by
	// itself; the sweep only tidies the store.)
	GrantSweep time.Duration
	// Failed, when set, hears of every sync Run fails (the store cannot
	// be read, or its state not applied), after the log line.
	Failed func(err error)
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Syncer keeps the running policy in step with the store.
type Syncer struct {
	c   Config
	log *slog.Logger

	mu      sync.Mutex // serialises loads and applies
	applied int64      // the Seq of the last state applied
	loaded  bool
}

// New returns a Syncer; call Sync once, then Run.
func New(c Config) *Syncer {
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.GrantSweep <= 0 {
		c.GrantSweep = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{c: c, log: c.Logger}
}

// Sync loads the state and applies it unless it is the one already
// applied. It returns when the policy reflecting every write committed
// before the call is serving, so an API handler can call it after a write
// and answer only once the change is in effect.
func (s *Syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.c.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load policy state: %w", err)
	}
	if s.loaded && st.Seq == s.applied {
		return nil
	}
	if err := s.c.Apply(ctx, st); err != nil {
		return fmt.Errorf("apply policy state %d: %w", st.Seq, err)
	}
	s.applied, s.loaded = st.Seq, true
	return nil
}

// Applied returns the change-feed position of the state in effect.
func (s *Syncer) Applied() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// Run syncs after every announced change and every Poll until ctx ends,
// and deletes expired grants every GrantSweep.
func (s *Syncer) Run(ctx context.Context) {
	poll := time.NewTicker(s.c.Poll)
	defer poll.Stop()
	sweep := time.NewTicker(s.c.GrantSweep)
	defer sweep.Stop()
	notify := s.c.Store.Notify()
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-poll.C:
		case <-sweep.C:
			if n, err := s.c.Store.DeleteExpiredGrants(ctx, s.c.Now()); err != nil {
				s.log.Warn("deleting expired grants", "err", err)
			} else if n > 0 {
				s.log.Debug("expired grants deleted", "count", n)
			}
			continue // the deletion announces itself
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("policy sync failed; the running policy keeps serving", "err", err)
			if s.c.Failed != nil {
				s.c.Failed(err)
			}
		}
	}
}
