package app

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// Pools of field values for random API writes: valid ones, their other
// spellings, and the inputs issue #9 found or could have found.
var (
	fuzzIPs = []string{"127.0.0.4", "::ffff:127.0.0.4", "fe80::1%eth0", "fe80::1", "0.0.0.0", "::", "224.0.0.1",
		"127.0.0.9", "2001:db8::1/64", "not-an-ip", "", "1.2.3.4.5", "::1"}
	fuzzMACs = []string{"a8:bb:cc:dd:ee:01", "A8-BB-CC-DD-EE-01", "a8bb.ccdd.ee01", "00:00:00:00:00:00",
		"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01", "00:11:22:33:44:55:66:77", "zz", ""}
	fuzzClientIDs = []string{"kid1", "Kid1", "KID1", "parent", "-x", "x-", "kid_1", "kïd", strings.Repeat("a", 64), "", "a"}
	fuzzIDs       = []string{"", "kid", "Kid", "tv", "-bad", "x", "emma", strings.Repeat("i", 70)}
	fuzzNames     = []string{"Kid", "kid", "TV", "", " ", "Émile's phone", strings.Repeat("n", 70), "a/b"}
	fuzzHostnames = []string{"", "emmas-ipad", "a b", "-x", "nas.lan.", strings.Repeat("h", 64)}
	fuzzProfiles  = []string{"", "kid", "adult", "teen", "emma", "nope", "Kid"}
	fuzzTags      = []string{"gambling", "adult", "youtube", "nope", ""}
	fuzzDomains   = []string{"example.com", "=bet365.com", "!bet365.com", "*.x.org", "a..b", "", "x y", strings.Repeat("l", 64) + ".com"}
	fuzzZones     = []string{"", "Europe/Paris", "UTC", "Mars/Olympus", "../../etc/passwd"}
	fuzzDays      = []string{"mon", "mon-fri", "daily", "weekends", "", "someday", "mon,tue"}
	fuzzClocks    = []string{"21:00", "07:00", "24:00", "25:00", "7", "", "00:00"}
	fuzzKinds     = []string{"allow", "pause", "block", ""}
	fuzzTargets   = []string{"bet365.com", "gambling", "youtube", "", "a b", "=x.com"}
	fuzzMinutes   = []int{30, 1, 0, -5, 100000, 1 << 30}
	fuzzYouTube   = []string{"", "strict", "moderate", "off", "loud"}
)

// fuzzOp is one API write.
type fuzzOp struct {
	method, path string
	body         any
}

// fuzzOps turns data into up to eight API writes: device, profile, grant
// and settings payloads with fields drawn from the pools above.
func fuzzOps(data []byte) []fuzzOp {
	i := 0
	next := func() int {
		if i >= len(data) {
			return 0
		}
		i++
		return int(data[i-1])
	}
	pick := func(pool []string) string { return pool[next()%len(pool)] }
	some := func(pool []string) []string {
		n := next() % 3
		var out []string
		for range n {
			out = append(out, pick(pool))
		}
		return out
	}
	var ops []fuzzOp
	for len(ops) < 8 && i < len(data) {
		switch next() % 6 {
		case 0, 1:
			ops = append(ops, fuzzOp{"POST", "/api/v1/devices", map[string]any{
				"id": pick(fuzzIDs), "name": pick(fuzzNames), "profile": pick(fuzzProfiles), "hostname": pick(fuzzHostnames),
				"ips": some(fuzzIPs), "macs": some(fuzzMACs), "client_ids": some(fuzzClientIDs), "new": next()%2 == 0,
			}})
		case 2:
			prof := map[string]any{
				"id": pick(fuzzIDs), "name": pick(fuzzNames), "preset": pick(fuzzProfiles), "block": some(fuzzTags),
				"unblock": some(fuzzTags), "allow": some(fuzzDomains), "deny": some(fuzzDomains),
				"time_zone": pick(fuzzZones), "youtube": pick(fuzzYouTube),
			}
			if next()%2 == 0 {
				sc := map[string]any{"days": pick(fuzzDays), "from": pick(fuzzClocks), "to": pick(fuzzClocks)}
				switch next() % 3 {
				case 0:
					sc["pause"] = true
				case 1:
					sc["block"] = some(fuzzTags)
				default:
					sc["allow_only"] = some(fuzzTags)
				}
				prof["schedules"] = []any{sc}
			}
			ops = append(ops, fuzzOp{"POST", "/api/v1/profiles", prof})
		case 3:
			ops = append(ops, fuzzOp{"POST", "/api/v1/grants", map[string]any{
				"device": pick(fuzzIDs), "kind": pick(fuzzKinds), "target": pick(fuzzTargets), "minutes": fuzzMinutes[next()%len(fuzzMinutes)],
			}})
		case 4:
			ops = append(ops, fuzzOp{"PUT", "/api/v1/settings", map[string]any{"time_zone": pick(fuzzZones), "default_profile": pick(fuzzProfiles)}})
		case 5:
			ops = append(ops, fuzzOp{"DELETE", "/api/v1/devices/" + pick(fuzzIDs[1:]), nil})
		}
	}
	return ops
}

// FuzzAPIWritesSurviveRestart writes random device, profile, grant and
// settings payloads through the API of a real server, then restarts it,
// and checks every time that no write answered 5xx, that the server
// starts again and answers DNS, and that a later change still works: no
// sequence of API writes can stop Hearth for good (issue #9, section 1).
// `go test` runs the seeds; `go test -fuzz FuzzAPIWritesSurviveRestart`
// explores.
func FuzzAPIWritesSurviveRestart(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 1))
	for range 12 {
		seed := make([]byte, 40)
		for j := range seed {
			seed[j] = byte(rng.IntN(256))
		}
		f.Add(seed)
	}
	// The attacks of the issue, in order: kid1 then Kid1; a zero MAC; a
	// zoned address.
	f.Add([]byte{
		0, 1, 1, 1, 0, 0, 0, 1, 0, 1, // device kid, client id kid1
		0, 3, 2, 2, 0, 0, 0, 1, 1, 1, // device tv, client id Kid1
		0, 5, 0, 1, 0, 0, 1, 3, 0, 1, // device x, MAC 00:00:00:00:00:00
		0, 6, 1, 1, 0, 1, 2, 0, 0, 1, // device emma, IP fe80::1%eth0
	})
	p := startPersistent(f, apiConfig(f))
	newAPIClient(f, p.e)
	round := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		round++
		c := p.login(t)
		for _, op := range fuzzOps(data) {
			if code := c.do(op.method, op.path, op.body, nil); code >= 500 {
				t.Fatalf("%s %s %v: %d", op.method, op.path, op.body, code)
			}
		}
		if err := p.restart(); err != nil {
			t.Fatalf("the next start failed: %v", err)
		}
		if !p.answers() {
			t.Fatal("no DNS answer after the restart")
		}
		c = p.login(t)
		ip := fmt.Sprintf("127.1.%d.%d", round/250, round%250+1)
		dev := map[string]any{"name": "probe", "id": fmt.Sprintf("probe-%d", round), "profile": "kid", "ips": []string{ip}}
		if code := c.do("POST", "/api/v1/devices", dev, nil); code != http.StatusCreated {
			t.Fatalf("a later change: %d, want 201", code)
		}
		if addr, _ := ask(t, p.e, ip, "bet365.com"); addr != "0.0.0.0" {
			t.Fatalf("the later change is not in effect: %s got %q, want the kid block", ip, addr)
		}
		if code := c.do("GET", "/api/v1/set-aside", nil, nil); code != http.StatusOK {
			t.Fatalf("set-aside: %d", code)
		}
	})
}
