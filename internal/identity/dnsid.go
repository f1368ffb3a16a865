package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/hearth-dns/hearth/internal/shardmap"
)

// A DNS id is the encrypted-DNS client id that Hearth makes for a device:
// an optional readable label, a hyphen, and SecretLen characters of
// lower-case base32 carrying 80 random bits ("emma-ipad-k3x7…"). Only the
// secret identifies the device: the label is there for people, and any
// label (or none) is accepted with the right secret. Only the secret's
// SHA-256 is kept, so the store never holds what a child could reuse.
//
// A chosen client id (Device.ClientIDs) is a name people picked: it keeps
// working until the parent replaces it by a DNS id, but it is weak, since a
// child can type a parent's chosen name.

// SecretLen is the length of a DNS id's secret: 16 base32 characters, 80
// bits.
const SecretLen = 16

// maxDNSIDLabel keeps label, hyphen and secret within one DNS label.
const maxDNSIDLabel = maxClientID - SecretLen - 1

// secretEncoding is RFC 4648 base32 in lower case without padding: it fits
// a DNS label and a URL path segment and survives case folding.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DNSID is a newly made DNS id. ID is shown to the parent once; only Hash
// is stored.
type DNSID struct {
	// ID is the whole client id: Label, "-", then the secret (or the
	// secret alone without a label).
	ID string
	// Label is the readable part, possibly "".
	Label string
	// Hash is the hex SHA-256 of the secret.
	Hash string
	// Hint is the secret's first four characters, for telling two ids
	// apart without showing them.
	Hint string
}

// NewDNSID makes a DNS id with a readable label derived from name ("Emma's
// iPad" gives "emmas-ipad"); name may be "".
func NewDNSID(name string) (DNSID, error) {
	var raw [SecretLen * 5 / 8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return DNSID{}, fmt.Errorf("making a DNS id: %w", err)
	}
	secret := secretEncoding.EncodeToString(raw[:])
	label := dnsIDLabel(name)
	id := secret
	if label != "" {
		id = label + "-" + secret
	}
	sum := sha256.Sum256([]byte(secret))
	return DNSID{ID: id, Label: label, Hash: hex.EncodeToString(sum[:]), Hint: secret[:4]}, nil
}

// dnsIDLabel makes a label from a device name: lower-case letters and
// digits, runs of anything else as one hyphen, at most maxDNSIDLabel long.
func dnsIDLabel(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		case c == '\'' || c == '’':
			// "Emma's" reads better as "emmas" than "emma-s".
		default:
			dash = true
		}
		if b.Len() >= maxDNSIDLabel {
			break
		}
	}
	return strings.TrimRight(b.String()[:min(b.Len(), maxDNSIDLabel)], "-")
}

// ParseDNSIDHash decodes a stored secret hash.
func ParseDNSIDHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if len(s) != hex.EncodedLen(sha256.Size) {
		return h, fmt.Errorf("DNS id hash %q: want %d hex digits", s, hex.EncodedLen(sha256.Size))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("DNS id hash %q: %w", s, err)
	}
	return h, nil
}

// secretTable finds a device by the hash of a presented secret. It is
// indexed by the hash's first 8 bytes and confirms with a constant-time
// comparison of the whole hash, so the time a lookup takes says nothing
// about which secrets exist: an attacker controls the secret, not its hash.
type secretTable struct {
	m *shardmap.Map[uint64, secretEntry]
}

type secretEntry struct {
	hash [sha256.Size]byte
	dev  devRef
}

// secretKey is the table key of a secret's hash: its first 8 bytes.
func secretKey(hash [sha256.Size]byte) uint64 { return binary.BigEndian.Uint64(hash[:8]) }

// lookup finds the device of the DNS id s (label, hyphen, secret; any
// case) without allocating. It returns 0 when s does not have a
// secret's shape or no device holds it.
func (t secretTable) lookup(s string) devRef {
	if t.m.Len() == 0 || len(s) < SecretLen || len(s) > maxClientID {
		return 0
	}
	if len(s) > SecretLen && s[len(s)-SecretLen-1] != '-' {
		return 0
	}
	var buf [SecretLen]byte
	copy(buf[:], s[len(s)-SecretLen:])
	return t.find(&buf)
}

// lookupBytes is lookup for an EDNS option's bytes.
func (t secretTable) lookupBytes(b []byte) devRef {
	if t.m.Len() == 0 || len(b) < SecretLen || len(b) > maxClientID {
		return 0
	}
	if len(b) > SecretLen && b[len(b)-SecretLen-1] != '-' {
		return 0
	}
	var buf [SecretLen]byte
	copy(buf[:], b[len(b)-SecretLen:])
	return t.find(&buf)
}

// find looks up a secret, folding its case in place.
func (t secretTable) find(secret *[SecretLen]byte) devRef {
	for i, c := range secret {
		c = lower(c)
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return 0
		}
		secret[i] = c
	}
	sum := sha256.Sum256(secret[:])
	e, ok := t.m.Get(binary.BigEndian.Uint64(sum[:8]))
	if !ok || subtle.ConstantTimeCompare(e.hash[:], sum[:]) != 1 {
		return 0
	}
	return e.dev
}
