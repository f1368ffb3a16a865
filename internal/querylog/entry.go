package querylog

import (
	"net/netip"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
)

// Action is what Hearth did with a query: policy's one action enum. The
// log stores it under its own labels (see ActionLabel).
type Action = policy.Action

// The actions an Entry can record.
const (
	// ActionAllowed: the query was resolved normally.
	ActionAllowed = policy.Allow
	// ActionBlocked: the query got the blocking mode's answer.
	ActionBlocked = policy.Block
	// ActionRewritten: the query got a CNAME to a safe-search host.
	ActionRewritten = policy.Rewrite
	// ActionNXDomain: answered NXDOMAIN to turn a bypass off (Firefox
	// canary, iCloud Private Relay).
	ActionNXDomain = policy.NXDomain
	// ActionNoData: answered NOERROR without records to turn a bypass off
	// (DDR).
	ActionNoData = policy.NoData
)

// actionNames are the labels stored in the database and returned by Search.
var actionNames = [policy.NumActions]string{"allowed", "blocked", "rewritten", "nxdomain", "nodata"}

// ActionLabel returns the label the database stores for a ("allowed",
// "blocked", "rewritten", "nxdomain", "nodata"), or "" for an unknown
// value.
func ActionLabel(a Action) string {
	if a < policy.NumActions {
		return actionNames[a]
	}
	return ""
}

// ParseAction returns the Action whose label is s.
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return 0, false
}

// Transport is how the query reached Hearth: the pipeline's one transport
// enum, stored under its String label ("" for none).
type Transport = pipeline.Transport

// The transports an Entry can record.
const (
	TransportUnknown = pipeline.NoTransport
	TransportUDP     = pipeline.UDP
	TransportTCP     = pipeline.TCP
	TransportDoT     = pipeline.DoT
	TransportDoH     = pipeline.DoH
	TransportDoQ     = pipeline.DoQ
)

// MaxNameLen and MaxTextLen are the capacities of Entry's inline buffers;
// longer input is truncated.
const (
	MaxNameLen = 255
	MaxTextLen = 200
)

// Entry records one answered query. It has a fixed size and holds no
// pointer to per-query memory, so the resolver can build one on its stack
// and Log copies it without allocating.
//
// The string fields (Device, Profile, Reason, Tag) must point to
// long-lived strings the caller already holds: ids from the immutable
// device and profile tables, policy's reason labels, a snapshot's tag ids.
// Never pass a string built for this query (a conversion from a []byte, a
// concatenation): the log keeps the Entry in its buffer for up to a
// second, so it would keep that memory alive, and building it allocates.
// The query name and the explanation are per query, so they are copied
// inline with SetName and SetText.
type Entry struct {
	// Time is when the query arrived, in Unix nanoseconds.
	Time int64
	// Client is the source address; the writer truncates it as configured
	// before storing it.
	Client netip.Addr
	// Device and Profile are the ids of the identified device and of the
	// profile applied; "" when unknown. Long-lived strings only.
	Device  string
	Profile string
	// Reason is a short bounded label (policy.Reason.String()).
	// Long-lived strings only.
	Reason string
	// Tag is the category or service id that decided, "" if none.
	// Long-lived strings only.
	Tag string
	// Duration is how long answering took, in microseconds.
	Duration uint32
	// QType is the query type (1 = A, 28 = AAAA...).
	QType uint16
	// Rcode is the response code sent.
	Rcode     uint8
	Action    Action
	Transport Transport
	// Cached reports whether the answer came from the cache.
	Cached bool
	// NameLen and TextLen are how many bytes of Name and Text are used.
	NameLen uint8
	TextLen uint8
	// Name is the query name; the writer lower-cases it and drops the
	// trailing dot before storing it.
	Name [MaxNameLen]byte
	// Text is the explanation parents read ("blocked: category=gambling
	// source=hagezi-gambling rule=bet365.com profile=kid").
	Text [MaxTextLen]byte
}

// SetName copies name into e.Name, truncating it to MaxNameLen bytes.
func (e *Entry) SetName(name []byte) {
	e.NameLen = uint8(copy(e.Name[:], name))
}

// NameString returns the stored name as a new string.
func (e *Entry) NameString() string { return string(e.Name[:e.NameLen]) }

// SetText copies text into e.Text, truncating it to MaxTextLen bytes.
func (e *Entry) SetText(text []byte) {
	e.TextLen = uint8(copy(e.Text[:], text))
}

// TextString returns the stored explanation as a new string.
func (e *Entry) TextString() string { return string(e.Text[:e.TextLen]) }
