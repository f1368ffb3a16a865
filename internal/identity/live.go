package identity

import (
	"context"
	"sync/atomic"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Live holds the Identifier in use. Its Identify step reads the current
// one for each query, so that a store change (a device added, a profile
// assigned) swaps in a new Identifier without rebuilding the pipeline.
type Live struct {
	cur atomic.Pointer[Identifier]
}

// NewLive returns a Live serving id.
func NewLive(id *Identifier) *Live {
	l := &Live{}
	l.cur.Store(id)
	return l
}

// Store swaps in id for the queries that follow.
func (l *Live) Store(id *Identifier) { l.cur.Store(id) }

// Load returns the Identifier in use.
func (l *Live) Load() *Identifier { return l.cur.Load() }

// Middleware returns the Identify step over the current Identifier (see
// Identifier.Middleware).
func (l *Live) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			ident, trusted := l.cur.Load().identify(r)
			r.Identity = ident
			if r.Msg != nil {
				r.Msg = stripPrivate(r.Msg, trusted)
			}
			return next.ServeDNS(ctx, w, r)
		})
	}
}
