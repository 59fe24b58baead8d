// Package sshtest starts real OpenSSH servers for tests. Each Server is a
// /usr/sbin/sshd child process of the test, listening on loopback addresses
// with a fresh host key and a fresh client key that may log in as the
// current user. Packages that run commands over SSH test against it instead
// of a fake.
//
// sshd needs root (it changes users and owns its privilege separation
// directory). Without root, Start skips the test, or fails it when CI=true
// so that a CI machine cannot silently skip the SSH tests.
package sshtest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/patchpilot/patchpilot"
)

// Paths of the OpenSSH programs and directories used.
const (
	SSHDPath       = "/usr/sbin/sshd"
	SSHKeygenPath  = "/usr/bin/ssh-keygen"
	privSepDir     = "/run/sshd"
	startTimeout   = 10 * time.Second
	stopTimeout    = 5 * time.Second
	termGrace      = 100 * time.Millisecond
	startAttempts  = 5
	bannerDeadline = 500 * time.Millisecond
)

// Option changes how a Server is started.
type Option func(*config)

type config struct {
	addrs      []string
	forwarding bool
	extra      []string
}

// ListenAddrs makes the server listen on these loopback IPs (127.x.y.z),
// all on the same port, instead of 127.0.0.1.
func ListenAddrs(ips ...string) Option {
	return func(c *config) { c.addrs = ips }
}

// DisableForwarding forbids TCP forwarding, so that the server cannot serve
// as a jump host.
func DisableForwarding() Option {
	return func(c *config) { c.forwarding = false }
}

// ConfigLines adds lines to sshd_config, such as "MaxSessions 2".
func ConfigLines(lines ...string) Option {
	return func(c *config) { c.extra = append(c.extra, lines...) }
}

// Server is a running sshd. Its fields describe how to reach it; they
// change when RestartWithNewHostKey gives it a new key.
type Server struct {
	// Addr is "ip:port" of the first listen address; Addrs lists all.
	Addr  string
	Addrs []string
	// IP is the first listen address and Port the port of all of them.
	IP   string
	Port int
	// User may log in with ClientKeyFile (an unencrypted ed25519 key).
	User          string
	ClientKeyFile string
	// HostKey is the server's ed25519 host key, HostKeyPub its
	// authorized_keys form ("ssh-ed25519 AAAA...").
	HostKey    xssh.PublicKey
	HostKeyPub string
	// HostKeyLine is a known_hosts line naming every listen address, and
	// KnownHostsFile a file holding just that line.
	HostKeyLine    string
	KnownHostsFile string
	// Dir is the server's temporary directory.
	Dir string

	cfg     config
	tb      testing.TB
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *lockedBuffer
	stopped bool
}

// Start starts an sshd for the test and stops it when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	requireRoot(tb)
	cfg := config{addrs: []string{"127.0.0.1"}, forwarding: true}
	for _, o := range opts {
		o(&cfg)
	}
	for _, ip := range cfg.addrs {
		if p := net.ParseIP(ip); p == nil || !p.IsLoopback() || p.To4() == nil {
			tb.Fatalf("sshtest: listen address %q is not an IPv4 loopback address", ip)
		}
	}
	u, err := user.Current()
	if err != nil {
		tb.Fatalf("sshtest: current user: %v", err)
	}
	if err := os.MkdirAll(privSepDir, 0o755); err != nil {
		tb.Fatalf("sshtest: privilege separation directory: %v", err)
	}
	s := &Server{cfg: cfg, tb: tb, User: u.Username, Dir: tb.TempDir(), logs: &lockedBuffer{}}
	s.ClientKeyFile = filepath.Join(s.Dir, "client_ed25519")
	keygen(tb, s.ClientKeyFile)
	pub, err := os.ReadFile(s.ClientKeyFile + ".pub")
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), pub, 0o600); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	s.newHostKey()
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("sshd log (%s):\n%s", s.Addr, s.logs.String())
		}
	})

	for attempt := 1; ; attempt++ {
		s.Port = freePort(tb, cfg.addrs)
		s.setAddrs()
		err := s.start()
		if err == nil {
			break
		}
		if attempt == startAttempts {
			tb.Fatalf("sshtest: starting sshd: %v\n%s", err, s.logs.String())
		}
	}
	s.writeKnownHosts()
	return s
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "sshtest needs root to run sshd"
	default:
		if _, err := os.Stat(SSHDPath); err != nil {
			why = "sshtest needs OpenSSH's server (" + SSHDPath + "): install openssh-server"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(why)
	}
	tb.Skip(why)
}

// Host returns a host named name that logs into this server with its
// client key.
func (s *Server) Host(name string) patchpilot.Host {
	return patchpilot.Host{Name: name, Address: s.IP, Port: s.Port, User: s.User, KeyFile: s.ClientKeyFile}
}

// JumpSpec returns the server in ProxyJump form, "user@ip:port".
func (s *Server) JumpSpec() string {
	return s.User + "@" + s.Addr
}

// Logs returns what sshd has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// RestartWithNewHostKey stops the server, which ends its connections, gives
// it a new host key and starts it again on the same addresses. The fields
// and KnownHostsFile then describe the new key; copy KnownHostsFile or keep
// HostKeyLine first to test a changed key.
func (s *Server) RestartWithNewHostKey() {
	s.tb.Helper()
	s.Stop()
	s.newHostKey()
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if err = s.start(); err == nil {
			s.writeKnownHosts()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("sshtest: restarting sshd: %v\n%s", err, s.logs.String())
}

func (s *Server) setAddrs() {
	s.Addrs = nil
	for _, ip := range s.cfg.addrs {
		s.Addrs = append(s.Addrs, net.JoinHostPort(ip, strconv.Itoa(s.Port)))
	}
	s.IP, s.Addr = s.cfg.addrs[0], s.Addrs[0]
}

func (s *Server) hostKeyFile() string { return filepath.Join(s.Dir, "host_ed25519") }

func (s *Server) newHostKey() {
	s.tb.Helper()
	os.Remove(s.hostKeyFile())
	os.Remove(s.hostKeyFile() + ".pub")
	keygen(s.tb, s.hostKeyFile())
	pub, err := os.ReadFile(s.hostKeyFile() + ".pub")
	if err != nil {
		s.tb.Fatalf("sshtest: %v", err)
	}
	key, _, _, _, err := xssh.ParseAuthorizedKey(pub)
	if err != nil {
		s.tb.Fatalf("sshtest: host key: %v", err)
	}
	s.HostKey = key
	s.HostKeyPub = strings.TrimSpace(string(xssh.MarshalAuthorizedKey(key)))
}

func (s *Server) writeKnownHosts() {
	s.tb.Helper()
	names := make([]string, len(s.Addrs))
	for i, a := range s.Addrs {
		names[i] = knownhosts.Normalize(a)
	}
	s.HostKeyLine = knownhosts.Line(names, s.HostKey)
	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(s.HostKeyLine+"\n"), 0o600); err != nil {
		s.tb.Fatalf("sshtest: %v", err)
	}
}

func keygen(tb testing.TB, path string) {
	tb.Helper()
	out, err := exec.Command(SSHKeygenPath, "-q", "-t", "ed25519", "-N", "", "-C", "sshtest", "-f", path).CombinedOutput()
	if err != nil {
		tb.Fatalf("sshtest: ssh-keygen: %v: %s", err, out)
	}
}

// freePort returns a port that is free on every address. Another process
// may take it before sshd binds it; Start then tries another.
func freePort(tb testing.TB, ips []string) int {
	tb.Helper()
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			tb.Fatalf("sshtest: finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		l.Close()
		if ok {
			return port
		}
	}
	tb.Fatalf("sshtest: no port free on all of %v", ips)
	return 0
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
