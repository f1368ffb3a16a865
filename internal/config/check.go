package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"
)

// Check reads the configuration file at path as `hearth check` does:
// stricter than Load, it also rejects a file that says nothing (an empty
// file would silently serve the built-in defaults) and reports every file
// the config names that cannot be read. All problems come back at once,
// joined, each naming the file, line and field. The Config is returned
// whenever the YAML decoded, even with errors (bad values then keep their
// defaults), so
// that callers can go on checking the values it has.
func Check(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if isEmpty(data) {
		return nil, fmt.Errorf("%s: empty config file: nothing is configured (start from the packaged example or the README's reference)", path)
	}
	c, err := parse(path, data)
	if c == nil {
		return nil, err
	}
	return c, errors.Join(err, c.CheckFiles())
}

// isEmpty reports whether a YAML document holds nothing but comments,
// blank lines or an explicit null.
func isEmpty(data []byte) bool {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return false // a syntax error, which Parse reports
	}
	if len(root.Content) == 0 {
		return true
	}
	n := root.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// CheckFiles returns an error for every file the config names that cannot
// be read: list sources' files, the TLS certificate and key when a DoT or
// DoH listener needs them, and the DHCP leases file.
func (c *Config) CheckFiles() error {
	var errs []error
	need := func(path, file string) {
		if file == "" {
			return
		}
		f, err := os.Open(file)
		if err == nil {
			var st fs.FileInfo
			if st, err = f.Stat(); err == nil && st.IsDir() {
				err = errors.New("is a directory")
			}
			f.Close()
		}
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, c.Errorf(path, "%q: %v", file, err))
		}
	}
	for i, s := range c.Sources {
		need(fmt.Sprintf("sources[%d].file", i), s.File)
	}
	if len(c.Listen.DoT)+len(c.Listen.DoH) > 0 {
		need("tls.cert", c.TLS.Cert)
		need("tls.key", c.TLS.Key)
	}
	need("new_devices.leases", c.NewDevices.Leases)
	return errors.Join(errs...)
}
