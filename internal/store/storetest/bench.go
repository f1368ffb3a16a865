package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Bench runs the benchmarks every backend reports, side by side in one
// run: open returns an empty store that b cleans up.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("PutDevice", func(b *testing.B) { benchPutDevice(b, benchStore(b, open)) })
	b.Run("PutDeviceParallel", func(b *testing.B) { benchPutDeviceParallel(b, benchStore(b, open)) })
	b.Run("Load", func(b *testing.B) { benchLoad(b, benchStore(b, open)) })
	b.Run("PutBindings1000", func(b *testing.B) { benchPutBindings(b, benchStore(b, open)) })
}

// benchPutBindings measures one batch of an import: 1000 new IPv4
// bindings in one transaction, with their feed entries. ns/op divided by
// 1000 is the cost of one binding.
func benchPutBindings(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	batch := make([]store.Binding, 1000)
	n := 0
	for b.Loop() {
		for j := range batch {
			batch[j] = store.Binding{Kind: store.BindIPv4, Key: fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255), Household: "h", Origin: store.OriginImport}
			n++
		}
		if _, err := s.PutBindings(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStore opens a store with one household and one profile.
func benchStore(b *testing.B, open func(b *testing.B) store.Store) store.Store {
	b.Helper()
	s := open(b)
	ctx := context.Background()
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutProfile(ctx, store.Profile{ID: "p", Household: "h", Block: []string{"social", "games"}}); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchDevice(i int) store.Device {
	return store.Device{
		ID:        fmt.Sprintf("device-%06d", i),
		Household: "h",
		Profile:   "p",
		Name:      fmt.Sprintf("Device %d", i),
		IPs:       []string{fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)},
		MACs:      []string{fmt.Sprintf("02:00:00:00:%02x:%02x", i/256%256, i%256)},
		FirstSeen: time.Unix(1_770_000_000, int64(i)),
	}
}

// benchPutDevice measures one durable create: the checks, the row, the
// feed entry and the commit.
func benchPutDevice(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.PutDevice(ctx, benchDevice(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchPutDeviceParallel measures creates from many goroutines, which
// queue for the writer.
func benchPutDeviceParallel(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.PutDevice(ctx, benchDevice(int(next.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchLoad reads a household of 1,000 devices with 100 grants.
func benchLoad(b *testing.B, s store.Store) {
	ctx := context.Background()
	for i := range 1000 {
		if _, err := s.PutDevice(ctx, benchDevice(i)); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			g := store.Grant{Device: benchDevice(i).ID, Kind: store.GrantAllow, Target: "games", Until: time.Unix(1_780_000_000, 0)}
			if _, err := s.AddGrant(ctx, g); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Devices) != 1000 || len(st.Grants) != 100 {
			b.Fatalf("loaded %d devices, %d grants", len(st.Devices), len(st.Grants))
		}
	}
}
