package redhat

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

// TestParseRocky94Depth parses a transcript in depth written by hand to
// the documented formats (see testdata/README.md): rpm -V's verify
// column and attribute marker as rpm(8) describes them, dnf 4's
// versionlock list, the rpm branch of the depth script's owners.
func TestParseRocky94Depth(t *testing.T) {
	f, _ := osfamilytest.ParseDir(t, "rocky94-depth-crafted", Parse)
	d := f.Depth
	if d == nil {
		t.Fatal("no depth")
	}
	if !slices.Equal(f.Services, []string{"NetworkManager.service", "app.service", "sshd.service"}) {
		t.Errorf("services %v", f.Services)
	}
	if !slices.Equal(f.NeedsRestart, []string{"app.service"}) {
		t.Errorf("needs restart %v, want [app.service] (it maps a deleted library)", f.NeedsRestart)
	}
	nm := d.Services[0]
	if nm.Unit != "NetworkManager.service" || nm.Package != "NetworkManager" || nm.Version == "" ||
		!slices.Equal(nm.Libraries, []string{"NetworkManager", "glibc", "openssl-libs"}) {
		t.Errorf("NetworkManager.service: %+v", nm)
	}
	app := d.Services[1]
	wantListens := []patchpilot.Socket{{Address: "10.0.0.11", Port: 8443}}
	if app.Package != "" || !slices.Equal(app.Libraries, []string{"glibc"}) || !slices.Equal(app.Listens, wantListens) {
		t.Errorf("app.service: %+v; want no package, glibc, listening on 10.0.0.11:8443 (a worker's socket counts)", app)
	}
	wantL := []patchpilot.Socket{{Port: 22}, {Address: "10.0.0.11", Port: 8443}}
	if !slices.Equal(d.Listeners, wantL) {
		t.Errorf("listeners %v, want %v (0.0.0.0 and :: are the same any address)", d.Listeners, wantL)
	}
	wantC := []patchpilot.Connection{
		{Direction: "in", Service: "app.service", Process: "app", Local: "10.0.0.11", Peer: "10.0.0.30", Port: 8443},
		{Direction: "in", Service: "", Process: "sshd", Local: "10.0.0.11", Peer: "10.0.0.5", Port: 22},
		{Direction: "out", Service: "app.service", Process: "app", Local: "10.0.0.11", Peer: "10.0.0.20", Port: 5432},
	}
	slicesSort := func(c []patchpilot.Connection) {
		slices.SortFunc(c, func(a, b patchpilot.Connection) int {
			return strings.Compare(a.Direction+a.Peer, b.Direction+b.Peer)
		})
	}
	got := slices.Clone(d.Connections)
	slicesSort(got)
	slicesSort(wantC)
	if !slices.Equal(got, wantC) {
		t.Errorf("connections %+v, want %+v (ephemeral to ephemeral dropped)", got, wantC)
	}
	if !slices.Equal(d.Addresses, []string{"10.0.0.11"}) {
		t.Errorf("addresses %v, want [10.0.0.11]", d.Addresses)
	}
	wantM := []patchpilot.ModifiedFile{
		{Path: "/etc/ssh/sshd_config", Conffile: true, Checks: "S.5....T."},
		{Path: "/etc/chrony.conf", Conffile: true, Checks: ".......T."},
		{Path: "/etc/sysconfig/app", Conffile: true, Missing: true},
		{Path: "/usr/bin/passwd", Checks: ".M......."},
		{Path: "/usr/share/doc/bash/README", Missing: true},
	}
	if !slices.Equal(d.Modified, wantM) {
		t.Errorf("modified %+v, want %+v", d.Modified, wantM)
	}
	if !slices.Equal(d.Held, []string{"bash"}) {
		t.Errorf("held %v, want [bash] (an excluded version holds nothing)", d.Held)
	}
	if !slices.Equal(d.Missing, []string{"foreign: not looked for on rpm hosts"}) {
		t.Errorf("missing %q", d.Missing)
	}
}

func TestParseRPMVerify(t *testing.T) {
	mods, err := ParseRPMVerify([]string{"S.5....T   c /etc/old-rpm.conf", "..?......  d /usr/share/doc/x", "Unsatisfied dependencies for foo-1-1.x86_64:"})
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.ModifiedFile{{Path: "/etc/old-rpm.conf", Conffile: true, Checks: "S.5....T"}, {Path: "/usr/share/doc/x", Checks: "..?......"}}
	if !slices.Equal(mods, want) {
		t.Errorf("got %+v, want %+v", mods, want)
	}
	if _, err := ParseRPMVerify([]string{"S.5....T. c /etc/a", "error: rpmdb open failed"}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a stray line: got %v, want an error naming line 2", err)
	}
}

func TestStepsDepth(t *testing.T) {
	var names []string
	for _, s := range Steps(osfamily.Options{Depth: true}) {
		names = append(names, s.Name)
	}
	if slices.Contains(names, osfamily.StepServices) || !slices.Contains(names, osfamily.StepDepth) || slices.Contains(names, "depth_packages") {
		t.Errorf("steps in depth %v", names)
	}
}
