package identity

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func nlmsg(typ uint16, seq uint32, body []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body)+3)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	ne.PutUint16(b[4:6], typ)
	ne.PutUint16(b[6:8], unix.NLM_F_MULTI)
	ne.PutUint32(b[8:12], seq)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ndmsg(family uint8, state uint16, attrs ...[]byte) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = family
	binary.NativeEndian.PutUint32(b[4:8], 2) // ifindex
	binary.NativeEndian.PutUint16(b[8:10], state)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func dst(s string) []byte { return rtattr(unix.NDA_DST, netip.MustParseAddr(s).AsSlice()) }
func ll(s string) []byte  { return rtattr(unix.NDA_LLADDR, hw(s)) }

func TestParseNeighDump(t *testing.T) {
	const seq = 1
	neigh := func(family uint8, state uint16, attrs ...[]byte) []byte {
		return nlmsg(unix.RTM_NEWNEIGH, seq, ndmsg(family, state, attrs...))
	}
	errMsg := func(errno int32) []byte {
		body := make([]byte, 4+unix.SizeofNlMsghdr)
		binary.NativeEndian.PutUint32(body, uint32(errno))
		return nlmsg(unix.NLMSG_ERROR, seq, body)
	}
	tests := []struct {
		name     string
		in       []byte
		want     []string // "addr mac"
		wantDone bool
		wantErr  bool
	}{
		{"usable states", slices.Concat(
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("fe80::1"), ll("a0:63:91:2f:7c:10")),
			neigh(unix.AF_INET6, unix.NUD_STALE, dst("2001:db8::23"), ll("3c:22:fb:8e:41:d7")),
			neigh(unix.AF_INET6, unix.NUD_PERMANENT, ll("52:54:00:12:34:56"), dst("2001:db8::60")),
			neigh(unix.AF_INET6, unix.NUD_DELAY|unix.NUD_PROBE, dst("2001:db8::61"), ll("52:54:00:12:34:57")),
		), []string{"fe80::1 a0:63:91:2f:7c:10", "2001:db8::23 3c:22:fb:8e:41:d7", "2001:db8::60 52:54:00:12:34:56", "2001:db8::61 52:54:00:12:34:57"}, false, false},
		{"unusable entries skipped", slices.Concat(
			neigh(unix.AF_INET6, unix.NUD_FAILED, dst("2001:db8::1"), ll("a0:63:91:2f:7c:10")),
			neigh(unix.AF_INET6, unix.NUD_INCOMPLETE, dst("2001:db8::2")),
			neigh(unix.AF_INET6, unix.NUD_NOARP, dst("ff02::1"), ll("33:33:00:00:00:01")),
			neigh(unix.AF_INET6, unix.NUD_NONE, dst("2001:db8::3"), ll("a0:63:91:2f:7c:13")),
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("2001:db8::4")),
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("2001:db8::5"), rtattr(unix.NDA_LLADDR, make([]byte, 6))),
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("2001:db8::6"), ll("02:00:5e:10:00:00:00:01")),
			neigh(unix.AF_INET, unix.NUD_REACHABLE, dst("192.168.1.1"), ll("a0:63:91:2f:7c:10")),
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, rtattr(unix.NDA_DST, []byte{1, 2, 3, 4}), ll("a0:63:91:2f:7c:10")),
			neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("2001:db8::7"), []byte{200, 0, 2, 0}, ll("a0:63:91:2f:7c:17")), // attribute longer than the message
			nlmsg(unix.RTM_NEWNEIGH, seq+1, ndmsg(unix.AF_INET6, unix.NUD_REACHABLE, dst("2001:db8::8"), ll("a0:63:91:2f:7c:18"))),
			nlmsg(unix.RTM_NEWNEIGH, seq, []byte{unix.AF_INET6}),
		), nil, false, false},
		{"nested flag on attribute type", neigh(unix.AF_INET6, unix.NUD_REACHABLE, rtattr(unix.NDA_DST|0x8000, netip.MustParseAddr("2001:db8::9").AsSlice()), ll("a0:63:91:2f:7c:19")),
			[]string{"2001:db8::9 a0:63:91:2f:7c:19"}, false, false},
		{"done", slices.Concat(neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("fe80::1"), ll("a0:63:91:2f:7c:10")), nlmsg(unix.NLMSG_DONE, seq, make([]byte, 4))),
			[]string{"fe80::1 a0:63:91:2f:7c:10"}, true, false},
		{"done of another dump ignored", nlmsg(unix.NLMSG_DONE, seq+1, make([]byte, 4)), nil, false, false},
		{"error", errMsg(-int32(unix.EPERM)), nil, false, true},
		{"ack", errMsg(0), nil, true, false},
		{"short error", nlmsg(unix.NLMSG_ERROR, seq, []byte{1}), nil, false, true},
		{"length past the end", func() []byte {
			b := neigh(unix.AF_INET6, unix.NUD_REACHABLE, dst("fe80::1"), ll("a0:63:91:2f:7c:10"))
			binary.NativeEndian.PutUint32(b, uint32(len(b)+4))
			return b
		}(), nil, false, true},
		{"length below header", func() []byte {
			b := nlmsg(unix.RTM_NEWNEIGH, seq, nil)
			binary.NativeEndian.PutUint32(b, 8)
			return b
		}(), nil, false, true},
		{"empty", nil, nil, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, done, err := parseNeighDump(tc.in, seq, nil)
			var got []string
			for _, nb := range out {
				got = append(got, nb.Addr.String()+" "+nb.MAC.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("neighbours = %q, want %q", got, tc.want)
			}
			if done != tc.wantDone || (err != nil) != tc.wantErr {
				t.Errorf("done %v, err %v; want done %v, error %v", done, err, tc.wantDone, tc.wantErr)
			}
		})
	}
}

func FuzzParseNeighDump(f *testing.F) {
	f.Add(slices.Concat(
		nlmsg(unix.RTM_NEWNEIGH, 1, ndmsg(unix.AF_INET6, unix.NUD_REACHABLE, dst("fe80::1"), ll("a0:63:91:2f:7c:10"))),
		nlmsg(unix.NLMSG_DONE, 1, make([]byte, 4))))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, _ := parseNeighDump(b, 1, nil)
		for _, nb := range out {
			if !nb.Addr.Is6() || nb.Addr.Is4In6() || len(nb.MAC) != 6 {
				t.Fatalf("bad neighbour %v %v", nb.Addr, nb.MAC)
			}
		}
	})
}

// TestListIPv6NeighborsLive dumps this machine's table, where netlink is
// allowed, to check the request is one the kernel accepts.
func TestListIPv6NeighborsLive(t *testing.T) {
	list, err := listIPv6Neighbors()
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) && (errno == unix.EPERM || errno == unix.EACCES || errno == unix.EAFNOSUPPORT || errno == unix.EPROTONOSUPPORT) {
			t.Skipf("netlink not allowed here: %v", err)
		}
		t.Fatal(err)
	}
	for _, nb := range list {
		if !nb.Addr.Is6() || len(nb.MAC) != 6 {
			t.Errorf("bad neighbour %v %v", nb.Addr, nb.MAC)
		}
	}
	t.Logf("%d IPv6 neighbours", len(list))
}
