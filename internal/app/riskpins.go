package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// pinSightings is what the targets' latest facts say about one pinned
// package name: its candidate and installed versions, each with the hosts
// that have it, and the binary packages built from it when it is a source
// package's name.
type pinSightings struct {
	candidates map[string][]string // version -> hosts
	installed  map[string][]string // version -> hosts
	binaries   map[string]bool
}

// CheckPins refuses a patch whose pins inventory has never seen on the
// targets: a package that is neither pending nor installed on any of them,
// or a version that is none of the candidates (nor a version between one
// and the installed one, nor an installed one), as Assess accepts them. A
// mistyped pin would otherwise give a plan sized for an update that no
// host will install, and fail only when the rollout runs. Targets that were
// never collected are not looked at, and when no target has facts there is
// nothing to check against. A patch of every security update pins nothing
// and passes.
func (a *App) CheckPins(ctx context.Context, patch patchpilot.PatchSpec, targets []string) error {
	return a.checkPins(ctx, patch, targets, nil)
}

// checkPins is CheckPins with the fleet-wide reads made through fr.
func (a *App) checkPins(ctx context.Context, patch patchpilot.PatchSpec, targets []string, fr *fleetReads) error {
	if patch.SecurityAll || len(patch.Packages) == 0 {
		return nil
	}
	if len(targets) > fleetReadFrom {
		ok, err := a.pinsSighted(ctx, patch, targets, fr)
		if err != nil || ok {
			return err
		}
		// Some pin is not sighted: the check below says what inventory
		// saw of it, from the targets' whole facts.
	}
	var facts []patchpilot.Facts
	for _, name := range targets {
		f, err := a.Store.LatestFacts(ctx, name)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			continue
		}
		if err != nil {
			return err
		}
		facts = append(facts, f)
	}
	if len(facts) == 0 {
		// Hosts that never answered, reached by naming them: there is
		// nothing to check against, and the plan's header says that the
		// facts show no update on them.
		return nil
	}
	for _, pin := range patch.Packages {
		s, ok := sightPin(pin, facts)
		if !ok {
			return pinError(pin, s, len(facts))
		}
	}
	return nil
}

// pinsSighted reports whether every pin is sighted on the targets (see
// sightPin), from fleet-wide reads of the pinned packages' pending updates
// and installed versions instead of each target's whole facts: what
// sightPin decides depends only on those rows.
func (a *App) pinsSighted(ctx context.Context, patch patchpilot.PatchSpec, targets []string, fr *fleetReads) (bool, error) {
	heads, err := a.fleetFacts(ctx, fr)
	if err != nil {
		return false, err
	}
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	byHost := map[string]*patchpilot.Facts{}
	var facts []*patchpilot.Facts
	for i := range heads {
		if want[heads[i].Host] {
			f := &patchpilot.Facts{Host: heads[i].Host, OSFamily: heads[i].OSFamily}
			byHost[f.Host] = f
			facts = append(facts, f)
		}
	}
	if len(facts) == 0 {
		return true, nil // as CheckPins: nothing to check against
	}
	// Within one plan, the patch's pending updates (which hold every
	// pinned name's) are read once for the pins, the baseline and the
	// risk; alone, each pinned name's are read.
	var planUpdates []patchpilot.HostUpdate
	if fr != nil {
		if planUpdates, err = a.fleetPatchUpdates(ctx, patch, fr); err != nil {
			return false, err
		}
	}
	for _, name := range pinNames(patch) {
		us := planUpdates
		if fr == nil {
			if us, err = a.Store.PendingUpdates(ctx, patchpilot.UpdateFilter{Package: name}); err != nil {
				return false, err
			}
		}
		for _, u := range us {
			if f := byHost[u.Host]; f != nil && u.Package == name {
				f.Updates = append(f.Updates, patchpilot.Update{Package: u.Package, SourcePackage: u.SourcePackage,
					InstalledVersion: u.InstalledVersion, CandidateVersion: u.CandidateVersion})
			}
		}
	}
	pkgs, err := a.pinnedPackages(ctx, patch, fr)
	if err != nil {
		return false, err
	}
	for host, ps := range pkgs {
		if f := byHost[host]; f != nil {
			f.Packages = ps
		}
	}
	lite := make([]patchpilot.Facts, len(facts))
	for i, f := range facts {
		lite[i] = *f
	}
	for _, pin := range patch.Packages {
		if _, ok := sightPin(pin, lite); !ok {
			return false, nil
		}
	}
	return true, nil
}

// sightPin gathers what facts say about pin's package and whether pin's
// version is one a host can go to.
func sightPin(pin patchpilot.PackagePin, facts []patchpilot.Facts) (pinSightings, bool) {
	s := pinSightings{candidates: map[string][]string{}, installed: map[string][]string{}, binaries: map[string]bool{}}
	ok := false
	for _, f := range facts {
		for _, u := range f.Updates {
			if u.SourcePackage == pin.Name && u.Package != pin.Name {
				s.binaries[u.Package] = true
			}
			if u.Package != pin.Name {
				continue
			}
			s.candidates[u.CandidateVersion] = append(s.candidates[u.CandidateVersion], f.Host)
			if u.CandidateVersion == pin.Version || between(f.OSFamily, u.InstalledVersion, pin.Version, u.CandidateVersion) {
				ok = true
			}
		}
		for _, p := range f.Packages {
			if p.SourceName == pin.Name && p.Name != pin.Name {
				s.binaries[p.Name] = true
			}
			if p.Name != pin.Name {
				continue
			}
			s.installed[p.Version] = append(s.installed[p.Version], f.Host)
			if p.Version == pin.Version {
				ok = true
			}
		}
	}
	return s, ok
}

// between reports installed < v < candidate in the family's version order:
// a version the repository may still offer although the package manager
// proposes a newer one.
func between(family patchpilot.OSFamily, installed, v, candidate string) bool {
	if installed == "" {
		return false
	}
	above, err1 := osfamily.CompareVersions(family, v, installed)
	below, err2 := osfamily.CompareVersions(family, v, candidate)
	return err1 == nil && err2 == nil && above > 0 && below < 0
}

// pinError says what inventory saw of a pin that it does not know.
func pinError(pin patchpilot.PackagePin, s pinSightings, hosts int) error {
	var saw []string
	for _, kind := range []struct {
		what     string
		versions map[string][]string
	}{{"candidate", s.candidates}, {"installed", s.installed}} {
		for _, v := range slices.Sorted(maps.Keys(kind.versions)) {
			saw = append(saw, fmt.Sprintf("%s %s on %s", kind.what, v, hostList(kind.versions[v])))
		}
	}
	hint := "pin a candidate version that 'patchpilot updates' lists, or collect the targets' facts again if they are stale"
	if len(saw) == 0 {
		msg := fmt.Sprintf("patch pin %q: no package %s is installed or pending on any of the %d targets with facts", pin.String(), pin.Name, hosts)
		if len(s.binaries) > 0 {
			msg += fmt.Sprintf("; %s is a source package whose binary packages there are %s", pin.Name, strings.Join(sortedKeys(s.binaries), ", "))
			hint = "pin the binary packages, as 'patchpilot updates' lists them"
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "%s", msg).WithHint(hint)
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "patch pin %q: no target can go to version %s; inventory saw %s %s",
		pin.String(), pin.Version, pin.Name, strings.Join(saw, "; ")).WithHint(hint)
}

// hostList names up to three hosts, and how many more.
func hostList(hosts []string) string {
	hosts = slices.Compact(slices.Sorted(slices.Values(hosts)))
	if len(hosts) <= 3 {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(hosts[:3], ", "), len(hosts)-3)
}
