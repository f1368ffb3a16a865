//go:build !linux

package identity

// listIPv6Neighbors finds no IPv6 neighbours: Hearth reads the kernel's
// neighbour table on Linux only.
func listIPv6Neighbors() ([]Neighbor, error) { return nil, nil }
