package admintls

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// plainTimeout bounds how long a plain-HTTP client may take to send the
// request line and headers that the redirect is built from.
const plainTimeout = 5 * time.Second

// maxPlainRequest bounds the bytes read of a plain-HTTP request.
const maxPlainRequest = 8 << 10

// errPlainHTTP ends the TLS handshake of a connection that spoke plain
// HTTP and was answered with a redirect.
var errPlainHTTP = errors.New("plain HTTP on the HTTPS port: redirected")

// NewListener returns a TLS listener over inner, like tls.NewListener,
// that answers a client speaking plain HTTP (a parent who typed
// http://hearth.local:8080) with a redirect to the same address over
// HTTPS, where Go's server would answer "400 Client sent an HTTP request
// to an HTTPS server". Accept never waits for a client: the first byte
// is read in the connection's handshake, which the HTTP server runs on
// the connection's own goroutine, under its own timeouts.
func NewListener(inner net.Listener, config *tls.Config) net.Listener {
	return &listener{Listener: inner, config: config}
}

type listener struct {
	net.Listener
	config *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(&sniffConn{Conn: c}, l.config), nil
}

// sniffConn looks at the first byte a client sends. A TLS client starts
// with a handshake record (22); anything else that parses as an HTTP
// request is answered with a redirect, and the connection closes.
type sniffConn struct {
	net.Conn
	r       *bufio.Reader
	checked bool
}

func (c *sniffConn) Read(p []byte) (int, error) {
	if c.checked {
		return c.r.Read(p)
	}
	c.checked = true
	c.r = bufio.NewReaderSize(c.Conn, 1024)
	b, err := c.r.Peek(1)
	if err != nil {
		return 0, err
	}
	if b[0] == 22 { // TLS handshake record
		return c.r.Read(p)
	}
	c.redirect()
	return 0, errPlainHTTP
}

// redirect answers the plain-HTTP request on c with 308 to https://Host
// plus its path (a request without a usable Host gets 400), then closes.
func (c *sniffConn) redirect() {
	defer c.Conn.Close()
	c.Conn.SetDeadline(time.Now().Add(plainTimeout))
	req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c.r, maxPlainRequest)))
	if err != nil {
		return // not HTTP either: nothing to say
	}
	host, ok := redirectHost(req.Host)
	path := req.URL.RequestURI()
	if !ok || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n") {
		io.WriteString(c.Conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nThis port speaks HTTPS: use https://.\n")
		return
	}
	io.WriteString(c.Conn, "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://"+host+path+
		"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

// redirectHost returns the Host header's host and port if it is a host
// name or an IP address with an optional port, in a form safe to put in
// a Location header.
func redirectHost(h string) (string, bool) {
	if h == "" || len(h) > 255 {
		return "", false
	}
	name, port, err := net.SplitHostPort(h)
	if err != nil {
		name, port = h, ""
		if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
			name = name[1 : len(name)-1]
		}
	}
	if port != "" && strings.Trim(port, "0123456789") != "" {
		return "", false
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		if a.Is6() && !a.Is4In6() {
			name = "[" + a.String() + "]"
		}
	} else {
		for _, r := range name {
			if !(r == '-' || r == '.' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return "", false
			}
		}
	}
	if port != "" {
		return name + ":" + port, true
	}
	return name, true
}
