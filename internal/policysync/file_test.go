package policysync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
)

// TestSnapshotFile reads snapshot files as a start finds them.
func TestSnapshotFile(t *testing.T) {
	good, err := File{SetupDone: true, State: store.State{Seq: 7, Devices: []store.Device{{ID: "tab", Profile: "kid"}}}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		content   *string
		wantErr   string
		wantSeq   int64
		wantSetup bool
	}{
		{"missing", nil, "", 0, false},
		{"good", ptr(string(good)), "", 7, true},
		{"truncated", ptr(string(good[:len(good)/2])), "unexpected end of JSON input", 0, false},
		{"other version", ptr(`{"version": 99}`), "version 99", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if tc.content != nil {
				if err := WriteFileAtomic(path, []byte(*tc.content)); err != nil {
					t.Fatal(err)
				}
			}
			f, err := ReadFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadFile: %v, want an error naming %s with %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil || f.State.Seq != tc.wantSeq || f.SetupDone != tc.wantSetup {
				t.Fatalf("ReadFile: %+v %v, want seq %d setup %v", f, err, tc.wantSeq, tc.wantSetup)
			}
		})
	}
}

// TestWriteFileAtomicKeepsOldOnFailure: a write that cannot finish leaves
// the previous file whole and no temporary file behind.
func TestWriteFileAtomicKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := WriteFileAtomic(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// The target is a directory now: the rename fails after the write.
	bad := filepath.Join(dir, "sub")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(bad, []byte("new")); err == nil {
		t.Fatal("writing over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left: %v, want the snapshot and the directory", entries)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "old" {
		t.Errorf("old file: %q %v", b, err)
	}
}

func ptr(s string) *string { return &s }
