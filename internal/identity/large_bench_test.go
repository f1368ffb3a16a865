package identity

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/hearth-dns/hearth/internal/pipeline"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// BenchmarkIdentifyLarge looks up random devices among 2^21, of 2^19
// households, by client id and by address: far more than the CPU caches
// hold, as at a million households, where what a lookup costs is its
// dependent cache misses (table slot, device record, household record).
// cpu-ns/op is the thread's CPU time (wall time on a shared machine
// counts the waits for a CPU).
func BenchmarkIdentifyLarge(b *testing.B) {
	const n, households = 1 << 21, 1 << 19
	r := rand.New(rand.NewPCG(1, 2))
	c := Config{DefaultProfile: "adult", Devices: make([]Device, n), Households: make([]Household, households)}
	for i := range c.Households {
		c.Households[i] = Household{ID: fmt.Sprintf("h%07d", i), DefaultProfile: "kid"}
	}
	for i := range c.Devices {
		c.Devices[i] = Device{Name: fmt.Sprintf("d%07d", i), Household: c.Households[r.IntN(households)].ID}
		if i%2 == 0 {
			c.Devices[i].ClientIDs = []string{fmt.Sprintf("c%08d", i)}
		} else {
			c.Devices[i].IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
		}
	}
	id := newTestIdentifier(b, c)
	c = Config{}
	for _, kind := range []struct {
		name string
		req  func(i int) pipeline.Request
		via  string
	}{
		{"clientid", func(i int) pipeline.Request {
			return pipeline.Request{ClientID: fmt.Sprintf("C%08d", i&^1), Client: netip.MustParseAddrPort(stranger)}
		}, viaClientID},
		{"addr", func(i int) pipeline.Request {
			i |= 1
			return pipeline.Request{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 53)}
		}, viaIP},
	} {
		reqs := make([]pipeline.Request, 1<<16)
		for i := range reqs {
			reqs[i] = kind.req(r.IntN(n))
		}
		b.Run(kind.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			i, cpu := 0, cycles.ThreadCPU()
			for b.Loop() {
				if ident := id.Identify(&reqs[i&(len(reqs)-1)]); ident.Via != kind.via {
					b.Fatalf("%+v: %+v", reqs[i&(len(reqs)-1)], ident)
				}
				i++
			}
			b.ReportMetric(float64(cycles.ThreadCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
