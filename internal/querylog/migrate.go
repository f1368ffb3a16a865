package querylog

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// migrateChunk is how many version 1 rows one transaction moves.
const migrateChunk = 4096

// legacyRow is a version 1 row as read for the move.
type legacyRow struct {
	time, nameID, qtype, rcode, duration, count int64
	client, device, profile, action, reason     string
	tag, text, transport                        string
	cached                                      bool
}

// migrateStep moves one chunk of version 1 rows into log (see
// legacyTable) and reports whether there may be more.
func (w *Writer) migrateStep(ctx context.Context) (more bool, err error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return false, ErrClosed
	}
	if !w.wconn.legacy {
		return false, nil
	}
	// Commit the open batches first: a failed move rolls back its own
	// rows only.
	if err := w.commitLocked(ctx); err != nil {
		return false, err
	}
	moved, err := w.wconn.migrate(ctx)
	if err == nil {
		err = w.wconn.commit(ctx)
	} else {
		err = errors.Join(err, w.wconn.rollback(ctx))
	}
	if err != nil {
		return false, fmt.Errorf("moving version 1 query log rows: %w", err)
	}
	if moved == 0 {
		w.log.Info("query log: version 1 rows moved; old table dropped")
	}
	return moved > 0, nil
}

// migrate moves the newest migrateChunk rows of the version 1 table into
// log in a transaction the caller ends, or drops the table when it is empty, and
// returns how many rows it moved. A row whose time a newer row already
// took (the clock went back across the upgrade) is dropped.
func (wc *writeConn) migrate(ctx context.Context) (moved int, err error) {
	if err := wc.begin(ctx); err != nil {
		return 0, err
	}
	rs, err := wc.conn.QueryContext(ctx, `SELECT time, client, device, profile, name_id, qtype, rcode,
		action, reason, tag, text, cached, transport, duration_us, count
		FROM `+legacyTable+` ORDER BY time DESC LIMIT ?`, migrateChunk)
	if err != nil {
		return 0, fmt.Errorf("reading: %w", err)
	}
	var rows []legacyRow
	for rs.Next() {
		var r legacyRow
		if err := rs.Scan(&r.time, &r.client, &r.device, &r.profile, &r.nameID, &r.qtype, &r.rcode,
			&r.action, &r.reason, &r.tag, &r.text, &r.cached, &r.transport, &r.duration, &r.count); err != nil {
			rs.Close()
			return 0, fmt.Errorf("reading: %w", err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		rs.Close()
		return 0, fmt.Errorf("reading: %w", err)
	}
	rs.Close()
	if len(rows) == 0 {
		if _, err := wc.conn.ExecContext(ctx, `DROP TABLE `+legacyTable); err != nil {
			return 0, fmt.Errorf("dropping the old table: %w", err)
		}
		wc.legacy = false
		return 0, nil
	}
	var buf []byte
	for _, r := range rows {
		var x rec
		// Version 1 stored the address already truncated, as text; one
		// that does not parse is left out rather than stop the move.
		if a, err := netip.ParseAddr(r.client); err == nil {
			x.client = a
		}
		for _, s := range []struct {
			id  *int64
			val string
		}{{&x.device, r.device}, {&x.profile, r.profile}, {&x.reason, r.reason}, {&x.tag, r.tag}, {&x.transport, r.transport}} {
			if *s.id, err = wc.strID(ctx, s.val); err != nil {
				return 0, err
			}
		}
		x.qtype, x.rcode, x.cached = uint16(r.qtype), uint8(r.rcode), r.cached
		x.duration, x.count = uint32(max(0, r.duration)), r.count
		x.text = []byte(r.text)
		code, _ := actionLabelCode(r.action)
		buf = x.append(buf[:0])
		if _, err := wc.conn.ExecContext(ctx, `INSERT OR IGNORE INTO log (time, device, name_id, action, rec)
			VALUES (?, ?, ?, ?, ?)`, r.time, x.device, r.nameID, code, buf); err != nil {
			return 0, fmt.Errorf("row %d: %w", r.time, err)
		}
		wc.noteSpans(r.time, x.device, r.nameID, code)
	}
	// A row dropped as a duplicate leaves spans that find no row, which
	// costs a search a bucket's scan and nothing else.
	if err := wc.conn.Raw(func(any) error { return wc.insertSpans(context.WithoutCancel(ctx)) }); err != nil {
		return 0, err
	}
	if _, err := wc.conn.ExecContext(ctx, `DELETE FROM `+legacyTable+` WHERE time >= ?`, rows[len(rows)-1].time); err != nil {
		return 0, fmt.Errorf("deleting moved rows: %w", err)
	}
	return len(rows), nil
}
