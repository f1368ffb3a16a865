//go:build !linux

package server

import "syscall"

// reusePort is a no-op where SO_REUSEPORT balancing is not used: the
// server then runs one socket per UDP address.
func reusePort(network, address string, c syscall.RawConn) error { return nil }
