package identity

import "net"

// mac is a 6-byte (EUI-48) hardware address, comparable so that it can key
// a map. Hearth identifies devices by EUI-48 only: that is what Ethernet
// and Wi-Fi neighbours and dnsmasq's options carry.
type mac [6]byte

// macFrom converts a 6-byte, non-zero address.
func macFrom(b []byte) (mac, bool) {
	var m mac
	if len(b) != len(m) {
		return mac{}, false
	}
	copy(m[:], b)
	return m, m != mac{}
}

// String formats m in lower case with colons, as net.HardwareAddr does.
func (m mac) String() string {
	b := m.text()
	return string(b[:])
}

// text is String without allocating.
func (m mac) text() [macTextLen]byte {
	const digits = "0123456789abcdef"
	var b [macTextLen]byte
	for i, c := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = digits[c>>4]
		b[3*i+1] = digits[c&0xf]
	}
	return b
}

// hardwareAddr returns m as a net.HardwareAddr.
func (m mac) hardwareAddr() net.HardwareAddr { return net.HardwareAddr(m[:]) }
