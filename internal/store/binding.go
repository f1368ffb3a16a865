package store

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/netid"
)

// Binding keys: what each kind accepts, in canonical form.
const (
	// MinBindIPv6Bits and MaxBindIPv6Bits bound a delegated IPv6 prefix:
	// shorter would bind a whole site's networks to one subscriber,
	// longer is not a delegation.
	MinBindIPv6Bits = 48
	MaxBindIPv6Bits = 64
	// MaxBindSession bounds Binding.Session (RADIUS allows 253 bytes).
	MaxBindSession = 253
)

// Binding origins.
const (
	OriginAPI    = "api"
	OriginImport = "import"
	OriginRADIUS = "radius"
)

// BindingKey names one binding. With Session set, it names the binding
// only while that session made it (a RADIUS Stop removes only its own);
// with Kind and Key empty, it names every binding Session made.
type BindingKey struct {
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Session string `json:"session,omitempty"`
}

// CanonicalBindingKey checks the key of a binding of kind and returns its
// canonical form (package netid): an IPv4 address; an IPv6 prefix of 48 to
// 64 bits, masked; a CPE id or a client id of 1 to 63 letters, digits and
// hyphens, in lower case. Errors quote the input and wrap ErrInvalid.
func CanonicalBindingKey(kind, key string) (string, error) {
	var (
		out string
		err error
	)
	switch kind {
	case BindIPv4:
		a, perr := netid.ParseIP(key)
		switch {
		case perr != nil:
			err = perr
		case !a.Is4():
			err = fmt.Errorf("%q is not an IPv4 address", key)
		default:
			out = a.String()
		}
	case BindIPv6:
		p, perr := netid.ParsePrefix(key)
		switch {
		case perr != nil:
			err = perr
		case !p.Addr().Is6():
			err = fmt.Errorf("%q is not an IPv6 prefix", key)
		case p.Bits() < MinBindIPv6Bits || p.Bits() > MaxBindIPv6Bits:
			err = fmt.Errorf("%q: an IPv6 binding is a /%d to /%d prefix", key, MinBindIPv6Bits, MaxBindIPv6Bits)
		default:
			out = p.String()
		}
	case BindCPE, BindClientID:
		out, err = netid.ParseClientID(key)
	default:
		return "", fmt.Errorf("binding kind %q: want %s, %s, %s or %s: %w", clip(kind), BindIPv4, BindIPv6, BindCPE, BindClientID, ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("%s binding: %w: %w", kind, err, ErrInvalid)
	}
	return out, nil
}

// Canonical checks b and returns it with its Key in canonical form: a
// known kind and a valid key (CanonicalBindingKey), a household id, a
// known origin ("" is OriginAPI) and a session id of printable ASCII.
// Errors wrap ErrInvalid.
func (b Binding) Canonical() (Binding, error) {
	key, err := CanonicalBindingKey(b.Kind, b.Key)
	if err != nil {
		return Binding{}, err
	}
	b.Key = key
	if err := ValidateID("household", b.Household); err != nil {
		return Binding{}, fmt.Errorf("binding %s: %w", BindingID(b.Kind, b.Key), err)
	}
	switch b.Origin {
	case "":
		b.Origin = OriginAPI
	case OriginAPI, OriginImport, OriginRADIUS:
	default:
		return Binding{}, fmt.Errorf("binding %s: origin %q: want %s, %s or %s: %w", BindingID(b.Kind, b.Key), clip(b.Origin), OriginAPI, OriginImport, OriginRADIUS, ErrInvalid)
	}
	if len(b.Session) > MaxBindSession || strings.IndexFunc(b.Session, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return Binding{}, fmt.Errorf("binding %s: session: want at most %d printable ASCII characters: %w", BindingID(b.Kind, b.Key), MaxBindSession, ErrInvalid)
	}
	b.Updated = b.Updated.UTC()
	return b, nil
}

// SameBinding reports whether a and b bind the same thing the same way,
// ignoring when: a write of b over a changes nothing a query or a Stop
// could tell.
func SameBinding(a, b Binding) bool {
	return a.Kind == b.Kind && a.Key == b.Key && a.Household == b.Household && a.Origin == b.Origin && a.Session == b.Session
}

// clip shortens a long input for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// CanonicalBindings is what PutBindings does before it writes: it checks
// each binding (Binding.Canonical; the error names its index), stamps a
// zero Updated with now, keeps the last of each Kind and Key, and sorts
// the rest by Kind then Key. bs is not modified.
func CanonicalBindings(bs []Binding, now time.Time) ([]Binding, error) {
	out := make([]Binding, 0, len(bs))
	for i, b := range bs {
		c, err := b.Canonical()
		if err != nil {
			return nil, fmt.Errorf("binding %d: %w", i, err)
		}
		if c.Updated.IsZero() {
			c.Updated = now.UTC()
		}
		out = append(out, c)
	}
	// A stable sort keeps the input order within one kind and key, so
	// that the last one wins below.
	slices.SortStableFunc(out, func(a, b Binding) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	w := 0
	for i := range out {
		if i+1 < len(out) && out[i].Kind == out[i+1].Kind && out[i].Key == out[i+1].Key {
			continue
		}
		out[w] = out[i]
		w++
	}
	return out[:w], nil
}

// CanonicalBindingKeys is what DeleteBindings does before it writes: it
// checks each key (the error names its index), puts it in canonical form
// and sorts the keys by Kind then Key. keys is not modified.
func CanonicalBindingKeys(keys []BindingKey) ([]BindingKey, error) {
	out := make([]BindingKey, 0, len(keys))
	for i, k := range keys {
		if k.Kind == "" && k.Key == "" {
			if k.Session == "" {
				return nil, fmt.Errorf("binding %d: no kind, key or session: %w", i, ErrInvalid)
			}
			out = append(out, k)
			continue
		}
		c, err := CanonicalBindingKey(k.Kind, k.Key)
		if err != nil {
			return nil, fmt.Errorf("binding %d: %w", i, err)
		}
		k.Key = c
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b BindingKey) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}
