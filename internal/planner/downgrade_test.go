package planner

import (
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
