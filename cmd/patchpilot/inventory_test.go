package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestCollectLocal checks the README's main job on this machine against
// dpkg and uname themselves.
func TestCollectLocal(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian-family machine: dpkg-query not found")
	}
	e := newEnv(t)
	out := e.mustRun("inventory", "collect", "--local", "--name", "controller", "-o", "json")
	res := decodeJSON[struct {
		Hosts []struct {
			Name         string `json:"name"`
			OSFamily     string `json:"os_family"`
			Kernel       string `json:"kernel"`
			PackageCount int    `json:"package_count"`
			Pending      int    `json:"pending_update_count"`
		} `json:"hosts"`
		Failed  []any            `json:"failed"`
		Updates []map[string]any `json:"updates"`
	}](t, out)
	if len(res.Hosts) != 1 || len(res.Failed) != 0 {
		t.Fatalf("collect --local: hosts %d, failed %v; want one host, no failure", len(res.Hosts), res.Failed)
	}
	h := res.Hosts[0]
	dpkg, err := exec.Command("dpkg-query", "-W").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(string(dpkg), "\n"); h.PackageCount != want {
		t.Errorf("package_count = %d, want %d (dpkg-query -W | wc -l)", h.PackageCount, want)
	}
	uname, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(uname)); h.Kernel != want {
		t.Errorf("kernel = %q, want %q (uname -r)", h.Kernel, want)
	}
	if h.Name != "controller" || h.OSFamily != "debian" {
		t.Errorf("host = %+v, want name controller, family debian", h)
	}
	if len(res.Updates) != h.Pending {
		t.Errorf("listed %d updates, summary says %d", len(res.Updates), h.Pending)
	}
	for _, u := range res.Updates {
		for _, k := range []string{"host", "package", "source_package", "installed_version", "candidate_version", "security", "advisories"} {
			if _, ok := u[k]; !ok {
				t.Fatalf("update %v lacks field %q", u, k)
			}
		}
	}

	// The stored state answers the listings, in every format.
	hosts := decodeJSON[[]map[string]any](t, e.mustRun("hosts", "-o", "json"))
	if len(hosts) != 1 {
		t.Fatalf("hosts -o json: %d hosts, want 1", len(hosts))
	}
	for _, k := range []string{"name", "address", "os_family", "os_name", "os_version", "kernel", "arch", "package_count",
		"pending_update_count", "security_update_count", "reboot_required", "labels", "collected_at"} {
		if _, ok := hosts[0][k]; !ok {
			t.Errorf("hosts -o json lacks field %q", k)
		}
	}
	if y := e.mustRun("hosts", "-o", "yaml"); !strings.Contains(y, "- name: controller\n") || !strings.Contains(y, "package_count: ") {
		t.Errorf("hosts -o yaml:\n%s", y)
	}
	if tbl := e.mustRun("hosts", "show", "controller"); !strings.Contains(tbl, "Kernel:") || !strings.Contains(tbl, h.Kernel) {
		t.Errorf("hosts show:\n%s", tbl)
	}
	updates := decodeJSON[[]map[string]any](t, e.mustRun("updates", "--host", "controller", "-o", "json"))
	if len(updates) != h.Pending {
		t.Errorf("updates --host: %d, want %d", len(updates), h.Pending)
	}

	// A second collection keeps the first as history.
	e.mustRun("inventory", "collect", "--local", "--name", "controller")
	show := decodeJSON[struct {
		History []map[string]any `json:"history"`
	}](t, e.mustRun("hosts", "show", "controller", "-o", "json"))
	if len(show.History) != 2 {
		t.Errorf("history has %d snapshots after two collections, want 2", len(show.History))
	}
}

// TestImportFacts imports facts captured from a real 'ansible -m setup'
// run and a real fact cache.
func TestImportFacts(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"../../internal/inventory/testdata/factcache",
		"../../internal/inventory/testdata/adhoc/setup_localhost.txt",
	} {
		out := e.mustRun("inventory", "import-facts", path, "-o", "json")
		hosts := decodeJSON[[]struct {
			OSName    string `json:"os_name"`
			OSVersion string `json:"os_version"`
			Kernel    string `json:"kernel"`
		}](t, out)
		if len(hosts) != 1 || hosts[0].OSName != "debian" || hosts[0].OSVersion != "12" || hosts[0].Kernel == "" {
			t.Errorf("import-facts %s = %+v, want one debian 12 host with a kernel", path, hosts)
		}
	}
	// The fact cache has package_facts: its packages are imported.
	hosts := decodeJSON[[]map[string]any](t, e.mustRun("hosts", "-o", "json"))
	found := false
	for _, h := range hosts {
		if h["package_count"].(float64) > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no imported host has packages: %v", hosts)
	}

	// A file with unreachable hosts imports the others and exits 3.
	r := e.run("inventory", "import-facts", "../../internal/inventory/testdata/adhoc/setup_multi.txt")
	if r.code != 3 || !strings.Contains(r.stderr, "UNREACHABLE") && !strings.Contains(r.stderr, "unreachable") {
		t.Errorf("import-facts with an unreachable host: exit %d, stderr %q; want 3 naming it", r.code, r.stderr)
	}
}

func TestInventoryPrune(t *testing.T) {
	e := newEnv(t)
	const cache = "../../internal/inventory/testdata/factcache"
	for range 3 {
		e.mustRun("inventory", "import-facts", cache)
	}
	hosts := decodeJSON[[]struct {
		Name string `json:"name"`
	}](t, e.mustRun("hosts", "-o", "json"))
	if len(hosts) != 1 {
		t.Fatalf("hosts = %+v, want the one of the cache", hosts)
	}
	history := func() int {
		show := decodeJSON[struct {
			History []json.RawMessage `json:"history"`
		}](t, e.mustRun("hosts", "show", hosts[0].Name, "-o", "json"))
		return len(show.History)
	}
	if n := history(); n != 3 {
		t.Fatalf("history has %d snapshots after 3 imports, want 3", n)
	}

	if r := e.run("inventory", "prune", "--keep", "0"); r.code != 2 || !strings.Contains(r.stderr, "keep") {
		t.Errorf("prune --keep 0: exit %d, stderr %q; want 2 naming keep", r.code, r.stderr)
	}
	res := decodeJSON[struct {
		Keep    int `json:"keep"`
		Deleted int `json:"deleted"`
	}](t, e.mustRun("inventory", "prune", "--keep", "1", "-o", "json"))
	if res.Keep != 1 || res.Deleted != 2 {
		t.Errorf("prune --keep 1 = %+v, want 2 deleted", res)
	}
	if n := history(); n != 1 {
		t.Errorf("history has %d snapshots after pruning, want 1", n)
	}
	if out := e.mustRun("inventory", "prune"); !strings.Contains(out, "deleted 0 fact snapshots; kept the newest 10") {
		t.Errorf("prune again printed %q", out)
	}
}

// TestHostsMarkFailedCollections: a host whose last collection failed is
// marked in 'hosts' (the COLLECTED column, a list under the table with
// the error) and carries last_collect_failure in JSON; a host collected
// since has none.
func TestHostsMarkFailedCollections(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian-family machine: dpkg-query not found")
	}
	e := newEnv(t)
	e.mustRun("inventory", "collect", "--local", "--name", "controller")
	inv := filepath.Join(e.home, "inv.ini")
	// No SSH key in the test's home: the collection fails before any
	// connection, naming the key.
	if err := os.WriteFile(inv, []byte("[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("inventory", "collect", "-i", inv)
	if r.code == 0 {
		t.Fatalf("collecting a host without a key exited 0:\n%s%s", r.stdout, r.stderr)
	}
	// Every host failed: the failures alone, not an empty hosts table.
	if !strings.HasPrefix(r.stdout, "FAILED HOST") {
		t.Errorf("collect output with every host failed:\n%s", r.stdout)
	}
	out := e.mustRun("hosts")
	for _, want := range []string{"never (failed ", "The last collection of 1 host failed", "  web1: ", "private key", "patchpilot inventory collect"} {
		if !strings.Contains(out, want) {
			t.Errorf("hosts lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "controller ") && strings.Contains(line, "failed") {
			t.Errorf("the collected host is marked failed: %q", line)
		}
	}
	type row struct {
		Name    string                     `json:"name"`
		Failure *patchpilot.CollectFailure `json:"last_collect_failure"`
	}
	rows := decodeJSON[[]row](t, e.mustRun("hosts", "-o", "json"))
	got := map[string]*patchpilot.CollectFailure{}
	for _, r := range rows {
		got[r.Name] = r.Failure
	}
	if f := got["web1"]; f == nil || f.Code != string(patchpilot.EINVALID) || !strings.Contains(f.Message, "private key") || f.At.IsZero() {
		t.Errorf("web1's last_collect_failure = %+v, want the key error with its time and code", f)
	}
	if f, ok := got["controller"]; !ok || f != nil {
		t.Errorf("controller: present %v, last_collect_failure %+v; want present without one", ok, f)
	}
	// 'hosts show' tells the same of one host.
	show := e.mustRun("hosts", "show", "web1")
	for _, want := range []string{"Last collection:", "failed ", "private key", "collect it again"} {
		if !strings.Contains(show, want) {
			t.Errorf("hosts show web1 lacks %q:\n%s", want, show)
		}
	}
	if f := decodeJSON[row](t, e.mustRun("hosts", "show", "web1", "-o", "json")).Failure; f == nil || f.Code != string(patchpilot.EINVALID) {
		t.Errorf("hosts show web1 -o json: last_collect_failure = %+v, want the key error", f)
	}
	if show := e.mustRun("hosts", "show", "controller"); strings.Contains(show, "Last collection:") {
		t.Errorf("hosts show of a host collected fine tells of a failure:\n%s", show)
	}
}
