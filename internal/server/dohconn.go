package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

// serveH2 makes hs serve HTTP/2 through x/net/http2 with up to streams
// concurrent streams a connection, writing each answer as its own TLS
// write (see answerWriter).
func serveH2(hs *http.Server, streams int) error {
	h2 := &http2.Server{MaxConcurrentStreams: uint32(streams)}
	if err := http2.ConfigureServer(hs, h2); err != nil {
		return err
	}
	hs.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http passes its per-connection context this way (as
		// http2.ConfigureServer's own handler reads it).
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(&answerWriter{Conn: c}, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
	return nil
}

// answerWriter cuts the HTTP/2 server's writes after every frame that
// ends a stream, so that each DoH answer goes out in TLS records of its
// own. Under load the HTTP/2 server buffers many answers into one write,
// hence one TLS record; clients that take one answer per record they read
// (dnsperf, and so the measurements in issue #10: 69 % of queries "lost"
// on one connection at 2,000 qps) then never see the rest, which sit in
// their buffer. Unbound writes answer by answer; so does Hearth now, at
// the cost of a system call per answer instead of per batch.
type answerWriter struct {
	net.Conn         // the *tls.Conn
	hdr      [9]byte // the frame header being read
	nhdr     int     // bytes of hdr seen
	left     int     // payload bytes of the current frame still to pass
	ends     bool    // the current frame ends its stream
}

// ConnectionState lets the HTTP/2 server see the TLS connection state
// (r.TLS in handlers).
func (w *answerWriter) ConnectionState() tls.ConnectionState {
	if tc, ok := w.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// HTTP/2 frame types and the END_STREAM flag (RFC 9113 6.1, 6.2).
const (
	frameData      = 0x0
	frameHeaders   = 0x1
	flagEndStream  = 0x1
	frameHeaderLen = 9
)

func (w *answerWriter) Write(p []byte) (int, error) {
	written, start := 0, 0
	flush := func(end int) error {
		n, err := w.Conn.Write(p[start:end])
		written += n
		start = end
		return err
	}
	for i := 0; i < len(p); {
		if w.nhdr < frameHeaderLen {
			k := copy(w.hdr[w.nhdr:], p[i:])
			w.nhdr += k
			i += k
			if w.nhdr < frameHeaderLen {
				break
			}
			w.left = int(w.hdr[0])<<16 | int(w.hdr[1])<<8 | int(w.hdr[2])
			t := w.hdr[3]
			w.ends = (t == frameData || t == frameHeaders) && w.hdr[4]&flagEndStream != 0
		} else {
			k := min(w.left, len(p)-i)
			i += k
			w.left -= k
		}
		if w.nhdr == frameHeaderLen && w.left == 0 {
			w.nhdr = 0
			if w.ends && i < len(p) {
				if err := flush(i); err != nil {
					return written, err
				}
			}
		}
	}
	if start < len(p) {
		if err := flush(len(p)); err != nil {
			return written, err
		}
	}
	return written, nil
}
