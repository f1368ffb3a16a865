package compile

import (
	"net/netip"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
)

// ExplainQuery is one "why is this answered so?" question: the one
// question type of the CLI, the API and the block page, as its edge
// checked it.
type ExplainQuery struct {
	// Device names a device; Client is a source address. Exactly one is
	// set.
	Device string
	Client netip.Addr
	// At is the instant to decide at.
	At time.Time
	// Name and Type are the query.
	Name string
	Type uint16
}

// Explanation says why a query is answered as it is: the one explanation
// type of the CLI (hearth explain), the API (GET /api/v1/explain) and the
// block page.
type Explanation struct {
	// Device is the device's id ("" for an unknown device), Via how it
	// was recognised, Profile the name people see for its profile.
	Device  string `json:"device"`
	Via     string `json:"via"`
	Profile string `json:"profile"`
	// Action and Reason are the decision's bounded labels ("block",
	// "tag"); Text is the one-line reason, as in the answer's EDE.
	Action string `json:"action"`
	Reason string `json:"reason"`
	Text   string `json:"text"`
	// Tag is the matched category or service, TagKind which of the two,
	// TagName its display name; Source is the list that had Rule.
	Tag     string `json:"tag,omitempty"`
	TagKind string `json:"tag_kind,omitempty"`
	TagName string `json:"tag_name,omitempty"`
	Source  string `json:"source,omitempty"`
	Rule    string `json:"rule,omitempty"`
	// FoundIn is "cname" or "answer-ip" when the name itself was allowed
	// but its answer led to a blocked name or address (CNAME cloaking,
	// response-IP rules); "" otherwise. Rule is then that name's rule or
	// the address.
	FoundIn string `json:"found_in,omitempty"`
	// Resolved is false when the answer could not be checked (no
	// upstream reached): the explanation is then the name's alone, and
	// ResolveError says why.
	Resolved     bool   `json:"resolved"`
	ResolveError string `json:"resolve_error,omitempty"`
	// Decision is the decision itself, for callers in this process.
	Decision policy.Decision `json:"-"`
}

// Explain fills an Explanation from the outcome of one query through the
// Policy step (r.Outcome, set by the filter) for the device id, the query
// name (lower-case, no trailing dot) and s's policy.
func (s *Snapshot) Explain(id pipeline.Identity, name string, out pipeline.Outcome) Explanation {
	p := s.Policy
	d := out.Decision
	e := Explanation{
		Device: id.Device, Via: id.Via, Profile: p.ProfileLabel(d.Profile),
		Action: d.Action.String(), Reason: d.Reason.String(), Text: p.Explain(d, name),
		FoundIn: out.Via, Decision: d,
	}
	ruleOf := name
	if out.Via != "" {
		e.Text, ruleOf = out.Text, out.Target
	}
	switch {
	case out.Via == "answer-ip":
		e.Rule = out.Target
	case d.RuleStart >= 0 && d.RuleStart <= len(ruleOf):
		e.Rule = strings.TrimSuffix(ruleOf[d.RuleStart:], ".")
	}
	if d.HasTag {
		t := p.Tag(d.Tag)
		e.Tag, e.TagKind = t.ID, "category"
		if t.Service {
			e.TagKind = "service"
			if sv, ok := s.plan.cat.Service(t.ID); ok {
				e.TagName = sv.Name
			}
		} else if c, ok := s.plan.cat.Category(t.ID); ok {
			e.TagName = c.Name
		}
	}
	if d.HasList {
		e.Source = p.List(d.List).ID
	}
	return e
}
