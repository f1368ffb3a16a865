package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/backup"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/postgres"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

var now = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

// backends opens a fresh store of each kind: SQLite always, PostgreSQL
// with the test cluster (scripts/postgres).
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), &sqlite.Config{Path: filepath.Join(t.TempDir(), "hearth.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), &postgres.Config{DSN: pgtest.DSN(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// checker is the API's checks with a config that defines a profile and a
// device of its own.
func checker(t *testing.T) backup.Checker {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("profiles:\n  guests: {preset: teen}\ndevices:\n  - {name: router, ip: 192.168.1.1, profile: guests}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := app.ImportChecker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readDoc decodes testdata/name.
func readDoc(t *testing.T, name string) *backup.Document {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := backup.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// home makes the home household as app.OpenStore does for a fresh install.
func home(t *testing.T, s store.Store) {
	t.Helper()
	if _, err := s.PutHousehold(context.Background(), store.Household{ID: store.HomeHousehold, Name: "Home"}); err != nil {
		t.Fatal(err)
	}
}

func export(t *testing.T, s store.Store) []byte {
	t.Helper()
	d, err := backup.Export(context.Background(), s, now)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := d.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRoundTrip: a family's export imports into a fresh store (with only
// the home household a new install makes), and exporting that store gives
// the same document, on both backends and across them.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	doc := readDoc(t, "family.json")
	var first []byte
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			home(t, s)
			res, err := backup.Import(ctx, s, doc, backup.Options{Checker: checker(t)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Replaced || res.Households != 2 || res.Profiles != 2 || res.Devices != 3 {
				t.Errorf("result %+v", res)
			}
			got := export(t, s)
			if first == nil {
				first = got
			} else if !bytes.Equal(got, first) {
				t.Errorf("export from %s differs from sqlite's:\n%s\nwant\n%s", b.name, got, first)
			}
			// Import the export into another fresh store: the same again.
			d2, err := backup.Decode(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			s2 := b.open(t)
			if _, err := backup.Import(ctx, s2, d2, backup.Options{Checker: checker(t)}); err != nil {
				t.Fatal(err)
			}
			if again := export(t, s2); !bytes.Equal(again, got) {
				t.Errorf("export → import → export differs:\n%s\nwant\n%s", again, got)
			}
			// What the export holds: canonical identifiers, the DNS id's
			// hash, the setting; nothing of accounts.
			for _, want := range []string{`"aa:bb:cc:dd:ee:01"`, `"hash": "` + strings.Repeat("ab", 32) + `"`, `"configured": "true"`, `"minutes": 120`} {
				if !bytes.Contains(got, []byte(want)) {
					t.Errorf("export lacks %s:\n%s", want, got)
				}
			}
		})
	}
}

// TestExportHasNoSecrets: password hashes, sessions, tokens and the
// first-run setup code never reach an export.
func TestExportHasNoSecrets(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			home(t, s)
			const hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
			must(t, s.PutUser(ctx, store.User{Name: "admin", PasswordHash: hash, Created: now}))
			must(t, s.CreateSession(ctx, store.Session{Hash: strings.Repeat("5e", 32), User: "admin", CSRF: "csrf-secret-value", Expires: now.Add(time.Hour)}))
			_, err := s.CreateToken(ctx, store.Token{Name: "prometheus", User: "admin", Hash: strings.Repeat("70", 32), Scope: store.ScopeRead, Created: now})
			must(t, err)
			must(t, s.PutSetting(ctx, "setup_code", "ABCD-EFGH-JKLM"))
			got := export(t, s)
			for _, secret := range []string{hash, "argon2", strings.Repeat("5e", 32), "csrf-secret-value", strings.Repeat("70", 32), "prometheus", "ABCD-EFGH-JKLM", `"admin"`} {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("export holds %q:\n%s", secret, got)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDecodeRefuses: what is not a version-1 export is refused before
// anything is read into a store, with a message that says why.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"future version", `{"format": "hearth-export", "version": 2, "households": []}`, "version 2: made by a newer Hearth; this Hearth reads exports up to version 1: upgrade Hearth"},
		{"no version", `{"format": "hearth-export"}`, `want a positive "version"`},
		{"zero version", `{"format": "hearth-export", "version": 0}`, `want a positive "version"`},
		{"other format", `{"format": "adguard", "version": 1}`, `not a Hearth export: want "format": "hearth-export"`},
		{"not JSON", `households: []`, "not a Hearth export"},
		{"unknown field", `{"format": "hearth-export", "version": 1, "users": [{"name": "admin"}]}`, `unknown field "users"`},
		{"wrong type", `{"format": "hearth-export", "version": 1, "devices": {}}`, "cannot unmarshal object"},
		{"trailing data", `{"format": "hearth-export", "version": 1} {}`, "after top-level value"},
		{"too large", `{"format": "hearth-export", "version": 1, "x": "` + strings.Repeat("a", backup.MaxSize) + `"}`, "larger than 32 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.Decode(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.name == "future version" && !errors.Is(err, backup.ErrFutureVersion) {
				t.Errorf("err %v is not ErrFutureVersion", err)
			}
		})
	}
}

// TestImportRefusesBadItems: every item goes through the API's checks; the
// error names the item, and the store is left exactly as it was.
func TestImportRefusesBadItems(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(d map[string]any)
		want string
	}{
		{"bad household id", set("households", 1, "id", "Bad Id"), `households[1] "Bad Id": id: "Bad Id" must be 1 to 63`},
		{"bad time zone", set("households", 0, "time_zone", "Mars/Olympus"), `households[0] "home": time_zone: "Mars/Olympus" is not an IANA time zone`},
		{"unknown default profile", set("households", 0, "default_profile", "nobody"), `households[0] "home": default_profile: no profile "nobody"`},
		{"profile without name", set("profiles", 0, "name", " "), `profiles[0] "emma": name: required`},
		{"unknown category", set("profiles", 1, "block", []any{"gambling", "knitting"}), `profiles[1] "leo":`},
		{"profile of unknown household", set("profiles", 0, "household", "nowhere"), `profiles[0] "emma": household: no household "nowhere" in the export`},
		{"profile redefines a preset", set("profiles", 0, "id", "kid"), `profiles[0] "kid": id: a profile of the config file or a preset has this id`},
		{"profile redefines the config's", set("profiles", 0, "id", "guests"), `profiles[0] "guests": id: a profile of the config file`},
		{"bad ip", set("devices", 0, "ips", []any{"192.168.1.300"}), `devices[0] "emmas-tablet": ips[0]:`},
		{"bad mac", set("devices", 0, "macs", []any{"aa:bb"}), `devices[0] "emmas-tablet": macs[0]:`},
		{"address held twice", set("devices", 1, "ips", []any{"192.168.1.30"}), `devices[1] "leos-console": ips[0]:`},
		{"the config device's address", set("devices", 1, "ips", []any{"192.168.1.1"}), `devices[1] "leos-console": ips[0]: ip 192.168.1.1 belongs to device router`},
		{"config device id", set("devices", 1, "id", "router"), `devices[1] "router": id: a device of the config file has this id`},
		{"unknown profile", set("devices", 0, "profile", "nobody"), `devices[0] "emmas-tablet": profile: no profile "nobody"`},
		{"bad DNS id hash", set("devices", 2, "dns_id", map[string]any{"hash": "xyz", "hint": "abcd"}), `devices[2] "dads-phone": dns_id: DNS id hash "xyz"`},
		{"duplicate device", set("devices", 1, "id", "emmas-tablet"), `devices[1] "emmas-tablet": id: a second device with this id`},
		{"hostname", set("devices", 0, "hostname", "bad host!"), `devices[0] "emmas-tablet": hostname:`},
		{"secret setting", setSetting("setup_code", "ABCD"), `settings: unknown key "setup_code"`},
		{"budget of a day too long", func(m map[string]any) {
			m["profiles"].([]any)[1].(map[string]any)["budgets"] = []any{map[string]any{"tag": "games", "minutes": 2000}}
		}, `profiles[1] "leo":`},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			home(t, s)
			before := export(t, s)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					d := edited(t, tc.edit)
					_, err := backup.Import(ctx, s, d, backup.Options{Checker: checker(t)})
					if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, backup.ErrInvalid) {
						t.Fatalf("err %v, want ErrInvalid with %q", err, tc.want)
					}
					if after := export(t, s); !bytes.Equal(after, before) {
						t.Errorf("a refused import changed the store:\n%s", after)
					}
				})
			}
		})
	}
}

// TestImportNeedsReplace: a store in use is not overwritten unless asked;
// with Replace its items give way to the export's, accounts stay.
func TestImportNeedsReplace(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			home(t, s)
			_, err := s.PutProfile(ctx, store.Profile{ID: "old", Household: store.HomeHousehold, Name: "Old", Preset: "kid"})
			must(t, err)
			_, err = s.PutDevice(ctx, store.Device{ID: "old-tv", Household: store.HomeHousehold, Name: "Old TV", Profile: "old", IPs: []string{"192.168.1.30"}})
			must(t, err)
			_, err = s.AddGrant(ctx, store.Grant{Device: "old-tv", Kind: store.GrantPause, Until: now.Add(time.Hour), Created: now})
			must(t, err)
			must(t, s.PutUser(ctx, store.User{Name: "admin", PasswordHash: "$argon2id$x", Created: now}))
			h, err := s.Household(ctx, store.HomeHousehold)
			must(t, err)
			h.DefaultProfile = "old"
			_, err = s.PutHousehold(ctx, h)
			must(t, err)
			before := export(t, s)

			doc := readDoc(t, "family.json")
			_, err = backup.Import(ctx, s, doc, backup.Options{Checker: checker(t)})
			if !errors.Is(err, backup.ErrNotEmpty) || !strings.Contains(err.Error(), "--replace") {
				t.Fatalf("import into a store in use: %v, want ErrNotEmpty naming --replace", err)
			}
			if after := export(t, s); !bytes.Equal(after, before) {
				t.Errorf("a refused import changed the store:\n%s", after)
			}
			res, err := backup.Import(ctx, s, doc, backup.Options{Checker: checker(t), Replace: true})
			if err != nil || !res.Replaced {
				t.Fatalf("replace: %+v %v", res, err)
			}
			if _, err := s.Profile(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("profile old after replace: %v, want gone", err)
			}
			if g, _ := s.Grants(ctx, ""); len(g) != 0 {
				t.Errorf("grants after replace: %v", g)
			}
			if _, err := s.User(ctx, "admin"); err != nil {
				t.Errorf("the admin account after replace: %v", err)
			}
			fresh := b.open(t)
			home(t, fresh)
			_, err = backup.Import(ctx, fresh, doc, backup.Options{Checker: checker(t)})
			must(t, err)
			if got, want := export(t, s), export(t, fresh); !bytes.Equal(got, want) {
				t.Errorf("replaced store's export differs from a fresh import's:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// failingStore fails the PutDevice call numbered fail (from 0) once: a
// write lost in the middle of an import (a full disk, a dropped
// connection), after which writes work again for the undo.
type failingStore struct {
	store.Store
	calls, fail int
}

func (f *failingStore) PutDevice(ctx context.Context, d store.Device) (store.Device, error) {
	f.calls++
	if f.calls-1 == f.fail {
		return store.Device{}, errors.New("disk full")
	}
	return f.Store.PutDevice(ctx, d)
}

// TestImportAllOrNothing: a write that fails part way leaves the store as
// it was before the import, in a fresh install and after Replace.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, replace := range []bool{false, true} {
				s := b.open(t)
				home(t, s)
				if replace {
					_, err := s.PutProfile(ctx, store.Profile{ID: "old", Household: store.HomeHousehold, Name: "Old", Preset: "kid"})
					must(t, err)
					_, err = s.PutDevice(ctx, store.Device{ID: "old-tv", Household: store.HomeHousehold, Name: "Old TV", Profile: "old", IPs: []string{"192.168.1.30"}})
					must(t, err)
				}
				before := export(t, s)
				_, err := backup.Import(ctx, &failingStore{Store: s, fail: 2}, readDoc(t, "family.json"), backup.Options{Checker: checker(t), Replace: replace})
				if err == nil || !strings.Contains(err.Error(), `devices[2] "dads-phone"`) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "nothing was changed") {
					t.Fatalf("replace=%v: err %v, want the device named, the cause, and nothing changed", replace, err)
				}
				if after := export(t, s); !bytes.Equal(after, before) {
					t.Errorf("replace=%v: a failed import changed the store:\n%s\nwant\n%s", replace, after, before)
				}
			}
		})
	}
}

// edited returns testdata/family.json changed by edit.
func edited(t *testing.T, edit func(map[string]any)) *backup.Document {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "family.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := backup.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// set sets field of the i-th item of list.
func set(list string, i int, field string, v any) func(map[string]any) {
	return func(m map[string]any) {
		m[list].([]any)[i].(map[string]any)[field] = v
	}
}

func setSetting(k, v string) func(map[string]any) {
	return func(m map[string]any) { m["settings"].(map[string]any)[k] = v }
}

// TestSampleIsCurrent keeps testdata/family.json what this build exports
// (apart from its time), so the round trip tests today's format.
func TestSampleIsCurrent(t *testing.T) {
	d := readDoc(t, "family.json")
	if d.Format != backup.Format || d.Version != backup.Version {
		t.Fatalf("sample is %s v%d", d.Format, d.Version)
	}
	v := reflect.ValueOf(*d)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() && v.Type().Field(i).Name != "Bindings" {
			t.Errorf("sample leaves %s empty", v.Type().Field(i).Name)
		}
	}
}
