package setupcheck

import (
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// TestQRReadsGeneratedCodes decodes codes as dnssetup makes them. The
// first host is one that the decoder's finder-pattern search missed
// (about 1 in 100 random ids did) until QR told it the image is a pure
// code.
func TestQRReadsGeneratedCodes(t *testing.T) {
	for _, host := range []string{
		"dads-phone-hetflojaekwkoedn.dns.test",
		"dads-phone-zngilqpusipsuqqv.dns.test",
		"kid",
	} {
		png, err := qrcode.Encode(host, qrcode.Medium, 256)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := QR(png); got != host {
			t.Errorf("QR(%q) = %q, %v", host, got, err)
		}
	}
}
