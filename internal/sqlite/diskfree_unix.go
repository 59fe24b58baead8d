//go:build linux || darwin || freebsd

package sqlite

import "syscall"

// diskFree is the room left on the file system of dir for an unprivileged
// writer, in bytes, and whether it could be told.
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
