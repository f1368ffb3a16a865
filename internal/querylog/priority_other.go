//go:build !linux

package querylog

// lowerThreadPriority does nothing where threads have no nice value of
// their own.
func lowerThreadPriority() error { return nil }
