package radius

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/rfc4818"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/store"
)

// fakeStore records the writes; err, when set, is what they return.
type fakeStore struct {
	mu   sync.Mutex
	puts [][]store.Binding
	dels [][]store.BindingKey
	err  error
}

func (f *fakeStore) PutBindings(ctx context.Context, bs []store.Binding) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, bs)
	return len(bs), f.err
}

func (f *fakeStore) DeleteBindings(ctx context.Context, keys []store.BindingKey) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dels = append(f.dels, keys)
	return len(keys), f.err
}

var (
	nasSecret   = []byte("nas-secret")
	innerSecret = []byte("inner-secret")
	nas         = netip.MustParseAddrPort("192.0.2.1:40000")
	innerNAS    = netip.MustParseAddrPort("192.0.2.200:40000")
)

func testServer(t testing.TB, f Binder, attr string) *Server {
	t.Helper()
	s, err := New(Config{
		Clients: []Client{
			{Network: netip.MustParsePrefix("192.0.2.0/24"), Secret: nasSecret},
			{Network: netip.MustParsePrefix("192.0.2.128/25"), Secret: innerSecret},
		},
		SubscriberAttribute: attr,
		Store:               f,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// accounting builds an Accounting-Request as a NAS would, encoded with
// secret. edit adds its attributes.
func accounting(t testing.TB, secret []byte, status rfc2866.AcctStatusType, edit func(p *radius.Packet)) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, secret)
	p.Identifier = 7
	must(t, rfc2866.AcctStatusType_Set(p, status))
	if edit != nil {
		edit(p)
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func prefix(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// session is a subscriber's session: household smiths, session s-1, an
// IPv4 address, the WAN /64 and the delegated /56.
func session(t testing.TB) func(p *radius.Packet) {
	return func(p *radius.Packet) {
		must(t, rfc2865.UserName_SetString(p, "smiths"))
		must(t, rfc2866.AcctSessionID_SetString(p, "s-1"))
		must(t, rfc2865.FramedIPAddress_Set(p, net.ParseIP("198.51.100.7")))
		must(t, rfc3162.FramedIPv6Prefix_Set(p, prefix("2001:db8:7:ff::/64")))
		must(t, rfc4818.DelegatedIPv6Prefix_Set(p, prefix("2001:db8:7::/56")))
	}
}

var sessionKeys = []store.BindingKey{
	{Kind: store.BindIPv4, Key: "198.51.100.7"},
	{Kind: store.BindIPv6, Key: "2001:db8:7:ff::/64"},
	{Kind: store.BindIPv6, Key: "2001:db8:7::/56"},
}

func sessionBindings(household string) []store.Binding {
	var out []store.Binding
	for _, k := range sessionKeys {
		out = append(out, store.Binding{Kind: k.Kind, Key: k.Key, Household: household, Origin: store.OriginRADIUS, Session: "s-1"})
	}
	return out
}

// TestHandle: what each packet does to the store, whether it is answered,
// and how it is counted.
func TestHandle(t *testing.T) {
	stop := []store.BindingKey{{Session: "s-1"}}
	tests := []struct {
		name       string
		attr       string
		from       netip.AddrPort
		packet     func(t *testing.T) []byte
		storeErr   error
		wantResult string
		wantAnswer bool
		wantPuts   [][]store.Binding
		wantDels   [][]store.BindingKey
	}{
		{name: "start binds the session's addresses", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "interim update binds again", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_InterimUpdate, session(t))
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "stop removes its session's bindings", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Stop, session(t))
		}, wantResult: ResultOK, wantAnswer: true, wantDels: [][]store.BindingKey{stop}},
		{name: "stop without addresses still removes its session's", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Stop, func(p *radius.Packet) {
				must(t, rfc2866.AcctSessionID_SetString(p, "s-1"))
			})
		}, wantResult: ResultOK, wantAnswer: true, wantDels: [][]store.BindingKey{stop}},
		{name: "the longest NAS network's secret", from: innerNAS, packet: func(t *testing.T) []byte {
			return accounting(t, innerSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "calling station id as the subscriber", attr: "Calling-Station-Id", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
				session(t)(p)
				must(t, rfc2865.CallingStationID_SetString(p, "joneses"))
			})
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("joneses")}},
		{name: "vendor-specific subscriber attribute", attr: "vendor:4874:1", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
				session(t)(p)
				vsa, err := radius.NewVendorSpecific(4874, radius.Attribute(append([]byte{1, 9}, "joneses"...)))
				must(t, err)
				p.Add(rfc2865.VendorSpecific_Type, vsa)
			})
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("joneses")}},
		{name: "unknown NAS", from: netip.MustParseAddrPort("203.0.113.1:1"), packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultUnknownNAS},
		{name: "wrong secret", packet: func(t *testing.T) []byte {
			return accounting(t, []byte("guess"), rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultBadAuthenticator},
		{name: "another NAS network's secret", from: innerNAS, packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultBadAuthenticator},
		{name: "tampered attribute", packet: func(t *testing.T) []byte {
			b := accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
			b[len(b)-1] ^= 1
			return b
		}, wantResult: ResultBadAuthenticator},
		{name: "access request", packet: func(t *testing.T) []byte {
			p := radius.New(radius.CodeAccessRequest, nasSecret)
			b, err := p.Encode()
			must(t, err)
			return b
		}, wantResult: ResultMalformed},
		{name: "short packet", packet: func(t *testing.T) []byte { return []byte{4, 1, 0, 19} }, wantResult: ResultMalformed},
		{name: "length past the datagram", packet: func(t *testing.T) []byte {
			b := accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
			return b[:len(b)-1]
		}, wantResult: ResultMalformed},
		{name: "padding after Length is ignored", packet: func(t *testing.T) []byte {
			return append(accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t)), 0, 0, 0)
		}, wantResult: ResultOK, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "no session id", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
				must(t, rfc2865.UserName_SetString(p, "smiths"))
				must(t, rfc2865.FramedIPAddress_Set(p, net.ParseIP("198.51.100.7")))
			})
		}, wantResult: ResultMalformed},
		{name: "subscriber that is no household id", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
				session(t)(p)
				p.Set(rfc2865.UserName_Type, radius.Attribute("Smith@isp.example"))
			})
		}, wantResult: ResultUnknownHousehold, wantAnswer: true},
		{name: "household the store does not have", storeErr: store.ErrInvalid, packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultUnknownHousehold, wantAnswer: true, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "store down: unanswered, so the NAS resends", storeErr: errors.New("database is down"), packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, session(t))
		}, wantResult: ResultStoreError, wantPuts: [][]store.Binding{sessionBindings("smiths")}},
		{name: "accounting on", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_AccountingOn, nil)
		}, wantResult: ResultIgnored, wantAnswer: true},
		{name: "NAS-assigns address is not bound", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
				must(t, rfc2865.UserName_SetString(p, "smiths"))
				must(t, rfc2866.AcctSessionID_SetString(p, "s-1"))
				must(t, rfc2865.FramedIPAddress_Set(p, net.ParseIP("255.255.255.254")))
			})
		}, wantResult: ResultIgnored, wantAnswer: true},
		{name: "unknown status type", packet: func(t *testing.T) []byte {
			return accounting(t, nasSecret, 15, session(t))
		}, wantResult: ResultMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{err: tc.storeErr}
			s := testServer(t, f, tc.attr)
			from := tc.from
			if !from.IsValid() {
				from = nas
			}
			req := tc.packet(t)
			resp, result := s.Handle(context.Background(), req, from)
			if result != tc.wantResult {
				t.Errorf("result %q, want %q", result, tc.wantResult)
			}
			if (resp != nil) != tc.wantAnswer {
				t.Errorf("answered %v, want %v", resp != nil, tc.wantAnswer)
			}
			if resp != nil {
				secret := nasSecret
				if from == innerNAS {
					secret = innerSecret
				}
				if !radius.IsAuthenticResponse(resp, req, secret) || radius.Code(resp[0]) != radius.CodeAccountingResponse || resp[1] != req[1] {
					t.Errorf("answer %x is not an authentic Accounting-Response to the request", resp)
				}
			}
			if !reflect.DeepEqual(f.puts, tc.wantPuts) {
				t.Errorf("puts %+v\nwant %+v", f.puts, tc.wantPuts)
			}
			if !reflect.DeepEqual(f.dels, tc.wantDels) {
				t.Errorf("deletes %+v\nwant %+v", f.dels, tc.wantDels)
			}
		})
	}
}

func TestParseAttribute(t *testing.T) {
	tests := []struct {
		in      string
		want    Attribute
		wantErr bool
	}{
		{in: "User-Name", want: Attribute{Type: 1}},
		{in: "calling-station-id", want: Attribute{Type: 31}},
		{in: "NAS-Port-Id", want: Attribute{Type: 87}},
		{in: "44", want: Attribute{Type: 44}},
		{in: "vendor:4874:1", want: Attribute{Type: 26, Vendor: 4874, VendorType: 1}},
		{in: "26", wantErr: true},
		{in: "0", wantErr: true},
		{in: "256", wantErr: true},
		{in: "vendor:4874", wantErr: true},
		{in: "vendor:0:1", wantErr: true},
		{in: "vendor:x:1", wantErr: true},
		{in: "Framed-Nonsense", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseAttribute(tc.in)
		if (err != nil) != tc.wantErr || !tc.wantErr && got != tc.want {
			t.Errorf("ParseAttribute(%q) = %+v, %v; want %+v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestListener: a Start from a layeh.com/radius client over loopback UDP
// is answered and bound; a wrong secret gets no answer and is counted;
// the metrics count what happened.
func TestListener(t *testing.T) {
	f := &fakeStore{}
	reg := metrics.NewRegistry()
	s, err := New(Config{
		Listen:  "127.0.0.1:0",
		Clients: []Client{{Network: netip.MustParsePrefix("127.0.0.0/8"), Secret: nasSecret}},
		Store:   f,
		Metrics: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	p := radius.New(radius.CodeAccountingRequest, nasSecret)
	must(t, rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Start))
	session(t)(p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := radius.Exchange(ctx, p, s.Addr())
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if resp.Code != radius.CodeAccountingResponse {
		t.Fatalf("answer %v, want Accounting-Response", resp.Code)
	}
	f.mu.Lock()
	puts := f.puts
	f.mu.Unlock()
	if !reflect.DeepEqual(puts, [][]store.Binding{sessionBindings("smiths")}) {
		t.Errorf("puts %+v", puts)
	}

	// A wrong secret, then the good Start again on the same socket: only
	// the second is answered. Shutdown waits for the queued packets, so
	// the counts are final after it.
	bad := radius.New(radius.CodeAccountingRequest, []byte("guess"))
	must(t, rfc2866.AcctStatusType_Set(bad, rfc2866.AcctStatusType_Value_Start))
	session(t)(bad)
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, pk := range []*radius.Packet{bad, p} {
		b, err := pk.Encode()
		must(t, err)
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	must(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to the good packet: %v", err)
	}
	req, _ := p.Encode()
	if !radius.IsAuthenticResponse(buf[:n], req, nasSecret) {
		t.Errorf("the one answer is not the good packet's")
	}
	must(t, s.Shutdown(context.Background()))
	if got := s.counts[ResultBadAuthenticator].Value(); got != 1 {
		t.Errorf("bad authenticators counted %d, want 1", got)
	}
	if got := s.counts[ResultOK].Value(); got != 2 {
		t.Errorf("ok counted %d, want 2", got)
	}
}
