package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Per-host paths, relative to the host's directory.
const (
	hostFS        = "fs"   // tmpfs holding the writable layer: the host's disk
	hostRoot      = "root" // the overlay the host boots from
	hostLog       = "console.log"
	hostScript    = "supervise.sh"
	hostStop      = "stop"      // present: the supervisor does not restart the host
	hostNoReturn  = "no-return" // present: a reboot does not come back
	hostBallast   = "ballast"   // in fs: fills the disk for the disk-full fault
	stopGrace     = 15 * time.Second
	killGrace     = 5 * time.Second
	nspawnRebootE = 133 // systemd-nspawn's exit status when the container rebooted
	restartLimit  = 5   // failed starts in a row before the supervisor gives up
)

// prepareHost builds a host's disk: a tmpfs (so that a full disk fills
// memory we bound, not the controller's disk) holding the overlay's upper
// and work directories, the host's own files written into the upper layer,
// and the overlay mounted at root.
func prepareHost(s *State, h HostState, hostKey, clientKey keyPair) error {
	dir := s.hostDir(h.Name)
	fs, root := filepath.Join(dir, hostFS), filepath.Join(dir, hostRoot)
	for _, d := range []string{fs, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "create %s: %w", d, err)
		}
	}
	if err := syscall.Mount("patchpilot-lab", fs, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", DefaultHostDiskSize)); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "mount the disk of %s: %w", h.Name, err)
	}
	upper, work := filepath.Join(fs, "upper"), filepath.Join(fs, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "create %s: %w", d, err)
		}
	}
	lowers := append(append([]string(nil), h.Layers...), s.Layer, s.Base)
	if h.Extra != "" {
		lowers = append([]string{h.Extra}, lowers...)
	}
	files := []struct {
		rel  string
		mode os.FileMode
		data string
	}{
		{"etc/hostname", 0o644, h.Name + "\n"},
		{"etc/hosts", 0o644, fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", h.Address, h.Name)},
		{"etc/machine-id", 0o444, randomHex(16) + "\n"},
		{"etc/ssh/ssh_host_ed25519_key", 0o600, string(hostKey.private)},
		{"etc/ssh/ssh_host_ed25519_key.pub", 0o644, hostKey.authorized + " root@" + h.Name + "\n"},
		{"etc/ssh/sshd_config.d/10-listen.conf", 0o644, "# This host's own address: hosts share the controller's network.\nListenAddress " + h.Address + "\n"},
		{"etc/default/prometheus-node-exporter", 0o644, fmt.Sprintf("# Written by patchpilot lab.\nARGS=\"--web.listen-address=%s:%d\"\n", h.Address, NodeExporterPort)},
		{strings.TrimPrefix(hostAddressFile, "/"), 0o644, "PP_LAB_ADDRESS=" + h.Address + "\n"},
		{"root/.ssh/authorized_keys", 0o600, clientKey.authorized + " patchpilot-lab\n"},
	}
	for _, f := range files {
		if err := writeUpper(upper, lowers, f.rel, []byte(f.data), f.mode); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "write %s on %s: %w", f.rel, h.Name, err)
		}
	}
	return mountOverlay(lowers, upper, work, root)
}

// writeUpper writes a file into an overlay upper directory before the
// overlay is mounted. Missing parent directories take the mode and owner of
// the same directory in the lower layers, since an upper directory's
// attributes win in the merged view (/root must stay 0700).
func writeUpper(upper string, lowers []string, rel string, data []byte, mode os.FileMode) error {
	parts := strings.Split(filepath.Dir(rel), "/")
	cur := ""
	for _, p := range parts {
		if p == "." {
			break
		}
		cur = filepath.Join(cur, p)
		dst := filepath.Join(upper, cur)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		dmode, uid, gid := os.FileMode(0o755), 0, 0
		for _, l := range lowers {
			if fi, err := os.Stat(filepath.Join(l, cur)); err == nil && fi.IsDir() {
				dmode = fi.Mode().Perm()
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					uid, gid = int(st.Uid), int(st.Gid)
				}
				break
			}
		}
		if err := os.Mkdir(dst, dmode); err != nil {
			return err
		}
		if err := os.Chmod(dst, dmode); err != nil { // not subject to umask
			return err
		}
		if err := os.Chown(dst, uid, gid); err != nil {
			return err
		}
	}
	p := filepath.Join(upper, rel)
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// superviseScript restarts systemd-nspawn when the host reboots (nspawn
// exits with 133 then), unless the lab is stopping or the no-return fault is
// set. It first joins the host's cgroup, so that everything it starts can be
// found and killed later, even by another process.
func superviseScript(s *State, h HostState, cgroupProcs []string) string {
	dir := s.hostDir(h.Name)
	q := shellQuote
	args := []string{"systemd-nspawn", "-q", "-b", "-D", q(filepath.Join(dir, hostRoot)),
		"--register=no", "--keep-unit", "-M", q(h.Name), "--console=read-only", "--link-journal=no",
		"--bind-ro=" + q(s.Repo+":"+repoMount)}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# Supervisor of lab host %s, written by patchpilot lab up.\n", h.Name)
	for _, p := range cgroupProcs {
		fmt.Fprintf(&b, "echo $$ > %s || exit 97\n", q(p))
	}
	stop, noReturn := q(filepath.Join(dir, hostStop)), q(filepath.Join(dir, hostNoReturn))
	fmt.Fprintf(&b, `fails=0
while :; do
	[ -e %[1]s ] && exit 0
	echo "patchpilot-lab: booting %[3]s at $(date -u +%%FT%%TZ)"
	%[4]s
	rc=$?
	echo "patchpilot-lab: systemd-nspawn exited with status $rc at $(date -u +%%FT%%TZ)"
	[ -e %[1]s ] && exit 0
	case $rc in
	0) exit 0 ;;
	%[5]d)
		fails=0
		if [ -e %[2]s ]; then echo "patchpilot-lab: no-return fault: the host stays down"; exit 0; fi ;;
	*)
		fails=$((fails+1))
		[ $fails -ge %[6]d ] && exit $rc
		sleep 1 ;;
	esac
done
`, stop, noReturn, h.Name, strings.Join(args, " "), nspawnRebootE, restartLimit)
	return b.String()
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startHost starts a host's supervisor, detached in its own session with its
// output in the host's console log, and records its pid.
func startHost(s *State, h *HostState) error {
	dir := s.hostDir(h.Name)
	_ = os.Remove(filepath.Join(dir, hostStop))
	procs, err := createCgroup(hostCgroup(s.ID, h.Name))
	if err != nil {
		return err
	}
	script := filepath.Join(dir, hostScript)
	if err := os.WriteFile(script, []byte(superviseScript(s, *h, procs)), 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write supervisor of %s: %w", h.Name, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, hostLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "open console log of %s: %w", h.Name, err)
	}
	defer logf.Close()
	sh, err := lookPath("sh")
	if err != nil {
		return err
	}
	cmd := exec.Command(sh, script)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = detach()
	if err := cmd.Start(); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "start %s: %w", h.Name, err)
	}
	h.SupervisorPID = cmd.Process.Pid
	// Reap the supervisor if it ends while this process lives; otherwise
	// init does.
	go func() { _ = cmd.Wait() }()
	return s.save()
}

// hostProcs finds a host's supervisor, systemd-nspawn and the container's
// init (its "leader", the process to enter for commands inside the host).
type hostProcs struct{ supervisor, nspawn, leader int }

func findHostProcs(s *State, h *HostState) hostProcs {
	var hp hostProcs
	if alive(h.SupervisorPID) && cmdlineHas(h.SupervisorPID, filepath.Join(s.hostDir(h.Name), hostScript)) {
		hp.supervisor = h.SupervisorPID
	}
	if hp.supervisor == 0 {
		return hp
	}
	procs := processes()
	hp.nspawn = childOf(procs, hp.supervisor, "systemd-nspawn")
	if hp.nspawn != 0 {
		hp.leader = childOf(procs, hp.nspawn, "systemd")
	}
	return hp
}

// stopHost stops a host: no restart, SIGTERM to the supervisor's process
// group (systemd-nspawn then powers the container off cleanly), SIGKILL to
// whatever of the host's cgroup remains after a grace period, and the
// cgroup removed. It works from the state file alone.
func stopHost(ctx context.Context, s *State, h *HostState) error {
	dir := s.hostDir(h.Name)
	if _, err := os.Stat(dir); err == nil {
		_ = os.WriteFile(filepath.Join(dir, hostStop), nil, 0o644)
	}
	cg := hostCgroup(s.ID, h.Name)
	hp := findHostProcs(s, h)
	if hp.supervisor != 0 {
		_ = syscall.Kill(-hp.supervisor, syscall.SIGTERM)
	} else {
		// No supervisor (killed, or never recorded): stop nspawn directly.
		for _, p := range cgroupPIDs(filepath.Join(cg, "supervisor")) {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		for _, p := range cgroupPIDs(cg) {
			if cmdlineHas(p, filepath.Join(dir, hostScript)) {
				_ = syscall.Kill(p, syscall.SIGTERM)
			}
		}
	}
	pids := func() []int { return append(cgroupPIDs(cg), hp.supervisor, hp.nspawn, hp.leader) }
	if !waitGone(ctx, stopGrace, pids) {
		signalAll(pids(), syscall.SIGKILL)
		if !waitGone(context.Background(), killGrace, pids) {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "%s: processes survive SIGKILL: %v", h.Name, pids())
		}
	}
	// The dpkg-lock holder runs in the controller's cgroup; it dies with the
	// host's PID namespace, but is not left to chance.
	if h.LockPID != 0 && alive(h.LockPID) && cmdlineHas(h.LockPID, "lock-frontend") {
		_ = syscall.Kill(h.LockPID, syscall.SIGKILL)
	}
	h.SupervisorPID, h.LockPID = 0, 0
	return removeCgroup(cg)
}

// leaderPID returns the pid of a running host's init, or an error naming
// the host's state.
func leaderPID(s *State, h *HostState) (int, error) {
	hp := findHostProcs(s, h)
	if hp.leader == 0 {
		return 0, patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s is not running", h.Name).
			WithHint("see 'patchpilot lab status'; 'patchpilot lab heal " + h.Name + "' starts a stopped host")
	}
	return hp.leader, nil
}

// bootID reads the boot id a running host sees (systemd-nspawn gives every
// container boot its own).
func bootID(leader int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(leader) + "/root/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// nsenterArgs runs args inside a host's namespaces (mount, UTS, IPC,
// network, PID) and root, as its init sees them.
func nsenterArgs(leader int, args ...string) []string {
	return append([]string{"-t", strconv.Itoa(leader), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}, args...)
}

// inHost runs a command inside a running host and returns its output.
func inHost(ctx context.Context, s *State, h *HostState, args ...string) ([]byte, error) {
	leader, err := leaderPID(s, h)
	if err != nil {
		return nil, err
	}
	return run(ctx, "nsenter", nsenterArgs(leader, args...)...)
}
