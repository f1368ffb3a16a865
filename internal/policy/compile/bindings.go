package compile

import (
	"fmt"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store"
)

// bindingTable is the identity table of the store's subscriber bindings:
// each binding's queries get its household's default profile, or the
// snapshot's default (m.def) when the household sets none or names a
// profile the snapshot does not have. A binding of a household the state
// lacks is set aside. It is the one place bindings enter the snapshot, so
// that a table built for millions of bindings can replace it.
func bindingTable(st store.State, m *merged) (identity.BindingTable, []error) {
	if len(st.Bindings) == 0 {
		return nil, nil
	}
	have := make(map[string]bool, len(m.profiles))
	for _, p := range m.profiles {
		have[p.Name] = true
	}
	profileOf := make(map[string]string, len(st.Households))
	for _, h := range st.Households {
		p := h.DefaultProfile
		if !have[p] {
			p = m.def
		}
		profileOf[h.ID] = p
	}
	var problems []error
	bs := make([]identity.Binding, 0, len(st.Bindings))
	for _, b := range st.Bindings {
		p, ok := profileOf[b.Household]
		if !ok {
			problems = append(problems, fmt.Errorf("binding %s set aside: no household %q", store.BindingID(b.Kind, b.Key), b.Household))
			continue
		}
		bs = append(bs, identity.Binding{Kind: b.Kind, Key: b.Key, Household: b.Household, Profile: p})
	}
	x, bad := identity.NewBindingIndex(bs)
	return x, append(problems, bad...)
}
