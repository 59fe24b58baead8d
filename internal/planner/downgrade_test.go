package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestResolveRefusesDowngrades checks that a plan pinning an older version
// than a target host runs is refused when it is resolved, naming the host,
// the versions and allow_downgrade, and is resolved when the policy allows
// downgrades; rpm pins without a release or epoch compare as dnf reads
// them.
func TestResolveRefusesDowngrades(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	host := func(name string, family patchpilot.OSFamily, version string) HostView {
		f := &patchpilot.Facts{Host: name, CollectedAt: at, OSFamily: family, OSName: "x", OSVersion: "1",
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: version}}}
		return NewHostView(patchpilot.Host{Name: name}, f)
	}
	plan := func(pin string, allow bool) patchpilot.Plan {
		pp, err := ParsePin(pin)
		if err != nil {
			t.Fatal(err)
		}
		return patchpilot.Plan{Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{pp}},
			Stages: stagesOf(t, "all:rest"), Policy: patchpilot.Policy{AllowDowngrade: allow}}
	}
	hosts := []HostView{host("web1", patchpilot.FamilyDebian, "1.0.0"), host("web2", patchpilot.FamilyDebian, "1.1.4")}

	_, err := Resolve(plan("pp-demo-web=1.0.0", false), hosts)
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "web2 has pp-demo-web 1.1.4") ||
		strings.Contains(err.Error(), "web1") || !strings.Contains(patchpilot.ErrorHint(err), "allow_downgrade: true") {
		t.Fatalf("downgrade without allow_downgrade: got %v (hint %q); want web2 named and a hint naming allow_downgrade", err, patchpilot.ErrorHint(err))
	}
	if _, err := Resolve(plan("pp-demo-web=1.0.0", true), hosts); err != nil {
		t.Errorf("downgrade with allow_downgrade: %v", err)
	}
	if _, err := Resolve(plan("pp-demo-web=1.1.4", false), hosts); err != nil {
		t.Errorf("an upgrade and a reinstall: %v", err)
	}

	rpm := []HostView{host("rh1", patchpilot.FamilyRedHat, "1.1.0-1.el9"), host("rh2", patchpilot.FamilyRedHat, "1:1.0.0-1.el9")}
	if _, err := Resolve(plan("pp-demo-web=1.1.0", false), rpm[:1]); err != nil {
		t.Errorf("an rpm pin without a release: %v", err)
	}
	if _, err := Resolve(plan("pp-demo-web=1.0.5", false), rpm[:1]); err == nil || !strings.Contains(err.Error(), "rh1") {
		t.Errorf("an older rpm pin: got %v, want rh1 refused", err)
	}
	if _, err := Resolve(plan("pp-demo-web=1.1.0", false), rpm[1:]); err != nil {
		t.Errorf("an rpm pin without an epoch: %v", err)
	}
}

// checkDowngradesEachHost is checkDowngrades the straightforward way: each
// host's installed version compared with each pin.
func checkDowngradesEachHost(p patchpilot.Plan, hosts []HostView) error {
	if p.Policy.AllowDowngrade || len(p.Patch.Packages) == 0 {
		return nil
	}
	var found []string
	count := 0
	for _, h := range hosts {
		for _, pin := range p.Patch.Packages {
			installed := h.Installed[pin.Name]
			if installed == "" || !newerThanPin(h.Facts.OSFamily, installed, pin.Version) {
				continue
			}
			count++
			if len(found) < maxDowngradeHosts {
				found = append(found, fmt.Sprintf("%s has %s %s", h.Name(), pin.Name, installed))
			}
		}
	}
	if count == 0 {
		return nil
	}
	more := ""
	if count > len(found) {
		more = fmt.Sprintf(" and %d more", count-len(found))
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "the plan downgrades: %s%s, newer than the pinned %s (policy allow_downgrade is not set)",
		strings.Join(found, "; "), more, pinList(p.Patch.Packages)).WithHint(downgradeHint)
}

// TestDowngradesSharedAsEachHost compares checkDowngrades, which works out
// each verdict once for alike hosts, with comparing every host: several
// families with the same version strings, rpm pins with and without a
// release or epoch, hosts without the package, several pins, more
// downgrading hosts than the error names, and none.
func TestDowngradesSharedAsEachHost(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	families := []patchpilot.OSFamily{patchpilot.FamilyDebian, patchpilot.FamilyRedHat, patchpilot.FamilySUSE}
	versions := []string{"1.0.0", "1.1.4", "1.1.0-1.el9", "1:1.0.0-1.el9", "1.0.0-2", "2.0~rc1", "", "1.1.0-1.el9"}
	var hosts []HostView
	for i := range 60 {
		f := &patchpilot.Facts{Host: fmt.Sprintf("h%02d", i), CollectedAt: at, OSFamily: families[i%len(families)],
			OSName: "x", OSVersion: "1"}
		if v := versions[(i*7)%len(versions)]; v != "" {
			f.Packages = append(f.Packages, patchpilot.Package{Name: "web", Version: v})
		}
		if i%4 == 0 {
			f.Packages = append(f.Packages, patchpilot.Package{Name: "lib", Version: versions[i%3]})
		}
		hosts = append(hosts, NewHostView(patchpilot.Host{Name: f.Host}, f))
	}
	compared := 0
	for _, pins := range [][]string{{"web=1.0.0"}, {"web=1.1.0"}, {"web=1.0.5"}, {"web=3"}, {"web=0.1", "lib=1.0.0"},
		{"lib=1.1.0-1.el9"}, {"web=1:1.0.0"}, {"nosuch=1"}} {
		var spec patchpilot.PatchSpec
		for _, s := range pins {
			pp, err := ParsePin(s)
			if err != nil {
				t.Fatal(err)
			}
			spec.Packages = append(spec.Packages, pp)
		}
		for _, n := range []int{len(hosts), 7, 1} {
			p := patchpilot.Plan{Patch: spec}
			got, want := checkDowngrades(p, hosts[:n]), checkDowngradesEachHost(p, hosts[:n])
			if (got == nil) != (want == nil) || (got != nil && (got.Error() != want.Error() ||
				patchpilot.ErrorHint(got) != patchpilot.ErrorHint(want))) {
				t.Errorf("%v over %d hosts: got %v, want %v", pins, n, got, want)
			}
			if want != nil && strings.Contains(want.Error(), "more") {
				compared++
			}
		}
	}
	if compared == 0 {
		t.Errorf("no case names more downgrading hosts than the error lists")
	}
}
