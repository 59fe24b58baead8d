package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// inventoryLabSubnet keeps this test's lab apart from the labs other test
// packages boot at the same time.
const inventoryLabSubnet = "127.0.6"

// TestLabInventory drives the lab through the CLI (up, status, down) and
// collects its hosts with strict host keys: every host comes back with the
// package count dpkg reports on it and the lab repository's pending
// updates.
func TestLabInventory(t *testing.T) {
	requireLabRoot(t)
	e := newEnv(t)
	dir := filepath.Join(e.home, "lab")
	up := e.run("lab", "up", "--hosts", "2", "--dir", dir, "--subnet", inventoryLabSubnet)
	t.Cleanup(func() {
		if r := e.run("lab", "down", "--dir", dir); r.code != 0 {
			t.Errorf("lab down: exit %d: %s", r.code, r.stderr)
		}
	})
	if up.code != 0 {
		t.Fatalf("lab up: exit %d\n%s", up.code, up.stderr)
	}
	status := decodeJSON[[]map[string]any](t, e.mustRun("lab", "status", "--dir", dir, "-o", "json"))
	if len(status) != 2 {
		t.Fatalf("lab status: %d hosts, want 2", len(status))
	}

	// Replace a library the first host's services map, the way dpkg does:
	// they keep running the deleted file and need a restart.
	sshTo := func(addr, command string) string {
		t.Helper()
		raw, err := exec.Command("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+filepath.Join(dir, "known_hosts"), "-i", filepath.Join(dir, "id_ed25519"),
			"root@"+addr, command).Output()
		if err != nil {
			t.Fatalf("ssh %s %q: %v", addr, command, err)
		}
		return string(raw)
	}
	replaced := status[0]["name"].(string)
	sshTo(status[0]["address"].(string), `f=$(readlink -f /usr/lib/x86_64-linux-gnu/libcrypto.so.3) && cp -a "$f" /tmp/lib && rm "$f" && cp -a /tmp/lib "$f"`)

	out := e.mustRun("inventory", "collect", "-i", filepath.Join(dir, "inventory.ini"),
		"--known-hosts", filepath.Join(dir, "known_hosts"), "-o", "json")
	res := decodeJSON[struct {
		Hosts []struct {
			Name         string `json:"name"`
			Address      string `json:"address"`
			PackageCount int    `json:"package_count"`
			Pending      int    `json:"pending_update_count"`
		} `json:"hosts"`
	}](t, out)
	if len(res.Hosts) != 2 {
		t.Fatalf("collected %d hosts, want 2:\n%s", len(res.Hosts), out)
	}
	for _, h := range res.Hosts {
		if want := strings.TrimSpace(sshTo(h.Address, "dpkg-query -W | wc -l")); fmt.Sprint(h.PackageCount) != want {
			t.Errorf("%s: package_count %d, dpkg-query on the host counts %s", h.Name, h.PackageCount, want)
		}
		show := decodeJSON[struct {
			Facts struct {
				NeedsRestart []string `json:"needs_restart"`
			} `json:"facts"`
		}](t, e.mustRun("hosts", "show", h.Name, "-o", "json"))
		if got := show.Facts.NeedsRestart; (h.Name == replaced) != slices.Contains(got, "ssh.service") {
			t.Errorf("%s: needs restart %v; want ssh.service only on %s, whose libcrypto was replaced", h.Name, got, replaced)
		}
		updates := decodeJSON[[]struct {
			Package   string `json:"package"`
			Candidate string `json:"candidate_version"`
		}](t, e.mustRun("updates", "--host", h.Name, "-o", "json"))
		got := map[string]string{}
		for _, u := range updates {
			got[u.Package] = u.Candidate
		}
		for pkg, want := range map[string]string{"pp-demo-web": "1.1.4", "pp-libdemo": "1.1.0", "pp-agent": "2.0.0", "pp-kernel-demo": "1.1.0"} {
			if got[pkg] != want {
				t.Errorf("%s: pending %s = %q, want %q (all: %v)", h.Name, pkg, got[pkg], want, got)
			}
		}
	}
}

// requireLabRoot skips a lab test under -short and for a non-root user
// outside CI (in CI lab tests must run), and takes the machine-wide lab
// lock for the rest of the test: call it before the test boots a lab
// through the CLI and register the lab's teardown after it.
func requireLabRoot(t *testing.T) {
	t.Helper()
	labtest.Require(t, func() error { return lab.CheckHost(false) })
	labtest.Lock(t)
}
