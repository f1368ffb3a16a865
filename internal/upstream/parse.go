package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// protocol is the transport an upstream speaks.
type protocol uint8

const (
	protoUDP   protocol = iota // UDP, retried over TCP when truncated
	protoTCP                   // TCP only
	protoTLS                   // DNS over TLS, RFC 7858
	protoHTTPS                 // DNS over HTTPS, RFC 8484
)

// endpoint is a parsed, validated upstream server string.
type endpoint struct {
	proto protocol
	// host is the IP literal or host name to connect to, without brackets.
	host string
	// ip is host parsed, when host is an IP literal; else the zero Addr and
	// the host name is resolved through the bootstrap servers.
	ip   netip.Addr
	port uint16
	// serverName is the TLS server name (SNI and certificate check).
	serverName string
	// url is the DoH endpoint.
	url string
}

// String returns the canonical form of e, for logs.
func (e endpoint) String() string {
	hp := net.JoinHostPort(e.host, strconv.Itoa(int(e.port)))
	switch e.proto {
	case protoTCP:
		return "tcp://" + hp
	case protoTLS:
		if e.serverName != e.host {
			return "tls://" + hp + "#" + e.serverName
		}
		return "tls://" + hp
	case protoHTTPS:
		return e.url
	}
	return "udp://" + hp
}

// parseServer parses one Config.Servers entry. The error does not repeat s:
// New wraps it with the value.
func parseServer(s string) (endpoint, error) {
	if s == "" {
		return endpoint{}, errors.New("empty server address")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "udp", s
	}
	switch strings.ToLower(scheme) {
	case "udp", "tcp":
		if strings.ContainsAny(rest, "/#?@") {
			return endpoint{}, errors.New("plain DNS address must be ip or ip:port")
		}
		host, port, err := splitHostPort(rest, 53)
		if err != nil {
			return endpoint{}, err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return endpoint{}, fmt.Errorf("plain DNS needs an IP address, not %q", host)
		}
		e := endpoint{proto: protoUDP, host: host, ip: ip.Unmap(), port: port}
		if strings.EqualFold(scheme, "tcp") {
			e.proto = protoTCP
		}
		return e, nil
	case "tls":
		hp, name, hasName := strings.Cut(rest, "#")
		if strings.ContainsAny(hp, "/?@") {
			return endpoint{}, errors.New("DoT address must be host, host:port or ip:port#name")
		}
		host, port, err := splitHostPort(hp, 853)
		if err != nil {
			return endpoint{}, err
		}
		e := endpoint{proto: protoTLS, host: host, port: port, serverName: host}
		if hasName {
			if !validHostname(name) {
				return endpoint{}, fmt.Errorf("invalid TLS server name %q", name)
			}
			e.serverName = name
		}
		if err := e.setHost(host); err != nil {
			return endpoint{}, err
		}
		return e, nil
	case "https":
		u, err := url.Parse(s)
		if err != nil {
			return endpoint{}, fmt.Errorf("parsing URL: %w", err)
		}
		if u.User != nil || u.Fragment != "" || u.Opaque != "" {
			return endpoint{}, errors.New("DoH URL must not carry user info or a fragment")
		}
		host, port, err := splitHostPort(u.Host, 443)
		if err != nil {
			return endpoint{}, err
		}
		if u.Path == "" {
			// RFC 8484 leaves the path to the server; /dns-query is what
			// every public resolver uses.
			u.Path = "/dns-query"
		}
		e := endpoint{proto: protoHTTPS, host: host, port: port, serverName: host}
		if err := e.setHost(host); err != nil {
			return endpoint{}, err
		}
		e.url = u.String()
		return e, nil
	}
	return endpoint{}, fmt.Errorf("unsupported scheme %q (want udp, tcp, tls or https)", scheme)
}

// setHost records host as an IP literal, or checks it is a valid host name
// for the bootstrap servers to resolve.
func (e *endpoint) setHost(host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		e.ip = ip.Unmap()
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("invalid host %q", host)
	}
	e.host = strings.ToLower(strings.TrimSuffix(host, "."))
	if e.serverName == host {
		e.serverName = e.host
	}
	return nil
}

// splitHostPort splits "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 literal, with def as the port when none is given.
func splitHostPort(hp string, def uint16) (string, uint16, error) {
	if hp == "" {
		return "", 0, errors.New("missing host")
	}
	if ip, err := netip.ParseAddr(hp); err == nil {
		return ip.String(), def, nil
	}
	if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
		ip, err := netip.ParseAddr(hp[1 : len(hp)-1])
		if err != nil {
			return "", 0, fmt.Errorf("invalid IPv6 address %q", hp)
		}
		return ip.String(), def, nil
	}
	if !strings.Contains(hp, ":") {
		return hp, def, nil
	}
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("invalid host:port %q", hp)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("invalid port %q", ps)
	}
	if host == "" {
		return "", 0, errors.New("missing host")
	}
	return host, uint16(port), nil
}

// validHostname reports whether s is a plausible DNS host name: labels of
// letters, digits, '-' and '_', 1 to 63 bytes each, 253 bytes in all.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}

// parseBootstrap parses a bootstrap server: an IP or ip:port, plain UDP.
func parseBootstrap(s string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(s, 53)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bootstrap server must be an IP address, not %q", host)
	}
	return netip.AddrPortFrom(ip.Unmap(), port), nil
}
