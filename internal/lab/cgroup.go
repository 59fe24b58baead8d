package lab

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Each host runs in its own cgroup. systemd-nspawn with --keep-unit splits
// the cgroup it was started in into "supervisor" and "payload", and the
// container's systemd manages the payload subtree; two hosts started from one
// cgroup would share that subtree and fight over it. The cgroup also finds
// every process of a host, including ones a killed controller left behind.

// cgroupHierarchies lists the mounted hierarchies that systemd-nspawn uses:
// the unified (v2) one and, on a hybrid set-up, the name=systemd (v1) one.
func cgroupHierarchies() []string {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return []string{cgroupRoot} // pure cgroup v2
	}
	var out []string
	for _, h := range []string{"systemd", "unified"} {
		if _, err := os.Stat(filepath.Join(cgroupRoot, h, "cgroup.procs")); err == nil {
			out = append(out, filepath.Join(cgroupRoot, h))
		}
	}
	return out
}

// hostCgroup is a host's cgroup path relative to each hierarchy's root.
func hostCgroup(labID, host string) string {
	return filepath.Join(cgroupNamespace, labID, host)
}

// createCgroup creates rel in every hierarchy and returns the cgroup.procs
// files a process writes its pid to in order to join.
func createCgroup(rel string) ([]string, error) {
	hs := cgroupHierarchies()
	if len(hs) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "no cgroup hierarchy under %s", cgroupRoot).
			WithHint("mount cgroup2 on /sys/fs/cgroup")
	}
	var procs []string
	for _, h := range hs {
		d := filepath.Join(h, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "create cgroup %s: %w", d, err).
				WithHint("the lab needs a writable cgroup file system (run it as root on the machine, not in an unprivileged container)")
		}
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	return procs, nil
}

// cgroupPIDs lists every process in rel and its descendants, in any
// hierarchy.
func cgroupPIDs(rel string) []int {
	seen := map[int]bool{}
	var out []int
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroup removes rel and its descendants (deepest first) from every
// hierarchy, then the lab's parent directories when they are empty. It
// fails only when a cgroup still has processes.
func removeCgroup(rel string) error {
	var firstErr error
	for _, h := range cgroupHierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT && firstErr == nil {
				firstErr = patchpilot.Errorf(patchpilot.EINTERNAL, "remove cgroup %s: %w", d, err)
			}
		}
		// The lab's and the namespace's directories go when empty.
		for p := filepath.Dir(rel); p != "." && p != "/"; p = filepath.Dir(p) {
			_ = syscall.Rmdir(filepath.Join(h, p))
		}
	}
	return firstErr
}
