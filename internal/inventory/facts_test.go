package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// captureFacts reads a capture's fact dictionary independently of the
// importer, so that the tests compare against the file itself.
func captureFacts(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, rest, ok := strings.Cut(string(data), " => "); ok && !strings.HasPrefix(string(data), "{") {
		data = []byte(rest)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f, ok := m["ansible_facts"].(map[string]any); ok {
		return f
	}
	return m
}

func capturePackageCount(facts map[string]any) int {
	n := 0
	for _, list := range facts["packages"].(map[string]any) {
		n += len(list.([]any))
	}
	return n
}

func TestImportFactCacheCapture(t *testing.T) {
	dir := filepath.Join("testdata", "factcache")
	want := captureFacts(t, filepath.Join(dir, "localhost"))
	got, err := ImportFacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d hosts, want 1", len(got))
	}
	h, f := got[0].Host, got[0].Facts
	checkDebianCapture(t, h, f, want)
	if !f.PackagesKnown || len(f.Packages) != capturePackageCount(want) {
		t.Errorf("packages: known=%v count=%d, want known and %d", f.PackagesKnown, len(f.Packages), capturePackageCount(want))
	}
	if f.UpdatesKnown || len(f.Updates) != 0 {
		t.Errorf("updates known=%v (%d), want unknown: facts have no pending updates", f.UpdatesKnown, len(f.Updates))
	}
	// Every package in the capture is imported with its version as is.
	pkgs := want["packages"].(map[string]any)
	for _, p := range f.Packages {
		list, ok := pkgs[p.Name].([]any)
		if !ok {
			t.Errorf("package %s is not in the capture", p.Name)
			continue
		}
		e := list[0].(map[string]any)
		if p.Version != e["version"] || p.Arch != e["arch"] {
			t.Errorf("package %s = %s/%s, want %s/%s", p.Name, p.Version, p.Arch, e["version"], e["arch"])
		}
	}
	// The capture machine runs no systemd, so service_facts saw only
	// stopped sysv services.
	if len(f.Services) != 0 {
		t.Errorf("services = %v, want none running", f.Services)
	}
	if h.Source != filepath.Join(dir, "localhost") {
		t.Errorf("source = %q", h.Source)
	}
}

func checkDebianCapture(t *testing.T, h patchpilot.Host, f patchpilot.Facts, want map[string]any) {
	t.Helper()
	if h.Name != "localhost" || f.Host != "localhost" {
		t.Errorf("name = %q / %q, want localhost", h.Name, f.Host)
	}
	ipv4 := want["ansible_default_ipv4"].(map[string]any)["address"]
	if h.Address != ipv4 {
		t.Errorf("address = %q, want %v", h.Address, ipv4)
	}
	if f.OSName != "debian" || f.OSVersion != "12" || f.OSFamily != patchpilot.FamilyDebian || f.OSCodename != "bookworm" {
		t.Errorf("os = %s %s %s %s, want debian 12 debian bookworm", f.OSName, f.OSVersion, f.OSFamily, f.OSCodename)
	}
	if f.Ecosystem() != "Debian:12" {
		t.Errorf("ecosystem = %q, want Debian:12", f.Ecosystem())
	}
	if f.Kernel != want["ansible_kernel"] || f.Kernel == "" {
		t.Errorf("kernel = %q, want %v", f.Kernel, want["ansible_kernel"])
	}
	if f.Arch != want["ansible_architecture"] || f.Arch == "" {
		t.Errorf("arch = %q, want %v", f.Arch, want["ansible_architecture"])
	}
	if f.Hostname != want["ansible_hostname"] {
		t.Errorf("hostname = %q, want %v", f.Hostname, want["ansible_hostname"])
	}
	iso := want["ansible_date_time"].(map[string]any)["iso8601"].(string)
	if wt, _ := time.Parse(time.RFC3339, iso); !f.CollectedAt.Equal(wt) {
		t.Errorf("collected at %v, want %v", f.CollectedAt, wt)
	}
	if f.Source != "ansible-facts" {
		t.Errorf("source = %q", f.Source)
	}
}

func TestImportSetupCapture(t *testing.T) {
	path := filepath.Join("testdata", "adhoc", "setup_localhost.txt")
	want := captureFacts(t, path)
	got, err := ImportFacts(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d hosts, want 1", len(got))
	}
	checkDebianCapture(t, got[0].Host, got[0].Facts, want)
	if got[0].Facts.PackagesKnown || len(got[0].Facts.Packages) != 0 {
		t.Errorf("setup output has no package list; got known=%v", got[0].Facts.PackagesKnown)
	}
}

func TestImportMultiCapture(t *testing.T) {
	path := filepath.Join("testdata", "adhoc", "setup_multi.txt")
	res, err := ImportFactsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Imported) != 1 || res.Imported[0].Host.Name != "localhost" || res.Imported[0].Facts.OSVersion != "12" {
		t.Errorf("imported %+v, want localhost with Debian 12", res.Imported)
	}
	wantFail := []struct{ host, status, msg, at string }{
		{"unreach", "UNREACHABLE", "Connection refused", path + ":1"},
		{"broken", "FAILED", "module failed to execute", path + ":6"},
	}
	if len(res.Failures) != len(wantFail) {
		t.Fatalf("failures = %+v, want %d", res.Failures, len(wantFail))
	}
	for i, w := range wantFail {
		f := res.Failures[i]
		if f.Host != w.host || f.Status != w.status || !strings.Contains(f.Message, w.msg) || f.At != w.at {
			t.Errorf("failure %d = %+v, want %+v", i, f, w)
		}
	}
	imported, err := ImportFacts(path)
	if patchpilot.ErrorCode(err) != patchpilot.EPARTIAL || len(imported) != 1 {
		t.Fatalf("ImportFacts: %d hosts, err %v; want 1 host and a partial error", len(imported), err)
	}
	for _, s := range []string{"unreach (unreachable:", "broken (failed:"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}

// TestImportUnprefixedCache rewrites the real cache with the "ansible_"
// prefixes stripped, as newer tools store facts, and expects the same import.
func TestImportUnprefixedCache(t *testing.T) {
	facts := captureFacts(t, filepath.Join("testdata", "factcache", "localhost"))
	plain := map[string]any{}
	for k, v := range facts {
		plain[strings.TrimPrefix(k, "ansible_")] = v
	}
	dir := t.TempDir()
	data, _ := json.Marshal(plain)
	if err := os.WriteFile(filepath.Join(dir, "localhost"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ImportFacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkDebianCapture(t, got[0].Host, got[0].Facts, facts)
	if len(got[0].Facts.Packages) != capturePackageCount(facts) {
		t.Errorf("packages = %d, want %d", len(got[0].Facts.Packages), capturePackageCount(facts))
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportRPMAndMerge imports the setup and package_facts outputs of a
// Rocky host from one file, as "ansible -m setup; ansible -m package_facts"
// appended to one file would give, with services and an rpm epoch.
func TestImportRPMAndMerge(t *testing.T) {
	content := `[WARNING]: Platform linux on host rocky1 is using the discovered Python interpreter
rocky1 | SUCCESS => {
    "ansible_facts": {
        "ansible_distribution": "Rocky",
        "ansible_distribution_version": "9.4",
        "ansible_distribution_major_version": "9",
        "ansible_distribution_release": "Blue Onyx",
        "ansible_os_family": "RedHat",
        "ansible_kernel": "5.14.0-427.13.1.el9_4.x86_64",
        "ansible_architecture": "x86_64",
        "ansible_hostname": "rocky1",
        "ansible_fqdn": "rocky1.example.com",
        "ansible_default_ipv4": {"address": "10.1.2.3"},
        "ansible_date_time": {"epoch": "1700000000"}
    },
    "changed": false
}
rocky1 | SUCCESS => {"ansible_facts": {"packages": {
    "openssl": [{"name": "openssl", "version": "3.0.7", "release": "27.el9", "epoch": 1, "arch": "x86_64", "source": "rpm"}],
    "bash": [{"name": "bash", "version": "5.1.8", "release": "9.el9", "epoch": null, "arch": "x86_64", "source": "rpm"}],
    "kernel": [
        {"name": "kernel", "version": "5.14.0", "release": "427.13.1.el9_4", "epoch": null, "arch": "x86_64", "source": "rpm"},
        {"name": "kernel", "version": "5.14.0", "release": "362.8.1.el9_3", "epoch": null, "arch": "x86_64", "source": "rpm"}]
}, "services": {
    "sshd.service": {"name": "sshd.service", "state": "running", "status": "enabled", "source": "systemd"},
    "crond.service": {"name": "crond.service", "state": "stopped", "status": "enabled", "source": "systemd"},
    "chronyd.service": {"name": "chronyd.service", "state": "running", "status": "enabled", "source": "systemd"}
}}, "changed": false}
`
	path := writeFile(t, t.TempDir(), "rocky.out", content)
	got, err := ImportFacts(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d hosts, want the two outputs merged into 1", len(got))
	}
	h, f := got[0].Host, got[0].Facts
	if h.Name != "rocky1" || h.Address != "10.1.2.3" {
		t.Errorf("host = %+v", h)
	}
	if f.OSName != "rocky" || f.OSVersion != "9.4" || f.OSFamily != patchpilot.FamilyRedHat || f.Ecosystem() != "Rocky Linux:9" {
		t.Errorf("os = %s %s %s", f.OSName, f.OSVersion, f.OSFamily)
	}
	if f.Hostname != "rocky1.example.com" {
		t.Errorf("hostname = %q, want the fqdn", f.Hostname)
	}
	if want := time.Unix(1700000000, 0).UTC(); !f.CollectedAt.Equal(want) {
		t.Errorf("collected at %v, want %v", f.CollectedAt, want)
	}
	wantPkgs := []patchpilot.Package{
		{Name: "bash", Version: "5.1.8-9.el9", Arch: "x86_64"},
		{Name: "kernel", Version: "5.14.0-427.13.1.el9_4", Arch: "x86_64"},
		{Name: "kernel", Version: "5.14.0-362.8.1.el9_3", Arch: "x86_64"},
		{Name: "openssl", Version: "1:3.0.7-27.el9", Arch: "x86_64"},
	}
	if !reflect.DeepEqual(f.Packages, wantPkgs) || !f.PackagesKnown {
		t.Errorf("packages = %+v, want %+v", f.Packages, wantPkgs)
	}
	if want := []string{"chronyd.service", "sshd.service"}; !reflect.DeepEqual(f.Services, want) {
		t.Errorf("services = %v, want %v", f.Services, want)
	}
}

func TestImportPlainJSONUsesMtime(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "u1.json", `{"ansible_facts": {"distribution": "Ubuntu", "distribution_version": "22.04",
		"distribution_major_version": "22", "os_family": "Debian", "hostname": "u1", "fqdn": "u1", "kernel": "5.15.0-91-generic",
		"architecture": "aarch64"}, "changed": false}`)
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	got, err := ImportFacts(path)
	if err != nil {
		t.Fatal(err)
	}
	f := got[0].Facts
	if got[0].Host.Name != "u1" || f.OSName != "ubuntu" || f.OSVersion != "22.04" || f.Ecosystem() != "Ubuntu:22.04:LTS" ||
		f.Arch != "aarch64" || !f.CollectedAt.Equal(mtime) || got[0].Host.Address != "u1" {
		t.Errorf("got %+v / %+v", got[0].Host, f)
	}
}

func TestOSMapping(t *testing.T) {
	cases := []struct{ distro, version, major, family, id, wantVersion string }{
		{"Debian", "12.11", "12", "Debian", "debian", "12"},
		{"Ubuntu", "24.04", "24", "Debian", "ubuntu", "24.04"},
		{"Rocky", "9.4", "9", "RedHat", "rocky", "9.4"},
		{"AlmaLinux", "8.10", "8", "RedHat", "almalinux", "8.10"},
		{"RedHat", "9.3", "9", "RedHat", "rhel", "9.3"},
		{"CentOS", "7.9", "7", "RedHat", "centos", "7.9"},
		{"SLES", "15.5", "15", "Suse", "sles", "15.5"},
		{"openSUSE Leap", "15.5", "15", "Suse", "opensuse-leap", "15.5"},
		{"Amazon", "2023", "2023", "RedHat", "amzn", "2023"},
		{"Linux Mint", "21.2", "21", "Debian", "linuxmint", "21.2"},
		{"Arch Linux", "", "", "Archlinux", "arch-linux", ""},
	}
	for _, c := range cases {
		id := osID(c.distro)
		v := osVersion(id, c.version, c.major)
		if id != c.id || v != c.wantVersion {
			t.Errorf("%s %s: got %s %s, want %s %s", c.distro, c.version, id, v, c.id, c.wantVersion)
		}
	}
	if familyOf("Suse", "sles") != patchpilot.FamilySUSE || familyOf("", "rocky") != patchpilot.FamilyRedHat ||
		familyOf("Archlinux", "arch-linux") != patchpilot.FamilyUnknown {
		t.Error("familyOf maps wrongly")
	}
}

func TestImportFactsErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{"syntax.json", `syntax.json:5:3: invalid JSON: invalid character '}'`},
		{"distro_type.json", `ansible_facts.ansible_distribution: expected a string, got a number`},
		{"packages_type.txt", `ansible_facts.packages.bash: expected an array, got a string`},
		{"version_type.json", `ansible_facts.packages.bash[0].version: expected a string, got a boolean`},
		{"truncated.txt", `truncated.txt:5:1: invalid JSON: unexpected end of JSON input`},
		{"garbage.txt", `garbage.txt:1: expected a JSON object or the output of "ansible HOST -m setup"`},
		{"no_distro.json", `ansible_facts.ansible_distribution: missing`},
		{"facts_array.json", `facts_array.json:1: ansible_facts: expected an object, got an array`},
	}
	for _, c := range cases {
		_, err := ImportFacts(filepath.Join("testdata", "facts-bad", c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.file, err, c.want)
			continue
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%s: code %q, want invalid", c.file, patchpilot.ErrorCode(err))
		}
	}
	if _, err := ImportFacts(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no facts found") {
		t.Errorf("empty directory: error %v, want no facts found", err)
	}
	if _, err := ImportFacts(filepath.Join("testdata", "nope")); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("missing path: error %v, want not_found", err)
	}
}
