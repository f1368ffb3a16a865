package identity

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func TestNewDNSID(t *testing.T) {
	tests := []struct {
		name, wantLabel string
	}{
		{"Dad's phone", "dads-phone"},
		{"", ""},
		{"  --  ", ""},
		{"Émile iPad 2", "mile-ipad-2"},
		{strings.Repeat("a", 80), strings.Repeat("a", maxDNSIDLabel)},
		{strings.Repeat("ab ", 30), strings.TrimRight(strings.Repeat("ab-", 30)[:maxDNSIDLabel], "-")},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDNSID(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if d.Label != tc.wantLabel {
				t.Errorf("label %q, want %q", d.Label, tc.wantLabel)
			}
			secret := d.ID[len(d.ID)-SecretLen:]
			if want := d.Label + "-" + secret; d.Label != "" && d.ID != want || d.Label == "" && d.ID != secret {
				t.Errorf("id %q: not label-secret", d.ID)
			}
			if len(d.ID) > maxClientID {
				t.Errorf("id %q: %d characters, more than one DNS label", d.ID, len(d.ID))
			}
			if _, ok := dns.IsDomainName(d.ID + ".dns.example.net"); !ok {
				t.Errorf("id %q does not make a host name", d.ID)
			}
			if _, err := ParseDNSIDHash(d.Hash); err != nil {
				t.Error(err)
			}
			if strings.Contains(d.Hash, secret) || d.Hint != secret[:4] {
				t.Errorf("hash %q, hint %q for secret %q", d.Hash, d.Hint, secret)
			}
			if seen[secret] {
				t.Errorf("secret %q made twice", secret)
			}
			seen[secret] = true
		})
	}
}

// dnsIDConfig is the test home where Dad's phone has a DNS id and Emma's
// tablet still has the chosen id "emma".
func dnsIDConfig(t testing.TB) (Config, DNSID) {
	t.Helper()
	dad, err := NewDNSID("Dad's phone")
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.Devices = append(c.Devices, Device{Name: "dad-phone", Profile: "adult", Household: "home", DNSIDHash: dad.Hash})
	return c, dad
}

func TestIdentifyDNSID(t *testing.T) {
	c, dad := dnsIDConfig(t)
	id := newTestIdentifier(t, c)
	secret := dad.ID[len(dad.ID)-SecretLen:]
	other, _ := NewDNSID("Dad's phone")
	tests := []struct {
		name        string
		r           *pipeline.Request
		wantDevice  string
		wantVia     string
		wantUnknown bool
	}{
		{"DoH path", &pipeline.Request{ClientID: dad.ID}, "dad-phone", "dns-id", false},
		{"SNI", &pipeline.Request{ServerName: dad.ID + ".dns.example.net"}, "dad-phone", "dns-id", false},
		{"upper case SNI", &pipeline.Request{ServerName: strings.ToUpper(dad.ID) + ".DNS.example.net."}, "dad-phone", "dns-id", false},
		{"secret alone", &pipeline.Request{ClientID: secret}, "dad-phone", "dns-id", false},
		{"any label", &pipeline.Request{ClientID: "x-" + secret}, "dad-phone", "dns-id", false},
		{"label alone", &pipeline.Request{ClientID: "dads-phone"}, "", "default", true},
		{"label with another secret", &pipeline.Request{ClientID: other.ID}, "", "default", true},
		{"secret glued to label", &pipeline.Request{ClientID: "x" + secret}, "", "default", true},
		{"secret one character short", &pipeline.Request{ClientID: dad.ID[:len(dad.ID)-1]}, "", "default", true},
		{"hash as id", &pipeline.Request{ClientID: dad.Hash[:SecretLen]}, "", "default", true},
		{"chosen id still works", &pipeline.Request{ClientID: "emma"}, "emma-tablet", "client-id", false},
		{"trusted forwarder's device id", request(query(deviceIDOpt(dad.ID)), forwarder), "dad-phone", "dns-id", false},
		{"unknown SNI label", &pipeline.Request{ServerName: "guess.dns.example.net"}, "", "default", true},
		{"SNI of the service", &pipeline.Request{ServerName: "example.net"}, "", "default", false},
		{"no id", &pipeline.Request{}, "", "default", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Msg == nil {
				tc.r.Msg = query()
				tc.r.Client = netip.MustParseAddrPort(stranger)
			}
			got, _, unknown := id.identify(tc.r)
			if got.Device != tc.wantDevice || got.Via != tc.wantVia || unknown != tc.wantUnknown {
				t.Errorf("identify = %+v, unknown %v; want %q via %s, unknown %v", got, unknown, tc.wantDevice, tc.wantVia, tc.wantUnknown)
			}
		})
	}
	t.Run("no allocation", func(t *testing.T) {
		r := &pipeline.Request{Msg: query(), ClientID: dad.ID, Client: netip.MustParseAddrPort(stranger)}
		if n := testing.AllocsPerRun(100, func() { _ = id.Identify(r) }); n != 0 {
			t.Errorf("%v allocations per DNS id lookup, want 0", n)
		}
	})
}

func TestNewRejectsBadDNSIDHash(t *testing.T) {
	c, dad := dnsIDConfig(t)
	tests := []struct {
		name, hash, wantErr string
	}{
		{"short", "abcd", `device "tv": DNS id hash "abcd": want 64 hex digits`},
		{"not hex", strings.Repeat("z", 64), `device "tv": DNS id hash`},
		{"shared", dad.Hash, `device "tv": DNS id: already claimed by device "dad-phone"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			c.Devices = append([]Device(nil), c.Devices...)
			for i := range c.Devices {
				if c.Devices[i].Name == "tv" {
					c.Devices[i].DNSIDHash = tc.hash
					// The TV comes after Dad's phone for "shared".
					c.Devices = append(c.Devices[:i], append(c.Devices[i+1:], c.Devices[i])...)
					break
				}
			}
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// recordWriter keeps the answer a handler wrote.
type recordWriter struct{ msg *dns.Msg }

func (w *recordWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *recordWriter) WriteWire(b []byte) error {
	w.msg = new(dns.Msg)
	return w.msg.Unpack(b)
}

func TestGuardSlowsGuessing(t *testing.T) {
	clock := dnstest.NewClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	g := NewGuard(GuardConfig{Burst: 3, Every: 10 * time.Second, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c, dad := dnsIDConfig(t)
	c.Guard = g
	h := newTestIdentifier(t, c).Middleware()(pipeline.HandlerFunc(func(_ context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		return w.WriteMsg(new(dns.Msg).SetReply(r.Msg))
	}))
	type step struct {
		advance   time.Duration
		source    string
		clientID  string
		wantRcode int
	}
	kid, other := "192.168.1.50:40000", "192.168.1.51:40000"
	steps := []step{
		{0, kid, "guess1", dns.RcodeSuccess},
		{0, kid, "guess2", dns.RcodeSuccess},
		{0, kid, "guess3", dns.RcodeSuccess},
		{0, kid, "guess4", dns.RcodeRefused},
		{0, kid, "guess5", dns.RcodeRefused},
		// The right id is never slowed down, nor another source.
		{0, kid, dad.ID, dns.RcodeSuccess},
		{0, other, "guess1", dns.RcodeSuccess},
		// One more try per 10 s.
		{10 * time.Second, kid, "guess6", dns.RcodeSuccess},
		{0, kid, "guess7", dns.RcodeRefused},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		w := &recordWriter{}
		r := &pipeline.Request{Msg: query(), Client: netip.MustParseAddrPort(s.source), ClientID: s.clientID, Transport: pipeline.DoH}
		if err := h.ServeDNS(context.Background(), w, r); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if w.msg == nil || w.msg.Rcode != s.wantRcode {
			t.Fatalf("step %d (%s from %s): answer %v, want rcode %s", i, s.clientID, s.source, w.msg, dns.RcodeToString[s.wantRcode])
		}
	}
	st := g.Stats()
	if st.Unknown != 8 || st.Refused != 3 || len(st.Sources) != 2 || st.Sources[0].Tries != 7 || st.Sources[0].Refused != 3 {
		t.Errorf("stats %+v, want 8 unknown, 3 refused, the kid's 7 tries", st)
	}
	// One line per source per minute, never the id.
	if n := strings.Count(logs.String(), "unknown encrypted-DNS client id"); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "guess") {
		t.Errorf("log shows a presented id:\n%s", logs.String())
	}
}

func TestGuardTableIsBounded(t *testing.T) {
	clock := dnstest.NewClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	g := NewGuard(GuardConfig{Burst: 2, Every: time.Minute, MaxSources: 4, Now: clock.Now})
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	refused := 0
	for i := range 100 {
		for range 2 {
			if !g.Unknown(src(i)) {
				refused++
			}
		}
	}
	if n := len(g.Stats().Sources); n != 4 {
		t.Errorf("%d sources in the table, want the bound 4", n)
	}
	// 4 sources with their own bucket, the other 96 share one.
	if refused != 2*96-2 {
		t.Errorf("%d queries refused, want %d: new sources share one bucket when the table is full", refused, 2*96-2)
	}
	// Once idle sources have refilled, new ones get their own again.
	clock.Advance(3 * time.Minute)
	if !g.Unknown(src(500)) || !g.Unknown(src(500)) {
		t.Error("a new source after the table emptied was refused")
	}
	// IPv6 sources count by /64.
	a, b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::ffff:2")
	g.Unknown(a)
	g.Unknown(b)
	if g.Unknown(a) {
		t.Error("two addresses of one /64 had separate buckets")
	}
}

// BenchmarkIdentifyClientID compares a DNS id (hash, then constant-time
// compare) with a chosen client id (map lookup) and an unknown id.
func BenchmarkIdentifyClientID(b *testing.B) {
	c, dad := dnsIDConfig(b)
	id := newTestIdentifier(b, c)
	for _, bc := range []struct {
		name     string
		clientID string
	}{
		{"dns-id", dad.ID},
		{"chosen", "Leo-Phone"},
		{"unknown", "dads-phone-aaaaaaaaaaaaaaaa"},
	} {
		r := &pipeline.Request{Msg: query(), ClientID: bc.clientID, Client: netip.MustParseAddrPort(stranger)}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				id.Identify(r)
			}
		})
	}
}

// FuzzDNSIDLookup: any presented id either finds no device or the device
// whose secret it ends with, and never panics.
func FuzzDNSIDLookup(f *testing.F) {
	c, dad := dnsIDConfig(f)
	id := newTestIdentifier(f, c)
	secret := dad.ID[len(dad.ID)-SecretLen:]
	for _, s := range []string{dad.ID, secret, "-" + secret, "dads-phone", "", strings.Repeat("a", 70), strings.ToUpper(dad.ID)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := id.bySecret.lookup(s)
		if d != 0 && (len(s) < SecretLen || !strings.EqualFold(s[len(s)-SecretLen:], secret)) {
			t.Fatalf("%q found device %s", s, id.devices.at(uint32(d)).name)
		}
		if db := id.bySecret.lookupBytes([]byte(s)); db != d {
			t.Fatalf("%q: lookup and lookupBytes disagree", s)
		}
	})
}
