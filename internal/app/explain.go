package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/budget"
	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/filter"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
)

// ExplainQuery is one "why is this blocked?" question
// (compile.ExplainQuery, the one question type).
type ExplainQuery = compile.ExplainQuery

// Explanation is the answer to an ExplainQuery (compile.Explanation, the
// one explanation type).
type Explanation = compile.Explanation

// Explain answers q as the server would, with cfg's policy and the lists
// as they are on disk now (no download): the config file's devices and
// profiles, and the store's when its file exists. The query goes through
// the same steps as a served one, upstreams included, so a block found in
// the answer (a CNAME target, an address) is explained too; when no
// upstream answers, the name's own decision is given.
func Explain(cfg *config.Config, q ExplainQuery, log *slog.Logger) (*Explanation, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	a := &App{log: log, cat: cat, now: func() time.Time { return q.At }, readOnly: true}
	if storeMayExist(cfg) {
		s, err := OpenStore(context.Background(), cfg, a)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		a.store = s
	}
	// The day's usage as the server last saved it (each minute): a
	// budget used up is explained as such.
	a.budgets = budget.New(budget.Config{Now: a.now, Logger: log})
	if a.store != nil {
		if err := a.budgets.Load(context.Background(), a.store); err != nil {
			return nil, err
		}
	}
	b, err := a.build(cfg)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if q.Device != "" {
		s := b.live.Load()
		id, err := storeDeviceID(s, s.State().Devices, q.Device)
		if err != nil {
			return nil, err
		}
		q.Device = id
	}
	return a.explain(context.Background(), b, q)
}

// storeDeviceID resolves what a parent typed after --device: a device id
// (the config file's name or the store's id, as the API shows it) or the
// name a device was given in the UI ("Emma's tablet"), in any case.
func storeDeviceID(v *compile.Snapshot, devices []store.Device, typed string) (string, error) {
	if _, ok := v.Device(typed); ok {
		return typed, nil
	}
	want := strings.ToLower(strings.TrimSpace(typed))
	var found []string
	for _, d := range devices {
		if d.ID == want || strings.ToLower(strings.TrimSpace(d.Name)) == want {
			found = append(found, d.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		ids := make([]string, 0, len(devices))
		for _, d := range devices {
			ids = append(ids, d.ID)
		}
		return "", fmt.Errorf("no device named %q in the config file or the store (store device ids: %s)", typed, strings.Join(ids, ", "))
	}
	return "", fmt.Errorf("%q names several devices (%s): give its id", typed, strings.Join(found, ", "))
}

// Explain answers q with the running policy, store included, as Explain
// does.
func (a *App) Explain(ctx context.Context, q ExplainQuery) (*Explanation, error) {
	return a.explain(ctx, a.cur.Load(), q)
}

// explain runs q through b's Policy, Local and Resolve steps, with the
// identity of q's device or client from b's snapshot, and explains the
// outcome. It is the one explanation the CLI, the API and the block page
// share.
func (a *App) explain(ctx context.Context, b *built, q ExplainQuery) (*Explanation, error) {
	s := b.live.Load()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(q.Name), q.Type)
	r := &pipeline.Request{Msg: m, MaxSize: dns.MaxMsgSize, Policy: s.Policy}
	switch {
	case q.Device != "":
		d, ok := s.Device(q.Device)
		if !ok {
			return nil, fmt.Errorf("no device named %q", q.Device)
		}
		r.Identity = pipeline.Identity{Device: d.Name, Household: d.Household, Profile: d.Profile, Via: "name"}
	case q.Client.IsValid():
		r.Client = netip.AddrPortFrom(q.Client, 0)
		r.Identity = s.Identity.Identify(r)
	default:
		return nil, fmt.Errorf("explain: a device or a client address is needed")
	}
	// A filter of its own, at the instant asked about; the rest of the
	// chain (local records, the cache and upstreams) is the server's.
	fc := filter.Config{Blocking: b.plan.Blocking(), Now: func() time.Time { return q.At }, Logger: a.log}
	if a.budgets != nil {
		fc.Budgets = budgetView{a.budgets}
	}
	f := filter.New(fc)
	h := pipeline.Build(pipeline.Steps{Policy: f.Middleware(), Local: b.local, Resolve: b.cache})
	var w discard
	err := h.ServeDNS(ctx, &w, r)
	if !r.Outcome.Decided {
		return nil, fmt.Errorf("explain %s: %w", q.Name, err)
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	e := s.Explain(r.Identity, name, r.Outcome)
	e.Resolved = r.Outcome.Written && (err == nil || r.Outcome.Decision.Action != policy.Allow)
	if err != nil && !e.Resolved {
		e.ResolveError = err.Error()
	}
	return &e, nil
}

// discard is a ResponseWriter that drops the answer: an explanation needs
// only what the Policy step reported.
type discard struct{}

func (discard) WriteMsg(*dns.Msg) error { return nil }
func (discard) WriteWire([]byte) error  { return nil }

// PrintExplanation writes e for people.
func PrintExplanation(w io.Writer, e *Explanation, q ExplainQuery) {
	device := e.Device
	if device == "" {
		device = "(unknown device)"
	}
	fmt.Fprintf(w, "query:    %s %s at %s\n", q.Name, dns.TypeToString[q.Type], q.At.Format(time.RFC3339))
	fmt.Fprintf(w, "device:   %s (recognised by %s)\n", device, e.Via)
	fmt.Fprintf(w, "profile:  %s\n", e.Profile)
	fmt.Fprintf(w, "action:   %s\n", e.Decision.Action)
	why := map[policy.Reason]string{
		policy.ReasonNone:         "no list, rule or setting of this profile matches the name",
		policy.ReasonAllowRule:    "the profile's allow list has " + e.Rule,
		policy.ReasonDenyRule:     "the profile's deny list has " + e.Rule,
		policy.ReasonTag:          fmt.Sprintf("%s %q (%s) is blocked and its list %s has %s", e.TagKind, e.Tag, e.TagName, e.Source, e.Rule),
		policy.ReasonProtected:    fmt.Sprintf("listed as %s by %s (rule %s); an allow entry only overrides that when written !%s", e.Tag, e.Source, e.Rule, e.Rule),
		policy.ReasonSafeSearch:   "safe search is on for this search engine",
		policy.ReasonCanary:       "the Firefox DoH canary: NXDOMAIN keeps Firefox on this resolver",
		policy.ReasonPrivateRelay: "iCloud Private Relay: NXDOMAIN makes Apple devices use this resolver",
		policy.ReasonDDR:          "DDR discovery: NODATA keeps clients from upgrading to another resolver",
		policy.ReasonPaused:       "a pause window of the profile's schedule is active: only the allow list is answered",
		policy.ReasonSchedule:     fmt.Sprintf("%s %q is blocked by the profile's schedule at this time", e.TagKind, e.Tag),
		policy.ReasonGrant:        "a parent allowed it for this device for a while (a grant)",
		policy.ReasonNoSafeSearch: "safe search is on, and this search engine cannot be forced into safe search by DNS, so it is blocked",
		policy.ReasonBudget:       fmt.Sprintf("time budget used: the device used up today's time for %s %q; it resets at midnight, or a parent can give extra time", e.TagKind, e.Tag),
	}[e.Decision.Reason]
	switch e.FoundIn {
	case "cname":
		why = "the name is allowed, but its answer is an alias (CNAME) of a blocked name: " + why
	case "answer-ip":
		why = "the name is allowed, but its answer holds a blocked address: " + why
	}
	fmt.Fprintf(w, "why:      %s\n", why)
	fmt.Fprintf(w, "reason:   %s\n", e.Text)
	if !e.Resolved {
		fmt.Fprintf(w, "answer:   not checked (%s); the name's own decision is shown\n", e.ResolveError)
	}
}

// ListsStatus compiles cfg's lists as the server would at start, from
// what is on disk (no download, nothing written), and returns what each
// list holds: counts, bad lines and errors.
func ListsStatus(cfg *config.Config, log *slog.Logger) (*lists.Compiled, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	a := &App{log: log, cat: cat, now: time.Now, readOnly: true}
	b := &built{}
	if err := a.buildPolicy(cfg, b, store.State{}); err != nil {
		return nil, err
	}
	return b.live.Load().Lists, nil
}
