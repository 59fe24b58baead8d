package sshtest

import (
	"os"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// login connects with the x/crypto client directly, checking the host key
// against the server's KnownHostsFile, and runs one command.
func login(t *testing.T, s *Server, addr, command string) (string, error) {
	t.Helper()
	keyPEM, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := xssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	check, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := xssh.Dial("tcp", addr, &xssh.ClientConfig{
		User: s.User, Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)}, HostKeyCallback: check,
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Output(command)
	return string(out), err
}

func TestStartServesEveryAddress(t *testing.T) {
	s := Start(t, ListenAddrs("127.0.0.1", "127.0.0.2"))
	if len(s.Addrs) != 2 || s.Port == 0 || s.IP != "127.0.0.1" {
		t.Fatalf("got Addrs %v, Port %d, IP %s", s.Addrs, s.Port, s.IP)
	}
	for _, addr := range s.Addrs {
		got, err := login(t, s, addr, "id -un")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if strings.TrimSpace(got) != s.User {
			t.Errorf("%s: got user %q, want %q", addr, got, s.User)
		}
	}
	if !strings.Contains(s.HostKeyLine, "[127.0.0.2]:") || !strings.HasPrefix(s.HostKeyPub, "ssh-ed25519 ") {
		t.Errorf("got HostKeyLine %q, HostKeyPub %q", s.HostKeyLine, s.HostKeyPub)
	}
}

func TestRestartWithNewHostKey(t *testing.T) {
	s := Start(t)
	oldFile, oldKey, oldPort := s.KnownHostsFile+".old", s.HostKey, s.Port
	data, _ := os.ReadFile(s.KnownHostsFile)
	os.WriteFile(oldFile, data, 0o600)
	s.RestartWithNewHostKey()
	if s.Port != oldPort {
		t.Fatalf("port changed from %d to %d", oldPort, s.Port)
	}
	if string(s.HostKey.Marshal()) == string(oldKey.Marshal()) {
		t.Fatal("host key did not change")
	}
	if _, err := login(t, s, s.Addr, "true"); err != nil {
		t.Fatalf("login with the new known_hosts: %v", err)
	}
	s.KnownHostsFile = oldFile
	if _, err := login(t, s, s.Addr, "true"); err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Fatalf("login with the old known_hosts: got %v, want a key mismatch", err)
	}
}

func TestStopEndsServer(t *testing.T) {
	s := Start(t)
	s.Stop()
	if greets(s.Addr) {
		t.Fatal("server still greets after Stop")
	}
}

func TestSessionsSkipTheUsersStartupFiles(t *testing.T) {
	s := Start(t)
	got, err := login(t, s, s.Addr, "echo $SHLVL")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != "2" {
		t.Errorf("got SHLVL %q, want 2 (a nested shell, which does not read ~/.bashrc)", got)
	}
}
