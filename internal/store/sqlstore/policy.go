package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// The queries of the lists, which a backend's own Load may send its own
// way: every household; the profiles, devices of household $1 and the
// grants of device $1, or all with "". Each row is what ScanHousehold,
// ScanProfile (package store), ScanDevice and ScanGrant read.
const (
	HouseholdsQuery = "SELECT id, version, data FROM households ORDER BY id"
	ProfilesQuery   = "SELECT id, household, version, data FROM profiles WHERE $1 = '' OR household = $1 ORDER BY id"
	DevicesQuery    = "SELECT " + DeviceColumns + " FROM devices WHERE $1 = '' OR household = $1 ORDER BY id"
	GrantsQuery     = "SELECT " + GrantColumns + " FROM grants WHERE $1 = '' OR device = $1 ORDER BY id"
)

// checkVersion decides whether a Put of table's item id at version may
// proceed: version 0 creates, n updates the stored version n. It returns
// the stored household (for tables that have one) and whether the item
// exists.
func checkVersion(ctx context.Context, tx *Tx, table, id string, version int64) (household string, found bool, err error) {
	var stored int64
	col := "household"
	if table == "households" {
		col = "id"
	}
	err = tx.QueryRowContext(ctx, "SELECT version, "+col+" FROM "+table+" WHERE id = $1", id).Scan(&stored, &household)
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
func profileHousehold(ctx context.Context, tx Querier, id, referrer string) (string, error) {
	var h string
	err := tx.QueryRowContext(ctx, "SELECT household FROM profiles WHERE id = $1", id).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// checkHousehold returns ErrInvalid unless household id exists.
func checkHousehold(ctx context.Context, tx Querier, id string) error {
	if id == "" {
		return fmt.Errorf("no household: %w", store.ErrInvalid)
	}
	ok, err := Exists(ctx, tx, "SELECT 1 FROM households WHERE id = $1", id)
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
	hs, err := households(ctx, s.db.SQL)
	if err != nil {
		return nil, fmt.Errorf("list households: %w", s.db.err(err))
	}
	return hs, nil
}

func households(ctx context.Context, q Querier) ([]store.Household, error) {
	return queryAll(ctx, q, store.ScanHousehold, HouseholdsQuery)
}

// Household returns household id.
func (s *Store) Household(ctx context.Context, id string) (store.Household, error) {
	h, err := store.ScanHousehold(s.db.SQL.QueryRowContext(ctx, "SELECT id, version, data FROM households WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Household{}, fmt.Errorf("get household %q: %w", id, s.db.err(err))
	}
	return h, nil
}

// PutHousehold creates or updates h (see store.Store).
func (s *Store) PutHousehold(ctx context.Context, h store.Household) (store.Household, error) {
	if err := store.ValidateID("household", h.ID); err != nil {
		return store.Household{}, fmt.Errorf("put household: %w", err)
	}
	err := s.db.Write(ctx, true, func(tx *Tx) error {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO households (id, version, default_profile, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, default_profile = excluded.default_profile, data = excluded.data`,
			h.ID, h.Version, nullable(h.DefaultProfile), string(data))
		if err != nil {
			return err
		}
		return tx.AddChange(store.KindHousehold, h.ID, false)
	})
	if err != nil {
		return store.Household{}, fmt.Errorf("put household %q: %w", h.ID, err)
	}
	return h, nil
}

// DeleteHousehold deletes household id, which must own no profile, no
// device, no user and no token (ErrConflict), and its bindings.
func (s *Store) DeleteHousehold(ctx context.Context, id string) error {
	err := s.db.Write(ctx, true, func(tx *Tx) error {
		for _, t := range []struct{ table, kind string }{{"profiles", "profile"}, {"devices", "device"}} {
			var other string
			err := tx.QueryRowContext(ctx, "SELECT id FROM "+t.table+" WHERE household = $1 ORDER BY id LIMIT 1", id).Scan(&other)
			if err == nil {
				return fmt.Errorf("it has %s %q: %w", t.kind, other, store.ErrConflict)
			}
			if !errors.Is(err, sql.ErrNoRows) {
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
			err := tx.QueryRowContext(ctx, t.query, id).Scan(&other)
			if err == nil {
				return fmt.Errorf("it has %s %q: %w", t.kind, other, store.ErrConflict)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := deleteHouseholdBindings(ctx, tx, id); err != nil {
			return err
		}
		if err := Deleted(tx.ExecContext(ctx, "DELETE FROM households WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.AddChange(store.KindHousehold, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete household %q: %w", id, err)
	}
	return nil
}

// Profiles returns the profiles of household, or all with "".
func (s *Store) Profiles(ctx context.Context, household string) ([]store.Profile, error) {
	ps, err := profiles(ctx, s.db.SQL, household)
	if err != nil {
		return nil, fmt.Errorf("list profiles of household %q: %w", household, s.db.err(err))
	}
	return ps, nil
}

func profiles(ctx context.Context, q Querier, household string) ([]store.Profile, error) {
	return queryAll(ctx, q, store.ScanProfile, ProfilesQuery, household)
}

// Profile returns profile id.
func (s *Store) Profile(ctx context.Context, id string) (store.Profile, error) {
	p, err := store.ScanProfile(s.db.SQL.QueryRowContext(ctx, "SELECT id, household, version, data FROM profiles WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Profile{}, fmt.Errorf("get profile %q: %w", id, s.db.err(err))
	}
	return p, nil
}

// PutProfile creates or updates p (see store.Store).
func (s *Store) PutProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	if err := store.ValidateID("profile", p.ID); err != nil {
		return store.Profile{}, fmt.Errorf("put profile: %w", err)
	}
	err := s.db.Write(ctx, true, func(tx *Tx) error {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO profiles (id, household, version, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET household = excluded.household, version = excluded.version, data = excluded.data`,
			p.ID, p.Household, p.Version, string(data))
		if err != nil {
			return err
		}
		return tx.AddChange(store.KindProfile, p.ID, false)
	})
	if err != nil {
		return store.Profile{}, fmt.Errorf("put profile %q: %w", p.ID, err)
	}
	return p, nil
}

// profileUnused returns ErrConflict naming a device or household that
// refers to profile id.
func profileUnused(ctx context.Context, tx Querier, id string) error {
	var user string
	err := tx.QueryRowContext(ctx, "SELECT id FROM devices WHERE profile = $1 ORDER BY id LIMIT 1", id).Scan(&user)
	if err == nil {
		return fmt.Errorf("device %q uses it: %w", user, store.ErrConflict)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	err = tx.QueryRowContext(ctx, "SELECT id FROM households WHERE default_profile = $1 ORDER BY id LIMIT 1", id).Scan(&user)
	if err == nil {
		return fmt.Errorf("household %q has it as default profile: %w", user, store.ErrConflict)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// DeleteProfile deletes profile id, which no device may use and no
// household have as default (ErrConflict).
func (s *Store) DeleteProfile(ctx context.Context, id string) error {
	err := s.db.Write(ctx, true, func(tx *Tx) error {
		if err := profileUnused(ctx, tx, id); err != nil {
			return err
		}
		if err := Deleted(tx.ExecContext(ctx, "DELETE FROM profiles WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.AddChange(store.KindProfile, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete profile %q: %w", id, err)
	}
	return nil
}

// Devices returns the devices of household, or all with "".
func (s *Store) Devices(ctx context.Context, household string) ([]store.Device, error) {
	ds, err := devices(ctx, s.db.SQL, household)
	if err != nil {
		return nil, fmt.Errorf("list devices of household %q: %w", household, s.db.err(err))
	}
	return ds, nil
}

func devices(ctx context.Context, q Querier, household string) ([]store.Device, error) {
	return queryAll(ctx, q, ScanDevice, DevicesQuery, household)
}

// DeviceColumns are what ScanDevice reads.
const DeviceColumns = "id, household, version, data, dns_id_hash"

// ScanDevice reads a row of DeviceColumns.
func ScanDevice(r store.Scanner) (store.Device, error) {
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
	DeviceRow(&d, id, h, v, hash)
	return d, nil
}

// DeviceRow completes d, decoded from the data column of a row of
// DeviceColumns, with the row's other columns (hash is nil for NULL), as
// ScanDevice does: a backend that decodes rows its own way calls it too.
func DeviceRow(d *store.Device, id, household string, version int64, hash *string) {
	d.ID, d.Household, d.Version = id, household, version
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
}

// Device returns device id.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := ScanDevice(s.db.SQL.QueryRowContext(ctx, "SELECT "+DeviceColumns+" FROM devices WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("get device %q: %w", id, s.db.err(err))
	}
	return d, nil
}

// PutDevice creates or updates d (see store.Store).
func (s *Store) PutDevice(ctx context.Context, d store.Device) (store.Device, error) {
	if err := store.ValidateID("device", d.ID); err != nil {
		return store.Device{}, fmt.Errorf("put device: %w", err)
	}
	if _, err := DBTime("first seen", d.FirstSeen); err != nil {
		return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
	}
	d.FirstSeen = d.FirstSeen.UTC()
	var hash string
	if d.DNSID != nil {
		if len(d.DNSID.Hash) != 64 || strings.Trim(d.DNSID.Hash, "0123456789abcdef") != "" {
			return store.Device{}, fmt.Errorf("put device %q: DNS id hash: want 64 lower-case hex digits: %w", d.ID, store.ErrInvalid)
		}
		if _, err := DBTime("DNS id created", d.DNSID.Created); err != nil {
			return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
		}
		id := *d.DNSID
		id.Created = id.Created.UTC()
		d.DNSID, hash = &id, id.Hash
	}
	err := s.db.Write(ctx, true, func(tx *Tx) error {
		if _, _, err := checkVersion(ctx, tx, "devices", d.ID, d.Version); err != nil {
			return err
		}
		if hash != "" {
			var other string
			err := tx.QueryRowContext(ctx, "SELECT id FROM devices WHERE dns_id_hash = $1 AND id != $2", hash, d.ID).Scan(&other)
			if err == nil {
				return fmt.Errorf("device %q has that DNS id: %w", other, store.ErrConflict)
			}
			if !errors.Is(err, sql.ErrNoRows) {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, household, profile, version, data, dns_id_hash) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET household = excluded.household, profile = excluded.profile, version = excluded.version, data = excluded.data,
	dns_id_hash = excluded.dns_id_hash`,
			d.ID, d.Household, nullable(d.Profile), d.Version, string(data), nullable(hash))
		if err != nil {
			return err
		}
		return tx.AddChange(store.KindDevice, d.ID, false)
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("put device %q: %w", d.ID, err)
	}
	return d, nil
}

// DeleteDevice deletes device id and its grants.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	err := s.db.Write(ctx, true, func(tx *Tx) error {
		if _, err := deleteGrants(ctx, tx, "device = $1", id); err != nil {
			return err
		}
		if err := Deleted(tx.ExecContext(ctx, "DELETE FROM devices WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.AddChange(store.KindDevice, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete device %q: %w", id, err)
	}
	return nil
}

// deleteGrants deletes the grants matching where, recording each in the
// feed in ID order, and returns how many it deleted.
func deleteGrants(ctx context.Context, tx *Tx, where string, arg any) (int, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM grants WHERE "+where+" ORDER BY id", arg)
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
		if _, err := tx.ExecContext(ctx, "DELETE FROM grants WHERE id = $1", id); err != nil {
			return 0, err
		}
		if err := tx.AddChange(store.KindGrant, id, true); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Grants returns the grants of device, or all with "".
func (s *Store) Grants(ctx context.Context, device string) ([]store.Grant, error) {
	gs, err := grants(ctx, s.db.SQL, device)
	if err != nil {
		return nil, fmt.Errorf("list grants of device %q: %w", device, s.db.err(err))
	}
	return gs, nil
}

func grants(ctx context.Context, q Querier, device string) ([]store.Grant, error) {
	return queryAll(ctx, q, ScanGrant, GrantsQuery, device)
}

// GrantColumns are what ScanGrant reads.
const GrantColumns = "id, device, kind, target, until, created_by, created"

// ScanGrant reads a row of GrantColumns.
func ScanGrant(r store.Scanner) (store.Grant, error) {
	var (
		g              store.Grant
		until, created *int64
	)
	if err := r.Scan(&g.ID, &g.Device, &g.Kind, &g.Target, &until, &g.By, &created); err != nil {
		return store.Grant{}, err
	}
	g.Until, g.Created = GoTime(until), GoTime(created)
	return g, nil
}

// Grant returns the grant of that id.
func (s *Store) Grant(ctx context.Context, id string) (store.Grant, error) {
	g, err := ScanGrant(s.db.SQL.QueryRowContext(ctx, "SELECT "+GrantColumns+" FROM grants WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("grant %q: %w", id, s.db.err(err))
	}
	return g, nil
}

// NewGrant checks g for AddGrant, gives it a new random ID when g.ID is
// "", and returns it as stored (times in UTC) with its until and
// created column values. Its errors say "add grant".
func NewGrant(g store.Grant) (_ store.Grant, until, created *int64, err error) {
	if g.ID == "" {
		g.ID = store.NewID()
	}
	if err := store.ValidateID("grant", g.ID); err != nil {
		return store.Grant{}, nil, nil, fmt.Errorf("add grant: %w", err)
	}
	if err := g.Validate(); err != nil {
		return store.Grant{}, nil, nil, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	if until, err = DBTime("until", g.Until); err != nil {
		return store.Grant{}, nil, nil, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	if created, err = DBTime("created", g.Created); err != nil {
		return store.Grant{}, nil, nil, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	g.Until, g.Created = g.Until.UTC(), g.Created.UTC()
	return g, until, created, nil
}

// AddGrant stores g, with a new random ID when g.ID is "". g.Device
// may be a store device or one of the config file's, which the store
// does not know: the caller checks it exists. Kind is store.GrantPause or store.GrantAllow (which needs a
// Target); Until must be set.
func (s *Store) AddGrant(ctx context.Context, g store.Grant) (store.Grant, error) {
	g, until, created, err := NewGrant(g)
	if err != nil {
		return store.Grant{}, err
	}
	err = s.db.Write(ctx, true, func(tx *Tx) error {
		ok, err := Exists(ctx, tx, "SELECT 1 FROM grants WHERE id = $1", g.ID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("already exists: %w", store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO grants (id, device, kind, target, until, created_by, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			g.ID, g.Device, g.Kind, g.Target, until, g.By, created)
		if err != nil {
			return err
		}
		return tx.AddChange(store.KindGrant, g.ID, false)
	})
	if err != nil {
		return store.Grant{}, fmt.Errorf("add grant %q: %w", g.ID, err)
	}
	return g, nil
}

// DeleteGrant deletes grant id.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	err := s.db.Write(ctx, true, func(tx *Tx) error {
		if err := Deleted(tx.ExecContext(ctx, "DELETE FROM grants WHERE id = $1", id)); err != nil {
			return err
		}
		return tx.AddChange(store.KindGrant, id, true)
	})
	if err != nil {
		return fmt.Errorf("delete grant %q: %w", id, err)
	}
	return nil
}

// DeleteExpiredGrants deletes the grants whose Until is at or before now.
func (s *Store) DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error) {
	at, err := DBTime("now", now)
	if err != nil || at == nil {
		return 0, fmt.Errorf("delete grants expired at %v: bad time: %w", now, store.ErrInvalid)
	}
	var n int
	err = s.db.Write(ctx, true, func(tx *Tx) error {
		var err error
		n, err = deleteGrants(ctx, tx, "until <= $1", at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete grants expired at %v: %w", now, err)
	}
	return n, nil
}

// ChangesQuery selects at most $2 changes after seq $1, oldest first,
// in the columns ScanChange reads.
const ChangesQuery = "SELECT seq, kind, id, deleted FROM policy_changes WHERE seq > $1 ORDER BY seq LIMIT $2"

// ScanChange reads a row of ChangesQuery.
func ScanChange(r store.Scanner) (store.Change, error) {
	var c store.Change
	return c, r.Scan(&c.Seq, &c.Kind, &c.ID, &c.Deleted)
}

// ReadState reads the households, profiles, devices, grants and
// bindings into st through q: a read transaction, so that they agree
// with each other and with the feed position the caller reads.
func (s *Store) ReadState(ctx context.Context, q Querier, st *store.State) error {
	var err error
	if st.Households, err = households(ctx, q); err != nil {
		return s.db.err(err)
	}
	if st.Profiles, err = profiles(ctx, q, ""); err != nil {
		return s.db.err(err)
	}
	if st.Devices, err = devices(ctx, q, ""); err != nil {
		return s.db.err(err)
	}
	if st.Grants, err = grants(ctx, q, ""); err != nil {
		return s.db.err(err)
	}
	if st.Bindings, err = queryAll(ctx, q, ScanBinding, BindingsQuery(s.db.ByteOrder), ""); err != nil {
		return s.db.err(err)
	}
	return nil
}
