package netid

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		kind    Kind
		in      string
		want    string
		wantErr string
	}{
		{KindMAC, "AB:BB:CC:DD:EE:FF", "", "multicast"},
		{KindMAC, "a8:bb:cc:dd:ee:ff", "a8:bb:cc:dd:ee:ff", ""},
		{KindMAC, "A8-BB-CC-DD-EE-FF", "a8:bb:cc:dd:ee:ff", ""},
		{KindMAC, "a8bb.ccdd.eeff", "a8:bb:cc:dd:ee:ff", ""},
		{KindMAC, "00:00:00:00:00:00", "", "all-zero"},
		{KindMAC, "ff:ff:ff:ff:ff:ff", "", "broadcast"},
		{KindMAC, "01:00:5e:00:00:01", "", "multicast"},
		{KindMAC, "33:33:00:00:00:01", "", "multicast"},
		{KindMAC, "00:00:5e:00:53:01:02:03", "", "not a MAC"},
		{KindMAC, "nope", "", "not a MAC"},
		{KindIP, "192.168.1.7", "192.168.1.7", ""},
		{KindIP, "::ffff:192.168.1.7", "192.168.1.7", ""},
		{KindIP, "2001:DB8::0:1", "2001:db8::1", ""},
		{KindIP, "fe80::1%eth0", "", "zone"},
		{KindIP, "0.0.0.0", "", "unspecified"},
		{KindIP, "::", "", "unspecified"},
		{KindIP, "224.0.0.1", "", "multicast"},
		{KindIP, "192.168.1.0/24", "", "not an IP"},
		{KindIP, "", "", "not an IP"},
		{KindCIDR, "192.168.1.7/24", "192.168.1.0/24", ""},
		{KindCIDR, "::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{KindCIDR, "2001:db8::1/64", "2001:db8::/64", ""},
		{KindCIDR, "fe80::%eth0/64", "", "zone"},
		{KindCIDR, "10.0.0.1", "", "not a network"},
		{KindCIDR, "10.0.0.0/33", "", "not a network"},
		{KindClientID, "Kid1", "kid1", ""},
		{KindClientID, "kid-1", "kid-1", ""},
		{KindClientID, "", "", "1 to 63"},
		{KindClientID, strings.Repeat("a", 64), "", "1 to 63"},
		{KindClientID, "kid_1", "", "letters, digits"},
		{KindClientID, "kïd", "", "letters, digits"},
		{KindClientID, "-kid", "", "hyphen"},
		{KindClientID, "kid-", "", "hyphen"},
		{"serial", "x", "", "unknown identifier kind"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.in, func(t *testing.T) {
			k, err := KeyOf(tt.kind, tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("KeyOf(%q) = %v, %v; want an error containing %q", tt.in, k, err, tt.wantErr)
				}
				return
			}
			if err != nil || k.Value != tt.want || k.Kind != tt.kind {
				t.Fatalf("KeyOf(%q) = %v, %v; want %s", tt.in, k, err, tt.want)
			}
		})
	}
}

func TestParseHostname(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"Emmas-iPad", "emmas-ipad", ""},
		{"nas.lan.", "nas.lan", ""},
		{"android_1234", "android_1234", ""},
		{"", "", "1 to 253"},
		{"a..b", "", "labels"},
		{"-x", "", "hyphen"},
		{"bad name", "", "not a letter"},
		{strings.Repeat("a", 64), "", "labels"},
		{strings.Repeat("a.", 127) + "a", "", "1 to 253"},
	}
	for _, tt := range tests {
		got, err := ParseHostname(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHostname(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHostname(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOwners(t *testing.T) {
	o := NewOwners()
	k1, _ := KeyOf(KindClientID, "kid1")
	k2, _ := KeyOf(KindClientID, "Kid1")
	if err := o.Claim("a", k1); err != nil {
		t.Fatal(err)
	}
	if err := o.Claim("a", k2); err != nil {
		t.Fatalf("a device claiming its own id again: %v", err)
	}
	err := o.Claim("b", k2)
	d, ok := IsDuplicate(err)
	if !ok || d.Other != "a" || d.Device != "b" || !strings.Contains(err.Error(), "device a") {
		t.Fatalf("Claim by b = %v, want a duplicate naming a", err)
	}
	if strings.Contains(err.Error(), "kid1") {
		t.Errorf("duplicate error %q shows the client id, a device's secret", err)
	}
	m, _ := KeyOf(KindMAC, "a8:bb:cc:dd:ee:01")
	o.Claim("a", m)
	if err := o.Claim("b", m); err == nil || !strings.Contains(err.Error(), "mac a8:bb:cc:dd:ee:01 belongs to device a") {
		t.Errorf("duplicate MAC: %v", err)
	}
	if owner, _ := o.Owner(k1); owner != "a" {
		t.Fatalf("owner %q after a refused claim, want a", owner)
	}
}

// FuzzKeyOf: any input either fails or gives a canonical value that
// parses to itself (one identifier has one spelling), and the identity
// package's rules hold: no zone, no zero or group MAC, lower-case ids.
func FuzzKeyOf(f *testing.F) {
	for _, s := range []string{"aa:bb:cc:dd:ee:ff", "00:00:00:00:00:00", "fe80::1%eth0", "::ffff:1.2.3.4", "10.0.0.1/8", "Kid1", "-", "ff:ff:ff:ff:ff:ff", "0000.0000.0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []Kind{KindMAC, KindIP, KindCIDR, KindClientID} {
			k, err := KeyOf(kind, s)
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("%s %q: empty error", kind, s)
				}
				continue
			}
			again, err := KeyOf(kind, k.Value)
			if err != nil || again != k {
				t.Fatalf("%s %q: canonical %q parses to %v, %v", kind, s, k.Value, again, err)
			}
			if strings.Contains(k.Value, "%") {
				t.Fatalf("%s %q: zone kept in %q", kind, s, k.Value)
			}
			if kind == KindClientID && k.Value != strings.ToLower(k.Value) {
				t.Fatalf("client id %q not lower case", k.Value)
			}
			if kind == KindMAC {
				hw, _ := ParseMAC(k.Value)
				if hw[0]&1 != 0 || k.Value == "00:00:00:00:00:00" {
					t.Fatalf("MAC %q accepted", k.Value)
				}
			}
		}
		if h, err := ParseHostname(s); err == nil {
			if again, err := ParseHostname(h); err != nil || again != h {
				t.Fatalf("host name %q: canonical %q parses to %q, %v", s, h, again, err)
			}
		}
	})
}
