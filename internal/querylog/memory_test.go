package querylog

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemoryStaysUnderBound fills a Writer the way a flood of new names
// does (every name new and MaxNameLen long, every explanation MaxTextLen
// long, all in one second so that no row is over) while entries keep
// arriving between its INSERTs, and checks that the heap it holds, read
// after a collection at the peak of every write, stays under
// MemoryBound, and the held rows under maxHeld plus the buffer.
func TestMemoryStaysUnderBound(t *testing.T) {
	const buffer = 1024
	// Enough entries to fill the name cache and start it over.
	total := maxCachedNames + maxCachedNames/2
	// Entries a few microseconds apart (the keys are microseconds), all
	// within one second.
	perEntry := time.Second / time.Duration(2*total)
	bound := MemoryBound(buffer)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	w := newWriter(t, Config{Buffer: buffer, Now: func() time.Time { return t0 }})
	pad := strings.Repeat("a", 63)
	long := "." + pad + "." + pad + "." + pad + "." + pad + ".example."
	text := []byte(strings.Repeat("x", MaxTextLen))
	var e Entry
	logged := 0 // names used, including those of dropped entries
	logSome := func(n int) {
		for range n {
			e = Entry{Time: t0.UnixNano() + int64(logged)*int64(perEntry), Client: netip.AddrFrom4([4]byte{10, 0, 0, 1}),
				Device: "tablet", Profile: "kid", Reason: "none", QType: 1, Transport: TransportUDP}
			name := strconv.Itoa(logged) + long
			e.SetName([]byte(name[:MaxNameLen]))
			e.SetText(text)
			w.Log(&e)
			logged++
		}
	}
	var peak, peakHeld uint64
	measure := func() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc-min(ms.HeapAlloc, base))
		peakHeld = max(peakHeld, uint64(len(w.wconn.held)))
	}
	measured := false
	w.hook = func() {
		// Between two INSERTs: the held rows are at their largest, and
		// entries keep arriving.
		if !measured {
			measure()
			measured = true
		}
		logSome(buffer / 2)
	}
	ctx := context.Background()
	for w.Stats().Logged < uint64(total) {
		logSome(buffer - w.buffered())
		measured = false
		if err := w.write(ctx, keepOpen); err != nil {
			t.Fatalf("write: %v", err)
		}
		measure()
	}
	if peakHeld > maxHeld+buffer {
		t.Errorf("held %d rows, want at most maxHeld+buffer = %d", peakHeld, maxHeld+buffer)
	}
	if int64(peak) > bound {
		t.Errorf("the log held %d bytes, more than MemoryBound(%d) = %d", peak, buffer, bound)
	}
	t.Logf("peak %d bytes (%d held rows) of MemoryBound %d", peak, peakHeld, bound)
}

// TestMemoryBound: the default buffer is counted, and the bound grows
// with the buffer by at least its entries.
func TestMemoryBound(t *testing.T) {
	if MemoryBound(0) != MemoryBound(DefaultBuffer) {
		t.Errorf("MemoryBound(0) = %d, want MemoryBound(DefaultBuffer) = %d", MemoryBound(0), MemoryBound(DefaultBuffer))
	}
	if d := MemoryBound(2*DefaultBuffer) - MemoryBound(DefaultBuffer); d < DefaultBuffer*int64(len(Entry{}.Name)+len(Entry{}.Text)) {
		t.Errorf("doubling the buffer adds %d bytes, less than its entries", d)
	}
}

// TestWriterCacheSize: the writer's connection has an 8 MiB page cache
// (writerCacheKiB), the others 2 MiB; SQLite's page caches are outside
// the Go heap and stay full once filled, so they count in RSS whole.
func TestWriterCacheSize(t *testing.T) {
	w := newWriter(t, Config{})
	ctx := context.Background()
	var writer, reader int
	if err := w.wconn.conn.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&writer); err != nil {
		t.Fatal(err)
	}
	if err := w.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&reader); err != nil {
		t.Fatal(err)
	}
	if writer != -8192 || reader != -2048 {
		t.Errorf("cache_size: writer %d, reader %d; want -8192 (8 MiB) and -2048 (2 MiB)", writer, reader)
	}
}
