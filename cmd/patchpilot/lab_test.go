package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		ssh := exec.Command("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+filepath.Join(dir, "known_hosts"), "-i", filepath.Join(dir, "id_ed25519"),
			"root@"+h.Address, "dpkg-query -W | wc -l")
		raw, err := ssh.Output()
		if err != nil {
			t.Fatalf("ssh %s: %v", h.Address, err)
		}
		if want := strings.TrimSpace(string(raw)); fmt.Sprint(h.PackageCount) != want {
			t.Errorf("%s: package_count %d, dpkg-query on the host counts %s", h.Name, h.PackageCount, want)
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

// requireLabRoot skips lab tests for non-root users outside CI; in CI they
// must run.
func requireLabRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("lab tests need root, and CI must run them")
		}
		t.Skip("lab tests need root; skipped for a non-root user outside CI")
	}
}
