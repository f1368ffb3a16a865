package policysync

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// FileName is the snapshot file's name in the data directory.
const FileName = "policy-snapshot.json"

// fileVersion is the format of File; a file of another version is not
// used.
const fileVersion = 1

// Model is the generation of the JSON form of the store items a File
// holds. A file of another Model still serves when the store cannot be
// read, but a node resumes from a file (applying only the changes after
// its Seq) only when its Model is this one: the agreement check compares
// counts and versions, not contents, so it would not notice items read
// in an older form. Bump it whenever a store item's JSON form changes
// meaning.
const Model = 1

// File is the local snapshot file: the last store state a policy was
// compiled from, kept in the data directory so that DNS keeps answering
// by the parents' rules when the store cannot be read (a corrupted or
// truncated database, a read-only or full disk), and the fact that setup
// was done, so that losing the database never reopens first-run setup.
type File struct {
	Version int `json:"version"`
	// Saved is when the file was written.
	Saved time.Time `json:"saved"`
	// SetupDone is true once an administrator existed; it never goes
	// back to false.
	SetupDone bool `json:"setup_done"`
	// State is the store state of the policy in effect when saved; its
	// Seq is the last change applied, which a node resumes from.
	State store.State `json:"state"`
	// Model is the Model of the code that wrote the file (0 before
	// nodes resumed from it).
	Model int `json:"model,omitempty"`
}

// ReadFile reads the snapshot file at path. A missing file gives a zero
// File and no error; a file that cannot be read or parsed gives an error
// that names it.
func ReadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("reading policy snapshot: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("policy snapshot %s: %w", path, err)
	}
	if f.Version != fileVersion {
		return File{}, fmt.Errorf("policy snapshot %s: version %d, want %d", path, f.Version, fileVersion)
	}
	return f, nil
}

// Encode returns f in the file's form, with the current version.
func (f File) Encode() ([]byte, error) {
	f.Version, f.Model = fileVersion, Model
	return json.Marshal(f)
}

// WriteFileAtomic writes data to path so that a reader, or a start after
// a crash or a full disk, finds either the old file whole or the new one
// whole: it writes a temporary file beside path, syncs it, renames it
// over path, and syncs the directory.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
