package config

import "time"

// Limits bound what one client or connection may use. Every field is a
// plain value, so that Limits compares with ==.
type Limits struct {
	// TCPIdle closes idle TCP and DoT connections; past half of
	// TCPConnections the timeout shrinks, down to 200 ms at the cap.
	TCPIdle time.Duration `yaml:"tcp_idle"`
	// TCPConnections caps open TCP and DoT connections per listener.
	TCPConnections int `yaml:"tcp_connections"`
	// TCPPerSource caps open TCP and DoT connections per listener from
	// one source address.
	TCPPerSource int `yaml:"tcp_per_source"`

	// HTTPConnections and HTTPPerSource cap the open connections of each
	// HTTP listener (API and UI, block page, DoH), in total and per source.
	HTTPConnections int `yaml:"http_connections"`
	HTTPPerSource   int `yaml:"http_per_source"`
	// HTTPHeaderTimeout bounds reading a request's headers; HTTPTimeout
	// reading a whole request and writing its response; HTTPIdle closes
	// idle keep-alive connections.
	HTTPHeaderTimeout time.Duration `yaml:"http_header_timeout"`
	HTTPTimeout       time.Duration `yaml:"http_timeout"`
	HTTPIdle          time.Duration `yaml:"http_idle"`
	// HTTPMaxHeaderBytes and HTTPMaxBodyBytes bound a request's headers
	// and body.
	HTTPMaxHeaderBytes int   `yaml:"http_max_header_bytes"`
	HTTPMaxBodyBytes   int64 `yaml:"http_max_body_bytes"`
	// DoHStreams caps concurrent HTTP/2 streams (queries) on one DoH
	// connection.
	DoHStreams int `yaml:"doh_streams"`

	// QPS is the queries a second one client (source address) may send
	// on average; Burst how many at once. 0 turns the limit off.
	QPS   int `yaml:"qps"`
	Burst int `yaml:"burst"`
	// RefusedQPS bounds REFUSED answers over UDP per /24 or /56 network a
	// second; RepeatQPS bounds identical UDP answers (same name and type)
	// per network a second. 0 turns a limit off.
	RefusedQPS int `yaml:"refused_qps"`
	RepeatQPS  int `yaml:"repeat_qps"`
	// Slip: of the UDP answers over refused_qps or repeat_qps, every
	// Slip-th goes out empty and truncated so a real client whose address
	// is spoofed retries over TCP; 0 drops all. Queries over qps are
	// always dropped over UDP.
	Slip int `yaml:"slip"`
	// Table is the number of buckets in each rate-limit table: memory is
	// fixed (16 bytes a bucket) whatever clients send.
	Table int `yaml:"table"`
}

// defaultLimits are sized for a home: far above what a family's devices
// need, far below what a flood needs.
func defaultLimits() Limits {
	return Limits{
		TCPIdle: 10 * time.Second, TCPConnections: 1000, TCPPerSource: 64,
		HTTPConnections: 512, HTTPPerSource: 64,
		HTTPHeaderTimeout: 5 * time.Second, HTTPTimeout: 30 * time.Second, HTTPIdle: 60 * time.Second,
		HTTPMaxHeaderBytes: 16 << 10, HTTPMaxBodyBytes: 1 << 20,
		DoHStreams: 1000,
		QPS:        1000, Burst: 2000, RefusedQPS: 5, RepeatQPS: 1000, Slip: 2, Table: 1 << 16,
	}
}

// validateLimits reports every limit out of range.
func (c *Config) validateLimits(bad func(path, format string, args ...any)) {
	l := c.Limits
	positive := []struct {
		path string
		v    int64
	}{
		{"limits.tcp_idle", int64(l.TCPIdle)},
		{"limits.tcp_connections", int64(l.TCPConnections)},
		{"limits.tcp_per_source", int64(l.TCPPerSource)},
		{"limits.http_connections", int64(l.HTTPConnections)},
		{"limits.http_per_source", int64(l.HTTPPerSource)},
		{"limits.http_header_timeout", int64(l.HTTPHeaderTimeout)},
		{"limits.http_timeout", int64(l.HTTPTimeout)},
		{"limits.http_idle", int64(l.HTTPIdle)},
		{"limits.http_max_body_bytes", l.HTTPMaxBodyBytes},
		{"limits.doh_streams", int64(l.DoHStreams)},
		{"limits.table", int64(l.Table)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad(p.path, "must be positive")
		}
	}
	notNegative := []struct {
		path string
		v    int
	}{
		{"limits.qps", l.QPS}, {"limits.burst", l.Burst}, {"limits.refused_qps", l.RefusedQPS},
		{"limits.repeat_qps", l.RepeatQPS}, {"limits.slip", l.Slip},
	}
	for _, p := range notNegative {
		if p.v < 0 {
			bad(p.path, "must not be negative")
		}
	}
	if l.HTTPMaxHeaderBytes < 1024 {
		bad("limits.http_max_header_bytes", "%d is below 1024", l.HTTPMaxHeaderBytes)
	}
	if l.TCPPerSource > l.TCPConnections && l.TCPConnections > 0 {
		bad("limits.tcp_per_source", "%d is more than tcp_connections %d", l.TCPPerSource, l.TCPConnections)
	}
	if l.HTTPPerSource > l.HTTPConnections && l.HTTPConnections > 0 {
		bad("limits.http_per_source", "%d is more than http_connections %d", l.HTTPPerSource, l.HTTPConnections)
	}
	if l.QPS > 0 && l.Burst < 1 {
		bad("limits.burst", "must be at least 1 when qps is set")
	}
	if l.Table > 1<<24 {
		bad("limits.table", "%d is more than %d", l.Table, 1<<24)
	}
	if l.DoHStreams > 10000 {
		bad("limits.doh_streams", "%d is more than 10000", l.DoHStreams)
	}
}
