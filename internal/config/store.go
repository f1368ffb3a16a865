package config

import (
	"os"
	"strings"
)

// Store drivers.
const (
	// DriverSQLite keeps the store in one SQLite file (store.path).
	DriverSQLite = "sqlite"
	// DriverPostgres keeps it in a PostgreSQL database (store.dsn), which
	// many resolver nodes can share.
	DriverPostgres = "postgres"
)

// EnvStoreDSN names the environment variable that gives the PostgreSQL
// DSN when the file's store.dsn is empty.
const EnvStoreDSN = "HEARTH_STORE_DSN"

// StoreDriver returns the store's driver, DriverSQLite when unset.
func (c *Config) StoreDriver() string {
	if c.Store.Driver == "" {
		return DriverSQLite
	}
	return c.Store.Driver
}

// StoreDSN returns the PostgreSQL DSN: the file's store.dsn, or else the
// environment's HEARTH_STORE_DSN.
func (c *Config) StoreDSN() string {
	if c.Store.DSN != "" {
		return c.Store.DSN
	}
	return os.Getenv(EnvStoreDSN)
}

// validateStore checks the store section. The DSN itself is parsed when
// the store opens, whose errors name store.dsn too; a message never
// quotes it, since it may hold a password.
func (c *Config) validateStore(bad func(path, format string, args ...any)) {
	switch c.StoreDriver() {
	case DriverSQLite:
		if c.Store.DSN != "" {
			bad("store.dsn", "only for driver postgres; the sqlite store is a file (store.path)")
		}
	case DriverPostgres:
		if c.Store.Path != "" {
			bad("store.path", "only for driver sqlite; the postgres store is given by store.dsn")
		}
		env := os.Getenv(EnvStoreDSN)
		switch {
		case c.Store.DSN == "" && strings.TrimSpace(env) == "":
			bad("store.dsn", "required by driver postgres: set it here or in the environment as %s", EnvStoreDSN)
		case c.Store.DSN != "" && env != "":
			bad("store.dsn", "set both here and in the environment as %s: keep one (the environment keeps the password out of this file)", EnvStoreDSN)
		}
	default:
		bad("store.driver", "%q is not sqlite or postgres", c.Store.Driver)
	}
}
