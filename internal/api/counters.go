package api

import (
	"net/http"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/usage"
)

// householdCounts answers GET /api/v1/households/{id}/counters.
type householdCounts struct {
	Household string `json:"household"`
	usage.Counts
}

// householdCounters answers a household's counters since Hearth started:
// queries, blocked, blocked by category. In ISP mode they are what is
// kept instead of the raw query log. A household sees its own only.
func (a *API) householdCounters(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !scopeOf(r).sees(id) {
		a.storeError(w, r, "household "+id, store.ErrNotFound)
		return
	}
	if _, err := a.c.Store.Household(r.Context(), id); err != nil {
		a.storeError(w, r, "household "+id, err)
		return
	}
	c := usage.Counts{ByCategory: map[string]uint64{}}
	if a.c.Usage != nil {
		c = a.c.Usage.Get(id)
	}
	writeJSON(w, http.StatusOK, householdCounts{Household: id, Counts: c})
}
