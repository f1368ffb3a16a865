package radius

import (
	"context"
	"crypto/md5"
	"net/netip"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
)

// FuzzHandle feeds any datagram to the packet handler as from a known NAS:
// it must not panic, must answer only what it accepted, and an answer
// must be an authentic Accounting-Response. Seeds are real packets (a
// Start, an Interim-Update, a Stop, an Accounting-On) and broken ones.
func FuzzHandle(f *testing.F) {
	for _, st := range []rfc2866.AcctStatusType{
		rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate,
		rfc2866.AcctStatusType_Value_Stop, rfc2866.AcctStatusType_Value_AccountingOn,
	} {
		b := accounting(f, nasSecret, st, session(f))
		f.Add(b)
		f.Add(b[:len(b)-3])
		f.Add(append(b, 0, 0))
	}
	f.Add(accounting(f, []byte("guess"), rfc2866.AcctStatusType_Value_Start, session(f)))
	f.Add([]byte{4, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	s := testServer(f, &fakeStore{}, "User-Name")
	vendor := testServer(f, &fakeStore{}, "vendor:4874:1")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, srv := range []*Server{s, vendor} {
			req := append([]byte(nil), b...)
			resp, result := srv.Handle(context.Background(), req, netip.MustParseAddrPort("192.0.2.1:1"))
			if resp == nil {
				continue
			}
			switch result {
			case ResultOK, ResultIgnored, ResultUnknownHousehold:
			default:
				t.Fatalf("answered a packet with result %q", result)
			}
			if len(req) < 20 || !radius.IsAuthenticResponse(resp, req[:int(req[2])<<8|int(req[3])], nasSecret) {
				t.Fatalf("answer %x is not authentic for %x", resp, req)
			}
		}
	})
}

// FuzzAttributes signs any attribute bytes with the NAS's secret, so that
// the fuzzer reaches what lies past the authenticator check: attribute
// parsing, the subscriber attribute, the addresses.
func FuzzAttributes(f *testing.F) {
	for _, st := range []rfc2866.AcctStatusType{
		rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_Stop,
	} {
		f.Add(accounting(f, nasSecret, st, session(f))[20:])
	}
	f.Add([]byte{40, 6, 0, 0, 0, 1, 26, 4, 0, 0})
	s := testServer(f, &fakeStore{}, "User-Name")
	vendor := testServer(f, &fakeStore{}, "vendor:4874:1")
	f.Fuzz(func(t *testing.T, attrs []byte) {
		if len(attrs) > radius.MaxPacketLength-20 {
			return
		}
		req := make([]byte, 20+len(attrs))
		req[0], req[1] = byte(radius.CodeAccountingRequest), 1
		req[2], req[3] = byte(len(req)>>8), byte(len(req))
		copy(req[20:], attrs)
		h := md5.New()
		h.Write(req[:4])
		h.Write(make([]byte, 16))
		h.Write(req[20:])
		h.Write(nasSecret)
		copy(req[4:20], h.Sum(nil))
		for _, srv := range []*Server{s, vendor} {
			resp, result := srv.Handle(context.Background(), req, netip.MustParseAddrPort("192.0.2.1:1"))
			if result == ResultBadAuthenticator {
				t.Fatalf("a packet signed with the secret was refused")
			}
			if resp != nil && !radius.IsAuthenticResponse(resp, req, nasSecret) {
				t.Fatalf("answer %x is not authentic", resp)
			}
		}
	})
}
