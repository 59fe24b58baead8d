package risk

import (
	"slices"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestRecordOf(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	h := patchpilot.Host{Name: "db1", Labels: map[string]string{"role": "db"}}
	f := patchpilot.Facts{OSName: "Debian", OSVersion: "12", Services: []string{"postgresql.service"},
		Removals: []patchpilot.PackageChange{{Name: "libold1"}}}
	u := patchpilot.HostUpdate{Host: "db1", Package: "linux-image-amd64", SourcePackage: "linux-signed-amd64",
		InstalledVersion: "6.1.1", CandidateVersion: "6.1.2",
		Advisories: []patchpilot.AdvisoryRef{
			{ID: "DSA-1", CVEs: []string{"CVE-2026-1", "CVE-2026-2"}, Severity: "moderate"},
			{ID: "OSV-2", CVEs: []string{"CVE-2026-2"}, CVSS: 9.8}, // no word: its score's band
		}}
	r := RecordOf(u, h, f, now)
	if r.OS != "debian:12" || r.Host != "db1" || r.Labels["role"] != "db" || !r.Time.Equal(now) {
		t.Errorf("record = %+v", r)
	}
	if !slices.Equal(r.CVEs, []string{"CVE-2026-1", "CVE-2026-2"}) {
		t.Errorf("CVEs = %v, want each once", r.CVEs)
	}
	if r.Severity != "critical" {
		t.Errorf("severity = %q, want critical from the CVSS 9.8 of the advisory without a word", r.Severity)
	}
	if !r.RebootRequired {
		t.Error("a kernel image update does not need a reboot")
	}
	if !slices.Equal(r.Removals, []string{"libold1"}) || r.Services[0] != "postgresql.service" {
		t.Errorf("removals %v, services %v", r.Removals, r.Services)
	}
	u.Package, u.SourcePackage, u.Advisories = "nginx", "nginx", nil
	if r := RecordOf(u, h, f, now); r.RebootRequired || r.Severity != "" {
		t.Errorf("nginx: reboot %v, severity %q", r.RebootRequired, r.Severity)
	}
}
