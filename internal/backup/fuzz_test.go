package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hearth-dns/hearth/internal/backup"
)

// FuzzDecode: no input makes Decode panic, and what it accepts writes out
// and reads back the same (an export survives its own round trip).
func FuzzDecode(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("testdata", "family.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(`{"format": "hearth-export", "version": 2}`))
	f.Add([]byte(`{"format": "hearth-export", "version": 1, "devices": [{"id": "x", "ips": ["::1"]}]}`))
	f.Add([]byte(`{"format": "hearth-export", "version": 1, "settings": null, "households": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := backup.Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := d.Write(&out); err != nil {
			t.Fatalf("write: %v", err)
		}
		d2, err := backup.Decode(&out)
		if err != nil {
			t.Fatalf("decode of its own output: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(normal(d), normal(d2)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", d, d2)
		}
	})
}

// normal makes nil and empty lists and maps compare equal.
func normal(d *backup.Document) backup.Document {
	n := *d
	if len(n.Households) == 0 {
		n.Households = nil
	}
	if len(n.Profiles) == 0 {
		n.Profiles = nil
	}
	if len(n.Devices) == 0 {
		n.Devices = nil
	}
	if len(n.Bindings) == 0 {
		n.Bindings = nil
	}
	if len(n.Settings) == 0 {
		n.Settings = nil
	}
	return n
}
