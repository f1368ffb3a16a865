package app

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

const nasSecret = "nas-secret-0123456789"

// radiusConfig adds a RADIUS listener that trusts the loopback NAS.
func radiusTestConfig(t testing.TB) string {
	return apiConfig(t) + "radius:\n  listen: \"127.0.0.1:0\"\n  clients: [{network: 127.0.0.0/8, secret: \"" + nasSecret + "\"}]\n"
}

// accountingPacket is what a NAS sends for a subscriber's session.
func accountingPacket(t *testing.T, secret string, status rfc2866.AcctStatusType, household, session, ip string) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, []byte(secret))
	for _, err := range []error{
		rfc2866.AcctStatusType_Set(p, status),
		rfc2865.UserName_SetString(p, household),
		rfc2866.AcctSessionID_SetString(p, session),
		rfc2865.FramedIPAddress_Set(p, net.ParseIP(ip)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// account sends p to Hearth's RADIUS listener as a layeh.com/radius client
// does, wants an Accounting-Response, and waits until the running policy
// has what the packet stored.
func account(t *testing.T, e *env, p *radius.Packet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := radius.Exchange(ctx, p, e.app.RadiusAddr())
	if err != nil {
		t.Fatalf("accounting request: %v", err)
	}
	if resp.Code != radius.CodeAccountingResponse {
		t.Fatalf("answer %v, want Accounting-Response", resp.Code)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRadiusBindsSubscribers: a NAS's Start binds the subscriber's address
// to its household and DNS follows; a session that moves the address to
// another household takes it; a late Stop of the old session leaves it;
// the new session's Stop unbinds it; a packet with a wrong secret changes
// nothing and is counted.
func TestRadiusBindsSubscribers(t *testing.T) {
	e := startHTTP(t, radiusTestConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	for _, h := range []struct{ id, profile string }{{"smiths", "kid"}, {"joneses", "teen"}} {
		if code := c.do("POST", "/api/v1/households", map[string]string{"id": h.id, "name": h.id, "default_profile": h.profile}, nil); code != 201 {
			t.Fatalf("create household %s: %d", h.id, code)
		}
	}
	const subscriber = "127.0.0.5"
	answer := func(from string) string {
		t.Helper()
		addr, text := ask(t, e, from, "bet365.com")
		if addr == "0.0.0.0" {
			_, profile, _ := strings.Cut(text, "profile=")
			profile, _, _ = strings.Cut(profile, " ")
			return "blocked for " + profile
		}
		return addr
	}
	if got := answer(subscriber); got != "192.0.2.50" {
		t.Fatalf("before any session: %q", got)
	}

	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Start, "smiths", "s-1", subscriber))
	if got := answer(subscriber); got != "blocked for kid" {
		t.Fatalf("after the Start: %q, want blocked for the smiths' kid profile", got)
	}
	var b struct{ Household, Origin, Session string }
	if code := c.do("GET", "/api/v1/bindings/ipv4/"+subscriber, nil, &b); code != 200 || b.Household != "smiths" || b.Origin != "radius" || b.Session != "s-1" {
		t.Errorf("binding: %d %+v", code, b)
	}

	// A packet signed with a wrong secret: sent raw, then a good Interim
	// on the same socket, whose answer is the only one.
	conn, err := net.Dial("udp", e.app.RadiusAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	forged, err := accountingPacket(t, "guessed-secret-000000", rfc2866.AcctStatusType_Value_Start, "joneses", "evil", "127.0.0.6").Encode()
	if err != nil {
		t.Fatal(err)
	}
	interim := accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_InterimUpdate, "smiths", "s-1", subscriber)
	good, err := interim.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range [][]byte{forged, good} {
		if _, err := conn.Write(pk); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !radius.IsAuthenticResponse(buf[:n], good, []byte(nasSecret)) {
		t.Fatalf("the good Interim's answer: %v", err)
	}
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := answer("127.0.0.6"); got != "192.0.2.50" {
		t.Errorf("a forged Start took effect: 127.0.0.6 got %q", got)
	}

	// The address moves to the joneses' new session: one change.
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Start, "joneses", "s-2", subscriber))
	if got := answer(subscriber); got != "blocked for teen" {
		t.Fatalf("after the move: %q, want blocked for the joneses' teen profile", got)
	}
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Stop, "smiths", "s-1", subscriber))
	if got := answer(subscriber); got != "blocked for teen" {
		t.Fatalf("the old session's late Stop unbound the new one: %q", got)
	}
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Stop, "joneses", "s-2", subscriber))
	if got := answer(subscriber); got != "192.0.2.50" {
		t.Fatalf("after the Stop: %q, want the real address", got)
	}

	// An Interim-Update brings a new address; the Stop, naming only the
	// new one, removes both.
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Start, "smiths", "s-3", "127.0.0.7"))
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_InterimUpdate, "smiths", "s-3", "127.0.0.8"))
	for _, ip := range []string{"127.0.0.7", "127.0.0.8"} {
		if got := answer(ip); got != "blocked for kid" {
			t.Errorf("during session s-3, %s: %q", ip, got)
		}
	}
	account(t, e, accountingPacket(t, nasSecret, rfc2866.AcctStatusType_Value_Stop, "smiths", "s-3", "127.0.0.8"))
	for _, ip := range []string{"127.0.0.7", "127.0.0.8"} {
		if got := answer(ip); got != "192.0.2.50" {
			t.Errorf("after session s-3's Stop, %s: %q", ip, got)
		}
	}

	// Once the listener has stopped (waiting for its workers), the
	// metrics count the forged packet.
	if err := e.app.stopRadius(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`hearth_radius_packets_total{result="bad_authenticator"} 1`, `hearth_radius_packets_total{result="ok"} 8`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
