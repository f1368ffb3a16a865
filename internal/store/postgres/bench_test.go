package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// benchStore opens a store with one household and one profile.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s := openDSN(b, &Config{DSN: newSchema(b)})
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

// BenchmarkPutDevice measures one durable create: the checks, the row,
// the feed entry and the commit (the test cluster runs with fsync=off:
// this is the round trips and the locking, not the disk).
func BenchmarkPutDevice(b *testing.B) {
	s := benchStore(b)
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

// BenchmarkPutDeviceParallel measures creates from many goroutines, which
// queue for the feed head lock.
func BenchmarkPutDeviceParallel(b *testing.B) {
	s := benchStore(b)
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

// BenchmarkLoad reads a household of 1,000 devices with 100 grants.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b)
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
