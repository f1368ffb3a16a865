package postgres

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// oddRows are rows the store's own writes would not make (written by
// hand, or by another version): Load must read each as encoding/json and
// the shared row readers do.
const oddRows = `
INSERT INTO households (id, version, default_profile, data) VALUES
	('h1', 1, NULL, '{"id":"h1","name":"Plain","default_profile":"","time_zone":"","version":1}'),
	('h2', 3, 'kid', '{"ID":"x","Name":"Upper keys","default_profile":"kid","time_zone":"Europe/Paris","version":3}'),
	('h3', 2, NULL, '{"name":"Esc \"q\" \u00e9","extra":true,"version":null}'),
	('h4', 1, NULL, '{"name": null, "time_zone": "Asia/Tokyo", "version": 7}'),
	('h5', 1, NULL, '{"name":"Zoë ☃","id":"other","household":"none"}');
INSERT INTO profiles (id, household, version, data) VALUES
	('h1-kid', 'h1', 1, '{"id":"h1-kid","household":"h1","name":"Kid","preset":"kid","block":["gambling"]}');
INSERT INTO devices (id, household, profile, version, data, dns_id_hash) VALUES
	('d01', 'h1', NULL, 1, '{"id":"d01","household":"h1","name":"Phone","profile":"","macs":["02:00:00:00:00:01"],"hostname":"phone","new":true,"first_seen":"2026-05-06T07:08:09.123456789Z","version":1}', NULL),
	('d02', 'h1', NULL, 4, '{"ips":[],"client_ids":null,"dns_id":{"label":"tab","hint":"ab3x","created":"2026-01-02T03:04:05.5+02:00"}}', '` + hash64 + `'),
	('d03', 'h2', NULL, 1, '{"name":"hash without id"}', '` + hash64b + `'),
	('d04', 'h2', 'kid', 2, '{"profile":"kid","dns_id":{"hash":"ignored","hint":"zz"},"first_seen":"2026-05-06T09:08:09+02:00"}', NULL),
	('d05', 'h3', NULL, 1, '{"MACs":["02:00:00:00:00:05"],"Name":"case"}', NULL),
	('d06', 'h3', NULL, 1, '{"name":"new\nline","hostname":"tab\there"}', NULL),
	('d07', 'h4', NULL, 1, '{"ips":["10.0.0.1","10.0.0.2","fe80::1"],"client_ids":["a","b"],"version":-3}', NULL),
	('d08', 'h4', NULL, 1, '{"first_seen":null,"new":null,"profile":null,"dns_id":null,"ips":null}', NULL),
	('d09', 'h5', NULL, 1, '{"color":"red","name":"unknown key"}', NULL),
	('d10', 'h5', NULL, 1, '{}', NULL);
INSERT INTO grants (id, device, kind, target, until, created_by, created) VALUES
	('g1', 'd01', 'allow', 'social', 1900000000000000000, 'parent', NULL),
	('g2', 'd02', 'pause', '', 1900000000000000001, '', 1800000000000000000);
INSERT INTO bindings (kind, key, household, origin, session, updated) VALUES
	('client_id', 'B1', 'h1', 'api', '', NULL),
	('client_id', 'a1', 'h2', 'import', '', 1800000000000000000),
	('client_id', 'a-2', 'h2', 'radius', 's1', 1800000000000000001),
	('ipv4', '10.0.0.10', 'h3', 'radius', 's2', 1),
	('ipv4', '10.0.0.2', 'h3', '', '', NULL);
UPDATE policy_feed_head SET last = 42 WHERE id = 1;
`

const (
	hash64  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hash64b = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// referenceState reads the state as the shared row readers do, one list
// at a time through database/sql: what Load read before it read rows its
// own way.
func referenceState(t *testing.T, s *Store) store.State {
	t.Helper()
	ctx := context.Background()
	var (
		st  store.State
		err error
	)
	if st.Households, err = s.Store.Households(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Profiles, err = s.Store.Profiles(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st.Devices, err = s.Store.Devices(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st.Grants, err = s.Store.Grants(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st.Bindings, err = s.Store.Bindings(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st.Seq, err = lastSeq(ctx, s.pool); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLoadRows checks that Load reads every row as the shared row
// readers do, whatever its JSON, and orders bindings by bytes when the
// database's collation does not: on several connections, on one (a pool
// of one connection), and through the simple protocol (text results).
func TestLoadRows(t *testing.T) {
	dsn := newSchema(t)
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: dsn})
	if _, err := s.pool.Exec(ctx, oddRows); err != nil {
		t.Fatal(err)
	}
	// A collation that orders "B1" after "a1" and "10.0.0.10" before
	// "10.0.0.2" differently from bytes: the primary key's order is
	// then not the one Load returns.
	if _, err := s.pool.Exec(ctx, `ALTER TABLE bindings ALTER COLUMN key TYPE text COLLATE "und-x-icu"`); err != nil {
		t.Fatal(err)
	}
	want := referenceState(t, s)
	if len(want.Devices) != 10 || len(want.Households) != 5 || len(want.Bindings) != 5 {
		t.Fatalf("reference read: %d households, %d devices, %d bindings", len(want.Households), len(want.Devices), len(want.Bindings))
	}
	for _, c := range []struct{ name, params string }{
		{"parallel", ""},
		{"one connection", "&pool_max_conns=1"},
		{"simple protocol", "&default_query_exec_mode=simple_protocol"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openDSN(t, &Config{DSN: dsn + c.params})
			got, err := s.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n%+v\nwant what the row readers read:\n%+v", got, want)
			}
		})
	}
}

// TestLoadSnapshot checks that the connections Load reads on read one
// moment: a write committed after the first has its snapshot, before the
// others start, is in none of them.
func TestLoadSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: newSchema(t)})
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1"}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.loaded = func() {
		s.loaded = nil
		if _, err := s.PutDevice(ctx, store.Device{ID: "d1", Household: "h1"}); err != nil {
			t.Error(err)
		}
		if _, err := s.PutBindings(ctx, []store.Binding{{Kind: store.BindIPv4, Key: "192.0.2.1", Household: "h1"}}); err != nil {
			t.Error(err)
		}
	}
	during, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.loaded != nil {
		t.Fatal("Load did not read on several connections")
	}
	if !reflect.DeepEqual(during, before) {
		t.Errorf("Load with writes after its snapshot: %+v, want %+v", during, before)
	}
	after, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Devices) != 1 || len(after.Bindings) != 1 || after.Seq != before.Seq+2 {
		t.Errorf("Load after the writes: %+v", after)
	}
}

// TestLoadAllocs bounds the allocations of Load per row read: about 17
// when each row went through Scan and encoding/json.
func TestLoadAllocs(t *testing.T) {
	dsn := newSchema(t)
	fillState(t, dsn, 200)
	s := openDSN(t, &Config{DSN: dsn})
	ctx := context.Background()
	var rows int
	allocs := testing.AllocsPerRun(3, func() {
		st, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows = len(st.Households) + len(st.Profiles) + len(st.Devices) + len(st.Grants) + len(st.Bindings)
	})
	if rows != 200+20+1000+2+400 {
		t.Fatalf("%d rows loaded", rows)
	}
	t.Logf("%.0f allocations for %d rows", allocs, rows)
	if per := allocs / float64(rows); per > 4 {
		t.Errorf("Load: %.0f allocations for %d rows, %.1f a row; want at most 4", allocs, rows, per)
	}
}

// TestDecodeFast checks the decoders on what the store's writes make:
// the fast path takes it, and reads what encoding/json reads.
func TestDecodeFast(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	devices := []store.Device{
		{ID: "d1", Household: "h1", Version: 3},
		{ID: "d2", Household: "h1", Name: "Émile's phone", Profile: "kid", MACs: []string{"02:00:00:00:00:01"}, Hostname: "phone", New: true, FirstSeen: at, Version: 1},
		{ID: "d3", Household: "h2", IPs: []string{"10.0.0.1", "2001:db8::1"}, ClientIDs: []string{"c1"}, DNSID: &store.DNSID{Label: "tab", Hint: "ab3x", Created: at}, Version: 9},
	}
	for _, d := range devices {
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		// As jsonb prints it: a space after each colon and comma.
		spaced := strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(string(data))
		for _, text := range []string{string(data), spaced} {
			dd := deviceDecoder{profiles: interner{}}
			var got store.Device
			row := [][]byte{[]byte(d.ID), []byte(d.Household), []byte("7"), []byte(text), nil}
			if err := dd.decode(row, []int16{0, 0, pgx.TextFormatCode, 0, 0}, &got); err != nil {
				t.Fatal(err)
			}
			var want store.Device
			if err := json.Unmarshal([]byte(text), &want); err != nil {
				t.Fatal(err)
			}
			sqlstore.DeviceRow(&want, d.ID, d.Household, 7, nil)
			if dd.slow != 0 || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %+v (%d slow), want %+v", text, got, dd.slow, want)
			}
		}
	}
	hd := householdDecoder{names: interner{}}
	var h store.Household
	row := [][]byte{[]byte("h1"), []byte("2"), []byte(`{"id": "h1", "name": "Home", "version": 2, "time_zone": "Europe/Paris", "default_profile": "kid"}`)}
	if err := hd.decode(row, []int16{0, pgx.TextFormatCode, 0}, &h); err != nil {
		t.Fatal(err)
	}
	if want := (store.Household{ID: "h1", Name: "Home", DefaultProfile: "kid", TimeZone: "Europe/Paris", Version: 2}); hd.slow != 0 || h != want {
		t.Errorf("household: got %+v (%d slow), want %+v", h, hd.slow, want)
	}
}

// TestLoadWhileLoading checks that a Load that starts while another reads
// on several connections reads on its first connection alone: Loads that
// each held a connection and waited for two more could take every
// connection of the pool and wait for each other for good.
func TestLoadWhileLoading(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := openDSN(t, &Config{DSN: newSchema(t) + "&pool_max_conns=3"})
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1"}); err != nil {
		t.Fatal(err)
	}
	shared := 0
	s.loaded = func() {
		shared++
		if shared > 1 {
			return
		}
		st, err := s.Load(ctx)
		if err != nil || len(st.Households) != 1 {
			t.Errorf("Load during a Load: %+v, %v", st, err)
		}
	}
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if shared != 1 {
		t.Errorf("%d Loads read on several connections, want the first alone", shared)
	}
}
