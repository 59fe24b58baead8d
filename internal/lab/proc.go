package lab

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab/labowner"
)

// detach returns the attributes of a process the lab leaves running after
// the command that starts it ends (a host's supervisor, Prometheus, a
// fault's helper): a session of its own, and no descriptor inherited but
// its standard ones. Go opens its own files close-on-exec, but not a
// descriptor this process inherited: `flock FILE patchpilot lab up` passes
// its lock on one, and a lab that kept it would hold the lock until the
// lab is down. So every descriptor above standard error is marked
// close-on-exec first.
func detach() *syscall.SysProcAttr {
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	}
	return &syscall.SysProcAttr{Setsid: true}
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := labowner.ReadProc(pid)
	return err == nil && !p.Exited()
}

// cmdlineHas reports whether pid's command line contains s, so that a pid
// recorded in the state file is never signalled after it was reused by an
// unrelated process.
func cmdlineHas(pid int, s string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s)
}

// processes lists the live processes.
func processes() []labowner.Proc {
	ents, _ := os.ReadDir("/proc")
	var out []labowner.Proc
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if p, ok := labowner.ParseStat(b); ok && p.State != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// childOf returns the first live child of pid named comm ("" for any).
func childOf(procs []labowner.Proc, pid int, comm string) int {
	for _, p := range procs {
		if p.PPID == pid && (comm == "" || p.Comm == comm) {
			return p.PID
		}
	}
	return 0
}

// waitGone waits until none of pids is alive or the timeout passes, and
// reports whether they are all gone.
func waitGone(ctx context.Context, timeout time.Duration, pids func() []int) bool {
	deadline := time.Now().Add(timeout)
	for {
		left := false
		for _, p := range pids() {
			if alive(p) {
				left = true
				break
			}
		}
		if !left {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		if p > 1 {
			_ = syscall.Kill(p, sig)
		}
	}
}
