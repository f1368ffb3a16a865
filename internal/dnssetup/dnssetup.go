// Package dnssetup owns what a parent needs to point a device at Hearth's
// encrypted DNS with its DNS id: the Android "Private DNS" host name, the
// DoH URL for browsers and iOS, a QR code of the host name (PNG, made
// here, no third party), and an Apple configuration profile
// (.mobileconfig) with a com.apple.dnsSettings.managed payload.
//
// It only formats: the id is made and checked by package identity.
package dnssetup

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	qrcode "github.com/skip2/go-qrcode"
)

// Config is one device's setup.
type Config struct {
	// ID is the device's whole client id (label-secret), one DNS label.
	ID string
	// DeviceName names the device in the profile ("Dad's phone").
	DeviceName string
	// Domain is the client id domain: devices use ID.Domain; "" when
	// none is configured, which leaves only the DoH path.
	Domain string
	// DoTPort and DoHPort are the listeners' ports; 0 when not listening.
	DoTPort, DoHPort int
}

// Setup is what the UI shows once.
type Setup struct {
	// ID is the client id.
	ID string `json:"id"`
	// Host is the name for Android's Private DNS setting (DNS over TLS),
	// "" without a domain.
	Host string `json:"host,omitempty"`
	// DoHPath is the DoH path for this id, on any of Hearth's names.
	DoHPath string `json:"doh_path"`
	// DoHURL is the DoH URL for browsers (Chrome, Firefox) and Apple
	// devices; "" without a domain or a DoH listener.
	DoHURL string `json:"doh_url,omitempty"`
	// QRText is what QRPNG encodes: Host, or ID without a domain.
	QRText string `json:"qr_text"`
	// QRPNG is a PNG image of the QR code of QRText.
	QRPNG []byte `json:"qr_png"`
	// MobileConfig is an Apple configuration profile that sets DoHURL,
	// nil without one.
	MobileConfig []byte `json:"mobileconfig,omitempty"`
	// Notes say what is missing for some devices, for the parent.
	Notes []string `json:"notes,omitempty"`
}

// Make builds the setup of c.
func Make(c Config) (Setup, error) {
	if c.ID == "" || len(c.ID) > 63 || strings.Trim(strings.ToLower(c.ID), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return Setup{}, fmt.Errorf("dns setup: id %q: want one DNS label", c.ID)
	}
	s := Setup{ID: c.ID, DoHPath: "/dns-query/" + c.ID, QRText: c.ID}
	domain := strings.TrimSuffix(strings.ToLower(c.Domain), ".")
	if domain != "" {
		s.Host = c.ID + "." + domain
		if _, ok := dns.IsDomainName(s.Host); !ok || len(s.Host) > 253 {
			return Setup{}, fmt.Errorf("dns setup: host name %q is not valid", s.Host)
		}
		s.QRText = s.Host
	} else {
		s.Notes = append(s.Notes, "No client id domain is set (access.client_id_domains), so there is no host name for Android or Apple devices: only the DoH path works, on a name of Hearth's certificate.")
	}
	switch {
	case domain != "" && c.DoTPort != 0 && c.DoTPort != 853:
		s.Notes = append(s.Notes, fmt.Sprintf("Android's Private DNS uses port 853, but Hearth's DNS over TLS listens on port %d.", c.DoTPort))
	case domain != "" && c.DoTPort == 0:
		s.Notes = append(s.Notes, "Hearth does not listen for DNS over TLS (listen.dot), which Android's Private DNS needs.")
	}
	if domain != "" && c.DoHPort != 0 {
		host := s.Host
		if c.DoHPort != 443 {
			host = net.JoinHostPort(s.Host, strconv.Itoa(c.DoHPort))
		}
		s.DoHURL = "https://" + host + s.DoHPath
		mc, err := MobileConfig(c.DeviceName, s.DoHURL)
		if err != nil {
			return Setup{}, err
		}
		s.MobileConfig = mc
	} else if domain != "" {
		s.Notes = append(s.Notes, "Hearth does not listen for DNS over HTTPS (listen.doh), which browsers and Apple devices use.")
	}
	png, err := qrcode.Encode(s.QRText, qrcode.Medium, 256)
	if err != nil {
		return Setup{}, fmt.Errorf("dns setup: QR code: %w", err)
	}
	s.QRPNG = png
	return s, nil
}

// MobileConfig returns an Apple configuration profile that sends the
// device's DNS to dohURL (iOS 14 and macOS 11 or later). Installing it is
// the parent's step in Settings; the profile can be removed there too.
func MobileConfig(deviceName, dohURL string) ([]byte, error) {
	if !strings.HasPrefix(dohURL, "https://") {
		return nil, errors.New("dns setup: profile: the DoH URL must be https")
	}
	outer, err := uuid()
	if err != nil {
		return nil, err
	}
	inner, err := uuid()
	if err != nil {
		return nil, err
	}
	name := "Hearth"
	if deviceName != "" {
		name = "Hearth for " + deviceName
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	p := plist{&b}
	p.dict(func() {
		p.key("PayloadContent")
		p.array(func() {
			p.dict(func() {
				p.key("DNSSettings")
				p.dict(func() {
					p.str("DNSProtocol", "HTTPS")
					p.str("ServerURL", dohURL)
				})
				p.str("PayloadDescription", "Sends this device's DNS to Hearth over HTTPS.")
				p.str("PayloadDisplayName", name)
				p.str("PayloadIdentifier", "dns.hearth.dnssettings."+inner)
				p.str("PayloadType", "com.apple.dnsSettings.managed")
				p.str("PayloadUUID", inner)
				p.integer("PayloadVersion", 1)
			})
		})
		p.str("PayloadDescription", "Hearth parental-control DNS for this device.")
		p.str("PayloadDisplayName", name)
		p.str("PayloadIdentifier", "dns.hearth.profile."+outer)
		p.key("PayloadRemovalDisallowed")
		b.WriteString("<false/>\n")
		p.str("PayloadType", "Configuration")
		p.str("PayloadUUID", outer)
		p.integer("PayloadVersion", 1)
	})
	b.WriteString("</plist>\n")
	return b.Bytes(), nil
}

// plist writes XML property list elements.
type plist struct{ b *bytes.Buffer }

func (p plist) key(k string) { p.elem("key", k) }

func (p plist) str(k, v string) {
	p.key(k)
	p.elem("string", v)
}

func (p plist) integer(k string, v int) {
	p.key(k)
	p.elem("integer", strconv.Itoa(v))
}

func (p plist) elem(tag, text string) {
	p.b.WriteString("<" + tag + ">")
	xml.EscapeText(p.b, []byte(text)) // writes to a bytes.Buffer: no error
	p.b.WriteString("</" + tag + ">\n")
}

func (p plist) dict(body func()) {
	p.b.WriteString("<dict>\n")
	body()
	p.b.WriteString("</dict>\n")
}

func (p plist) array(body func()) {
	p.b.WriteString("<array>\n")
	body()
	p.b.WriteString("</array>\n")
}

// uuid returns a random (version 4) UUID in upper case, as Apple's tools
// write them.
func uuid() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", fmt.Errorf("dns setup: uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])), nil
}
