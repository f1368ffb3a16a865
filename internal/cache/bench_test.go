package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// The hit path answers from packed wire bytes (writeEntry). The benchmarks
// compare it with the obvious alternative, unpacking the stored answer,
// patching the dns.Msg and packing it again (hitUnpackPack below), on a
// small answer and on a CDN-like one (CNAME chain, four addresses). Both
// write the packed bytes to a writer that does nothing, as the real
// listener's WriteWire would send them.

var benchAnswers = []struct {
	name  string
	qname string
}{
	{"small", "www.example.test."},
	{"cdn", "www.cdn.test."},
}

var benchRecords = []string{
	"www.example.test. 300 IN A 192.0.2.1",
	"www.cdn.test. 300 IN CNAME www.cdn.test.edgekey.test.",
	"www.cdn.test.edgekey.test. 300 IN CNAME e1234.a.akamaiedge.test.",
	"e1234.a.akamaiedge.test. 20 IN A 192.0.2.10",
	"e1234.a.akamaiedge.test. 20 IN A 192.0.2.11",
	"e1234.a.akamaiedge.test. 20 IN A 192.0.2.12",
	"e1234.a.akamaiedge.test. 20 IN A 192.0.2.13",
}

func benchSetup(b *testing.B, qname string) (*Cache, *pipeline.Request) {
	b.Helper()
	// The real clock, as in production: time.Now is part of the cost.
	c, err := New(Config{Prefetch: true}, &fakeUpstream{reply: zone(b, benchRecords...)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Shutdown(context.Background()) })
	r := query{name: qname, qtype: dns.TypeA, edns: true}.req()
	if err := c.ServeDNS(context.Background(), &nopWriter{}, r); err != nil {
		b.Fatal(err)
	}
	return c, r
}

func BenchmarkHitWire(b *testing.B) {
	for _, ba := range benchAnswers {
		b.Run(ba.name, func(b *testing.B) {
			c, r := benchSetup(b, ba.qname)
			w := &nopWriter{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ServeDNS(ctx, w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHitUnpackPack(b *testing.B) {
	for _, ba := range benchAnswers {
		b.Run(ba.name, func(b *testing.B) {
			c, r := benchSetup(b, ba.qname)
			w := &nopWriter{}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.hitUnpackPack(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHitWireParallel measures hits on many cores, where the shard
// locks and counters could contend.
func BenchmarkHitWireParallel(b *testing.B) {
	c, r := benchSetup(b, "www.example.test.")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{}
		r := &pipeline.Request{Msg: r.Msg.Copy(), EDNS: r.EDNS, DO: r.DO, MaxSize: r.MaxSize}
		for pb.Next() {
			if err := c.ServeDNS(context.Background(), w, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// hitUnpackPack is the hit path done the other way: the same lookup, then
// unpack, patch the dns.Msg and pack into a pooled buffer.
func (c *Cache) hitUnpackPack(w pipeline.ResponseWriter, r *pipeline.Request) error {
	var kb keyBuf
	key, _ := makeKey(&kb, r)
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h&c.mask]
	now := c.clock(c.now())
	s.mu.RLock()
	e := s.lookup(h, key)
	if e == nil || !e.fresh(now) {
		s.mu.RUnlock()
		return errors.New("miss")
	}
	s.hits.Add(1)
	e.touch()
	ttl := e.remaining(now)
	m := new(dns.Msg)
	err := m.Unpack(e.wire())
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	m.Id = r.Msg.Id
	m.Question = r.Msg.Question
	m.RecursionDesired = r.Msg.RecursionDesired
	m.CheckingDisabled = r.Msg.CheckingDisabled
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rr.Header().Ttl = ttl
		}
	}
	if r.EDNS {
		m.SetEdns0(dnsmsg.UDPSize, r.DO)
	}
	m.Compress = true
	bp := c.getBuf()
	out, err := m.PackBuffer((*bp)[:cap(*bp)])
	if err != nil {
		return err
	}
	err = w.WriteWire(out)
	*bp = out[:0]
	c.putBuf(bp)
	return err
}

// TestHitUnpackPackMatchesWire keeps the benchmark honest: both paths must
// produce the same answer.
func TestHitUnpackPackMatchesWire(t *testing.T) {
	for _, ba := range benchAnswers {
		c, _ := newTestCache(t, Config{}, &fakeUpstream{reply: zone(t, benchRecords...)})
		q := query{name: ba.qname, qtype: dns.TypeA, edns: true, do: true}
		want := mustAsk(t, c, q)
		rec := &recorderWire{}
		if err := c.hitUnpackPack(rec, q.req()); err != nil {
			t.Fatal(err)
		}
		got := new(dns.Msg)
		if err := got.Unpack(rec.b); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: unpack/pack answer\n%v\nwire answer\n%v", ba.name, got, want)
		}
	}
}

type recorderWire struct{ b []byte }

func (r *recorderWire) WriteMsg(m *dns.Msg) error { return errors.New("unexpected WriteMsg") }
func (r *recorderWire) WriteWire(b []byte) error {
	r.b = append([]byte(nil), b...)
	return nil
}

// BenchmarkMiss measures the cache's own share of a miss: the lookup, the
// flight, the upstream answer (a fake upstream's one-address reply, whose
// making is counted too) packed into a new entry, and the answer written
// from it. Its garbage is what the collector must reclaim at every miss.
func BenchmarkMiss(b *testing.B) {
	c, err := New(Config{Size: 1 << 20, MaxBytes: 1 << 30}, oneAddress())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Shutdown(context.Background()) })
	reqs := make([]*pipeline.Request, 1<<16)
	for i := range reqs {
		reqs[i] = query{name: fmt.Sprintf("u%08d.miss.test.", i), qtype: dns.TypeA, edns: true}.req()
	}
	w := &nopWriter{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			c.Shutdown(context.Background())
			if c, err = New(Config{Size: 1 << 20, MaxBytes: 1 << 30}, oneAddress()); err != nil {
				b.Fatal(err)
			}
			i = 0
			b.StartTimer()
		}
		if err := c.ServeDNS(context.Background(), w, reqs[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
