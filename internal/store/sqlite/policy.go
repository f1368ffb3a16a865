package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Load reads households, profiles, devices, grants, bindings and the feed position
// in one read transaction, so that they agree with each other.
func (s *Store) Load(ctx context.Context) (store.State, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.State{}, fmt.Errorf("load: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op

	var st store.State
	if st.Seq, err = lastSeq(ctx, tx); err != nil {
		return store.State{}, fmt.Errorf("load: %w", err)
	}
	if err := s.ReadState(ctx, tx, &st); err != nil {
		return store.State{}, fmt.Errorf("load: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.State{}, fmt.Errorf("load: end: %w", err)
	}
	return st, nil
}

// lastSeq reads the newest seq ever handed out, from AUTOINCREMENT's own
// counter so that it stays right if the feed is ever trimmed.
func lastSeq(ctx context.Context, q sqlstore.Querier) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'policy_changes'").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read change feed position: %w", err)
	}
	return seq, nil
}

// Changes returns at most limit changes after seq, oldest first.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("changes after %d: limit %d: %w", after, limit, store.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, sqlstore.ChangesQuery, after, limit)
	if err != nil {
		return nil, fmt.Errorf("changes after %d: %w", after, err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanChange)
	if err != nil {
		return nil, fmt.Errorf("changes after %d: %w", after, err)
	}
	return out, nil
}

var _ store.DeviceIdentifiers = (*Store)(nil)

// DevicesWithIdentifiers returns the devices holding any of those
// identifiers (store.DeviceIdentifiers), through the device_identifiers
// index (schema 8).
func (s *Store) DevicesWithIdentifiers(ctx context.Context, ips, macs, clientIDs []string) ([]store.Device, error) {
	if len(ips)+len(macs)+len(clientIDs) == 0 {
		return nil, nil
	}
	var (
		where strings.Builder
		args  []any
	)
	for _, k := range []struct {
		kind   string
		values []string
	}{{"ips", ips}, {"macs", macs}, {"client_ids", clientIDs}} {
		for _, v := range k.values {
			if where.Len() > 0 {
				where.WriteString(" OR ")
			}
			where.WriteString("(kind = ? AND value = ?)")
			args = append(args, k.kind, v)
		}
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+sqlstore.DeviceColumns+" FROM devices WHERE id IN"+
		" (SELECT device FROM device_identifiers WHERE "+where.String()+")", args...)
	if err != nil {
		return nil, fmt.Errorf("find devices by identifier: %w", err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanDevice)
	if err != nil {
		return nil, fmt.Errorf("find devices by identifier: %w", err)
	}
	return out, nil
}
