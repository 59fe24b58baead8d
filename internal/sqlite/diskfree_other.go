//go:build !(linux || darwin || freebsd)

package sqlite

// diskFree cannot tell the room left on this system.
func diskFree(string) (int64, bool) { return 0, false }
