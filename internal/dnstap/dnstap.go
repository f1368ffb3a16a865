// Package dnstap sends every answered query to a dnstap collector
// (dnstap.info): a CLIENT_QUERY message when it arrives and a
// CLIENT_RESPONSE message with the answer, as Frame Streams over a unix or
// TCP socket, through github.com/dnstap/golang-dnstap. It is how an ISP
// that runs its own pipeline gets raw queries while Hearth keeps none.
//
// The query path never waits on the collector: a query's messages are
// copied into pooled buffers and offered to a bounded queue; when the
// queue is full (the collector is slow or down) they are dropped and
// counted in hearth_dnstap_dropped_total. A goroutine encodes them and
// writes them as Frame Streams (the library's framestream writer),
// reconnecting when the collector comes back.
package dnstap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	dt "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Config configures a Tap.
type Config struct {
	// Socket is a unix socket path, TCP a host:port: exactly one.
	Socket, TCP string
	// Identity and Version go into every message.
	Identity, Version string
	// Queries and Responses choose CLIENT_QUERY and CLIENT_RESPONSE
	// messages; at least one.
	Queries, Responses bool
	// Queue is how many queries' messages may wait for the socket.
	Queue int
	// Timeout bounds connecting and each write.
	Timeout time.Duration
	// Metrics receives the sent and dropped counters; required.
	Metrics *metrics.Registry
	// Logger receives connection errors (default: discard).
	Logger *slog.Logger
}

// Tap is the dnstap output. Start it, put Middleware in the chain, and
// Shutdown it when done.
type Tap struct {
	c       Config
	addr    net.Addr
	log     *slog.Logger
	queue   chan entry
	bufs    sync.Pool
	writers sync.Pool
	done    chan struct{}
	started bool
	sent    *metrics.Counter
	dropped *metrics.Counter
	// closeOnce starts the shutdown once.
	closeOnce sync.Once
}

// entry is one answered query, as the query path hands it over: fixed
// fields and pooled buffers, so that offering it allocates nothing.
type entry struct {
	transport          pipeline.Transport
	client             netip.AddrPort
	qtime, rtime       time.Time
	query, response    *[]byte
	hasQuery, hasReply bool
}

// New checks c and returns a Tap that is not started.
func New(c Config) (*Tap, error) {
	var addr net.Addr
	var err error
	switch {
	case c.Socket != "" && c.TCP != "":
		return nil, errors.New("dnstap: socket and tcp: give one")
	case c.Socket != "":
		addr, err = net.ResolveUnixAddr("unix", c.Socket)
	case c.TCP != "":
		addr, err = net.ResolveTCPAddr("tcp", c.TCP)
	default:
		return nil, errors.New("dnstap: socket or tcp: required")
	}
	if err != nil {
		return nil, fmt.Errorf("dnstap: address: %w", err)
	}
	if !c.Queries && !c.Responses {
		return nil, errors.New("dnstap: neither queries nor responses are logged")
	}
	if c.Queue < 1 {
		return nil, fmt.Errorf("dnstap: queue %d: want at least 1", c.Queue)
	}
	if c.Timeout <= 0 {
		return nil, fmt.Errorf("dnstap: timeout %v: want positive", c.Timeout)
	}
	if c.Metrics == nil {
		return nil, errors.New("dnstap: metrics: required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tap{
		c: c, addr: addr, log: c.Logger, queue: make(chan entry, c.Queue), done: make(chan struct{}),
		sent:    c.Metrics.Counter("hearth_dnstap_sent_total", "dnstap messages handed to the collector's socket."),
		dropped: c.Metrics.Counter("hearth_dnstap_dropped_total", "dnstap messages dropped because the queue to the collector was full."),
	}
	t.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	t.writers.New = func() any { return new(capture) }
	return t, nil
}

// Start starts sending in the background; it connects on the first
// message.
func (t *Tap) Start() error {
	t.started = true
	go t.run()
	return nil
}

// Shutdown stops taking messages, sends what is queued while the
// collector takes it, and returns when all is sent or ctx ends. It may be
// called more than once.
func (t *Tap) Shutdown(ctx context.Context) error {
	if !t.started {
		return nil
	}
	t.closeOnce.Do(func() { close(t.queue) })
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dnstap: shutdown: %w", ctx.Err())
	}
}

// retryEvery is how often a lost collector is dialled again; messages
// in between are dropped and counted.
const retryEvery = time.Second

// run encodes queued entries and writes them to the collector, flushing
// whenever the queue is empty. While the collector is unreachable the
// entries are dropped, counted, and it is dialled again at most every
// retryEvery.
func (t *Tap) run() {
	defer close(t.done)
	var (
		conn     net.Conn
		w        *framestream.Writer
		lastDial time.Time
		failing  bool
	)
	drop := func() {
		if w != nil {
			w.Close()
		}
		if conn != nil {
			conn.Close()
		}
		conn, w = nil, nil
	}
	defer drop()
	for e := range t.queue {
		if w == nil && time.Since(lastDial) >= retryEvery {
			lastDial = time.Now()
			var err error
			conn, w, err = t.dial()
			if err != nil {
				if !failing {
					t.log.Warn("dnstap: collector unreachable; messages are dropped until it is back", "addr", t.addr.String(), "err", err)
				}
				failing = true
			} else if failing {
				t.log.Info("dnstap: collector reachable again", "addr", t.addr.String())
				failing = false
			}
		}
		for _, typ := range []dt.Message_Type{dt.Message_CLIENT_QUERY, dt.Message_CLIENT_RESPONSE} {
			if typ == dt.Message_CLIENT_QUERY && !e.hasQuery || typ == dt.Message_CLIENT_RESPONSE && !e.hasReply {
				continue
			}
			if w == nil {
				t.dropped.Inc()
				continue
			}
			b, err := proto.Marshal(t.message(e, typ))
			if err != nil {
				t.log.Error("dnstap: encode", "err", err)
				continue
			}
			if _, err := w.WriteFrame(b); err != nil {
				t.log.Warn("dnstap: write", "addr", t.addr.String(), "err", err)
				t.dropped.Inc()
				drop()
				continue
			}
			t.sent.Inc()
		}
		t.bufs.Put(e.query)
		t.bufs.Put(e.response)
		if w != nil && len(t.queue) == 0 {
			if err := w.Flush(); err != nil {
				t.log.Warn("dnstap: write", "addr", t.addr.String(), "err", err)
				drop()
			}
		}
	}
}

// dial connects to the collector and opens a bidirectional Frame Streams
// session for dnstap.
func (t *Tap) dial() (net.Conn, *framestream.Writer, error) {
	conn, err := net.DialTimeout(t.addr.Network(), t.addr.String(), t.c.Timeout)
	if err != nil {
		return nil, nil, err
	}
	w, err := framestream.NewWriter(conn, &framestream.WriterOptions{
		ContentTypes: [][]byte{dt.FSContentType}, Bidirectional: true, Timeout: t.c.Timeout,
	})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("frame streams handshake: %w", err)
	}
	return conn, w, nil
}

// message builds the dnstap message of one side of e.
func (t *Tap) message(e entry, typ dt.Message_Type) *dt.Dnstap {
	family, addr := dt.SocketFamily_INET, e.client.Addr().Unmap()
	if addr.Is6() {
		family = dt.SocketFamily_INET6
	}
	proto := protocol(e.transport)
	port := uint32(e.client.Port())
	qs, qn := uint64(e.qtime.Unix()), uint32(e.qtime.Nanosecond())
	m := &dt.Message{
		Type: &typ, SocketFamily: &family, SocketProtocol: &proto,
		QueryAddress: addr.AsSlice(), QueryPort: &port,
		QueryTimeSec: &qs, QueryTimeNsec: &qn,
	}
	if typ == dt.Message_CLIENT_QUERY {
		m.QueryMessage = *e.query
	} else {
		rs, rn := uint64(e.rtime.Unix()), uint32(e.rtime.Nanosecond())
		m.ResponseTimeSec, m.ResponseTimeNsec = &rs, &rn
		m.ResponseMessage = *e.response
	}
	kind := dt.Dnstap_MESSAGE
	d := &dt.Dnstap{Type: &kind, Message: m, Version: []byte(t.c.Version)}
	if t.c.Identity != "" {
		d.Identity = []byte(t.c.Identity)
	}
	return d
}

// protocol maps a transport to its dnstap socket protocol.
func protocol(tr pipeline.Transport) dt.SocketProtocol {
	switch tr {
	case pipeline.TCP:
		return dt.SocketProtocol_TCP
	case pipeline.DoT:
		return dt.SocketProtocol_DOT
	case pipeline.DoH:
		return dt.SocketProtocol_DOH
	}
	return dt.SocketProtocol_UDP
}

// Middleware returns the step that records each query and its answer.
// It packs the query before the chain runs (later steps may change the
// message) and copies the answer as it is written.
func (t *Tap) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			e := entry{transport: r.Transport, client: r.Client, qtime: r.Received, query: t.bufs.Get().(*[]byte), response: t.bufs.Get().(*[]byte)}
			if e.qtime.IsZero() {
				e.qtime = time.Now()
			}
			if t.c.Queries {
				if b, err := r.Msg.PackBuffer((*e.query)[:cap(*e.query)]); err == nil {
					*e.query, e.hasQuery = b, true
				}
			}
			cw := t.writers.Get().(*capture)
			cw.ResponseWriter, cw.buf, cw.wrote = w, e.response, false
			cw.responses = t.c.Responses
			err := next.ServeDNS(ctx, cw, r)
			e.hasReply = cw.wrote
			cw.ResponseWriter, cw.buf = nil, nil
			t.writers.Put(cw)
			if err == pipeline.ErrWouldBlock {
				// Nothing was answered: the request runs again.
				t.bufs.Put(e.query)
				t.bufs.Put(e.response)
				return err
			}
			e.rtime = time.Now()
			if !e.hasQuery && !e.hasReply {
				t.bufs.Put(e.query)
				t.bufs.Put(e.response)
				return err
			}
			select {
			case t.queue <- e:
			default:
				t.dropped.Add(uint64(btoi(e.hasQuery) + btoi(e.hasReply)))
				t.bufs.Put(e.query)
				t.bufs.Put(e.response)
			}
			return err
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// capture is a ResponseWriter that keeps a copy of the answer written.
type capture struct {
	pipeline.ResponseWriter
	buf       *[]byte
	wrote     bool
	responses bool
}

// WriteMsg copies m, packed, then writes it.
func (c *capture) WriteMsg(m *dns.Msg) error {
	if c.responses {
		if b, err := m.PackBuffer((*c.buf)[:cap(*c.buf)]); err == nil {
			*c.buf, c.wrote = b, true
		}
	}
	return c.ResponseWriter.WriteMsg(m)
}

// WriteWire writes b, then copies it as sent (the writer sets its ID).
func (c *capture) WriteWire(b []byte) error {
	err := c.ResponseWriter.WriteWire(b)
	if c.responses {
		*c.buf, c.wrote = append((*c.buf)[:0], b...), true
	}
	return err
}
