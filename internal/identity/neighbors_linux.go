package identity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// listIPv6Neighbors dumps the kernel's IPv6 neighbour table over netlink
// (RTM_GETNEIGH with NLM_F_DUMP), the request `ip -6 neigh show` makes.
func listIPv6Neighbors() ([]Neighbor, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// A kernel dump does not stall, but a refresher must never hang.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		return nil, fmt.Errorf("setting netlink timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("binding netlink socket: %w", err)
	}
	const seq = 1
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofNdMsg)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:4], uint32(len(req)))
	ne.PutUint16(req[4:6], unix.RTM_GETNEIGH)
	ne.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:12], seq)
	req[unix.SizeofNlMsghdr] = unix.AF_INET6 // ndm_family; the rest of ndmsg is zero
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending RTM_GETNEIGH: %w", err)
	}
	var out []Neighbor
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("reading neighbour dump: %w", err)
		}
		var done bool
		out, done, err = parseNeighDump(buf[:n], seq, out)
		if err != nil {
			return nil, err
		}
		if done {
			return out, nil
		}
	}
}

// parseNeighDump appends the usable IPv6 neighbours of one datagram of an
// RTM_GETNEIGH dump to out, and reports whether the dump is complete.
// Messages of other sequence numbers are ignored.
func parseNeighDump(b []byte, seq uint32, out []Neighbor) ([]Neighbor, bool, error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		l := ne.Uint32(b[0:4])
		typ := ne.Uint16(b[4:6])
		if l < unix.SizeofNlMsghdr || uint64(l) > uint64(len(b)) {
			return out, false, fmt.Errorf("netlink message length %d of %d bytes left", l, len(b))
		}
		body := b[unix.SizeofNlMsghdr:l]
		if ne.Uint32(b[8:12]) == seq {
			switch typ {
			case unix.NLMSG_DONE:
				return out, true, nil
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return out, false, errors.New("short netlink error message")
				}
				if errno := int32(ne.Uint32(body[0:4])); errno != 0 {
					return out, false, fmt.Errorf("neighbour dump: %w", unix.Errno(-errno))
				}
				return out, true, nil
			case unix.RTM_NEWNEIGH:
				if nb, ok := parseNeighMsg(body); ok {
					out = append(out, nb)
				}
			}
		}
		next := (int(l) + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return out, false, nil
}

// nlaTypeMask clears the nested and byte-order flags of an attribute
// type (NLA_TYPE_MASK in linux/netlink.h).
const nlaTypeMask = 0x3fff

// parseNeighMsg reads one RTM_NEWNEIGH body: an ndmsg, then attributes.
// It keeps IPv6 entries in a usable state with a non-zero EUI-48 address.
func parseNeighMsg(b []byte) (Neighbor, bool) {
	ne := binary.NativeEndian
	if len(b) < unix.SizeofNdMsg || b[0] != unix.AF_INET6 {
		return Neighbor{}, false
	}
	state := ne.Uint16(b[8:10])
	if state == unix.NUD_NONE || state&(unix.NUD_INCOMPLETE|unix.NUD_FAILED|unix.NUD_NOARP) != 0 {
		return Neighbor{}, false
	}
	var nb Neighbor
	for a := b[unix.SizeofNdMsg:]; len(a) >= unix.SizeofRtAttr; {
		l := int(ne.Uint16(a[0:2]))
		typ := ne.Uint16(a[2:4]) & nlaTypeMask
		if l < unix.SizeofRtAttr || l > len(a) {
			return Neighbor{}, false
		}
		v := a[unix.SizeofRtAttr:l]
		switch typ {
		case unix.NDA_DST:
			if ip, ok := netip.AddrFromSlice(v); ok && ip.Is6() && !ip.Is4In6() {
				nb.Addr = ip
			}
		case unix.NDA_LLADDR:
			if m, ok := macFrom(v); ok {
				nb.MAC = net.HardwareAddr(m[:])
			}
		}
		next := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if next >= len(a) {
			break
		}
		a = a[next:]
	}
	return nb, nb.Addr.IsValid() && nb.MAC != nil
}
