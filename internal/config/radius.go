package config

import (
	"fmt"
	"os"
	"strings"
)

// Radius is the RADIUS accounting listener (package radius): an ISP's NAS
// reports subscriber sessions, and their addresses are bound to
// households.
type Radius struct {
	// Listen is the UDP address ("127.0.0.1:1813"); "" turns the
	// listener off.
	Listen string `yaml:"listen"`
	// Clients are the NAS networks allowed to send, each with its
	// shared secret.
	Clients []RadiusClient `yaml:"clients"`
	// SubscriberAttribute names the attribute whose value is the
	// household id: "User-Name" (the default), another attribute's name
	// or number, or "vendor:VENDOR-ID:TYPE".
	SubscriberAttribute string `yaml:"subscriber_attribute"`
}

// RadiusClient is a network of NAS that share one secret. Exactly one of
// Secret and SecretFile is set.
type RadiusClient struct {
	// Network is a CIDR ("192.0.2.0/24") or one address.
	Network string `yaml:"network"`
	// Secret is the shared secret itself; SecretFile a file holding it
	// (its surrounding blanks and final newline are not part of it),
	// which keeps it out of the configuration.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// RadiusSecret returns client i's secret, reading its secret_file. The
// error never quotes the secret.
func (c *Config) RadiusSecret(i int) ([]byte, error) {
	cl := c.Radius.Clients[i]
	if cl.SecretFile == "" {
		return []byte(cl.Secret), nil
	}
	b, err := os.ReadFile(cl.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("reading secret_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("secret_file %s is empty", cl.SecretFile)
	}
	return []byte(s), nil
}

// validateRadius checks the radius section. The subscriber attribute is
// checked by package radius when the listener is built; secrets are read
// then too, and never quoted.
func (c *Config) validateRadius(bad func(path, format string, args ...any)) {
	r := c.Radius
	if r.Listen == "" {
		if len(r.Clients) > 0 {
			bad("radius.listen", "required when radius.clients are set")
		}
		return
	}
	if err := checkHostPort(r.Listen); err != nil {
		bad("radius.listen", "%v", err)
	}
	if len(r.Clients) == 0 {
		bad("radius.clients", "at least one NAS network with its secret is required")
	}
	for i, cl := range r.Clients {
		path := fmt.Sprintf("radius.clients[%d]", i)
		if _, err := ParsePrefix(cl.Network); err != nil {
			bad(path+".network", "%v", err)
		}
		switch {
		case cl.Secret != "" && cl.SecretFile != "":
			bad(path, "set secret or secret_file, not both")
		case cl.Secret == "" && cl.SecretFile == "":
			bad(path, "secret or secret_file is required")
		case cl.Secret != "" && len(cl.Secret) < 16:
			bad(path+".secret", "shorter than 16 characters: a short secret can be guessed from one packet (RFC 2865 section 3)")
		}
	}
}
