package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
)

// ExplainQuery is one "why is this blocked?" question.
type ExplainQuery struct {
	// Device names a configured device; Client is a source address.
	// Exactly one is set.
	Device string
	Client netip.Addr
	// At is the instant to decide at.
	At time.Time
	// Name and Type are the query.
	Name string
	Type uint16
}

// Explanation is the answer to an ExplainQuery.
type Explanation struct {
	Device, Via, Profile string
	Decision             policy.Decision
	// Text is the one-line reason, as in the EDE of the answer.
	Text string
	// Tag and Source describe the matched category or service and list.
	Tag, TagName, TagKind, Source string
	Rule                          string
}

// Explain decides q against cfg's policy, with the lists as they are on
// disk now (no download), exactly as the running server would: the config
// file's devices and profiles, and the store's when its file exists.
func Explain(cfg *config.Config, q ExplainQuery, log *slog.Logger) (*Explanation, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	a := &App{log: log, cat: cat, now: func() time.Time { return q.At }, readOnly: true}
	var st store.State
	if _, err := os.Stat(StorePath(cfg)); err == nil {
		ctx := context.Background()
		s, err := OpenStore(ctx, cfg, a)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		if st, err = s.Load(ctx); err != nil {
			return nil, fmt.Errorf("load store: %w", err)
		}
		a.store = s
	}
	b := &built{}
	if err := a.buildPolicy(cfg, b, st); err != nil {
		return nil, err
	}
	if q.Device != "" {
		id, err := storeDeviceID(b.live.Load(), st.Devices, q.Device)
		if err != nil {
			return nil, err
		}
		q.Device = id
	}
	return explain(cat, b.live.Load(), q)
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

// Explain decides q with the running policy, store included.
func (a *App) Explain(q ExplainQuery) (*Explanation, error) {
	a.mu.Lock()
	b := a.built
	a.mu.Unlock()
	return explain(a.cat, b.live.Load(), q)
}

// explain decides q against the view v.
func explain(cat *catalog.Catalog, v *compile.Snapshot, q ExplainQuery) (*Explanation, error) {
	var id pipeline.Identity
	switch {
	case q.Device != "":
		d, found := v.Device(q.Device)
		id = pipeline.Identity{Device: d.Name, Household: d.Household, Profile: d.Profile, Via: "name"}
		if !found {
			return nil, fmt.Errorf("no device named %q", q.Device)
		}
	case q.Client.IsValid():
		m := new(dns.Msg).SetQuestion(dns.Fqdn(q.Name), q.Type)
		id = v.Identity.Identify(&pipeline.Request{Msg: m, Client: netip.AddrPortFrom(q.Client, 0)})
	default:
		return nil, fmt.Errorf("explain: a device or a client address is needed")
	}
	s := v.Policy
	prof := s.ProfileOrDefault(id.Profile)
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	d := s.Decide(prof, q.At, []byte(name), q.Type)
	e := &Explanation{Device: id.Device, Via: id.Via, Profile: s.ProfileLabel(prof), Decision: d, Text: s.Explain(d, name)}
	if d.RuleStart >= 0 {
		e.Rule = name[d.RuleStart:]
	}
	if d.HasTag {
		t := s.Tag(d.Tag)
		e.Tag, e.TagKind = t.ID, "category"
		if t.Service {
			e.TagKind = "service"
			if sv, ok := cat.Service(t.ID); ok {
				e.TagName = sv.Name
			}
		} else if c, ok := cat.Category(t.ID); ok {
			e.TagName = c.Name
		}
	}
	if d.HasList {
		e.Source = s.List(d.List).ID
	}
	return e, nil
}

// Print writes the explanation for people.
func (e *Explanation) Print(w io.Writer, q ExplainQuery) {
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
	}[e.Decision.Reason]
	fmt.Fprintf(w, "why:      %s\n", why)
	fmt.Fprintf(w, "reason:   %s\n", e.Text)
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
