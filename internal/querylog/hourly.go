package querylog

import (
	"context"
	"fmt"
	"strings"
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

// Daily returns one Counter per UTC day of q's range (Hour holds the day's
// start): the totals of every device, or of q.Device alone. It is the
// chart of a range of weeks, read from the daily counters.
func (w *Writer) Daily(ctx context.Context, q CounterQuery) ([]Counter, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	var where []string
	var args []any
	if !q.Since.IsZero() {
		where = append(where, "day > ?")
		args = append(args, q.Since.Unix()-86400)
	}
	if !q.Until.IsZero() {
		where = append(where, "day < ?")
		args = append(args, q.Until.Unix())
	}
	if q.Device != "" {
		where = append(where, "device = ?")
		args = append(args, q.Device)
	}
	cond := "tag = ''"
	if len(where) > 0 {
		cond += " AND " + strings.Join(where, " AND ")
	}
	rs, err := w.db.QueryContext(ctx, `SELECT day, sum(queries), sum(blocked) FROM daily
		WHERE `+cond+` GROUP BY day ORDER BY day`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading daily counters: %w", err)
	}
	defer rs.Close()
	var out []Counter
	for rs.Next() {
		c := Counter{Device: q.Device}
		var day int64
		if err := rs.Scan(&day, &c.Queries, &c.Blocked); err != nil {
			return nil, fmt.Errorf("reading daily counters: %w", err)
		}
		c.Hour = time.Unix(day, 0).UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("reading daily counters: %w", err)
	}
	return out, nil
}
