package querylog

import (
	"context"
	"fmt"
	"time"
)

// Hourly returns one Counter per hour of q's range: the totals of every
// device (Device "" in the result), or of q.Device alone. It is the
// dashboard's chart, a few hundred points however many devices there are.
func (w *Writer) Hourly(ctx context.Context, q CounterQuery) ([]Counter, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	where, args := hourRange(q.Since, q.Until)
	if q.Device != "" {
		where += " AND device = ?"
		args = append(args, q.Device)
	}
	rs, err := w.db.QueryContext(ctx, `SELECT hour, sum(queries), sum(blocked) FROM counters
		WHERE tag = '' AND `+where+` GROUP BY hour ORDER BY hour`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading hourly counters: %w", err)
	}
	defer rs.Close()
	var out []Counter
	for rs.Next() {
		c := Counter{Device: q.Device}
		var hour int64
		if err := rs.Scan(&hour, &c.Queries, &c.Blocked); err != nil {
			return nil, fmt.Errorf("reading hourly counters: %w", err)
		}
		c.Hour = time.Unix(hour, 0).UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("reading hourly counters: %w", err)
	}
	return out, nil
}
