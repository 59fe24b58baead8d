package ssh

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

// knownHosts writes a known_hosts file that trusts every one of servers.
func knownHosts(t *testing.T, servers ...*sshtest.Server) string {
	t.Helper()
	var b strings.Builder
	for _, s := range servers {
		b.WriteString(s.HostKeyLine + "\n")
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJumpHost(t *testing.T) {
	jump := sshtest.Start(t)
	target := sshtest.Start(t, sshtest.ListenAddrs("127.0.0.2"))
	o := testOptions(t, target)
	o.KnownHostsFile = knownHosts(t, jump, target)
	o.KeyFiles = []string{jump.ClientKeyFile}

	// Through the host's own jump host, and through the default one.
	h := target.Host("db1")
	h.JumpHost = jump.JumpSpec()
	r := mustDial(t, mustDialer(t, o), h)
	if got := string(run(t, r, "printf", "%s", "via jump").Stdout); got != "via jump" {
		t.Errorf("got %q", got)
	}
	o2 := o
	o2.JumpHost = jump.JumpSpec()
	mustDial(t, mustDialer(t, o2), target.Host("db1")).Close()

	// The jump host made the connection: it logged a forwarding to the
	// target, and the target saw one login.
	if !strings.Contains(jump.Logs(), "Accepted publickey") {
		t.Errorf("jump host saw no login:\n%s", jump.Logs())
	}
	// A host that opts out of the default jump host is dialled directly.
	direct := target.Host("db1")
	direct.JumpHost = "none"
	before := strings.Count(jump.Logs(), "Accepted publickey")
	mustDial(t, mustDialer(t, o2), direct).Close()
	if after := strings.Count(jump.Logs(), "Accepted publickey"); after != before {
		t.Errorf("jump host saw %d more logins for a direct host", after-before)
	}
}

func TestJumpHostThatCannotForward(t *testing.T) {
	jump := sshtest.Start(t, sshtest.DisableForwarding())
	target := sshtest.Start(t, sshtest.ListenAddrs("127.0.0.2"))
	o := testOptions(t, target)
	o.KnownHostsFile = knownHosts(t, jump, target)
	o.JumpHost = jump.JumpSpec()
	d := mustDialer(t, o)
	_, err := d.Dial(context.Background(), target.Host("db1"))
	wantCode(t, err, patchpilot.EUNREACHABLE, "jump host "+jump.JumpSpec()+": authentication failed")

	o.KeyFiles = []string{jump.ClientKeyFile}
	_, err = mustDialer(t, o).Dial(context.Background(), target.Host("db1"))
	wantCode(t, err, patchpilot.EUNREACHABLE, target.Addr, "jump host could not reach it", "administratively prohibited")
}

func TestJumpHostKeyIsChecked(t *testing.T) {
	jump := sshtest.Start(t)
	target := sshtest.Start(t, sshtest.ListenAddrs("127.0.0.2"))
	o := testOptions(t, target)
	o.KnownHostsFile = knownHosts(t, target) // the jump host is unknown
	o.JumpHost = jump.JumpSpec()
	_, err := mustDialer(t, o).Dial(context.Background(), target.Host("db1"))
	wantCode(t, err, patchpilot.EHOSTKEY, jump.Addr, "unknown")
}

func TestUnreachableHosts(t *testing.T) {
	srv := sshtest.Start(t)
	wrongKey := keygen(t, "ed25519", "")

	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	// A port that accepts but never speaks SSH.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	tests := []struct {
		name  string
		host  func() patchpilot.Host
		parts []string
	}{
		{"connection refused", func() patchpilot.Host {
			h := srv.Host("web1")
			h.Port = closedPort
			return h
		}, []string{"connection refused", strconv.Itoa(closedPort)}},
		{"authentication failed", func() patchpilot.Host {
			h := srv.Host("web1")
			h.KeyFile = wrongKey
			return h
		}, []string{"authentication failed for user " + srv.User}},
		{"unknown user", func() patchpilot.Host {
			h := srv.Host("web1")
			h.User = "no-such-user"
			return h
		}, []string{"authentication failed for user no-such-user"}},
		{"handshake timeout", func() patchpilot.Host {
			h := srv.Host("web1")
			h.Port = silent.Addr().(*net.TCPAddr).Port
			return h
		}, []string{"timed out after 500ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t, srv)
			if tt.name == "handshake timeout" {
				// The others keep testOptions' generous timeout: a busy
				// machine may take longer than 500ms over a handshake
				// that fails for its own reason.
				o.ConnectTimeout = 500 * time.Millisecond
			}
			start := time.Now()
			_, err := mustDialer(t, o).Dial(context.Background(), tt.host())
			wantCode(t, err, patchpilot.EUNREACHABLE, tt.parts...)
			if patchpilot.ErrorHint(err) == "" {
				t.Error("no hint")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
			// A dial that retried or waited on its own would take
			// testOptions' 15s timeout or more.
			if elapsed := time.Since(start); elapsed >= 10*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	srv := sshtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustDialer(t, testOptions(t, srv)).Dial(ctx, srv.Host("web1"))
	wantCode(t, err, patchpilot.ECANCELED)
}

func TestKeyFilesAndPassphrases(t *testing.T) {
	srv := sshtest.Start(t)
	encrypted := keygen(t, "ed25519", "secret")
	var logs syncBuffer
	o := testOptions(t, srv)
	o.Logger = testLogger(t, &logs)
	o.KeyFiles = []string{encrypted, srv.ClientKeyFile}
	h := srv.Host("web1")
	h.KeyFile = ""
	r := mustDial(t, mustDialer(t, o), h)
	run(t, r, "true")
	if !strings.Contains(logs.String(), "passphrase") || !strings.Contains(logs.String(), encrypted) {
		t.Errorf("no log line about the skipped key:\n%s", logs.String())
	}

	// With only a passphrase-protected key there is nothing to offer.
	o.KeyFiles = []string{encrypted}
	_, err := mustDialer(t, o).Dial(context.Background(), h)
	wantCode(t, err, patchpilot.EINVALID, "no usable private key")

	// A key file that does not exist is named.
	_, err = NewDialer(Options{HomeDir: t.TempDir(), KeyFiles: []string{"/nonexistent/id_ed25519"}})
	wantCode(t, err, patchpilot.EINVALID, "/nonexistent/id_ed25519")
	h.KeyFile = "/nonexistent/host_key"
	_, err = mustDialer(t, testOptions(t, srv)).Dial(context.Background(), h)
	wantCode(t, err, patchpilot.EINVALID, "/nonexistent/host_key")
}

func TestAgent(t *testing.T) {
	srv := sshtest.Start(t)
	encrypted := keygen(t, "ed25519", "secret")
	socket := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", socket)
	if err := agentCmd.Start(); err != nil {
		t.Skipf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", srv.ClientKeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+socket)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}

	// The agent alone logs in, and stands in for an encrypted key file.
	o := testOptions(t, srv)
	o.UseAgent, o.AgentSocket = true, socket
	o.KeyFiles = []string{encrypted}
	h := srv.Host("web1")
	h.KeyFile = ""
	run(t, mustDial(t, mustDialer(t, o), h), "true")

	// A missing agent is not fatal when a key file works.
	o.AgentSocket = filepath.Join(t.TempDir(), "gone.sock")
	run(t, mustDial(t, mustDialer(t, o), srv.Host("web1")), "true")
}

func TestHomeDirectoryResolvesPaths(t *testing.T) {
	srv := sshtest.Start(t)
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	data, _ := os.ReadFile(srv.KnownHostsFile)
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), data, 0o600)
	key, _ := os.ReadFile(srv.ClientKeyFile)
	os.WriteFile(filepath.Join(home, "id"), key, 0o600)

	d := mustDialer(t, Options{HomeDir: home, User: srv.User, KeyFiles: []string{"~/id"}})
	h := srv.Host("web1")
	h.KeyFile = ""
	run(t, mustDial(t, d, h), "true")
}

// TestDefaultKeyFiles: with no key file named anywhere, the keys OpenSSH
// tries by default are found in the home directory, a broken one skipped;
// once a key file is named, the defaults are not offered.
func TestDefaultKeyFiles(t *testing.T) {
	srv := sshtest.Start(t)
	home := t.TempDir()
	dir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(srv.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(keygen(t, "ecdsa", ""))
	if err != nil {
		t.Fatal(err)
	}
	write("id_ed25519", []byte("not a key\n"))
	write("id_ecdsa", other) // a key the server does not accept
	write("id_rsa", key)     // the one it does, last in OpenSSH's order

	var logs syncBuffer
	o := Options{HomeDir: home, KnownHostsFile: srv.KnownHostsFile, User: srv.User, ConnectTimeout: 15 * time.Second,
		Logger: testLogger(t, &logs)}
	h := srv.Host("web1")
	h.KeyFile = ""
	run(t, mustDial(t, mustDialer(t, o), h), "true")
	if !strings.Contains(logs.String(), filepath.Join(dir, "id_ed25519")) {
		t.Errorf("no log line about the unreadable default key:\n%s", logs.String())
	}

	// A key file named in the options replaces the defaults.
	o.KeyFiles = []string{filepath.Join(dir, "id_ecdsa")}
	_, err = mustDialer(t, o).Dial(context.Background(), h)
	wantCode(t, err, patchpilot.EUNREACHABLE, "authentication failed")

	// So does the host's own key file.
	o.KeyFiles = nil
	h.KeyFile = filepath.Join(dir, "id_ecdsa")
	_, err = mustDialer(t, o).Dial(context.Background(), h)
	wantCode(t, err, patchpilot.EUNREACHABLE, "authentication failed")

	// No default key and no agent: the error says where keys are looked for.
	h.KeyFile = ""
	o.HomeDir = t.TempDir()
	_, err = mustDialer(t, o).Dial(context.Background(), h)
	wantCode(t, err, patchpilot.EINVALID, "no usable private key")
	if pe := (*patchpilot.Error)(nil); errors.As(err, &pe) && !strings.Contains(pe.Hint, "~/.ssh/id_ed25519") {
		t.Errorf("hint %q does not name the default key", pe.Hint)
	}
}
