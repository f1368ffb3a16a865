package largedata

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLocate checks the lookup order: the environment variable, else the
// folder beside the repository; a folder without the probe file is
// reported with the variable to set.
func TestLocate(t *testing.T) {
	withManifest := t.TempDir()
	if err := os.WriteFile(filepath.Join(withManifest, "MANIFEST.tsv"), []byte("file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		wantDir string
		wantErr bool
	}{
		{"env names a folder with the manifest", withManifest, withManifest, false},
		{"env names a folder without it", t.TempDir(), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvData, tt.env)
			dir, err := locate(EnvData, "data", "MANIFEST.tsv")
			if (err != nil) != tt.wantErr || dir != tt.wantDir {
				t.Errorf("locate = %q, %v; want %q, error %v", dir, err, tt.wantDir, tt.wantErr)
			}
		})
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testutil", "largedata", "largedata.go")); err != nil {
		t.Errorf("repoRoot %s is not the repository: %v", root, err)
	}
}
