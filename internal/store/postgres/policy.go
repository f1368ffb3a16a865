package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
)

// Load reads households, profiles, devices, grants, bindings and the feed position
// in one repeatable-read transaction, so that they agree with each other.
// A BEGIN that fails (a connection the server closed) is tried again.
func (s *Store) Load(ctx context.Context) (store.State, error) {
	var (
		tx  pgx.Tx
		err error
	)
	for range maxAttempts {
		if err = ctx.Err(); err != nil {
			return store.State{}, fmt.Errorf("load: %w", unavailable(err))
		}
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err == nil {
			break
		}
	}
	if err != nil {
		return store.State{}, fmt.Errorf("load: begin: %w", unavailable(err))
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // after Commit, a no-op

	var st store.State
	if st.Seq, err = lastSeq(ctx, tx); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if st.Households, err = households(ctx, tx); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if st.Profiles, err = profiles(ctx, tx, ""); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if st.Devices, err = devices(ctx, tx, ""); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if st.Grants, err = grants(ctx, tx, ""); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if st.Bindings, err = bindings(ctx, tx, ""); err != nil {
		return store.State{}, fmt.Errorf("load: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.State{}, fmt.Errorf("load: end: %w", unavailable(err))
	}
	return st, nil
}

// lastSeq reads the newest seq ever handed out, from the feed head so
// that it stays right if the feed is ever trimmed.
func lastSeq(ctx context.Context, q querier) (int64, error) {
	var seq int64
	if err := q.QueryRow(ctx, "SELECT last FROM policy_feed_head WHERE id = 1").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read change feed position: %w", err)
	}
	return seq, nil
}

// Changes returns at most limit changes after seq, oldest first.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("changes after %d: limit %d: %w", after, limit, store.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx,
		"SELECT seq, kind, id, deleted FROM policy_changes WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
	if err != nil {
		return nil, fmt.Errorf("changes after %d: %w", after, unavailable(err))
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.ID, &c.Deleted); err != nil {
			return nil, fmt.Errorf("changes after %d: %w", after, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes after %d: %w", after, unavailable(err))
	}
	return out, nil
}

// ChangesWithGrants returns the changes after seq, oldest first, at most
// limit, with the grants they name, in one statement
// (policysync.FeedReader). The grants are joined LATERAL with a LIMIT,
// which keeps the subquery from being pulled up into a plain join: with
// one, the generic plan of the prepared statement hashes the whole grants
// table for every page (366 ms at 200,000 grants, against 0.1 ms
// through the primary key).
func (s *Store) ChangesWithGrants(ctx context.Context, after int64, limit int) (store.FeedPage, error) {
	if limit <= 0 {
		return store.FeedPage{}, fmt.Errorf("changes after %d: limit %d: %w", after, limit, store.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `SELECT c.seq, c.kind, c.id, c.deleted, c.at,
	g.id, g.device, g.kind, g.target, g.until, g.created_by, g.created
FROM (SELECT seq, kind, id, deleted, at FROM policy_changes WHERE seq > $1 ORDER BY seq LIMIT $2) c
LEFT JOIN LATERAL (SELECT * FROM grants WHERE id = c.id AND c.kind = $3 AND NOT c.deleted LIMIT 1) g ON true
ORDER BY c.seq`, after, limit, store.KindGrant)
	if err != nil {
		return store.FeedPage{}, fmt.Errorf("changes after %d: %w", after, unavailable(err))
	}
	defer rows.Close()
	var (
		p    store.FeedPage
		at   int64
		seen map[string]bool // grant ids in p.Grants
	)
	for rows.Next() {
		var (
			c                            store.Change
			id, device, kind, target, by *string
			until, created               *int64
		)
		if err := rows.Scan(&c.Seq, &c.Kind, &c.ID, &c.Deleted, &at, &id, &device, &kind, &target, &until, &by, &created); err != nil {
			return store.FeedPage{}, fmt.Errorf("changes after %d: %w", after, err)
		}
		p.Changes = append(p.Changes, c)
		if id == nil || seen[*id] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[*id] = true
		p.Grants = append(p.Grants, store.Grant{ID: *id, Device: *device, Kind: *kind, Target: *target,
			Until: goTime(until), By: *by, Created: goTime(created)})
	}
	if err := rows.Err(); err != nil {
		return store.FeedPage{}, fmt.Errorf("changes after %d: %w", after, unavailable(err))
	}
	if len(p.Changes) > 0 {
		p.At = time.Unix(0, at).UTC()
	}
	return p, nil
}

// checkVersion decides whether a Put of table's item id at version may
// proceed: version 0 creates, n updates the stored version n. It returns
// the stored household (for tables that have one) and whether the item
// exists.
func checkVersion(ctx context.Context, tx *wtx, table, id string, version int64) (household string, found bool, err error) {
	var stored int64
	col := "household"
	if table == "households" {
		col = "id"
	}
	err = tx.QueryRow(ctx, "SELECT version, "+col+" FROM "+table+" WHERE id = $1", id).Scan(&stored, &household)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if version != 0 {
			return "", false, fmt.Errorf("version %d: %w", version, store.ErrNotFound)
		}
		return "", false, nil
	case err != nil:
		return "", false, err
	case version == 0:
		return "", false, fmt.Errorf("already exists: %w", store.ErrConflict)
	case version != stored:
		return "", false, fmt.Errorf("version %d, stored is %d: %w", version, stored, store.ErrConflict)
	}
	return household, true, nil
}

// profileHousehold returns the household of profile id, or "" when the
// store does not hold it (a preset or a config-file profile, which the
// caller checks).
func profileHousehold(ctx context.Context, tx querier, id, referrer string) (string, error) {
	var h string
	err := tx.QueryRow(ctx, "SELECT household FROM profiles WHERE id = $1", id).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// checkHousehold returns ErrInvalid unless household id exists.
func checkHousehold(ctx context.Context, tx querier, id string) error {
	if id == "" {
		return fmt.Errorf("no household: %w", store.ErrInvalid)
	}
	ok, err := exists(ctx, tx, "SELECT 1 FROM households WHERE id = $1", id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("household %q does not exist: %w", id, store.ErrInvalid)
	}
	return nil
}

// nullable maps "" to NULL for the optional reference columns.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Households returns every household.
func (s *Store) Households(ctx context.Context) ([]store.Household, error) {
	hs, err := households(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list households: %w", err)
	}
	return hs, nil
}

func households(ctx context.Context, q querier) ([]store.Household, error) {
	rows, err := q.Query(ctx, "SELECT id, version, data FROM households ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Household
	for rows.Next() {
		h, err := store.ScanHousehold(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Household returns household id.
func (s *Store) Household(ctx context.Context, id string) (store.Household, error) {
	h, err := store.ScanHousehold(s.pool.QueryRow(ctx, "SELECT id, version, data FROM households WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Household{}, fmt.Errorf("get household %q: %w", id, err)
	}
	return h, nil
}

// PutHousehold creates or updates h (see store.Store).
func (s *Store) PutHousehold(ctx context.Context, h store.Household) (store.Household, error) {
	if err := store.ValidateID("household", h.ID); err != nil {
		return store.Household{}, fmt.Errorf("put household: %w", err)
	}
	err := s.write(ctx, true, func(tx *wtx) error {
		if _, _, err := checkVersion(ctx, tx, "households", h.ID, h.Version); err != nil {
			return err
		}
		if h.DefaultProfile != "" {
			ph, err := profileHousehold(ctx, tx, h.DefaultProfile, "default profile")
			if err != nil {
				return err
			}
			if ph != "" && ph != h.ID {
				return fmt.Errorf("default profile %q belongs to household %q: %w", h.DefaultProfile, ph, store.ErrInvalid)
			}
		}
		h.Version++
		data, err := json.Marshal(h)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO households (id, version, default_profile, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, default_profile = excluded.default_profile, data = excluded.data`,
			h.ID, h.Version, nullable(h.DefaultProfile), data)
		if err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindHousehold, h.ID, false)
	})
	if err != nil {
		return store.Household{}, fmt.Errorf("put household %q: %w", h.ID, err)
	}
	return h, nil
}

// DeleteHousehold deletes household id, which must own no profile, no
// device, no user and no token (ErrConflict), and its bindings.
func (s *Store) DeleteHousehold(ctx context.Context, id string) error {
	err := s.write(ctx, true, func(tx *wtx) error {
		for _, t := range []struct{ table, kind string }{{"profiles", "profile"}, {"devices", "device"}} {
			var other string
			err := tx.QueryRow(ctx, "SELECT id FROM "+t.table+" WHERE household = $1 ORDER BY id LIMIT 1", id).Scan(&other)
			if err == nil {
				return fmt.Errorf("it has %s %q: %w", t.kind, other, store.ErrConflict)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		// A household's users and tokens would see the next household
		// made with its id.
		for _, t := range []struct{ query, kind string }{
			{"SELECT name FROM users WHERE household = $1 ORDER BY name LIMIT 1", "user"},
			{"SELECT id FROM tokens WHERE household = $1 ORDER BY id LIMIT 1", "token"},
		} {
			var other string
			err := tx.QueryRow(ctx, t.query, id).Scan(&other)
			if err == nil {
				return fmt.Errorf("it has %s %q: %w", t.kind, other, store.ErrConflict)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := deleteHouseholdBindings(ctx, tx, id); err != nil {
			return err
		}
		if err := deleted(tx.Exec(ctx, "DELETE FROM households WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindHousehold, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete household %q: %w", id, err)
	}
	return nil
}

// Profiles returns the profiles of household, or all with "".
func (s *Store) Profiles(ctx context.Context, household string) ([]store.Profile, error) {
	ps, err := profiles(ctx, s.pool, household)
	if err != nil {
		return nil, fmt.Errorf("list profiles of household %q: %w", household, err)
	}
	return ps, nil
}

func profiles(ctx context.Context, q querier, household string) ([]store.Profile, error) {
	rows, err := q.Query(ctx,
		"SELECT id, household, version, data FROM profiles WHERE $1 = '' OR household = $2 ORDER BY id", household, household)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Profile
	for rows.Next() {
		p, err := store.ScanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Profile returns profile id.
func (s *Store) Profile(ctx context.Context, id string) (store.Profile, error) {
	p, err := store.ScanProfile(s.pool.QueryRow(ctx, "SELECT id, household, version, data FROM profiles WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Profile{}, fmt.Errorf("get profile %q: %w", id, err)
	}
	return p, nil
}

// PutProfile creates or updates p (see store.Store).
func (s *Store) PutProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	if err := store.ValidateID("profile", p.ID); err != nil {
		return store.Profile{}, fmt.Errorf("put profile: %w", err)
	}
	err := s.write(ctx, true, func(tx *wtx) error {
		was, found, err := checkVersion(ctx, tx, "profiles", p.ID, p.Version)
		if err != nil {
			return err
		}
		if err := checkHousehold(ctx, tx, p.Household); err != nil {
			return err
		}
		if found && was != p.Household {
			if err := profileUnused(ctx, tx, p.ID); err != nil {
				return fmt.Errorf("move to household %q: %w", p.Household, err)
			}
		}
		p.Version++
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO profiles (id, household, version, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET household = excluded.household, version = excluded.version, data = excluded.data`,
			p.ID, p.Household, p.Version, data)
		if err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindProfile, p.ID, false)
	})
	if err != nil {
		return store.Profile{}, fmt.Errorf("put profile %q: %w", p.ID, err)
	}
	return p, nil
}

// profileUnused returns ErrConflict naming a device or household that
// refers to profile id.
func profileUnused(ctx context.Context, tx querier, id string) error {
	var user string
	err := tx.QueryRow(ctx, "SELECT id FROM devices WHERE profile = $1 ORDER BY id LIMIT 1", id).Scan(&user)
	if err == nil {
		return fmt.Errorf("device %q uses it: %w", user, store.ErrConflict)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	err = tx.QueryRow(ctx, "SELECT id FROM households WHERE default_profile = $1 ORDER BY id LIMIT 1", id).Scan(&user)
	if err == nil {
		return fmt.Errorf("household %q has it as default profile: %w", user, store.ErrConflict)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

// DeleteProfile deletes profile id, which no device may use and no
// household have as default (ErrConflict).
func (s *Store) DeleteProfile(ctx context.Context, id string) error {
	err := s.write(ctx, true, func(tx *wtx) error {
		if err := profileUnused(ctx, tx, id); err != nil {
			return err
		}
		if err := deleted(tx.Exec(ctx, "DELETE FROM profiles WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindProfile, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete profile %q: %w", id, err)
	}
	return nil
}

// Devices returns the devices of household, or all with "".
func (s *Store) Devices(ctx context.Context, household string) ([]store.Device, error) {
	ds, err := devices(ctx, s.pool, household)
	if err != nil {
		return nil, fmt.Errorf("list devices of household %q: %w", household, err)
	}
	return ds, nil
}

func devices(ctx context.Context, q querier, household string) ([]store.Device, error) {
	rows, err := q.Query(ctx,
		"SELECT "+deviceColumns+" FROM devices WHERE $1 = '' OR household = $2 ORDER BY id", household, household)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

var _ store.DeviceIdentifiers = (*Store)(nil)

// DevicesWithIdentifiers returns the devices holding any of those
// identifiers (store.DeviceIdentifiers), through the devices_identifiers
// index.
func (s *Store) DevicesWithIdentifiers(ctx context.Context, ips, macs, clientIDs []string) ([]store.Device, error) {
	if len(ips)+len(macs)+len(clientIDs) == 0 {
		return nil, nil
	}
	// ?| is "holds any of these strings" on a JSON array; nil arrays
	// match nothing.
	rows, err := s.pool.Query(ctx, "SELECT "+deviceColumns+" FROM devices"+
		" WHERE data -> 'ips' ?| $1::text[] OR data -> 'macs' ?| $2::text[] OR data -> 'client_ids' ?| $3::text[]",
		nonNil(ips), nonNil(macs), nonNil(clientIDs))
	if err != nil {
		return nil, fmt.Errorf("find devices by identifier: %w", unavailable(err))
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("find devices by identifier: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find devices by identifier: %w", unavailable(err))
	}
	return out, nil
}

// nonNil returns s, or an empty slice for nil (pgx sends nil as NULL, and
// NULL ?| matches nothing but reads as unknown).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// deviceColumns are what scanDevice reads.
const deviceColumns = "id, household, version, data, dns_id_hash"

func scanDevice(r interface{ Scan(...any) error }) (store.Device, error) {
	var (
		d     store.Device
		id, h string
		v     int64
		data  []byte
		hash  *string
	)
	if err := r.Scan(&id, &h, &v, &data, &hash); err != nil {
		return store.Device{}, err
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return store.Device{}, fmt.Errorf("decode device %q: %w", id, err)
	}
	d.ID, d.Household, d.Version = id, h, v
	// A row edited by hand may have one without the other: it still
	// loads, and the policy leaves out a DNS id without a good hash.
	if hash != nil && d.DNSID == nil {
		d.DNSID = &store.DNSID{}
	}
	if d.DNSID != nil {
		d.DNSID.Hash = ""
		if hash != nil {
			d.DNSID.Hash = *hash
		}
		d.DNSID.Created = d.DNSID.Created.UTC()
	}
	d.FirstSeen = d.FirstSeen.UTC()
	return d, nil
}

// Device returns device id.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, "SELECT "+deviceColumns+" FROM devices WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("get device %q: %w", id, err)
	}
	return d, nil
}

// PutDevice creates or updates d (see store.Store).
func (s *Store) PutDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if err := store.ValidateID("device", d.ID); err != nil {
		return store.Device{}, fmt.Errorf("put device: %w", err)
	}
	if _, err := dbTime("first seen", d.FirstSeen); err != nil {
		return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
	}
	d.FirstSeen = d.FirstSeen.UTC()
	var hash string
	if d.DNSID != nil {
		if len(d.DNSID.Hash) != 64 || strings.Trim(d.DNSID.Hash, "0123456789abcdef") != "" {
			return store.Device{}, fmt.Errorf("put device %q: DNS id hash: want 64 lower-case hex digits: %w", d.ID, store.ErrInvalid)
		}
		if _, err := dbTime("DNS id created", d.DNSID.Created); err != nil {
			return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
		}
		id := *d.DNSID
		id.Created = id.Created.UTC()
		d.DNSID, hash = &id, id.Hash
	}
	err := s.write(ctx, true, func(tx *wtx) error {
		if _, _, err := checkVersion(ctx, tx, "devices", d.ID, d.Version); err != nil {
			return err
		}
		if hash != "" {
			var other string
			err := tx.QueryRow(ctx, "SELECT id FROM devices WHERE dns_id_hash = $1 AND id != $2", hash, d.ID).Scan(&other)
			if err == nil {
				return fmt.Errorf("device %q has that DNS id: %w", other, store.ErrConflict)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := checkHousehold(ctx, tx, d.Household); err != nil {
			return err
		}
		if d.Profile != "" {
			ph, err := profileHousehold(ctx, tx, d.Profile, "profile")
			if err != nil {
				return err
			}
			if ph != "" && ph != d.Household {
				return fmt.Errorf("profile %q belongs to household %q: %w", d.Profile, ph, store.ErrInvalid)
			}
		}
		d.Version++
		// The hash lives in its column alone, which the unique index
		// guards; data keeps the rest of the DNS id.
		row := d
		if d.DNSID != nil {
			id := *d.DNSID
			id.Hash = ""
			row.DNSID = &id
		}
		data, err := json.Marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO devices (id, household, profile, version, data, dns_id_hash) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET household = excluded.household, profile = excluded.profile, version = excluded.version, data = excluded.data,
	dns_id_hash = excluded.dns_id_hash`,
			d.ID, d.Household, nullable(d.Profile), d.Version, string(data), nullable(hash))
		if err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindDevice, d.ID, false)
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
	}
	return d, nil
}

// DeleteDevice deletes device id and its grants.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	err := s.write(ctx, true, func(tx *wtx) error {
		if _, err := deleteGrants(ctx, tx, "device = $1", id); err != nil {
			return err
		}
		if err := deleted(tx.Exec(ctx, "DELETE FROM devices WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.addChange(ctx, store.KindDevice, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete device %q: %w", id, err)
	}
	return nil
}

// deleteGrants deletes the grants matching where, recording each in the
// feed in ID order, and returns how many it deleted.
func deleteGrants(ctx context.Context, tx *wtx, where string, arg any) (int, error) {
	rows, err := tx.Query(ctx, "SELECT id FROM grants WHERE "+where+" ORDER BY id", arg)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := tx.Exec(ctx, "DELETE FROM grants WHERE id = $1", id); err != nil {
			return 0, err
		}
		if err := tx.addChange(ctx, store.KindGrant, id, true); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Grants returns the grants of device, or all with "".
func (s *Store) Grants(ctx context.Context, device string) ([]store.Grant, error) {
	gs, err := grants(ctx, s.pool, device)
	if err != nil {
		return nil, fmt.Errorf("list grants of device %q: %w", device, err)
	}
	return gs, nil
}

func grants(ctx context.Context, q querier, device string) ([]store.Grant, error) {
	rows, err := q.Query(ctx,
		"SELECT id, device, kind, target, until, created_by, created FROM grants WHERE $1 = '' OR device = $2 ORDER BY id",
		device, device)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var (
			g              store.Grant
			until, created *int64
		)
		if err := rows.Scan(&g.ID, &g.Device, &g.Kind, &g.Target, &until, &g.By, &created); err != nil {
			return nil, err
		}
		g.Until, g.Created = goTime(until), goTime(created)
		out = append(out, g)
	}
	return out, rows.Err()
}

// AddGrant stores g, with a new random ID when g.ID is "". g.Device may
// be a store device or one of the config file's, which the store does
// not know: the caller checks it exists. Kind is store.GrantPause or store.GrantAllow (which needs a
// Target); Until must be set.
func (s *Store) AddGrant(ctx context.Context, g store.Grant) (store.Grant, error) {
	if g.ID == "" {
		g.ID = store.NewID()
	}
	if err := store.ValidateID("grant", g.ID); err != nil {
		return store.Grant{}, fmt.Errorf("add grant: %w", err)
	}
	if err := g.Validate(); err != nil {
		return store.Grant{}, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	until, err := dbTime("until", g.Until)
	if err != nil {
		return store.Grant{}, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	created, err := dbTime("created", g.Created)
	if err != nil {
		return store.Grant{}, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	g.Until, g.Created = g.Until.UTC(), g.Created.UTC()
	// A grant's only check is its own row's (a second grant of the same
	// id fails the primary key), so the whole write is one statement
	// (feedOne): no BEGIN, no COMMIT, and the feed head locked for no
	// round trip at all.
	err = s.feedOne(ctx, `item AS (
	INSERT INTO grants (id, device, kind, target, until, created_by, created) VALUES ($5, $6, $7, $8, $9, $10, $11)
	RETURNING true AS ok
)`, store.KindGrant, g.ID, false, g.ID, g.Device, g.Kind, g.Target, until, g.By, created)
	if err != nil {
		return store.Grant{}, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	return g, nil
}

// DeleteGrant deletes grant id.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	err := s.feedOne(ctx, `item AS (
	DELETE FROM grants WHERE id = $5 RETURNING true AS ok
)`, store.KindGrant, id, true, id)
	if err != nil {
		return fmt.Errorf("delete grant %q: %w", id, err)
	}
	return nil
}

// DeleteExpiredGrants deletes the grants whose Until is at or before now.
func (s *Store) DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error) {
	at, err := dbTime("now", now)
	if err != nil || at == nil {
		return 0, fmt.Errorf("delete grants expired at %v: bad time: %w", now, store.ErrInvalid)
	}
	var n int
	err = s.write(ctx, true, func(tx *wtx) error {
		var err error
		n, err = deleteGrants(ctx, tx, "until <= $1", at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete grants expired at %v: %w", now, err)
	}
	return n, nil
}

// DevicesByID returns the devices of those ids that exist, in one query
// (policysync.ManyGetter: a node fetches the items a burst of changes
// names in one round trip per kind, not one per item).
func (s *Store) DevicesByID(ctx context.Context, ids []string) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+deviceColumns+" FROM devices WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("get %d devices: %w", len(ids), unavailable(err))
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("get %d devices: %w", len(ids), err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get %d devices: %w", len(ids), err)
	}
	return out, nil
}

// GrantsByID returns the grants of those ids that exist, in one query
// (policysync.ManyGetter).
func (s *Store) GrantsByID(ctx context.Context, ids []string) ([]store.Grant, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT id, device, kind, target, until, created_by, created FROM grants WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("get %d grants: %w", len(ids), unavailable(err))
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var (
			g              store.Grant
			until, created *int64
		)
		if err := rows.Scan(&g.ID, &g.Device, &g.Kind, &g.Target, &until, &g.By, &created); err != nil {
			return nil, fmt.Errorf("get %d grants: %w", len(ids), err)
		}
		g.Until, g.Created = goTime(until), goTime(created)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get %d grants: %w", len(ids), err)
	}
	return out, nil
}
