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

// Stop ends sshd and its connection processes. It is safe to call more
// than once; Start registers it with the test's cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return
	}
	s.stopped = true
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// Connection processes may outlive the listener for a moment.
	syscall.Kill(-pgid, syscall.SIGKILL)
}
