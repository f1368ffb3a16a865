package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", maxImportLine+10)
	tests := []struct {
		name string
		in   string
		want []string // "LONG" for a line too long
	}{
		{"lines", "a\nb\n", []string{"a", "b"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"blank lines kept for numbering", "a\n\nb\n", []string{"a", "", "b"}},
		{"long line skipped whole", "a\n" + long + "\nb\n", []string{"a", "LONG", "b"}},
		{"long last line", "a\n" + long, []string{"a", "LONG"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		lr := lineReader{r: bufio.NewReaderSize(strings.NewReader(tc.in), maxImportLine)}
		var got []string
		for {
			line, isLong, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if isLong {
				got = append(got, "LONG")
			} else {
				got = append(got, string(line))
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: lines %q, want %q", tc.name, got, tc.want)
		}
	}
}

// bindingStore is a store that takes bindings and knows household h.
type bindingStore struct {
	store.Store
	puts int
}

func (s *bindingStore) PutBindings(ctx context.Context, bs []store.Binding) (int, error) {
	for _, b := range bs {
		if b.Household != "h" {
			return 0, store.ErrInvalid
		}
	}
	s.puts += len(bs)
	return len(bs), nil
}

func (s *bindingStore) Household(ctx context.Context, id string) (store.Household, error) {
	if id != "h" {
		return store.Household{}, store.ErrNotFound
	}
	return store.Household{ID: id}, nil
}

// TestImportBodyTooLarge: a body past the server's cap stops the import
// with 413; the batches before it are stored and counted.
func TestImportBodyTooLarge(t *testing.T) {
	st := &bindingStore{}
	a := &API{c: Config{Store: st, Backend: syncedBackend{}, Now: time.Now}, log: slog.New(slog.DiscardHandler)}
	line := `{"kind":"ipv4","key":"10.0.0.1","household":"h"}` + "\n"
	body := strings.Repeat(line, importBatch+10)
	srv := httptest.NewServer(http.MaxBytesHandler(http.HandlerFunc(a.importBindings), int64(len(line)*(importBatch+5))))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res ImportResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(res.Error, "larger than") {
		t.Errorf("%d %+v, want 413 saying the body is too large", resp.StatusCode, res)
	}
	if st.puts != importBatch {
		t.Errorf("stored %d bindings, want the first batch of %d", st.puts, importBatch)
	}
}
