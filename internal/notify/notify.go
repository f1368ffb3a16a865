// Package notify tells parents what happened: a new device joined, a
// child's device tried to get around the filter, a child asked for access,
// a list failed to download, something went wrong, and the weekly digest.
// Each configured channel (a webhook, an ntfy topic, email over SMTP) has
// its own bounded queue and worker goroutine, so a slow mail server never
// delays the webhook and nothing here ever runs on the DNS query path:
// Notify only offers an event to the queues and returns. A failed delivery
// is retried with exponential backoff; what is sent, retried, dropped and
// failed is counted per channel for /metrics and the UI.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/metrics"
)

// Event kinds: what a channel can be configured to hear.
const (
	// KindNewDevice: a device Hearth had not seen joined the network.
	KindNewDevice = "new_device"
	// KindBypass: a child's device asked for DoH, VPN or proxy names, or
	// kept asking for a blocked category.
	KindBypass = "bypass"
	// KindAccessRequest: a child asked for access from the ask page.
	KindAccessRequest = "access_request"
	// KindListFailure: a block list failed to download.
	KindListFailure = "list_failure"
	// KindError: Hearth logged an error parents should know about.
	KindError = "error"
	// KindDigest: the weekly digest.
	KindDigest = "digest"
)

// Kinds lists every event kind, in the order the docs give them.
var Kinds = []string{KindNewDevice, KindBypass, KindAccessRequest, KindListFailure, KindError, KindDigest}

// ValidKind reports whether k is one of Kinds.
func ValidKind(k string) bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Link is an action a parent can take from the notification.
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// Event is one thing parents hear about.
type Event struct {
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Title is one line; Text the body, in plain text.
	Title string `json:"title"`
	Text  string `json:"text"`
	// Device is the device id concerned, if any.
	Device string `json:"device,omitempty"`
	// Links are actions (approve, deny, open the UI).
	Links []Link    `json:"links,omitempty"`
	Time  time.Time `json:"time"`
}

// Channel delivers events somewhere. Send is called from the channel's
// own worker goroutine, one event at a time; it must honour ctx.
type Channel interface {
	// Name is the channel's label in metrics, logs and the UI
	// ("webhook", "ntfy", "email").
	Name() string
	Send(ctx context.Context, e Event) error
}

// Route is a channel and the event kinds it hears (empty: all).
type Route struct {
	Channel Channel
	Kinds   []string
}

// Config configures a Notifier.
type Config struct {
	Routes []Route
	// Queue is each channel's queue length; 0 means 64. A full queue
	// drops the new event and counts it.
	Queue int
	// Attempts is how often one event is tried; 0 means 5.
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// next one up to 10 minutes; 0 means 5s.
	Backoff time.Duration
	// Timeout bounds one delivery attempt; 0 means 30s.
	Timeout time.Duration
	// After is the timer of backoffs; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Now stamps events without a time; nil means time.Now.
	Now func() time.Time
	// Done, when set, hears each event's final outcome on its channel
	// (err nil: delivered), from the channel's worker (tests wait on it).
	Done func(channel string, e Event, err error)
	// Metrics receives the counters; nil keeps them only for Status.
	Metrics *metrics.Registry
	Logger  *slog.Logger
}

// Notifier fans events out to the channels' queues.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	workers []*worker
}

// worker is one channel's queue and counters.
type worker struct {
	ch    Channel
	kinds map[string]bool
	queue chan Event

	sent, failed, dropped, retried *metrics.Counter

	mu     sync.Mutex
	status ChannelStatus
}

// ChannelStatus is how a channel's deliveries are going, for the UI.
type ChannelStatus struct {
	Channel string   `json:"channel"`
	Kinds   []string `json:"kinds"`
	Sent    uint64   `json:"sent"`
	Failed  uint64   `json:"failed"`
	Dropped uint64   `json:"dropped"`
	Retried uint64   `json:"retried"`
	// Queued is how many events wait.
	Queued int `json:"queued"`
	// LastError is the last failed attempt's error, and LastErrorAt its
	// time; LastSent when an event last went through.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	LastSent    time.Time `json:"last_sent,omitzero"`
}

// New checks c and returns a Notifier; Run starts its workers.
func New(c Config) (*Notifier, error) {
	if c.Queue == 0 {
		c.Queue = 64
	}
	if c.Attempts == 0 {
		c.Attempts = 5
	}
	if c.Backoff == 0 {
		c.Backoff = 5 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Queue < 0 || c.Attempts < 0 || c.Backoff < 0 || c.Timeout < 0 {
		return nil, errors.New("notify: queue, attempts, backoff and timeout must not be negative")
	}
	n := &Notifier{cfg: c, log: c.Logger}
	var sent, failed, dropped, retried *metrics.CounterVec
	if c.Metrics != nil {
		sent = c.Metrics.CounterVec("hearth_notify_sent_total", "Notifications delivered, by channel.", "channel")
		failed = c.Metrics.CounterVec("hearth_notify_failed_total", "Notifications given up after every attempt failed, by channel.", "channel")
		dropped = c.Metrics.CounterVec("hearth_notify_dropped_total", "Notifications dropped because the channel's queue was full, by channel.", "channel")
		retried = c.Metrics.CounterVec("hearth_notify_retries_total", "Failed notification attempts that were retried, by channel.", "channel")
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		if r.Channel == nil {
			return nil, fmt.Errorf("notify: route %d has no channel", i)
		}
		name := r.Channel.Name()
		if seen[name] {
			return nil, fmt.Errorf("notify: channel %q configured twice", name)
		}
		seen[name] = true
		w := &worker{ch: r.Channel, kinds: map[string]bool{}, queue: make(chan Event, c.Queue)}
		w.status.Channel = name
		kinds := r.Kinds
		if len(kinds) == 0 {
			kinds = Kinds
		}
		for _, k := range kinds {
			if !ValidKind(k) {
				return nil, fmt.Errorf("notify: channel %q: event %q is not one of %s", name, k, strings.Join(Kinds, ", "))
			}
			w.kinds[k] = true
		}
		w.status.Kinds = append([]string(nil), kinds...)
		if c.Metrics != nil {
			w.sent, w.failed, w.dropped, w.retried = sent.With(name), failed.With(name), dropped.With(name), retried.With(name)
		}
		n.workers = append(n.workers, w)
	}
	return n, nil
}

// Wants reports whether some channel hears events of kind k, so a caller
// can skip building an event no one receives.
func (n *Notifier) Wants(kind string) bool {
	if n == nil {
		return false
	}
	for _, w := range n.workers {
		if w.kinds[kind] {
			return true
		}
	}
	return false
}

// Notify offers e to every channel that hears its kind and returns at
// once; a channel whose queue is full drops it (and counts the drop). It
// is safe on a nil Notifier, which drops everything.
func (n *Notifier) Notify(e Event) {
	if n == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = n.cfg.Now()
	}
	for _, w := range n.workers {
		if !w.kinds[e.Kind] {
			continue
		}
		select {
		case w.queue <- e:
		default:
			w.dropped.Inc()
			w.mu.Lock()
			w.status.Dropped++
			w.mu.Unlock()
			n.log.Warn("notification dropped: queue full", "channel", w.ch.Name(), "kind", e.Kind)
		}
	}
}

// Run delivers queued events until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	if n == nil {
		return
	}
	var wg sync.WaitGroup
	for _, w := range n.workers {
		wg.Go(func() { n.run(ctx, w) })
	}
	wg.Wait()
}

// run is one channel's worker.
func (n *Notifier) run(ctx context.Context, w *worker) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-w.queue:
			n.deliver(ctx, w, e)
		}
	}
}

// deliver tries e up to Attempts times, waiting Backoff, then twice as
// long, between tries.
func (n *Notifier) deliver(ctx context.Context, w *worker, e Event) {
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		err := w.ch.Send(actx, e)
		cancel()
		now := n.cfg.Now()
		w.mu.Lock()
		if err == nil {
			w.status.Sent++
			w.status.LastSent = now
		} else {
			w.status.LastError, w.status.LastErrorAt = err.Error(), now
		}
		w.mu.Unlock()
		if err == nil {
			w.sent.Inc()
			n.done(w, e, nil)
			return
		}
		if attempt >= n.cfg.Attempts || ctx.Err() != nil {
			w.failed.Inc()
			w.mu.Lock()
			w.status.Failed++
			w.mu.Unlock()
			n.log.Error("notification failed", "channel", w.ch.Name(), "kind", e.Kind, "attempts", attempt, "err", err)
			n.done(w, e, err)
			return
		}
		w.retried.Inc()
		w.mu.Lock()
		w.status.Retried++
		w.mu.Unlock()
		n.log.Warn("notification failed, will retry", "channel", w.ch.Name(), "kind", e.Kind, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-n.cfg.After(wait):
		}
		wait = min(2*wait, 10*time.Minute)
	}
}

// done reports an outcome to Config.Done.
func (n *Notifier) done(w *worker, e Event, err error) {
	if n.cfg.Done != nil {
		n.cfg.Done(w.ch.Name(), e, err)
	}
}

// Status returns every channel's counters, in configuration order.
func (n *Notifier) Status() []ChannelStatus {
	out := []ChannelStatus{}
	if n == nil {
		return out
	}
	for _, w := range n.workers {
		w.mu.Lock()
		s := w.status
		w.mu.Unlock()
		s.Queued = len(w.queue)
		out = append(out, s)
	}
	return out
}

// Secret reads a secret from a file (its first line, without the line
// end) or, when file is "", from the environment variable env. Neither
// set is "", nil. The value is never logged; errors name the file or the
// variable, never the content.
func Secret(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		s, _, _ := strings.Cut(string(b), "\n")
		s = strings.TrimRight(s, "\r")
		if s == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, nil
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return s, nil
	}
	return "", nil
}
