package ssh

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

func TestUnknownHostKeyIsRefusedAndNotRecorded(t *testing.T) {
	srv := sshtest.Start(t)
	for _, existing := range []string{"", "# other hosts\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"} {
		o := testOptions(t, srv)
		o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
		if existing != "" {
			os.WriteFile(o.KnownHostsFile, []byte(existing), 0o600)
		}
		_, err := mustDialer(t, o).Dial(context.Background(), srv.Host("web1"))
		wantCode(t, err, patchpilot.EHOSTKEY, "host web1", srv.Addr, xssh.FingerprintSHA256(srv.HostKey), "unknown")
		if got := patchpilot.ErrorHint(err); got != hintUnknownHostKey {
			t.Errorf("got hint %q, want %q", got, hintUnknownHostKey)
		}
		// The key may be in another file than the one read (a lab's
		// known_hosts given to one command and not to the next).
		if got := patchpilot.ErrorHint(err); !strings.Contains(got, "--known-hosts") {
			t.Errorf("hint %q does not say how to name the known_hosts file that holds the key", got)
		}
		if got := readFile(t, o.KnownHostsFile); got != existing {
			t.Errorf("known_hosts changed to %q, want %q", got, existing)
		}
	}
}

func TestAcceptNewHostKeysRecordsTheKey(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.KnownHostsFile = filepath.Join(t.TempDir(), "ssh", "known_hosts") // the directory does not exist yet
	o.AcceptNewHostKeys = true
	d := mustDialer(t, o)

	// Concurrent first dials must record the key once, as one whole line.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			r, err := d.Dial(context.Background(), srv.Host("web1"))
			if err == nil {
				r.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Dial with AcceptNewHostKeys: %v", err)
		}
	}
	want := knownhosts.Line([]string{fmt.Sprintf("[127.0.0.1]:%d", srv.Port)}, srv.HostKey) + "\n"
	if got := readFile(t, o.KnownHostsFile); got != want {
		t.Fatalf("known_hosts is %q, want %q", got, want)
	}

	// The recorded key is trusted without AcceptNewHostKeys, and OpenSSH's
	// own client agrees with the file.
	o.AcceptNewHostKeys = false
	r := mustDial(t, mustDialer(t, o), srv.Host("web1"))
	if got := strings.TrimSpace(string(run(t, r, "id", "-un").Stdout)); got != srv.User {
		t.Errorf("got user %q, want %q", got, srv.User)
	}
	out, err := exec.Command("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+o.KnownHostsFile, "-o", "GlobalKnownHostsFile=/dev/null",
		"-i", srv.ClientKeyFile, "-p", fmt.Sprint(srv.Port), srv.User+"@127.0.0.1", "true").CombinedOutput()
	if err != nil {
		t.Errorf("OpenSSH rejects the recorded line: %v: %s", err, out)
	}
}

func TestAcceptNewHostKeysKeepsAFileWithoutFinalNewline(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	other := "example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	os.WriteFile(o.KnownHostsFile, []byte(other), 0o600)
	o.AcceptNewHostKeys = true
	mustDial(t, mustDialer(t, o), srv.Host("web1"))
	lines := strings.Split(strings.TrimSpace(readFile(t, o.KnownHostsFile)), "\n")
	if len(lines) != 2 || lines[0] != other {
		t.Fatalf("got lines %q, want the old line then the new one", lines)
	}
}

// Another process that records a key for the host while this one waits
// for the file's lock decides: the same key is trusted and not written
// twice; a different one makes the offered key a changed one.
func TestAcceptNewHostKeysWaitsForAnotherProcessRecording(t *testing.T) {
	srv := sshtest.Start(t)
	hostname := fmt.Sprintf("[127.0.0.1]:%d", srv.Port)
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := xssh.NewPublicKey(other.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		written xssh.PublicKey
		wantErr bool
	}{
		{"same key", srv.HostKey, false},
		{"other key", otherKey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, srv)
			o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
			o.AcceptNewHostKeys = true
			// The other process: it holds the lock while it appends.
			f, err := os.OpenFile(o.KnownHostsFile, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				r, err := mustDialer(t, o).Dial(context.Background(), srv.Host("web1"))
				if err == nil {
					r.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("dial finished while another process held the lock: %v", err)
			case <-time.After(500 * time.Millisecond):
			}
			line := knownhosts.Line([]string{hostname}, tc.written) + "\n"
			if _, err := f.WriteString(line); err != nil {
				t.Fatal(err)
			}
			f.Close()
			err = <-done
			if tc.wantErr {
				wantCode(t, err, patchpilot.EHOSTKEY, "changed", o.KnownHostsFile+":1")
			} else if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := readFile(t, o.KnownHostsFile); got != line {
				t.Errorf("known_hosts is %q, want only the other process's line %q", got, line)
			}
		})
	}
}

func TestChangedHostKeyIsRefusedEvenWhenAcceptingNewKeys(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	old := "# fleet\n" + srv.HostKeyLine + "\n"
	os.WriteFile(o.KnownHostsFile, []byte(old), 0o600)
	o.AcceptNewHostKeys = true
	d := mustDialer(t, o)
	mustDial(t, d, srv.Host("web1")).Close()

	srv.RestartWithNewHostKey()
	_, err := d.Dial(context.Background(), srv.Host("web1"))
	wantCode(t, err, patchpilot.EHOSTKEY, "changed", o.KnownHostsFile+":2", xssh.FingerprintSHA256(srv.HostKey))
	if patchpilot.ErrorHint(err) == "" {
		t.Error("changed host key error has no hint")
	}
	if got := readFile(t, o.KnownHostsFile); got != old {
		t.Errorf("known_hosts changed to %q", got)
	}
}

// A host with ECDSA, RSA and Ed25519 keys, of which known_hosts records
// only the Ed25519 one, must be asked for that key rather than be refused
// as changed: by default the client library prefers ECDSA and RSA.
func TestKnownKeyTypeIsNegotiated(t *testing.T) {
	srv := sshtest.Start(t, sshtest.ConfigLines("HostKey "+keygen(t, "rsa", ""), "HostKey "+keygen(t, "ecdsa", "")))
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	run(t, r, "true")
}

func TestBrokenKnownHostsFileIsReported(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(o.KnownHostsFile, []byte("this is not a known_hosts line\n"), 0o600)
	_, err := mustDialer(t, o).Dial(context.Background(), srv.Host("web1"))
	wantCode(t, err, patchpilot.EINVALID, o.KnownHostsFile, "line 1")
}
