package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

// TestCollectOverSSH runs 'inventory collect' against a real OpenSSH server
// that answers on three loopback addresses (three hosts of one machine),
// plus a fourth address where nothing listens.
func TestCollectOverSSH(t *testing.T) {
	srv := sshtest.Start(t, sshtest.ListenAddrs("127.0.0.61", "127.0.0.62", "127.0.0.63"))
	e := newEnv(t)
	knownHosts := filepath.Join(e.home, "known_hosts")
	inv := filepath.Join(e.home, "inventory.ini")
	writeFile(t, inv, fmt.Sprintf(`[web]
web1 ansible_host=127.0.0.61 role=web
web2 ansible_host=127.0.0.62 role=web criticality=critical

[db]
db1 ansible_host=127.0.0.63 role=db
gone ansible_host=127.0.0.64

[all:vars]
ansible_port=%d
ansible_user=%s
ansible_ssh_private_key_file=%s
env=test
`, srv.Port, srv.User, srv.ClientKeyFile))
	collect := func(extra ...string) result {
		args := append([]string{"inventory", "collect", "-i", inv, "--known-hosts", knownHosts, "--connect-timeout", "3s", "-o", "json"}, extra...)
		return e.run(args...)
	}

	// Unknown host keys are refused, naming the fingerprint, and nothing
	// is written to known_hosts. The run's only host failed: the command
	// failed, exit 1 (docs/cli.md), not a partial 3.
	r := collect("--limit", "web1")
	if r.code != 1 || !strings.Contains(r.stdout, `"code": "host_key"`) || !strings.Contains(r.stdout, "SHA256:") {
		t.Fatalf("unknown key: exit %d, stdout %s; want exit 1 with a host_key failure naming the fingerprint", r.code, r.stdout)
	}
	if n := strings.Count(r.stderr, "--accept-new-host-keys"); n != 1 {
		t.Errorf("unknown key: the hint is printed %d times, want once:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "--accept-new-host-keys") {
		t.Errorf("unknown key: stderr %q gives no hint about --accept-new-host-keys", r.stderr)
	}
	if data, _ := os.ReadFile(knownHosts); len(data) > 0 {
		t.Fatalf("known_hosts written without --accept-new-host-keys:\n%s", data)
	}

	// Accepting new keys records them; the unreachable host is reported
	// while the others are stored; the exit code says some failed.
	r = collect("--accept-new-host-keys")
	if r.code != 3 {
		t.Fatalf("collect with one unreachable host: exit %d, want 3\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	res := decodeJSON[struct {
		Hosts []struct {
			Name         string            `json:"name"`
			PackageCount int               `json:"package_count"`
			Labels       map[string]string `json:"labels"`
		} `json:"hosts"`
		Failed []struct{ Host, Code, Reason string } `json:"failed"`
	}](t, r.stdout)
	if len(res.Hosts) != 3 || len(res.Failed) != 1 || res.Failed[0].Host != "gone" || res.Failed[0].Code != "unreachable" {
		t.Fatalf("hosts %+v, failed %+v; want 3 hosts and gone unreachable", res.Hosts, res.Failed)
	}
	dpkg, err := exec.Command("dpkg-query", "-W").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Count(string(dpkg), "\n")
	for _, h := range res.Hosts {
		if h.PackageCount != want {
			t.Errorf("%s: package_count %d, want %d", h.Name, h.PackageCount, want)
		}
		if h.Labels["env"] != "test" || h.Labels["role"] == "" {
			t.Errorf("%s: labels %v, want env=test and a role", h.Name, h.Labels)
		}
	}
	data, err := os.ReadFile(knownHosts)
	if err != nil || strings.Count(string(data), "\n") != 3 {
		t.Fatalf("known_hosts after accepting: %q, %v; want three lines", data, err)
	}

	// With the keys known, strict checking passes and every host succeeds.
	if r := collect("--limit", "all:!gone"); r.code != 0 {
		t.Fatalf("strict collect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	hosts := decodeJSON[[]map[string]any](t, e.mustRun("hosts", "-o", "json"))
	if len(hosts) != 4 {
		t.Errorf("hosts: %d, want 4 (3 collected, 1 never)", len(hosts))
	}

	// A changed key is refused even with --accept-new-host-keys.
	srv.RestartWithNewHostKey()
	r = collect("--limit", "db1", "--accept-new-host-keys")
	if r.code != 1 || !strings.Contains(r.stdout, `"code": "host_key"`) {
		t.Fatalf("changed key: exit %d, stdout %s; want exit 1 with host_key", r.code, r.stdout)
	}
	after, _ := os.ReadFile(knownHosts)
	if string(after) != string(data) {
		t.Errorf("known_hosts changed after a refused key change:\nbefore %q\nafter %q", data, after)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
