package redhat

import (
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

func parseDir(t *testing.T, name string) (patchpilot.Facts, osfamily.Transcript) {
	t.Helper()
	return osfamilytest.ParseDir(t, name, Parse)
}

func ref(id, sev string) patchpilot.AdvisoryRef {
	return patchpilot.AdvisoryRef{ID: id, CVEs: []string{}, Severity: sev}
}

func TestParseRocky(t *testing.T) {
	f, _ := parseDir(t, "rocky94-crafted")
	if f.OSFamily != patchpilot.FamilyRedHat || f.OSName != "rocky" || f.OSVersion != "9.4" || f.Ecosystem() != "Rocky Linux:9" {
		t.Errorf("identity: %s %s %s %s", f.OSFamily, f.OSName, f.OSVersion, f.Ecosystem())
	}
	if f.Kernel != "5.14.0-427.13.1.el9_4.x86_64" || f.Hostname != "app-01.lab" || f.Arch != "x86_64" {
		t.Errorf("uname: %s %s %s", f.Hostname, f.Kernel, f.Arch)
	}
	if len(f.Packages) != 15 || !f.PackagesKnown {
		t.Errorf("packages: %d (known %v), want 15", len(f.Packages), f.PackagesKnown)
	}
	wantPkgs := map[string]patchpilot.Package{
		"NetworkManager": {Name: "NetworkManager", Version: "1:1.46.0-4.el9_4", Arch: "x86_64", SourceName: "NetworkManager", SourceVersion: "1:1.46.0-4.el9_4"},
		"python3-perf":   {Name: "python3-perf", Version: "5.14.0-427.13.1.el9_4", Arch: "x86_64", SourceName: "kernel", SourceVersion: "5.14.0-427.13.1.el9_4"},
		"gpg-pubkey":     {Name: "gpg-pubkey", Version: "350d275d-6279464b"},
	}
	for _, p := range f.Packages {
		if want, ok := wantPkgs[p.Name]; ok && p != want {
			t.Errorf("package %s:\ngot  %+v\nwant %+v", p.Name, p, want)
		}
	}
	kernel := "5.14.0-427.20.1.el9_4"
	want := []patchpilot.Update{
		{Package: "NetworkManager", Arch: "x86_64", SourcePackage: "NetworkManager", InstalledVersion: "1:1.46.0-4.el9_4", CandidateVersion: "1:1.46.0-8.el9_4", Origin: "baseos"},
		{Package: "glibc", Arch: "x86_64", SourcePackage: "glibc", InstalledVersion: "2.34-100.el9_4.1", CandidateVersion: "2.34-100.el9_4.2", Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:3339", "important")}},
		{Package: "glibc-common", Arch: "x86_64", SourcePackage: "glibc", InstalledVersion: "2.34-100.el9_4.1", CandidateVersion: "2.34-100.el9_4.2", Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:3339", "important")}},
		{Package: "kernel", Arch: "x86_64", SourcePackage: "kernel", InstalledVersion: "5.14.0-427.13.1.el9_4", CandidateVersion: kernel, Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:3501", "important")}},
		{Package: "kernel-core", Arch: "x86_64", SourcePackage: "kernel", InstalledVersion: "5.14.0-427.13.1.el9_4", CandidateVersion: kernel, Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:3501", "important")}},
		{Package: "openssl", Arch: "x86_64", SourcePackage: "openssl", InstalledVersion: "1:3.0.7-27.el9", CandidateVersion: "1:3.0.7-27.el9_4.1", Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:2447", "moderate"), ref("RLSA-2024:3670", "low")}},
		{Package: "openssl-libs", Arch: "x86_64", SourcePackage: "openssl", InstalledVersion: "1:3.0.7-27.el9", CandidateVersion: "1:3.0.7-27.el9_4.1", Origin: "baseos", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:2447", "moderate")}},
		{Package: "python3-perf", Arch: "x86_64", SourcePackage: "kernel", InstalledVersion: "5.14.0-427.13.1.el9_4", CandidateVersion: kernel, Origin: "appstream", Security: true, Advisories: []patchpilot.AdvisoryRef{ref("RLSA-2024:3501", "important")}},
		{Package: "texlive-collection-latexrecommended", Arch: "noarch", SourcePackage: "texlive", InstalledVersion: "9:20200406-26.el9", CandidateVersion: "9:20200406-26.el9_4", Origin: "appstream"},
		{Package: "tzdata", Arch: "noarch", SourcePackage: "tzdata", InstalledVersion: "2024a-1.el9", CandidateVersion: "2024a-1.el9_4.0.1.rocky.0.20240601.1", Origin: "baseos"},
		{Package: "grub2-tools-efi", Arch: "x86_64", CandidateVersion: "1:2.06-80.el9_4", Origin: "baseos"},
	}
	if !reflect.DeepEqual(f.Updates, want) {
		t.Errorf("updates: got %d, want %d", len(f.Updates), len(want))
		for i := range max(len(f.Updates), len(want)) {
			var g, w patchpilot.Update
			if i < len(f.Updates) {
				g = f.Updates[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("update %d:\ngot  %+v\nwant %+v", i, g, w)
			}
		}
	}
	if !f.RebootRequired || !reflect.DeepEqual(f.RebootPackages, []string{"kernel", "glibc"}) {
		t.Errorf("reboot: %v %q, want true [kernel glibc]", f.RebootRequired, f.RebootPackages)
	}
	if len(f.Services) != 6 || f.Services[5] != "sshd.service" {
		t.Errorf("services: %q", f.Services)
	}
}

func TestParseAlmaNothingPending(t *testing.T) {
	f, tr := parseDir(t, "alma94-crafted")
	if f.OSName != "almalinux" || f.Ecosystem() != "AlmaLinux:9" {
		t.Errorf("identity: %s %s", f.OSName, f.Ecosystem())
	}
	if len(f.Packages) != 2 || len(f.Updates) != 0 || !f.UpdatesKnown || f.RebootRequired {
		t.Errorf("got %d packages, %d updates (known %v), reboot %v; want 2, 0 (known), false", len(f.Packages), len(f.Updates), f.UpdatesKnown, f.RebootRequired)
	}
	if _, _, known := ParseNeedsRestarting(tr[StepReboot]); known {
		t.Error("needs-restarting missing: answer known, want unknown")
	}

	p, _ := osfamily.ParseProbe(tr)
	tr[StepUpdates] = patchpilot.Result{ExitCode: 1, Stderr: []byte("Error: Cache-only enabled but no cache for 'baseos'")}
	if _, err := Parse(p, tr); err == nil || !strings.Contains(err.Error(), "no cache for 'baseos'") || patchpilot.ErrorHint(err) == "" {
		t.Errorf("check-update exit 1: error %v, want dnf's message and a hint", err)
	}
	tr[StepUpdates] = patchpilot.Result{}
	tr[StepAdvisories] = patchpilot.Result{ExitCode: 1, Stderr: []byte("Error: boom")}
	if _, err := Parse(p, tr); err == nil {
		t.Error("updateinfo failed: no error")
	}
}

func TestParseCheckUpdateErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"bash.x86_64 5.1\n", "three columns"},
		{"bash 5.1-1 baseos\n", "want name.arch"},
		{"Obsoleting Packages\n    old.x86_64 1-1 @baseos\n", "listed before"},
	}
	for _, tt := range tests {
		if _, err := ParseCheckUpdate([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseUpdateInfoLines(t *testing.T) {
	tests := []struct {
		line    string
		want    Advisory
		wantErr bool
	}{
		{"ALSA-2024:1234 Critical/Sec. foo-bar-1.2-3.el9.noarch", Advisory{ID: "ALSA-2024:1234", Severity: "critical", Name: "foo-bar", Arch: "noarch", Version: "1.2-3.el9"}, false},
		{"FEDORA-2024-1 security foo-2:1.0-1.fc40.x86_64", Advisory{ID: "FEDORA-2024-1", Name: "foo", Arch: "x86_64", Version: "2:1.0-1.fc40"}, false},
		{"RLSA-2024:1 Important/Sec.", Advisory{}, true},
		{"RLSA-2024:1 Important/Sec. nodash.x86_64", Advisory{}, true},
	}
	for _, tt := range tests {
		got, err := ParseUpdateInfo([]byte(tt.line + "\n"))
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: error %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (len(got) != 1 || got[0] != tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseRPMQueryErrors(t *testing.T) {
	for _, in := range []string{"bash\t0\t5.1\n", "\t0\t5.1\t1\tx86_64\tbash-5.1-1.src.rpm\n"} {
		if _, err := ParseRPMQuery([]byte(in)); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: error %v, want %s", in, err, patchpilot.EINVALID)
		}
	}
}
