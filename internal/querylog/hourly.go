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
	where, args := hourRange(q.Since, q.Until)
	return w.totals(ctx, "hour", "counters", where, args, q)
}

// Daily returns one Counter per UTC day of q's range (Hour holds the day's
// start): the totals of every device, or of q.Device alone. It is the
// chart of a range of weeks, read from the daily counters.
func (w *Writer) Daily(ctx context.Context, q CounterQuery) ([]Counter, error) {
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
	if len(where) == 0 {
		where = append(where, "1")
	}
	return w.totals(ctx, "day", "daily", strings.Join(where, " AND "), args, q)
}

// totals sums the device totals (tag ”) of table by its time column
// within where, for q's device or devices, or all.
func (w *Writer) totals(ctx context.Context, col, table, where string, args []any, q CounterQuery) ([]Counter, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	device := q.Device
	if device != "" {
		where += " AND device = ?"
		args = append(args, device)
	}
	if q.Devices != nil {
		in, a := deviceIn("device", q.Devices)
		where += " AND " + in
		args = append(args, a...)
	}
	rs, err := w.db.QueryContext(ctx, `SELECT `+col+`, sum(queries), sum(blocked) FROM `+table+`
		WHERE tag = '' AND `+where+` GROUP BY `+col+` ORDER BY `+col, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s counters: %w", table, err)
	}
	defer rs.Close()
	var out []Counter
	for rs.Next() {
		c := Counter{Device: device}
		var at int64
		if err := rs.Scan(&at, &c.Queries, &c.Blocked); err != nil {
			return nil, fmt.Errorf("reading %s counters: %w", table, err)
		}
		c.Hour = time.Unix(at, 0).UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("reading %s counters: %w", table, err)
	}
	return out, nil
}
