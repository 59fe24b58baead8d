package fleet_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/collect"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/pkgmgr"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

func newFleet(t *testing.T, hosts int) *fleet.Fleet {
	t.Helper()
	f, err := fleet.New(fleet.Config{Hosts: hosts, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The simulated host's answers go through the real collector and come
// out as the facts the host's state says.
func TestCollectParsesIntoTheHostsState(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 12)
	inv := f.Inventory()
	if len(inv) != 12 {
		t.Fatalf("inventory has %d hosts, want 12", len(inv))
	}
	seen := map[string]bool{}
	for _, h := range inv[:6] {
		sh := f.Host(h.Name)
		r, err := f.Dial(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		facts, err := collect.Host(ctx, r, h.Name, collect.Options{SkipDepth: true})
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if facts.Hostname != h.Name || facts.OSFamily != patchpilot.FamilyDebian || facts.OSName != "debian" ||
			facts.OSVersion != "12" || facts.OSCodename != "bookworm" || facts.Arch != "x86_64" {
			t.Errorf("%s: identity %q %q %q %q %q %q", h.Name, facts.Hostname, facts.OSFamily, facts.OSName, facts.OSVersion, facts.OSCodename, facts.Arch)
		}
		if facts.BootID != sh.BootID() || facts.Kernel != sh.Kernel() {
			t.Errorf("%s: boot id %q kernel %q, want %q %q", h.Name, facts.BootID, facts.Kernel, sh.BootID(), sh.Kernel())
		}
		if facts.RebootRequired {
			t.Errorf("%s: reboot required", h.Name)
		}
		pending := sh.Pending()
		if len(pending) != 50 || len(facts.Updates) != 50 {
			t.Fatalf("%s: %d pending, %d updates collected, want 50", h.Name, len(pending), len(facts.Updates))
		}
		for i, u := range facts.Updates {
			p := pending[i]
			if u.Package != p.Package || u.InstalledVersion != p.Old || u.CandidateVersion != p.New || u.Origin != p.Origin ||
				u.Security != strings.Contains(p.Origin, "-security") || u.SourcePackage == "" {
				t.Errorf("%s: update %d = %+v, want %+v", h.Name, i, u, p)
			}
		}
		if n := len(facts.Packages); n < 250 || n > 350 {
			t.Errorf("%s: %d packages, want about 300", h.Name, n)
		}
		for _, p := range facts.Packages {
			if v := sh.Installed(p.Name); v != p.Version {
				t.Errorf("%s: package %s collected at %q, host has %q", h.Name, p.Name, p.Version, v)
			}
		}
		if !slices.Contains(facts.Services, "ssh.service") || len(facts.Services) != 7 {
			t.Errorf("%s: services %v", h.Name, facts.Services)
		}
		key := strings.Join(updateNames(facts.Updates), ",")
		if seen[key] {
			t.Errorf("%s: same pending updates as another host", h.Name)
		}
		seen[key] = true
	}
	if inv[0].Labels["role"] == inv[1].Labels["role"] {
		t.Errorf("hosts 1 and 2 have the same role %q", inv[0].Labels["role"])
	}
}

func updateNames(us []patchpilot.Update) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Package)
	}
	return out
}

// The real package manager's preflight, snapshot, apply and rollback
// change the simulated host's versions, and the collector sees it.
func TestApplyAndRollbackChangeVersions(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 3)
	h := f.Inventory()[1]
	sh := f.Host(h.Name)
	r, _ := f.Dial(ctx, h)
	pm, err := pkgmgr.For(patchpilot.FamilyDebian)
	if err != nil {
		t.Fatal(err)
	}
	p := sh.Pending()[0]
	pins := []patchpilot.PackagePin{{Name: p.Package, Version: p.New}}
	rep, err := pm.Preflight(ctx, r, pins, patchpilot.PreflightOptions{MinFreeBytes: 1 << 20})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("preflight: %v %v", err, rep.Problems)
	}
	if len(rep.Changes) != 1 || rep.Changes[0] != (patchpilot.PackageChange{Name: p.Package, From: p.Old, To: p.New}) {
		t.Fatalf("preflight changes %+v", rep.Changes)
	}
	snap, err := pm.Snapshot(ctx, r, rep)
	if err != nil || snap.Versions[p.Package] != p.Old || snap.Artifacts[p.Package] == "" || len(snap.Missing) > 0 {
		t.Fatalf("snapshot %+v: %v", snap, err)
	}
	ap, err := pm.Apply(ctx, r, pins, patchpilot.ApplyOptions{Unit: "pp-test-apply"})
	if err != nil || ap.ExitCode != 0 {
		t.Fatalf("apply: %v %+v", err, ap)
	}
	if len(ap.Changes) != 1 || ap.Changes[0].To != p.New || sh.Installed(p.Package) != p.New {
		t.Fatalf("apply changes %+v, installed %q", ap.Changes, sh.Installed(p.Package))
	}
	facts, err := collect.Host(ctx, r, h.Name, collect.Options{SkipDepth: true})
	if err != nil || len(facts.Updates) != 49 {
		t.Fatalf("after apply: %d updates, %v", len(facts.Updates), err)
	}
	// The same unit again is the same transaction, not a second one.
	if again, err := pm.Apply(ctx, r, pins, patchpilot.ApplyOptions{Unit: "pp-test-apply"}); err != nil || again.ExitCode != 0 {
		t.Fatalf("apply again: %v %+v", err, again)
	}
	// A plain downgrade is refused, as apt refuses it.
	down := []patchpilot.PackagePin{{Name: p.Package, Version: p.Old}}
	if rep, err := pm.Preflight(ctx, r, down, patchpilot.PreflightOptions{}); err != nil || len(rep.Problems) == 0 {
		t.Fatalf("downgrade preflight: %v %+v", err, rep)
	}
	rb, err := pm.Rollback(ctx, r, snap, patchpilot.ApplyOptions{Unit: "pp-test-rollback"})
	if err != nil || rb.ExitCode != 0 || sh.Installed(p.Package) != p.Old {
		t.Fatalf("rollback: %v %+v, installed %q", err, rb, sh.Installed(p.Package))
	}
	if facts, _ = collect.Host(ctx, r, h.Name, collect.Options{SkipDepth: true}); len(facts.Updates) != 50 {
		t.Fatalf("after rollback: %d updates", len(facts.Updates))
	}
	// A version no repository offers is unavailable.
	bad := []patchpilot.PackagePin{{Name: p.Package, Version: "99.0-1"}}
	if rep, err := pm.Preflight(ctx, r, bad, patchpilot.PreflightOptions{}); err != nil || len(rep.Unavailable) != 1 {
		t.Fatalf("unavailable preflight: %v %+v", err, rep)
	}
}

// A command the simulation does not know is an error, never a success;
// so is a host the fleet does not have.
func TestUnknownCommandsAndHostsFail(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	h := f.Inventory()[0]
	r, _ := f.Dial(ctx, h)
	for _, args := range [][]string{
		{"rm", "-rf", "/"},
		{"apt-get", "-s", "dist-upgrade"},
		osfamily.DepthStep("", 0).Cmd.Args,
		{"dpkg-query", "-W", "-f", "${Status}", "--", "bash"},
	} {
		if res, err := r.Run(ctx, patchpilot.Command{Args: args}); err == nil || patchpilot.ErrorCode(err) != patchpilot.EUNSUPPORTED {
			t.Errorf("%q: got %+v, %v; want an unsupported error", args[0], res, err)
		}
	}
	if _, err := f.Dial(ctx, patchpilot.Host{Name: "nosuch"}); err == nil {
		t.Error("dialled a host the fleet does not have")
	}
	if _, err := collect.Host(ctx, r, h.Name, collect.Options{}); err == nil {
		t.Error("a collection in depth succeeded, but depth is not simulated")
	}
	_ = debian.StepUpdates
}
