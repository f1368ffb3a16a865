//go:build !linux

package server

import (
	"net"
	"time"
)

// udpPeer is empty where fdIO is not used.
type udpPeer struct{}

// openUDP serves c alone: SO_REUSEPORT balancing and readers that wait in
// the kernel are used only on Linux.
func openUDP(c *net.UDPConn, n int, rcvbuf int, _ time.Duration) ([]udpIO, error) {
	return []udpIO{newNetIO(c, rcvbuf)}, nil
}
