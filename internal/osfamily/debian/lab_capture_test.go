package debian

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParseDebian12LabCapture parses a transcript captured from a lab host
// (a real Debian 12 system under systemd) after pp-kernel-demo 1.1.0 was
// installed, so the host needs a reboot and has pending pp-* updates.
func TestParseDebian12LabCapture(t *testing.T) {
	f := parseDir(t, "debian12-lab-reboot")
	if f.OSName != "debian" || f.OSVersion != "12" || f.Hostname != "lab01" {
		t.Errorf("identity: %s %s on %s, want debian 12 on lab01", f.OSName, f.OSVersion, f.Hostname)
	}
	raw, err := os.ReadFile("testdata/debian12-lab-reboot/packages.out")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(f.Packages), strings.Count(string(raw), "\n"); got != want {
		t.Errorf("packages: got %d, want %d (one per dpkg-query line)", got, want)
	}
	// The capture predates the collection in depth: it cannot tell.
	if f.Depth != nil {
		t.Errorf("depth %+v from a transcript without the depth steps, want nil", f.Depth)
	}
	if !f.RebootRequired || !slices.Contains(f.RebootPackages, "pp-kernel-demo") {
		t.Errorf("reboot required %v by %v, want true by pp-kernel-demo", f.RebootRequired, f.RebootPackages)
	}
	for _, svc := range []string{"ssh.service", "pp-demo-web.service", "prometheus-node-exporter.service"} {
		if !slices.Contains(f.Services, svc) {
			t.Errorf("running services %v lack %s", f.Services, svc)
		}
	}
	got := map[string]string{}
	for _, u := range f.Updates {
		got[u.Package] = u.InstalledVersion + " -> " + u.CandidateVersion
		if u.Security {
			t.Errorf("%s marked as a security update; the lab repository is not a security archive", u.Package)
		}
	}
	want := map[string]string{
		"pp-agent":         "1.0.0 -> 2.0.0",
		"pp-demo-web":      "1.0.0 -> 1.1.4",
		"pp-libdemo":       "1.0.0 -> 1.1.0",
		"pp-libdemo-tools": "1.0.0 -> 1.1.0",
	}
	if len(got) != len(want) {
		t.Errorf("updates %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("update %s: got %q, want %q", k, got[k], v)
		}
	}
}

// TestParseDebian12LabRestartCapture parses a lab host's transcript taken
// after a library its services map was replaced on disk.
func TestParseDebian12LabRestartCapture(t *testing.T) {
	f := parseDir(t, "debian12-lab-restart")
	want := []string{"ssh.service", "systemd-journald.service", "systemd-logind.service"}
	if !slices.Equal(f.NeedsRestart, want) {
		t.Errorf("needs restart %v, want %v", f.NeedsRestart, want)
	}
	// The other lab capture predates the step: it knows of no restart.
	if f := parseDir(t, "debian12-lab-reboot"); f.NeedsRestart != nil {
		t.Errorf("a transcript without the step needs restart %v, want nothing", f.NeedsRestart)
	}
}
