package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/miekg/dns"
)

// dohMediaType is the DoH message type (RFC 8484 section 6).
const dohMediaType = "application/dns-message"

// httpsClient speaks DNS over HTTPS (RFC 8484) with POST requests. The
// transport negotiates HTTP/2, so concurrent queries share one connection.
type httpsClient struct {
	url       string
	client    *http.Client
	transport *http.Transport
	bufs      *bufPool
}

func newHTTPSClient(url string, addrs *hostAddrs, port uint16, conf *tls.Config, timeout time.Duration, bufs *bufPool) *httpsClient {
	d := &net.Dialer{}
	tr := &http.Transport{
		// The URL's host name is only used for TLS; the connection goes
		// to the bootstrapped addresses, never through the system
		// resolver, which may well be Hearth itself.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			// The transport may finish a dial after the request that
			// started it is gone, so bound it here too.
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ips, err := addrs.get(ctx)
			if err != nil {
				return nil, err
			}
			return dialAny(ctx, d, ips, port)
		},
		TLSClientConfig:     conf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: maxIdleConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// No Proxy: a DNS upstream reached through an HTTP proxy taken
		// from the environment would be a surprise.
	}
	return &httpsClient{
		url:       url,
		client:    &http.Client{Transport: tr},
		transport: tr,
		bufs:      bufs,
	}
}

func (c *httpsClient) exchange(ctx context.Context, q *query) (*dns.Msg, error) {
	// q.wire has ID 0, as RFC 8484 section 4.1 asks, so that identical
	// queries are identical HTTP requests for caches.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(q.wire))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", dohMediaType)
	req.Header.Set("Accept", dohMediaType)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, ioError(ctx, "sending request", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		return nil, fmt.Errorf("http status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != dohMediaType {
		return nil, fmt.Errorf("answer content type %q, want %s", resp.Header.Get("Content-Type"), dohMediaType)
	}
	bp := c.bufs.get()
	defer c.bufs.put(bp)
	buf := (*bp)[:maxMsgSize+1]
	n, err := io.ReadFull(resp.Body, buf)
	switch {
	case err == nil:
		return nil, errors.New("answer larger than 65535 bytes")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		return nil, ioError(ctx, "reading answer", err)
	}
	m, err := parseAnswer(buf[:n], 0, q)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (c *httpsClient) close() error {
	c.transport.CloseIdleConnections()
	return nil
}
