package lab

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Fault kinds.
const (
	FaultSSHDown  = "sshd-down" // sshd stopped inside the host
	FaultNetDrop  = "net-drop"  // the controller drops all traffic to the host's address
	FaultDpkgLock = "dpkg-lock" // a process holds /var/lib/dpkg/lock-frontend
	FaultRepoDown = "repo-down" // the host's repository mount is hidden by an empty one
	FaultDiskFull = "disk-full" // the host's disk (its writable layer) is full
	FaultNoReturn = "no-return" // the next reboot never comes back
)

// FaultKinds lists every fault kind, for help texts and validation.
var FaultKinds = []string{FaultSSHDown, FaultNetDrop, FaultDpkgLock, FaultRepoDown, FaultDiskFull, FaultNoReturn}

// repoDownSource names the empty file system mounted by repo-down, so heal
// can tell it from the real repository.
const repoDownSource = "pp-repo-down"

// lockHolder holds the dpkg frontend lock the way apt does (an fcntl lock,
// which flock(1) would not conflict with) and says so once it has it.
const lockHolder = `import ctypes, fcntl, time
ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: die with nsenter
f = open("/var/lib/dpkg/lock-frontend", "w")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
while True:
    time.sleep(3600)
`

// hostOp loads the state under the lab's lock and finds the host.
func (l *Lab) hostOp(host string) (*State, *HostState, func(), error) {
	lock, err := lockDir(l.state.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := loadState(l.state.Dir)
	if err != nil {
		lock.unlock()
		return nil, nil, nil, err
	}
	l.state = s
	h, err := s.host(host)
	if err != nil {
		lock.unlock()
		return nil, nil, nil, err
	}
	return s, h, lock.unlock, nil
}

// Fault injects a fault of the given kind into a host. Injecting a fault the
// host already has changes nothing.
func (l *Lab) Fault(ctx context.Context, host, kind string) error {
	if !slices.Contains(FaultKinds, kind) {
		return patchpilot.Errorf(patchpilot.EINVALID, "fault kind %q is unknown (want one of %s)", kind, strings.Join(FaultKinds, ", "))
	}
	s, h, unlock, err := l.hostOp(host)
	if err != nil {
		return err
	}
	defer unlock()
	if slices.Contains(h.Faults, kind) {
		return nil
	}
	// Recorded first: heal and down undo a fault whose injection was cut short.
	h.Faults = append(h.Faults, kind)
	if err := s.save(); err != nil {
		return err
	}
	if err := inject(ctx, s, h, kind); err != nil {
		h.Faults = slices.DeleteFunc(h.Faults, func(k string) bool { return k == kind })
		_ = undo(ctx, s, h, kind)
		_ = s.save()
		return err
	}
	l.logger.Info("fault injected", "host", host, "kind", kind)
	return s.save()
}

func inject(ctx context.Context, s *State, h *HostState, kind string) error {
	dir := s.hostDir(h.Name)
	switch kind {
	case FaultSSHDown:
		if _, err := inHost(ctx, s, h, "systemctl", "stop", "ssh.service"); err != nil {
			return err
		}
	case FaultNetDrop:
		return addDropRule(ctx, s, h)
	case FaultDpkgLock:
		return holdDpkgLock(ctx, s, h)
	case FaultRepoDown:
		_, err := inHost(ctx, s, h, "mount", "-t", "tmpfs", "-o", "ro,size=16k,mode=0755", repoDownSource, repoMount)
		return err
	case FaultDiskFull:
		return fillDisk(filepath.Join(dir, hostFS, hostBallast))
	case FaultNoReturn:
		return os.WriteFile(filepath.Join(dir, hostNoReturn), nil, 0o644)
	}
	return nil
}

// undo reverses one fault; it is harmless when the fault is not there (a
// reboot clears the faults that live inside a host).
func undo(ctx context.Context, s *State, h *HostState, kind string) error {
	dir := s.hostDir(h.Name)
	switch kind {
	case FaultSSHDown:
		if leader, err := leaderPID(s, h); err == nil {
			_, err := run(ctx, "nsenter", nsenterArgs(leader, "systemctl", "start", "ssh.service")...)
			return err
		}
	case FaultNetDrop:
		return removeDropRules(ctx, s, h.Name)
	case FaultDpkgLock:
		if h.LockPID != 0 && alive(h.LockPID) && cmdlineHas(h.LockPID, "lock-frontend") {
			_ = syscall.Kill(h.LockPID, syscall.SIGKILL)
			waitGone(ctx, killGrace, func() []int { return []int{h.LockPID} })
		}
		h.LockPID = 0
	case FaultRepoDown:
		leader, err := leaderPID(s, h)
		if err != nil {
			return nil
		}
		for repoHidden(leader) {
			if _, err := run(ctx, "nsenter", nsenterArgs(leader, "umount", repoMount)...); err != nil {
				return err
			}
		}
	case FaultDiskFull:
		if err := os.Remove(filepath.Join(dir, hostFS, hostBallast)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "free the disk of %s: %w", h.Name, err)
		}
	case FaultNoReturn:
		_ = os.Remove(filepath.Join(dir, hostNoReturn))
	}
	return nil
}

// repoHidden reports whether repo-down's empty mount is on top of the
// repository inside the host.
func repoHidden(leader int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(leader) + "/mountinfo")
	if err != nil {
		return false
	}
	top := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != repoMount {
			continue
		}
		// After the " - " separator: fstype, source.
		if i := slices.Index(f, "-"); i > 0 && i+2 < len(f) {
			top = f[i+2]
		}
	}
	return top == repoDownSource
}

// holdDpkgLock starts a process inside the host that holds the dpkg lock,
// detached from this process, and waits until it holds it.
func holdDpkgLock(ctx context.Context, s *State, h *HostState) error {
	leader, err := leaderPID(s, h)
	if err != nil {
		return err
	}
	nsenter, err := lookPath("nsenter")
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.hostDir(h.Name), "dpkg-lock.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "create %s: %w", logPath, err)
	}
	defer logf.Close()
	// The holder dies with nsenter (parent death signal), so killing the
	// recorded pid releases the lock.
	args := nsenterArgs(leader, "python3", "-c", lockHolder, "/var/lib/dpkg/lock-frontend")
	cmd := exec.Command(nsenter, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = detach()
	if err := cmd.Start(); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "start the dpkg lock holder: %w", err)
	}
	h.LockPID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	if err := s.save(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "locked") {
			return nil
		}
		if !alive(h.LockPID) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	return patchpilot.Errorf(patchpilot.EINTERNAL, "the dpkg lock holder on %s did not take the lock: %s", h.Name, tail(string(b), 500))
}

// fillDisk fills the file system holding path with one file, leaving no
// free block, so that the host's next write fails with ENOSPC.
func fillDisk(path string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "statfs: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "create the ballast: %w", err)
	}
	defer f.Close()
	free := int64(st.Bavail) * int64(st.Bsize)
	if free > 0 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, free); err != nil && !errors.Is(err, syscall.ENOSPC) {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "fill the disk: %w", err)
		}
	}
	// Whatever fallocate left, plain writes take until the disk is full.
	buf := make([]byte, 64<<10)
	if _, err := f.Seek(0, 2); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "fill the disk: %w", err)
	}
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "fill the disk: %w", err)
			}
			size /= 2
		}
	}
	return nil
}

// Heal undoes every fault on a host and, when the host is stopped (after a
// no-return reboot, say), starts it again and waits until it answers.
func (l *Lab) Heal(ctx context.Context, host string) error {
	s, h, unlock, err := l.hostOp(host)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, kind := range FaultKinds {
		if err := undo(ctx, s, h, kind); err != nil && slices.Contains(h.Faults, kind) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = s.save()
		return err
	}
	h.Faults = nil
	if err := s.save(); err != nil {
		return err
	}
	if hp := findHostProcs(s, h); hp.nspawn == 0 {
		l.logger.Info("starting a stopped host", "host", host)
		if hp.supervisor != 0 {
			_ = syscall.Kill(-hp.supervisor, syscall.SIGKILL)
		}
		for _, p := range cgroupPIDs(hostCgroup(s.ID, h.Name)) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if err := startHost(s, h); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	if err := waitReady(rctx, h.Address); err != nil {
		return err
	}
	l.logger.Info("host healed", "host", host)
	return nil
}

// Reboot reboots a host from inside (systemctl reboot) and waits until it is
// back with a new boot id, unless the no-return fault keeps it down, in
// which case it waits until the host has stopped.
func (l *Lab) Reboot(ctx context.Context, host string) error {
	s, h, unlock, err := l.hostOp(host)
	if err != nil {
		return err
	}
	defer unlock()
	leader, err := leaderPID(s, h)
	if err != nil {
		return err
	}
	old := bootID(leader)
	if _, err := run(ctx, "nsenter", nsenterArgs(leader, "systemctl", "reboot")...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	noReturn := slices.Contains(h.Faults, FaultNoReturn)
	for {
		hp := findHostProcs(s, h)
		if noReturn && hp.supervisor == 0 {
			l.logger.Info("host rebooted and stays down (no-return fault)", "host", host)
			return nil
		}
		if !noReturn && hp.leader != 0 {
			if id := bootID(hp.leader); id != "" && id != old {
				if err := waitReady(ctx, h.Address); err != nil {
					return err
				}
				l.logger.Info("host rebooted", "host", host, "boot_id", id)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return patchpilot.Errorf(patchpilot.ETIMEOUT, "%s did not come back from its reboot", host)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
