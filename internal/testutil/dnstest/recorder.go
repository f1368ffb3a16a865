package dnstest

import (
	"fmt"

	"github.com/miekg/dns"
)

// Recorder is a pipeline.ResponseWriter that keeps the answer written to it.
type Recorder struct {
	// Msg is the last answer written, unpacked.
	Msg *dns.Msg
	// Writes counts the Write calls.
	Writes int
	// Wire reports whether the last answer came through WriteWire.
	Wire bool
}

// WriteMsg records m.
func (r *Recorder) WriteMsg(m *dns.Msg) error {
	r.Writes++
	r.Msg = m.Copy()
	r.Wire = false
	return nil
}

// WriteWire unpacks and records b.
func (r *Recorder) WriteWire(b []byte) error {
	r.Writes++
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Errorf("dnstest: recorder: unpack wire answer: %w", err)
	}
	r.Msg = m
	r.Wire = true
	return nil
}
