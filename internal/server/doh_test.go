package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestDoHStreamsOnOneConnection sends 400 queries at once over one
// HTTP/2 connection to a handler that answers only when all of them are
// in it together, the way 2,000 queries a second meet a slow upstream.
// A server that capped streams at Go's default of 250, or answered one
// connection's streams one by one, would leave them waiting (and a
// client that does not queue would lose them).
func TestDoHStreamsOnOneConnection(t *testing.T) {
	const n = 400
	var inside atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	h := pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		if inside.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
			return echoHandler(ctx, w, r)
		case <-time.After(20 * time.Second): // bounds a broken server
			return w.WriteMsg(new(dns.Msg).SetRcode(r.Msg, dns.RcodeServerFailure))
		}
	})
	cert := dnstest.NewCert(t)
	s, err := New(Config{DoH: []string{"127.0.0.1:0"}, TLS: cert.TLS, Handler: h, Allow: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	tc, err := tls.Dial("tcp", s.Addrs().DoH[0], &tls.Config{RootCAs: cert.Pool, ServerName: "dns.test", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	// The client queues requests over the stream limit instead of
	// failing them, and learns the server's limit (from its SETTINGS,
	// which come before any answer) before the 400 go: until then it
	// assumes 100, and a fast start would fail the rest as "client conn
	// not usable" (as on a slow CI machine).
	cc, err := (&http2.Transport{StrictMaxConcurrentStreams: true}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	warm, _ := http.NewRequest("GET", "https://dns.test/not-dns", nil)
	resp, err := cc.RoundTrip(warm)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /not-dns: %s, want 404", resp.Status)
	}
	if st := cc.State(); st.MaxConcurrentStreams < n {
		t.Fatalf("server allows %d streams a connection, want at least %d", st.MaxConcurrentStreams, n)
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wire := pack(t, new(dns.Msg).SetQuestion(fmtName(i), dns.TypeA))
			req, _ := http.NewRequest("GET", "https://dns.test/dns-query?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			r := new(dns.Msg)
			if resp.StatusCode == 200 && r.Unpack(body) == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d queries answered on one connection", ok.Load(), n)
	}
}

// TestPaddedAnswers checks RFC 7830 and RFC 8467: over DoT and DoH, an
// answer to a padded query is padded to a multiple of 468 bytes; an
// unpadded query's answer and any UDP answer are not padded.
func TestPaddedAnswers(t *testing.T) {
	_, addrs, cert := limitServer(t, Config{}, nil)
	tlsCfg := &tls.Config{RootCAs: cert.Pool, ServerName: "dns.test"}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}
	query := func(padded bool) *dns.Msg {
		q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA).SetEdns0(1232, false)
		if padded {
			opt := q.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, 128-len(pack(t, q))-4)})
		}
		return q
	}
	send := map[string]func(q *dns.Msg) []byte{
		"dot": func(q *dns.Msg) []byte {
			c := dial(t, "dot", "127.0.0.1", addrs.DoT[0], cert)
			return pack(t, streamQuery(t, c, q))
		},
		"doh": func(q *dns.Msg) []byte {
			req, _ := http.NewRequest("POST", "https://"+addrs.DoH[0]+"/dns-query", bytes.NewReader(pack(t, q)))
			req.Header.Set("Content-Type", "application/dns-message")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return b
		},
		"udp": func(q *dns.Msg) []byte {
			r := udpFrom(t, "127.0.0.1", addrs.UDP[0], q, 5*time.Second)
			return pack(t, r)
		},
	}
	tests := []struct {
		transport string
		padded    bool
		wantPad   bool
	}{
		{"dot", true, true}, {"dot", false, false},
		{"doh", true, true}, {"doh", false, false},
		{"udp", true, false},
	}
	for _, tc := range tests {
		name := tc.transport
		if tc.padded {
			name += "/padded"
		}
		t.Run(name, func(t *testing.T) {
			raw := send[tc.transport](query(tc.padded))
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Fatal(err)
			}
			hasPad := r.IsEdns0() != nil && hasPadding(r.IsEdns0())
			if hasPad != tc.wantPad {
				t.Fatalf("padding option present %v, want %v (%d bytes)", hasPad, tc.wantPad, len(raw))
			}
			if tc.wantPad && len(raw)%padBlock != 0 {
				t.Fatalf("padded answer of %d bytes, not a multiple of %d", len(raw), padBlock)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("answer lost: %v", r)
			}
		})
	}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// writeRecorder is a net.Conn that records where each write ended.
type writeRecorder struct {
	net.Conn
	buf  bytes.Buffer
	ends []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.ends = append(w.ends, w.buf.Len())
	return len(p), nil
}

// frame builds an HTTP/2 frame header and payload.
func frame(typ, flags byte, stream uint32, payload int) []byte {
	b := []byte{byte(payload >> 16), byte(payload >> 8), byte(payload), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return append(b, bytes.Repeat([]byte{0xAB}, payload)...)
}

// TestAnswerWriterCutsAfterEachAnswer feeds the HTTP/2 server's output for
// three answers, in chunks of several sizes, and checks that every answer
// ends a write (so it ends a TLS record) and that no byte is lost.
func TestAnswerWriterCutsAfterEachAnswer(t *testing.T) {
	var stream []byte
	var answerEnds []int
	add := func(b []byte, endsAnswer bool) {
		stream = append(stream, b...)
		if endsAnswer {
			answerEnds = append(answerEnds, len(stream))
		}
	}
	add(frame(0x4, 0, 0, 18), false)            // SETTINGS
	add(frame(frameHeaders, 0x4, 1, 40), false) // HEADERS, END_HEADERS
	add(frame(frameData, flagEndStream, 1, 60), true)
	add(frame(frameHeaders, 0x4, 3, 30), false)
	add(frame(frameData, 0, 3, 100), false)                  // DATA without END_STREAM
	add(frame(frameData, flagEndStream, 3, 0), true)         // empty END_STREAM DATA
	add(frame(frameHeaders, 0x4|flagEndStream, 5, 20), true) // a body-less answer
	add(frame(0x8, 0, 0, 4), false)                          // WINDOW_UPDATE
	for _, chunk := range []int{len(stream), 1, 5, 9, 64} {
		t.Run(fmt.Sprint("chunk ", chunk), func(t *testing.T) {
			rec := &writeRecorder{}
			w := &answerWriter{Conn: rec}
			for i := 0; i < len(stream); i += chunk {
				b := stream[i:min(i+chunk, len(stream))]
				if n, err := w.Write(b); n != len(b) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if !bytes.Equal(rec.buf.Bytes(), stream) {
				t.Fatal("bytes changed or lost")
			}
			for _, end := range answerEnds {
				if !slices.Contains(rec.ends, end) {
					t.Errorf("no write ends where an answer ends (%d); writes end at %v", end, rec.ends)
				}
			}
			if chunk == len(stream) && len(rec.ends) != len(answerEnds)+1 {
				t.Errorf("%d writes for one buffer of 3 answers and a trailing frame, want 4", len(rec.ends))
			}
		})
	}
}
