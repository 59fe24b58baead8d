package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// mountsUnder lists the mount points at or below dir in the controller's
// mount namespace, most recent first: unmounting in that order takes an
// overlay down before the tmpfs holding its upper directory, and a mount
// before the one it was stacked on.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.Reverse(out)
	return out
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := (int(s[i+1]-'0') << 6) | (int(s[i+2]-'0') << 3) | int(s[i+3]-'0')
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything at or below dir. A busy mount is detached
// lazily rather than left in place, and reported only when even that fails.
func unmountAll(dir string) error {
	var firstErr error
	for range 3 { // stacked mounts on one point need one pass each
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, 0); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && firstErr == nil {
					firstErr = patchpilot.Errorf(patchpilot.EINTERNAL, "unmount %s: %w", mp, err)
				}
			}
		}
	}
	if mps := mountsUnder(dir); len(mps) > 0 && firstErr == nil {
		firstErr = patchpilot.Errorf(patchpilot.EINTERNAL, "still mounted: %s", strings.Join(mps, ", "))
	}
	return firstErr
}
