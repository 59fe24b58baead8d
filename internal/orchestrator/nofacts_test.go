package orchestrator

import (
	"context"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/pkgmgr"
)

// A target whose facts were never collected (an inventory entry named in
// the plan but never reached) fails saying so and what to do, once, not
// as a package manager missing for the OS family "unknown"; a host of a
// family no package manager serves says which.
func TestHostNeverCollectedFailsSayingSo(t *testing.T) {
	hosts := hostsNamed(1)
	e := newEnv(t, hosts)
	ctx := context.Background()
	if err := e.db.UpsertHosts(ctx, []patchpilot.Host{{Name: "new1", Labels: map[string]string{"role": "web", "env": "test"}}}); err != nil {
		t.Fatal(err)
	}
	suse := patchpilot.Facts{Host: "sles1", CollectedAt: e.clock.Now(), Source: "ssh", OSFamily: patchpilot.FamilySUSE, OSName: "sles", OSVersion: "15.5",
		PackagesKnown: true, Packages: []patchpilot.Package{{Name: "web", Version: "1.0"}}}
	if err := e.db.UpsertHosts(ctx, []patchpilot.Host{{Name: "sles1", Labels: map[string]string{"role": "web", "env": "test"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SaveFacts(ctx, suse); err != nil {
		t.Fatal(err)
	}
	fake := e.e.PackageManagers
	e.e.PackageManagers = func(f patchpilot.OSFamily) (patchpilot.PackageManager, error) {
		if _, err := pkgmgr.For(f); err != nil {
			return nil, err
		}
		return fake(f)
	}
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, max_failures: 2}`)
	e.run(id)
	runs, err := e.db.HostRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"new1":  "no facts were ever collected from new1, so its OS and package manager are unknown: collect its inventory first ('patchpilot inventory collect')",
		"sles1": `no package manager for OS family "suse": patchpilot patches Debian, Ubuntu and RHEL-family hosts`,
	}
	seen := 0
	for _, h := range runs {
		w, ok := want[h.Host]
		if !ok {
			continue
		}
		seen++
		if h.State != patchpilot.HostFailed || h.Reason != w {
			t.Errorf("%s: %s %q, want failed %q", h.Host, h.State, h.Reason, w)
		}
		if strings.Count(h.Reason, "package manager") > 1 {
			t.Errorf("%s: the reason repeats itself: %q", h.Host, h.Reason)
		}
	}
	if seen != 2 {
		t.Errorf("rollout %s ran %d of the hosts new1 and sles1: %+v", id, seen, runs)
	}
}
