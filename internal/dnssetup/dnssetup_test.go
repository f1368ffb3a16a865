package dnssetup

import (
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/setupcheck"
)

func TestMake(t *testing.T) {
	const id = "dads-phone-k3x7abcdefgh2345"
	tests := []struct {
		name        string
		c           Config
		wantHost    string
		wantURL     string
		wantQR      string
		wantProfile bool
		wantNote    string
		wantErr     string
	}{
		{"standard ports", Config{ID: id, DeviceName: "Dad's phone", Domain: "dns.example.net.", DoTPort: 853, DoHPort: 443},
			id + ".dns.example.net", "https://" + id + ".dns.example.net/dns-query/" + id, id + ".dns.example.net", true, "", ""},
		{"other ports", Config{ID: id, Domain: "DNS.example.net", DoTPort: 8853, DoHPort: 8443},
			id + ".dns.example.net", "https://" + id + ".dns.example.net:8443/dns-query/" + id, id + ".dns.example.net", true, "port 8853", ""},
		{"no DoH", Config{ID: id, Domain: "dns.example.net", DoTPort: 853},
			id + ".dns.example.net", "", id + ".dns.example.net", false, "listen.doh", ""},
		{"no domain", Config{ID: id, DoTPort: 853, DoHPort: 443}, "", "", id, false, "client_id_domains", ""},
		{"bad id", Config{ID: "a.b", Domain: "dns.example.net"}, "", "", "", false, "", `id "a.b"`},
		{"bad domain", Config{ID: id, Domain: "a..b"}, "", "", "", false, "", "not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Make(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Make: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Host != tc.wantHost || s.DoHURL != tc.wantURL || s.DoHPath != "/dns-query/"+id {
				t.Errorf("host %q, DoH URL %q, path %q; want %q, %q", s.Host, s.DoHURL, s.DoHPath, tc.wantHost, tc.wantURL)
			}
			got, err := setupcheck.QR(s.QRPNG)
			if err != nil || got != tc.wantQR || s.QRText != tc.wantQR {
				t.Errorf("QR code reads %q (%v), text %q; want %q", got, err, s.QRText, tc.wantQR)
			}
			if (s.MobileConfig != nil) != tc.wantProfile {
				t.Errorf("profile %q, want one: %v", s.MobileConfig, tc.wantProfile)
			}
			notes := strings.Join(s.Notes, "\n")
			if tc.wantNote == "" && notes != "" || !strings.Contains(notes, tc.wantNote) {
				t.Errorf("notes %q, want %q", notes, tc.wantNote)
			}
		})
	}
}

func TestMobileConfig(t *testing.T) {
	const url = "https://dads-phone-k3x7abcdefgh2345.dns.example.net/dns-query/dads-phone-k3x7abcdefgh2345"
	b, err := MobileConfig(`Dad's <phone> & "more"`, url)
	if err != nil {
		t.Fatal(err)
	}
	v, err := setupcheck.Plist(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	top := v.(map[string]any)
	for k, want := range map[string]any{
		"PayloadType": "Configuration", "PayloadVersion": int64(1), "PayloadRemovalDisallowed": false,
		"PayloadDisplayName": `Hearth for Dad's <phone> & "more"`,
	} {
		if top[k] != want {
			t.Errorf("%s = %#v, want %#v", k, top[k], want)
		}
	}
	content := top["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("%d payloads, want 1", len(content))
	}
	p := content[0].(map[string]any)
	if p["PayloadType"] != "com.apple.dnsSettings.managed" {
		t.Errorf("payload type %v", p["PayloadType"])
	}
	ds := p["DNSSettings"].(map[string]any)
	if ds["DNSProtocol"] != "HTTPS" || ds["ServerURL"] != url {
		t.Errorf("DNSSettings %v", ds)
	}
	if p["PayloadUUID"] == top["PayloadUUID"] || len(p["PayloadUUID"].(string)) != 36 {
		t.Errorf("UUIDs %v and %v: want two distinct UUIDs", p["PayloadUUID"], top["PayloadUUID"])
	}
	if _, err := MobileConfig("x", "http://plain"); err == nil {
		t.Error("a plain-HTTP DoH URL was accepted")
	}
}
