package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/activity"
	"github.com/hearth-dns/hearth/internal/askparent"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/notify"
	"github.com/hearth-dns/hearth/internal/observe"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/web"
)

// askKeySetting is the store setting that holds the link-signing key, in
// hex. It is made on first start and shared by every node of a store; it
// is never logged and the settings API does not show it.
const askKeySetting = "ask_parent.link_key"

// activityFile keeps the activity counters across restarts.
const activityFile = "activity.json"

// parents is the side of the App that talks with the family: ask a
// parent, notifications, bypass attempts and the weekly digest.
type parents struct {
	// activity counts tagged queries per device; nil when read-only.
	activity *activity.Watcher
	// notifier sends notifications; nil when none is configured.
	notifier *notify.Notifier
	// book holds the requests; nil without a store or when off.
	book  *askparent.Book
	pages http.Handler
	// errors is the error tap's notifier, set once openParents made it.
	errs errorTap
}

// initActivity makes the activity watcher, which the Observe step made
// by openState feeds; it runs from Start.
func (a *App) initActivity(cfg *config.Config) {
	if a.readOnly {
		return
	}
	a.parents.activity = activity.New(activity.Config{
		Threshold: cfg.Notify.Bypass.Threshold, Window: cfg.Notify.Bypass.Window,
		Bypass: a.notifyBypass, Now: a.now, Logger: a.log,
	})
	if err := a.parents.activity.Load(filepath.Join(cfg.DataDir, activityFile)); err != nil {
		a.log.Warn("activity counters", "err", err)
	}
}

// activityWatcher is the Observe step's Watcher: nil (not a typed nil)
// when there is none.
func (a *App) activityWatcher() observe.Watcher {
	if a.parents.activity == nil {
		return nil
	}
	return a.parents.activity
}

// openParents builds the notifier and the request book once the store is
// open. A channel that cannot be set up (a secret file missing) is an
// error naming its field: notifications that silently never arrive are
// worse than a refusal to start.
func (a *App) openParents(cfg *config.Config) error {
	if a.readOnly {
		return nil
	}
	var err error
	if a.parents.notifier, err = a.newNotifier(cfg); err != nil {
		return err
	}
	a.parents.errs.set(a.parents.notifier, a.now)
	if a.store == nil || !cfg.AskParent.Enabled {
		return nil
	}
	key, err := a.askKey(context.Background())
	if err != nil {
		// The store is there but cannot keep a key: asking is off
		// until it can, and the parents are told.
		a.log.Error("ask a parent is off: the link key cannot be stored", "err", err)
		return nil
	}
	a.parents.book, err = askparent.New(askparent.Config{
		Key: key, PerDevice: cfg.AskParent.PerDevice, Window: cfg.AskParent.Window,
		Max: cfg.AskParent.MaxRequests, LinkTTL: cfg.AskParent.LinkTTL, Now: a.now,
	})
	if err != nil {
		return cfg.Errorf("ask_parent", "%v", err)
	}
	a.parents.pages = askparent.Pages(askparent.PagesConfig{
		Book: a.parents.book, Identify: a.askWho, Decide: a.grantRequest, Asked: a.notifyRequest,
		Location: a.householdLocation, Logger: a.log,
	})
	if host, _, err := net.SplitHostPort(cfg.Listen.HTTP); err == nil && cfg.AskParent.URL == "" && a.parents.notifier.Wants(notify.KindAccessRequest) {
		if ip, err := netip.ParseAddr(host); host == "" || host == "localhost" || err == nil && (ip.IsLoopback() || ip.IsUnspecified() && len(cfg.Admin.Hosts) == 0) {
			a.log.Warn("ask_parent.url is not set: the answer links in notifications name "+cfg.Listen.HTTP+", which a parent's phone may not reach", "field", "ask_parent.url")
		}
	}
	if a.metrics != nil {
		book := a.parents.book
		a.metrics.GaugeFunc("hearth_ask_pending", "Ask-a-parent requests waiting for an answer.", func() float64 { return float64(book.Pending()) })
	}
	return nil
}

// askKey returns the link-signing key, making and storing it on first use.
func (a *App) askKey(ctx context.Context) ([]byte, error) {
	v, ok, err := a.store.Setting(ctx, askKeySetting)
	if err != nil {
		return nil, fmt.Errorf("reading the link key: %w", err)
	}
	if ok {
		if k, err := hex.DecodeString(v); err == nil && len(k) >= askparent.KeySize {
			return k, nil
		}
		a.log.Warn("the stored ask-a-parent link key is damaged; making a new one (links already sent stop working)")
	}
	k := askparent.NewKey()
	if err := a.store.PutSetting(ctx, askKeySetting, hex.EncodeToString(k)); err != nil {
		return nil, fmt.Errorf("storing the link key: %w", err)
	}
	return k, nil
}

// newNotifier builds the channels of cfg.Notify; nil when none is set.
func (a *App) newNotifier(cfg *config.Config) (*notify.Notifier, error) {
	n := cfg.Notify
	var routes []notify.Route
	if w := n.Webhook; w != nil {
		secret, err := notify.Secret(w.SecretFile, w.SecretEnv)
		if err != nil {
			return nil, cfg.Errorf("notify.webhook", "%v", err)
		}
		ch, err := notify.NewWebhook(notify.WebhookConfig{URL: w.URL, Secret: secret, Now: a.now})
		if err != nil {
			return nil, cfg.Errorf("notify.webhook.url", "%v", err)
		}
		routes = append(routes, notify.Route{Channel: ch, Kinds: w.Events})
	}
	if t := n.Ntfy; t != nil {
		token, err := notify.Secret(t.TokenFile, t.TokenEnv)
		if err != nil {
			return nil, cfg.Errorf("notify.ntfy", "%v", err)
		}
		ch, err := notify.NewNtfy(notify.NtfyConfig{URL: t.URL, Token: token})
		if err != nil {
			return nil, cfg.Errorf("notify.ntfy.url", "%v", err)
		}
		routes = append(routes, notify.Route{Channel: ch, Kinds: t.Events})
	}
	if e := n.Email; e != nil {
		pw, err := notify.Secret(e.PasswordFile, e.PasswordEnv)
		if err != nil {
			return nil, cfg.Errorf("notify.email", "%v", err)
		}
		tc, err := emailTLS(e)
		if err != nil {
			return nil, cfg.Errorf("notify.email.ca_file", "%v", err)
		}
		ch, err := notify.NewEmail(notify.EmailConfig{
			Host: e.Host, Port: e.Port, Username: e.Username, Password: pw, From: e.From, To: e.To, TLS: tc,
		})
		if err != nil {
			return nil, cfg.Errorf("notify.email", "%v", err)
		}
		routes = append(routes, notify.Route{Channel: ch, Kinds: e.Events})
	}
	if len(routes) == 0 {
		return nil, nil
	}
	nt, err := notify.New(notify.Config{
		Routes: routes, Queue: n.Queue, Attempts: n.Attempts, Backoff: n.Backoff,
		Now: a.now, Metrics: a.metrics,
		// The untapped logger: a failed notification must not notify.
		Logger: a.parents.errs.base,
	})
	if err != nil {
		return nil, cfg.Errorf("notify", "%v", err)
	}
	return nt, nil
}

// startParents runs the notifier, the activity counters, the digest and
// the list watch until ctx ends; the counters are saved hourly and at the
// end.
func (a *App) startParents(ctx context.Context) {
	p := &a.parents
	if p.notifier != nil {
		a.background.Go(func() { p.notifier.Run(ctx) })
	}
	if p.activity != nil {
		a.background.Go(func() {
			p.activity.Run(ctx)
			a.saveActivity() // everything counted is in: Run has returned
		})
		a.background.Go(func() { every(ctx, time.Hour, a.saveActivity) })
	}
	if p.notifier.Wants(notify.KindDigest) {
		a.background.Go(func() { a.digestLoop(ctx) })
	}
	if p.notifier.Wants(notify.KindListFailure) {
		a.background.Go(func() { a.listWatchLoop(ctx) })
	}
}

// saveActivity writes the activity counters to the data directory.
func (a *App) saveActivity() {
	path := filepath.Join(a.cfg.DataDir, activityFile)
	if err := a.parents.activity.Save(func(b []byte) error { return policysync.WriteFileAtomic(path, b) }); err != nil {
		a.log.Warn("saving activity counters", "err", err)
	}
}

// mountParents adds the ask pages and the parents' request, notification
// and digest routes to the admin listener's mux.
func (a *App) mountParents(mux *http.ServeMux) {
	if a.parents.pages != nil {
		mux.Handle("/ask", a.parents.pages)
		mux.Handle("/ask/decide", a.parents.pages)
	}
	if a.auth == nil {
		return
	}
	// The requests are a household's parents' too: they see and answer
	// those of their household's devices (requestVisible). The channels'
	// status and the digest (the home household's) are for operators.
	route := func(pattern string, h http.HandlerFunc, household bool) {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			h(w, r)
		})
		if household {
			mux.Handle(pattern, a.auth.RequireHousehold(inner))
			return
		}
		mux.Handle(pattern, a.auth.Require(inner))
	}
	route("GET /api/v1/requests", a.listRequests, true)
	route("POST /api/v1/requests/{id}", a.answerRequest, true)
	route("GET /api/v1/notifications", a.notificationStatus, false)
	route("GET /api/v1/digest", a.serveDigest, false)
	route("POST /api/v1/digest", a.sendDigestNow, false)
}

// requestVisible reports whether r's principal sees a request of device:
// an operator sees every one, a household principal those of its
// household's devices (the config file's devices are the home's, so
// operators only).
func (a *App) requestVisible(r *http.Request, device string) bool {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return false
	}
	if p.Operator() {
		return true
	}
	if a.store == nil {
		return false
	}
	d, err := a.store.Device(r.Context(), device)
	return err == nil && d.Household == p.Household
}

// blockPageHandler is the block page listener's handler: the ask pages
// (the block page's form posts to /ask) and the block page for the rest.
func (a *App) blockPageHandler() http.Handler {
	block := web.BlockPage(a.blockInfo)
	if a.parents.pages == nil {
		return block
	}
	mux := http.NewServeMux()
	mux.Handle("/ask", a.parents.pages)
	mux.Handle("/", block)
	return mux
}

// askEnabled says whether the block page offers the ask form.
func (a *App) askEnabled() bool { return a.parents.pages != nil }

// askWho identifies the device of a page request by its source address,
// as DNS does, and says whether host is blocked for it now.
func (a *App) askWho(r *http.Request, host string) (askparent.Who, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return askparent.Who{}, fmt.Errorf("source %q: %w", r.RemoteAddr, err)
	}
	client := ap.Addr().Unmap()
	s := a.cur.Load().live.Load()
	id := s.Identity.Identify(&pipeline.Request{Client: netip.AddrPortFrom(client, 0)})
	if id.Device == "" {
		return askparent.Who{}, nil
	}
	who := askparent.Who{Device: id.Device, DeviceName: a.deviceName(r.Context(), id.Device)}
	if host == "" {
		return who, nil
	}
	e, err := a.Explain(r.Context(), ExplainQuery{Client: client, At: a.now(), Name: host, Type: dns.TypeA})
	if err != nil {
		return who, err
	}
	switch e.Decision.Action {
	case policy.Block, policy.NXDomain, policy.NoData:
		who.Blocked = true
	}
	who.Tag, who.TagName, who.TagKind, who.Reason = e.Tag, e.TagName, e.TagKind, e.Reason
	return who, nil
}

// deviceName is the name parents gave a device, or its id.
func (a *App) deviceName(ctx context.Context, id string) string {
	if a.store != nil {
		if d, err := a.store.Device(ctx, id); err == nil && d.Name != "" {
			return d.Name
		}
	}
	return id
}

// householdLocation is the home household's time zone (UTC when unset
// or unreadable).
func (a *App) householdLocation() *time.Location {
	if a.store == nil {
		return time.UTC
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := a.store.Household(ctx, store.HomeHousehold)
	if err != nil || h.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// grantRequest carries out an approval: a grant that allows the request's
// service (when a service blocked it) or its name, for 15 minutes, an
// hour or until the household's midnight; or, for always, the name in
// the allow list of the device's profile. It returns once the running
// policy has it, so the device's next query is answered.
func (a *App) grantRequest(ctx context.Context, r askparent.Request, choice string) (string, time.Time, error) {
	if a.store == nil {
		return "", time.Time{}, errors.New("the store is unavailable")
	}
	now := a.now()
	target := r.Host
	if r.Tag != "" && r.TagKind == "service" {
		target = r.Tag
	}
	var until time.Time
	switch choice {
	case askparent.Choice15m:
		until = now.Add(15 * time.Minute)
	case askparent.Choice1h:
		until = now.Add(time.Hour)
	case askparent.ChoiceToday:
		l := now.In(a.householdLocation())
		until = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, l.Location())
	case askparent.ChoiceAlways:
		if err := a.allowAlways(ctx, r); err != nil {
			return "", time.Time{}, err
		}
		return r.Host, time.Time{}, a.syncNow(ctx)
	default:
		return "", time.Time{}, fmt.Errorf("choice %q", choice)
	}
	g := store.Grant{Device: r.Device, Kind: store.GrantAllow, Target: target, Until: until.UTC(), Created: now.UTC(), By: "ask a parent"}
	if _, err := a.store.AddGrant(ctx, g); err != nil {
		return "", time.Time{}, fmt.Errorf("storing the grant: %w", err)
	}
	return target, until, a.syncNow(ctx)
}

// allowAlways adds the request's name to the allow list of the device's
// profile, which must be one the store holds (a profile of the config
// file, or a preset, is the file's to change).
func (a *App) allowAlways(ctx context.Context, r askparent.Request) error {
	profile := a.cur.Load().live.Load().ProfileOf(r.Device)
	if d, err := a.store.Device(ctx, r.Device); err == nil && d.Profile != "" {
		profile = d.Profile
	}
	p, err := a.store.Profile(ctx, profile)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the profile %q of this device is a preset or comes from the config file, so Hearth cannot change it; choose a duration, or add %s to the profile's allow list in the config file", profile, r.Host)
	}
	if err != nil {
		return fmt.Errorf("reading profile %q: %w", profile, err)
	}
	if slices.Contains(p.Allow, r.Host) {
		return nil
	}
	p.Allow = append(p.Allow, r.Host)
	if err := a.cur.Load().plan.CheckProfile(p); err != nil {
		return fmt.Errorf("profile %q: %w", profile, err)
	}
	if _, err := a.store.PutProfile(ctx, p); err != nil {
		return fmt.Errorf("updating profile %q: %w", profile, err)
	}
	return nil
}

// syncNow returns once the running policy has every store write.
func (a *App) syncNow(ctx context.Context) error {
	if a.sync == nil {
		return errors.New("no store")
	}
	if err := a.sync.Sync(ctx); err != nil {
		return fmt.Errorf("the change is saved but not yet in effect: %w", err)
	}
	return nil
}

// linkBase is the base URL of links in notifications.
func (a *App) linkBase() string {
	if u := a.cfg.AskParent.URL; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	addr := a.HTTPAddr()
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "0.0.0.0" || host == "::") && len(a.cfg.Admin.Hosts) > 0 {
		addr = net.JoinHostPort(a.cfg.Admin.Hosts[0], port)
	}
	scheme := "http"
	if m := a.cfg.Admin.TLS; m != "" && m != config.AdminTLSOff {
		scheme = "https"
	}
	return scheme + "://" + addr
}

// notifyRequest tells the parents of a new request, with a link that
// answers it.
func (a *App) notifyRequest(r askparent.Request) {
	n := a.parents.notifier
	if !n.Wants(notify.KindAccessRequest) {
		return
	}
	why := r.TagName
	if why == "" {
		why = r.Reason
	}
	text := fmt.Sprintf("%s asks for access to %s", r.DeviceName, r.Host)
	if why != "" {
		text += " (blocked: " + why + ")"
	}
	text += "."
	if r.Message != "" {
		text += "\nMessage: “" + r.Message + "”"
	}
	text += "\nAnswer from the link (it works once, until " + r.Created.Add(a.cfg.AskParent.LinkTTL).In(a.householdLocation()).Format("Mon 2 Jan 15:04") + "), or in Hearth under Requests."
	n.Notify(notify.Event{
		Kind: notify.KindAccessRequest, Title: r.DeviceName + " asks for " + r.Host, Text: text, Device: r.Device,
		Links: []notify.Link{{Label: "Answer", URL: a.linkBase() + "/ask/decide?t=" + url.QueryEscape(a.parents.book.Link(r.ID))}},
	})
}

// notifyBypass tells the parents of a bypass attempt.
func (a *App) notifyBypass(device, tag string, n int) {
	nt := a.parents.notifier
	if !nt.Wants(notify.KindBypass) {
		return
	}
	name := a.deviceName(context.Background(), device)
	what := tag
	if c, ok := a.cat.Category(tag); ok {
		what = c.Name
	}
	text := fmt.Sprintf("%s asked for blocked %s names %d times in %s.", name, what, n, a.cfg.Notify.Bypass.Window)
	if tag == activity.BypassTag {
		text = name + " asked for a name used to get around the filter (a VPN, proxy or public encrypted DNS). Hearth blocked it."
	}
	nt.Notify(notify.Event{Kind: notify.KindBypass, Title: "Bypass attempt on " + name, Text: text, Device: device})
}

// notifyNewDevice tells the parents that a new device joined.
func (a *App) notifyNewDevice(addr netip.Addr, outcome string) {
	if outcome != "recorded" || !a.parents.notifier.Wants(notify.KindNewDevice) {
		return
	}
	a.parents.notifier.Notify(notify.Event{
		Kind: notify.KindNewDevice, Title: "New device on the network",
		Text: "A device Hearth had not seen joined the network from " + addr.String() + ". It gets the default profile until you claim it in Hearth.",
	})
}

// errorTap is a slog handler that passes every record on and also
// notifies the parents of errors: at most one per message an hour, and
// at most ten an hour in all, so a failing disk does not flood a phone.
type errorTap struct {
	base *slog.Logger

	mu     sync.Mutex
	n      *notify.Notifier
	now    func() time.Time
	last   map[string]time.Time
	window time.Time
	count  int
}

func (t *errorTap) set(n *notify.Notifier, now func() time.Time) {
	t.mu.Lock()
	t.n, t.now = n, now
	t.mu.Unlock()
}

// tapErrors returns log with the error tap in front of its handler.
func (a *App) tapErrors(log *slog.Logger) *slog.Logger {
	a.parents.errs.base = log
	return slog.New(&tapHandler{next: log.Handler(), tap: &a.parents.errs})
}

// tapHandler is the slog.Handler of the error tap.
type tapHandler struct {
	next slog.Handler
	tap  *errorTap
}

func (h *tapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *tapHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.tap.notify(r.Message)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *tapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &tapHandler{next: h.next.WithAttrs(attrs), tap: h.tap}
}

func (h *tapHandler) WithGroup(name string) slog.Handler {
	return &tapHandler{next: h.next.WithGroup(name), tap: h.tap}
}

// notify sends one error message, within the limits. Only the message is
// sent, never the record's attributes: they may hold addresses, names or
// paths that have no place on a phone's lock screen.
func (t *errorTap) notify(msg string) {
	t.mu.Lock()
	n, now := t.n, t.now
	if !n.Wants(notify.KindError) {
		t.mu.Unlock()
		return
	}
	at := now()
	if at.Sub(t.window) >= time.Hour {
		t.window, t.count = at, 0
	}
	if t.last == nil || len(t.last) > 256 {
		t.last = map[string]time.Time{}
	}
	if prev, ok := t.last[msg]; (ok && at.Sub(prev) < time.Hour) || t.count >= 10 {
		t.mu.Unlock()
		return
	}
	t.last[msg] = at
	t.count++
	t.mu.Unlock()
	n.Notify(notify.Event{Kind: notify.KindError, Title: "Hearth: something went wrong", Text: msg + "\nDetails are in Hearth's log."})
}

// emailTLS is the STARTTLS configuration of notify.email: the system
// roots, or ca_file's certificates.
func emailTLS(e *config.NotifyEmail) (*tls.Config, error) {
	tc := &tls.Config{ServerName: e.Host, MinVersion: tls.VersionTLS12}
	if e.CAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", e.CAFile)
	}
	tc.RootCAs = pool
	return tc, nil
}
