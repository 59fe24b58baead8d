package debian

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

// parseDir parses a transcript directory under testdata the way the
// collector parses live output.
func parseDir(t *testing.T, name string) patchpilot.Facts {
	t.Helper()
	f, _ := osfamilytest.ParseDir(t, name, Parse)
	return f
}

func findUpdate(f patchpilot.Facts, name, arch string) (patchpilot.Update, bool) {
	for _, u := range f.Updates {
		if u.Package == name && u.Arch == arch {
			return u, true
		}
	}
	return patchpilot.Update{}, false
}

func findPackage(f patchpilot.Facts, name, arch string) (patchpilot.Package, bool) {
	for _, p := range f.Packages {
		if p.Name == name && p.Arch == arch {
			return p, true
		}
	}
	return patchpilot.Package{}, false
}

func TestParseDebian12Capture(t *testing.T) {
	f := parseDir(t, "debian12-vm")
	ident := patchpilot.Facts{
		Hostname: "vm", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
		OSPretty: "Debian GNU/Linux 12 (bookworm)", OSCodename: "bookworm",
		Kernel: "6.18.44-fc-v669", Arch: "x86_64", BootID: "990b7cc0-e361-4e4c-84f8-a6cb7b2af10e",
	}
	got := patchpilot.Facts{Hostname: f.Hostname, OSFamily: f.OSFamily, OSName: f.OSName, OSVersion: f.OSVersion,
		OSPretty: f.OSPretty, OSCodename: f.OSCodename, Kernel: f.Kernel, Arch: f.Arch, BootID: f.BootID}
	if !reflect.DeepEqual(got, ident) {
		t.Errorf("identity:\ngot  %+v\nwant %+v", got, ident)
	}
	if len(f.Packages) != 796 || !f.PackagesKnown {
		t.Errorf("packages: got %d (known %v), want 796", len(f.Packages), f.PackagesKnown)
	}
	if len(f.Updates) != 121 || !f.UpdatesKnown {
		t.Errorf("updates: got %d (known %v), want 121", len(f.Updates), f.UpdatesKnown)
	}
	if got, want := f.SecurityUpdateCount(), 78; got != want {
		t.Errorf("security updates: got %d, want %d", got, want)
	}
	if f.RebootRequired || f.RebootPackages != nil || f.Services != nil {
		t.Errorf("reboot %v %v, services %v: want none", f.RebootRequired, f.RebootPackages, f.Services)
	}

	pkgs := []patchpilot.Package{
		{Name: "bash", Version: "5.2.15-2+b8", Arch: "amd64", SourceName: "bash", SourceVersion: "5.2.15-2"},
		{Name: "binutils-common", Version: "2.40-2", Arch: "amd64", SourceName: "binutils", SourceVersion: "2.40-2"},
		{Name: "adduser", Version: "3.134", Arch: "all", SourceName: "adduser", SourceVersion: "3.134"},
	}
	for _, want := range pkgs {
		got, _ := findPackage(f, want.Name, want.Arch)
		if got != want {
			t.Errorf("package %s:\ngot  %+v\nwant %+v", want.Name, got, want)
		}
	}
	updates := []patchpilot.Update{
		{Package: "base-files", Arch: "amd64", SourcePackage: "base-files", InstalledVersion: "12.4+deb12u11", CandidateVersion: "12.4+deb12u15", Origin: "Debian:12.15/oldstable"},
		{Package: "login", Arch: "amd64", SourcePackage: "shadow", InstalledVersion: "1:4.13+dfsg1-1+deb12u1", CandidateVersion: "1:4.13+dfsg1-1+deb12u2", Origin: "Debian:12.15/oldstable"},
		{Package: "libperl5.36", Arch: "amd64", SourcePackage: "perl", InstalledVersion: "5.36.0-7+deb12u2", CandidateVersion: "5.36.0-7+deb12u4", Origin: "Debian-Security:12/oldstable-security", Security: true},
		{Package: "libgcrypt20", Arch: "amd64", SourcePackage: "libgcrypt20", InstalledVersion: "1.10.1-3", CandidateVersion: "1.10.1-3+deb12u1", Origin: "Debian:12.15/oldstable, Debian-Security:12/oldstable-security", Security: true},
		{Package: "tzdata", Arch: "all", SourcePackage: "tzdata", InstalledVersion: "2025b-0+deb12u2", CandidateVersion: "2026f-0+deb12u1", Origin: "Debian-Security:12/oldstable-security", Security: true},
	}
	for _, want := range updates {
		got, _ := findUpdate(f, want.Package, want.Arch)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("update %s:\ngot  %+v\nwant %+v", want.Package, got, want)
		}
	}
}

func TestParseUbuntuCrafted(t *testing.T) {
	f := parseDir(t, "ubuntu2204-crafted")
	if f.OSFamily != patchpilot.FamilyDebian || f.OSName != "ubuntu" || f.OSVersion != "22.04" || f.Ecosystem() != "Ubuntu:22.04:LTS" {
		t.Errorf("identity: got %s %s %s (%s)", f.OSFamily, f.OSName, f.OSVersion, f.Ecosystem())
	}
	if !f.RebootRequired {
		t.Error("RebootRequired = false, want true")
	}
	if got, want := f.RebootPackages, []string{"linux-image-5.15.0-105-generic", "linux-base"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RebootPackages = %q, want %q", got, want)
	}
	if got, want := f.Services, []string{"cron.service", "dbus.service", "nginx.service", "ssh.service", "systemd-journald.service", "systemd-logind.service"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Services = %q, want %q", got, want)
	}
	wantPkgs := []patchpilot.Package{
		{Name: "adduser", Version: "3.118ubuntu5", Arch: "all", SourceName: "adduser", SourceVersion: "3.118ubuntu5"},
		{Name: "bash", Version: "5.1-6ubuntu1.1", Arch: "amd64", SourceName: "bash", SourceVersion: "5.1-6ubuntu1.1"},
		{Name: "libc6", Version: "2.35-0ubuntu3.6", Arch: "amd64", SourceName: "glibc", SourceVersion: "2.35-0ubuntu3.6"},
		{Name: "libc6", Version: "2.35-0ubuntu3.6", Arch: "i386", SourceName: "glibc", SourceVersion: "2.35-0ubuntu3.6"},
		{Name: "libssl3", Version: "3.0.2-0ubuntu1.14", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.2-0ubuntu1.14"},
		{Name: "openssl", Version: "3.0.2-0ubuntu1.14", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.2-0ubuntu1.14"},
		{Name: "linux-image-5.15.0-101-generic", Version: "5.15.0-101.111", Arch: "amd64", SourceName: "linux-signed", SourceVersion: "5.15.0-101.111"},
		{Name: "nginx-core", Version: "1.18.0-6ubuntu14.4", Arch: "amd64", SourceName: "nginx", SourceVersion: "1.18.0-6ubuntu14.4"},
		{Name: "olddaemon", Version: "1.2-1", Arch: "amd64", SourceName: "olddaemon", SourceVersion: "1.2-1"},
		{Name: "oldtool", Version: "0.5-3", Arch: "amd64", SourceName: "oldtool", SourceVersion: "0.5-3", Status: "config-files"},
		{Name: "libfoo1", Version: "0.9-2", Arch: "amd64", SourceName: "foo", SourceVersion: "0.9-2", Status: "half-configured"},
		{Name: "snapd", Version: "2.61.3+22.04", Arch: "amd64", SourceName: "snapd", SourceVersion: "2.61.3+22.04", Status: "unpacked"},
	}
	if !reflect.DeepEqual(f.Packages, wantPkgs) {
		t.Errorf("packages:\ngot  %+v\nwant %+v", f.Packages, wantPkgs)
	}
	jammy := "Ubuntu:22.04/jammy-updates"
	sec := "Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security"
	wantUpdates := []patchpilot.Update{
		{Package: "libc6", Arch: "amd64", SourcePackage: "glibc", InstalledVersion: "2.35-0ubuntu3.6", CandidateVersion: "2.35-0ubuntu3.7", Origin: jammy},
		{Package: "libc6", Arch: "i386", SourcePackage: "glibc", InstalledVersion: "2.35-0ubuntu3.6", CandidateVersion: "2.35-0ubuntu3.7", Origin: jammy},
		{Package: "libssl3", Arch: "amd64", SourcePackage: "openssl", InstalledVersion: "3.0.2-0ubuntu1.14", CandidateVersion: "3.0.2-0ubuntu1.15", Origin: sec, Security: true},
		{Package: "openssl", Arch: "amd64", SourcePackage: "openssl", InstalledVersion: "3.0.2-0ubuntu1.14", CandidateVersion: "3.0.2-0ubuntu1.15", Origin: sec, Security: true},
		{Package: "linux-image-5.15.0-105-generic", Arch: "amd64", CandidateVersion: "5.15.0-105.115", Origin: sec, Security: true},
		{Package: "snapd", Arch: "amd64", SourcePackage: "snapd", InstalledVersion: "2.61.3+22.04", CandidateVersion: "2.63+22.04", Origin: jammy},
	}
	if !reflect.DeepEqual(f.Updates, wantUpdates) {
		t.Errorf("updates:\ngot  %+v\nwant %+v", f.Updates, wantUpdates)
	}

	out, err := os.ReadFile("testdata/ubuntu2204-crafted/updates.out")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ParseAptSimulate(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Removal{{Package: "olddaemon", Version: "1.2-1"}}; !reflect.DeepEqual(plan.Removals, want) {
		t.Errorf("removals = %+v, want %+v", plan.Removals, want)
	}
}

func TestParseAptSimulateLines(t *testing.T) {
	tests := []struct {
		line    string
		want    AptPlan
		wantErr bool
	}{
		{"Inst foo [1.0-1] (1.0-2 localhost [amd64])", AptPlan{Updates: []patchpilot.Update{{Package: "foo", Arch: "amd64", InstalledVersion: "1.0-1", CandidateVersion: "1.0-2", Origin: "localhost"}}}, false},
		{"Inst foo (1.0-2 Lab Repo:1.0/lab [all])", AptPlan{Updates: []patchpilot.Update{{Package: "foo", Arch: "all", CandidateVersion: "1.0-2", Origin: "Lab Repo:1.0/lab"}}}, false},
		{"Inst foo [1] (2  [amd64])", AptPlan{Updates: []patchpilot.Update{{Package: "foo", Arch: "amd64", InstalledVersion: "1", CandidateVersion: "2"}}}, false},
		{"Inst foo [1] (2 Debian-Security:9/stable [amd64])", AptPlan{Updates: []patchpilot.Update{{Package: "foo", Arch: "amd64", InstalledVersion: "1", CandidateVersion: "2", Origin: "Debian-Security:9/stable", Security: true}}}, false},
		{"Purg bar:i386 [2.0]", AptPlan{Removals: []Removal{{Package: "bar", Arch: "i386", Version: "2.0", Purge: true}}}, false},
		{"Remv bar", AptPlan{Removals: []Removal{{Package: "bar"}}}, false},
		{"Conf foo (1.0-2 localhost [amd64])", AptPlan{}, false},
		{"E: Unable to correct problems, you have held broken packages.", AptPlan{}, false},
		{"Inst foo [1.0-1]", AptPlan{}, true},
		{"Inst foo [1.0-1] (", AptPlan{}, true},
		{"Inst ", AptPlan{}, true},
		{"Remv ", AptPlan{}, true},
	}
	for _, tt := range tests {
		got, err := ParseAptSimulate([]byte(tt.line + "\n"))
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: error %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\ngot  %+v\nwant %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseDpkgQueryErrors(t *testing.T) {
	tests := []struct {
		input   string
		wantErr string
	}{
		{"bash\t5.2\tamd64\tbash\t5.2\n", "line 1: want 6 tab-separated fields"},
		{"bash\t5.2\tamd64\tbash\t5.2\tii \nzsh\t5.9\tamd64\tzsh\t5.9\tiX \n", "line 2: unknown package status"},
		{"bash\t\tamd64\tbash\t\tii \n", "installed package bash has no version"},
		{"\t5.2\tamd64\t\t\tii \n", "want a package name"},
	}
	for _, tt := range tests {
		_, err := ParseDpkgQuery([]byte(tt.input))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: error %v, want EINVALID containing %q", tt.input, err, tt.wantErr)
		}
	}
	// Packages dpkg marks not-installed are not listed, as dpkg-query -W
	// does not list them; a reinstall-required flag is kept.
	got, err := ParseDpkgQuery([]byte("gone\t\tamd64\t\t\tpn \nbroken\t1.0\tamd64\tbroken\t1.0\tiFR\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.Package{{Name: "broken", Version: "1.0", Arch: "amd64", SourceName: "broken", SourceVersion: "1.0", Status: "half-configured,reinst-required"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseFailures(t *testing.T) {
	tr, err := osfamily.ReadTranscript("testdata/debian12-vm")
	if err != nil {
		t.Fatal(err)
	}
	p, err := osfamily.ParseProbe(tr)
	if err != nil {
		t.Fatal(err)
	}
	broken := osfamily.Transcript{}
	for k, v := range tr {
		broken[k] = v
	}
	broken[StepUpdates] = patchpilot.Result{ExitCode: 100, Stderr: []byte("E: Unmet dependencies. Try 'apt --fix-broken install'")}
	if _, err := Parse(p, broken); err == nil || !strings.Contains(err.Error(), "Unmet dependencies") || patchpilot.ErrorHint(err) == "" {
		t.Errorf("failed simulation: error %v (hint %q), want the apt error with a hint", err, patchpilot.ErrorHint(err))
	}
	broken[StepUpdates] = tr[StepUpdates]
	broken[StepRefresh] = patchpilot.Result{ExitCode: 100, Stderr: []byte("E: Failed to fetch")}
	if _, err := Parse(p, broken); err == nil || !strings.Contains(err.Error(), "Failed to fetch") {
		t.Errorf("failed refresh: error %v, want the apt error", err)
	}
	delete(broken, StepRefresh)
	delete(broken, StepPackages)
	if _, err := Parse(p, broken); err == nil {
		t.Error("missing package list: no error")
	}
}

func TestStepsRefresh(t *testing.T) {
	steps := Steps(osfamily.Options{Refresh: true})
	if s := steps[0]; s.Name != StepRefresh || !s.First || !s.Cmd.Privileged {
		t.Errorf("first step = %+v, want a privileged refresh that runs first", s)
	}
	for _, s := range Steps(osfamily.Options{}) {
		if s.Name == StepRefresh || s.Cmd.Privileged {
			t.Errorf("step %s without refresh: privileged %v, want only unprivileged listings", s.Name, s.Cmd.Privileged)
		}
	}
}
