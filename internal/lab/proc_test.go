package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A descriptor this process inherited without close-on-exec (as
// `flock FILE patchpilot lab up` passes its lock) does not reach a
// detached process of the lab.
func TestDetachedProcessesInheritNoDescriptor(t *testing.T) {
	fd, err := syscall.Open(filepath.Join(t.TempDir(), "lock"), syscall.O_CREAT|syscall.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	fds := func(attr *syscall.SysProcAttr) []string {
		cmd := exec.Command("sh", "-c", "ls /proc/$$/fd")
		cmd.SysProcAttr = attr
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	has := func(list []string) bool {
		for _, s := range list {
			if s == strconv.Itoa(fd) {
				return true
			}
		}
		return false
	}
	// The check can fail: without detach the child holds the descriptor.
	if !has(fds(&syscall.SysProcAttr{Setsid: true})) {
		t.Skipf("descriptor %d does not reach a child even without detach; nothing to test", fd)
	}
	if got := fds(detach()); has(got) {
		t.Errorf("a detached process holds the inherited descriptor %d: %v", fd, got)
	}
	if _, err := os.Stat("/proc/self/fd/" + strconv.Itoa(fd)); err != nil {
		t.Errorf("detach closed the descriptor in this process: %v", err)
	}
}
