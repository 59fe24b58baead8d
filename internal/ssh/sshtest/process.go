package sshtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sshdConfig renders the server's configuration. Everything lives in the
// server's directory; nothing of the machine's own sshd setup is used.
func (s *Server) sshdConfig() string {
	lines := []string{
		"Port " + strconv.Itoa(s.Port),
	}
	for _, ip := range s.cfg.addrs {
		lines = append(lines, "ListenAddress "+ip)
	}
	forwarding := "yes"
	if !s.cfg.forwarding {
		forwarding = "no"
	}
	lines = append(lines,
		"HostKey "+s.hostKeyFile(),
		"PidFile "+filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(s.Dir, "authorized_keys"),
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"AllowTcpForwarding "+forwarding,
		"PermitTunnel no",
		"X11Forwarding no",
		"PrintMotd no",
		"UseDNS no",
		// Tests open many sessions and connections at once.
		"MaxSessions 64",
		"MaxStartups 100:30:200",
		"LogLevel INFO",
		// Bash sources ~/.bashrc for commands run by sshd only in a
		// top-level shell (SHLVL unset or 0). The user's startup files
		// are this machine's business, not the test's: they can be slow,
		// print, or wait on locks, so the test server skips them.
		"SetEnv SHLVL=1",
	)
	lines = append(lines, s.cfg.extra...)
	return strings.Join(lines, "\n") + "\n"
}

// start runs sshd and waits until it greets a client on every address.
func (s *Server) start() error {
	path := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(path, []byte(s.sshdConfig()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", path)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	// Its own process group lets Stop end the connection processes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.stopped = cmd, exited, false
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for _, addr := range s.Addrs {
		for {
			select {
			case <-exited:
				return fmt.Errorf("sshd exited: %v", cmd.ProcessState)
			default:
			}
			if greets(addr) {
				break
			}
			if time.Now().After(deadline) {
				s.Stop()
				return errors.New("sshd did not accept connections on " + addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// greets reports whether an SSH server answers on addr with its banner.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, bannerDeadline)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bannerDeadline))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// Stop ends sshd and every process it started: sshd runs each connection
// in a session of its own, so they would outlive it otherwise, and clients
// would not see their connections end. It is safe to call more than once;
// Start registers it with the test's cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return
	}
	s.stopped = true
	pid := s.cmd.Process.Pid
	// Collect the descendants while sshd still runs: once it exits they
	// are reparented and can no longer be told from other processes.
	// SIGTERM first lets shells run their exit traps (and remove their
	// lock files); SIGKILL ends whatever is left.
	children := descendants(pid)
	for _, p := range append([]int{pid}, children...) {
		syscall.Kill(p, syscall.SIGCONT) // in case the test froze them
	}
	for _, child := range children {
		syscall.Kill(child, syscall.SIGTERM)
	}
	if len(children) > 0 {
		time.Sleep(termGrace)
	}
	for _, child := range children {
		syscall.Kill(child, syscall.SIGKILL)
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
}

// Freeze stops sshd and its connection processes (SIGSTOP): connections
// stay open at the TCP level but nothing answers, as with a host that hangs
// or a network that drops packets. Thaw, or the test's end, resumes them.
func (s *Server) Freeze() { s.signalAll(syscall.SIGSTOP) }

// Thaw resumes what Freeze stopped.
func (s *Server) Thaw() { s.signalAll(syscall.SIGCONT) }

func (s *Server) signalAll(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return
	}
	pid := s.cmd.Process.Pid
	for _, p := range append([]int{pid}, descendants(pid)...) {
		syscall.Kill(p, sig)
	}
}

// descendants returns the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces; the parent
		// pid is the second field after it.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
