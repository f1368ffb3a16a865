package app

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dt "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestISPModeKeepsCountersNotRows: in ISP mode the raw query log is off
// (no rows, no file) and each household's queries are counted instead:
// queries, blocked, blocked by category. A household reads its own
// counters and gets 404 for another's; the operator reads both.
func TestISPModeKeepsCountersNotRows(t *testing.T) {
	e := startHTTP(t, apiConfig(t)+"mode: isp\n", dnstest.Zone(t, policyRecords...))
	setup := newAPIClient(t, e)
	op := &roleClient{t: t, base: setup.base, http: setup.http, csrf: setup.csrf}
	users := map[string]*roleClient{}
	for i, h := range []string{"alpha", "bravo"} {
		op.must("POST", "/api/v1/households", map[string]string{"id": h, "name": h}, 201, nil)
		op.must("POST", "/api/v1/users", map[string]string{"name": h + "-parent", "password": rolesPassword, "household": h}, 201, nil)
		c := loginAs(t, e, h+"-parent", rolesPassword)
		var p struct{ ID string }
		c.must("POST", "/api/v1/profiles", map[string]any{"name": "kids", "preset": "kid", "block": []string{"gambling"}}, 201, &p)
		c.must("POST", "/api/v1/devices", map[string]any{"name": "tablet", "profile": p.ID, "ips": []string{fmt.Sprintf("127.0.0.%d", 21+i)}}, 201, nil)
		users[h] = c.withToken("read")
	}
	// alpha: two blocked, one allowed; bravo: one allowed.
	for _, q := range []struct{ from, name, want string }{
		{"127.0.0.21", "bet365.com", "0.0.0.0"},
		{"127.0.0.21", "www.bet365.com", "0.0.0.0"},
		{"127.0.0.21", "example.org", ""},
		{"127.0.0.22", "example.org", ""},
	} {
		if addr, _ := ask(t, e, q.from, q.name); q.want != "" && addr != q.want {
			t.Fatalf("%s from %s: %q, want %q", q.name, q.from, addr, q.want)
		}
	}

	var log struct {
		Rows     []any
		Disabled bool
	}
	op.must("GET", "/api/v1/querylog", nil, 200, &log)
	if !log.Disabled || len(log.Rows) != 0 {
		t.Errorf("query log in ISP mode: %+v, want disabled and no rows", log)
	}
	if _, err := os.Stat(filepath.Join(e.app.cfg.DataDir, "querylog.db")); !os.IsNotExist(err) {
		t.Errorf("querylog.db exists in ISP mode (%v)", err)
	}

	type counts struct {
		Household         string
		Queries, Blocked  uint64
		BlockedByCategory map[string]uint64 `json:"blocked_by_category"`
	}
	tests := []struct {
		name      string
		c         *roleClient
		household string
		status    int
		want      counts
	}{
		{"alpha reads its own", users["alpha"], "alpha", 200, counts{"alpha", 3, 2, map[string]uint64{"gambling": 2}}},
		{"bravo reads its own", users["bravo"], "bravo", 200, counts{"bravo", 1, 0, map[string]uint64{}}},
		{"alpha reads bravo's", users["alpha"], "bravo", 404, counts{}},
		{"bravo reads alpha's", users["bravo"], "alpha", 404, counts{}},
		{"operator reads alpha's", op, "alpha", 200, counts{"alpha", 3, 2, map[string]uint64{"gambling": 2}}},
		{"operator, a household that does not exist", op, "nobody", 404, counts{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := tc.c.send("GET", "/api/v1/households/"+tc.household+"/counters", nil)
			if code != tc.status {
				t.Fatalf("%d %s, want %d", code, body, tc.status)
			}
			if tc.status != 200 {
				return
			}
			var got counts
			tc.c.must("GET", "/api/v1/households/"+tc.household+"/counters", nil, 200, &got)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("counters %+v, want %+v", got, tc.want)
			}
		})
	}
}

// collector is a dnstap receiver: the library's Frame Streams input on a
// loopback TCP port or a unix socket, decoding what arrives.
type collector struct {
	addr   string
	frames chan []byte
}

func newCollector(t *testing.T, network string) *collector {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "dnstap.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &collector{addr: ln.Addr().String(), frames: make(chan []byte, 100)}
	in := dt.NewFrameStreamSockInput(ln)
	in.SetTimeout(10 * time.Second)
	go in.ReadInto(c.frames)
	return c
}

// next returns the next message, failing after a bound.
func (c *collector) next(t *testing.T) *dt.Dnstap {
	t.Helper()
	select {
	case b := <-c.frames:
		var d dt.Dnstap
		if err := proto.Unmarshal(b, &d); err != nil {
			t.Fatalf("decode dnstap frame: %v", err)
		}
		return &d
	case <-time.After(10 * time.Second):
		t.Fatal("no dnstap message within 10 s")
		return nil
	}
}

// TestDnstapSendsQueriesAndResponses: with dnstap on, each query reaches
// a real Frame Streams receiver as a CLIENT_QUERY and a CLIENT_RESPONSE
// carrying the query and the answer (here a block), the client's address
// and protocol, and the configured identity and version; over TCP and
// over a unix socket.
func TestDnstapSendsQueriesAndResponses(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			col := newCollector(t, network)
			key := "tcp"
			if network == "unix" {
				key = "socket"
			}
			e := startHTTP(t, apiConfig(t)+fmt.Sprintf("default_profile: kid\ndnstap: {%s: %q, identity: node-7}\n", key, col.addr), dnstest.Zone(t, policyRecords...))
			tests := []struct {
				net, from, name string
				proto           dt.SocketProtocol
			}{
				{"udp", "127.0.0.31", "bet365.com.", dt.SocketProtocol_UDP},
				{"tcp", "127.0.0.32", "www.bet365.com.", dt.SocketProtocol_TCP},
			}
			for _, tc := range tests {
				q := query(tc.name, dns.TypeA)
				c := &dns.Client{Net: tc.net, Dialer: &net.Dialer{LocalAddr: localAddr(tc.net, tc.from)}}
				r := exchange(t, c, q, e.udp)
				if firstA(t, r) != "0.0.0.0" {
					t.Fatalf("%s: not blocked: %v", tc.name, r)
				}
				for _, want := range []dt.Message_Type{dt.Message_CLIENT_QUERY, dt.Message_CLIENT_RESPONSE} {
					d := col.next(t)
					m := d.GetMessage()
					if m.GetType() != want || string(d.GetIdentity()) != "node-7" || string(d.GetVersion()) != "hearth" {
						t.Fatalf("message %v from %q %q, want %v from node-7 hearth", m.GetType(), d.GetIdentity(), d.GetVersion(), want)
					}
					if got := net.IP(m.GetQueryAddress()).String(); got != tc.from || m.GetSocketProtocol() != tc.proto || m.GetSocketFamily() != dt.SocketFamily_INET {
						t.Errorf("%v: from %s over %v, want %s over %v", want, got, m.GetSocketProtocol(), tc.from, tc.proto)
					}
					wire := m.GetQueryMessage()
					if want == dt.Message_CLIENT_RESPONSE {
						wire = m.GetResponseMessage()
						if m.GetResponseTimeSec() == 0 {
							t.Error("response without a response time")
						}
					}
					var msg dns.Msg
					if err := msg.Unpack(wire); err != nil {
						t.Fatalf("%v: message does not unpack: %v", want, err)
					}
					if msg.Id != q.Id || msg.Question[0].Name != tc.name {
						t.Errorf("%v: id %d name %s, want %d %s", want, msg.Id, msg.Question[0].Name, q.Id, tc.name)
					}
					if want == dt.Message_CLIENT_RESPONSE && (len(msg.Answer) == 0 || msg.Answer[0].(*dns.A).A.String() != "0.0.0.0") {
						t.Errorf("response message %v, want the block", msg.Answer)
					}
				}
			}
		})
	}
}

func localAddr(network, ip string) net.Addr {
	if network == "tcp" {
		return &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return &net.UDPAddr{IP: net.ParseIP(ip)}
}

// TestDnstapDoesNotBlockQueries: with a collector that accepts the
// connection but never answers the Frame Streams handshake (stalled), and
// a queue of one, queries are answered as usual: the messages that cannot
// wait are dropped and counted, and shutdown does not hang on it.
func TestDnstapDoesNotBlockQueries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() }) // never accepted: the kernel queues the connection
	e := startHTTP(t, apiConfig(t)+fmt.Sprintf("dnstap: {tcp: %q, queue: 1, timeout: 6s}\n", ln.Addr().String()), dnstest.Zone(t, policyRecords...))
	c := clientFrom("127.0.0.41")
	c.Timeout = 3 * time.Second // below dnstap's 6 s: a query held by a stalled handshake fails
	for i := range 100 {
		if _, _, err := c.Exchange(query(fmt.Sprintf("n%d.example.org", i), dns.TypeA), e.udp); err != nil {
			t.Fatalf("query %d with the collector down: %v", i, err)
		}
	}
	var exposed bytes.Buffer
	if _, err := e.app.metrics.WriteTo(&exposed); err != nil {
		t.Fatal(err)
	}
	var v float64
	_, line, ok := strings.Cut(exposed.String(), "\nhearth_dnstap_dropped_total ")
	if !ok {
		t.Fatalf("no hearth_dnstap_dropped_total in\n%s", exposed.String())
	}
	_, err = fmt.Sscan(line, &v)
	if err != nil || v < 50 {
		t.Errorf("hearth_dnstap_dropped_total = %v (%v), want most of the 200 messages", v, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Shutdown does not hang on the missing collector.
	if err := e.app.Shutdown(ctx); err != nil {
		t.Errorf("shutdown with the collector down: %v", err)
	}
}
