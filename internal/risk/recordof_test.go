package risk

import (
	"reflect"
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

// TestHostRecordsEqualRecordOf: a host's records built with its part worked
// out once, and a memory of reboot kinds shared between hosts, are what
// RecordOf builds for each update, over hosts with and without an OS, with
// removals, services, labels and facts in depth (held packages, changed
// files) and updates with and without advisories, kernels among them.
func TestHostRecordsEqualRecordOf(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	hosts := []patchpilot.Host{
		{Name: "db1", Labels: map[string]string{"role": "db"}},
		{Name: "web1"},
		{Name: "rh1", Labels: map[string]string{"role": "web", "env": "prod"}},
	}
	facts := []patchpilot.Facts{
		{OSFamily: patchpilot.FamilyDebian, OSName: "Debian", OSVersion: "12", Services: []string{"postgresql.service"},
			Removals: []patchpilot.PackageChange{{Name: "libold1"}, {Name: "libold2"}},
			Depth: &patchpilot.HostDepth{Held: []string{"nginx"}, Modified: []patchpilot.ModifiedFile{
				{Package: "nginx", Path: "/etc/nginx/nginx.conf", Conffile: true}, {Package: "openssl", Path: "/etc/ssl/openssl.cnf"},
				{Package: "nginx", Path: "/etc/nginx/sites-enabled/default"}}}},
		{}, // no OS known, nothing in depth
		{OSFamily: patchpilot.FamilyRedHat, OSName: "Rocky", OSVersion: "9", Depth: &patchpilot.HostDepth{}},
	}
	updates := []patchpilot.HostUpdate{
		{Package: "linux-image-amd64", SourcePackage: "linux-signed-amd64", InstalledVersion: "6.1.1", CandidateVersion: "6.1.2",
			Advisories: []patchpilot.AdvisoryRef{
				{ID: "DSA-1", CVEs: []string{"CVE-2026-1", "CVE-2026-2"}, Severity: "moderate"},
				{ID: "OSV-2", CVEs: []string{"CVE-2026-2", "CVE-2026-1", "CVE-2026-3"}, CVSS: 9.8}}},
		{Package: "nginx", SourcePackage: "nginx", InstalledVersion: "1.22.1-9", CandidateVersion: "1.22.1-9+deb12u1",
			Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-3", Severity: "low"}}},
		{Package: "openssl", InstalledVersion: "3.0.14-1", CandidateVersion: "3.0.15-1",
			Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-4", CVEs: []string{"CVE-2024-9143"}, Severity: "high"}}},
		{Package: "kernel", InstalledVersion: "5.14.0-503.14.1.el9_5", CandidateVersion: "5.14.0-503.15.1.el9_5", Advisories: []patchpilot.AdvisoryRef{}},
		{Package: "pp-demo-web", CandidateVersion: "1.1.4"},
	}
	kinds := NewRebootKinds()
	for i, h := range hosts {
		// Each host with the shared memory and with one of its own.
		for _, k := range []*RebootKinds{kinds, nil} {
			b := NewHostRecords(h, facts[i], now, k)
			for _, u := range updates {
				u.Host = h.Name
				want := RecordOf(u, h, facts[i], now)
				if got := b.RecordOf(u); !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s:\n got %+v\nwant %+v", h.Name, u.Package, got, want)
				}
			}
		}
	}
}
