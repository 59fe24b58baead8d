package suse

import (
	"context"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
)

// Step names, which are also the names of the transcript files.
const (
	StepRefresh  = "refresh"
	StepPackages = "packages"
	StepUpdates  = "updates"
	StepPatches  = "patches"
	StepReboot   = "reboot"
)

// RefreshTimeout bounds zypper refresh, which fetches from the network.
const RefreshTimeout = 5 * time.Minute

// Steps returns the commands that collect a SUSE host's packages,
// updates, patches, reboot flag, running services and services needing a
// restart. The listings run with
// --no-refresh so that they read the cached metadata, as an unprivileged
// user must, unless Refresh asks for a refresh first.
func Steps(opts osfamily.Options) []osfamily.Step {
	var steps []osfamily.Step
	if opts.Refresh {
		steps = append(steps, osfamily.Step{Name: StepRefresh, First: true, Cmd: patchpilot.Command{
			Args: []string{"zypper", "--non-interactive", "refresh"}, Privileged: true, Timeout: RefreshTimeout,
		}})
	}
	steps = append(steps,
		osfamily.Step{Name: StepPackages, Cmd: redhat.RPMQueryCommand()},
		osfamily.Step{Name: StepUpdates, Cmd: patchpilot.Command{Args: []string{"zypper", "--non-interactive", "--no-refresh", "--xmlout", "list-updates"}}},
		osfamily.Step{Name: StepPatches, Cmd: patchpilot.Command{Args: []string{"zypper", "--non-interactive", "--no-refresh", "--xmlout", "list-patches"}}},
		osfamily.Step{Name: StepReboot, Cmd: patchpilot.Command{Args: []string{"zypper", "needs-rebooting"}}},
	)
	return append(steps, serviceSteps(opts)...)
}

// Collect runs Steps over r and parses them into facts, starting from the
// identity in p.
func Collect(ctx context.Context, r patchpilot.Runner, p osfamily.Probe, opts osfamily.Options) (patchpilot.Facts, error) {
	t, err := osfamily.Run(ctx, r, Steps(opts))
	if err != nil {
		return patchpilot.Facts{}, err
	}
	return Parse(p, t)
}

// Parse builds facts from the probe and a transcript of Steps. Packages,
// updates and patches must have been listed; needs-rebooting and
// systemctl are optional.
func Parse(p osfamily.Probe, t osfamily.Transcript) (patchpilot.Facts, error) {
	f := p.Facts()
	byName := osfamily.ByName(Steps(osfamily.Options{Refresh: true}))
	if res, ok := t.Get(StepRefresh); ok && res.ExitCode != exitOK {
		return f, patchpilot.CommandError(byName[StepRefresh].Cmd, res).WithHint("check the host's zypper repositories and its access to them")
	}
	res, err := t.Need(byName[StepPackages])
	if err != nil {
		return f, err
	}
	if f.Packages, err = redhat.ParseRPMQuery(res.Stdout); err != nil {
		return f, err
	}
	f.PackagesKnown = true

	if res, err = t.Need(byName[StepUpdates], exitOK, exitUpdateNeeded, exitSecurityNeeded, exitRestartNeeded); err != nil {
		return f, patchpilot.Errorf(patchpilot.ErrorCode(err), "list pending updates: %w", err).
			WithHint("run zypper refresh on the host (or collect with refresh) and check that no other zypper holds the lock")
	}
	ups, err := ParseUpdates(res.Stdout)
	if err != nil {
		return f, err
	}
	if res, err = t.Need(byName[StepPatches], exitOK, exitUpdateNeeded, exitSecurityNeeded, exitRestartNeeded); err != nil {
		return f, patchpilot.Errorf(patchpilot.ErrorCode(err), "list patches: %w", err)
	}
	patches, err := ParseUpdates(res.Stdout)
	if err != nil {
		return f, err
	}
	f.Updates = Updates(ups, patches, f.Packages)
	f.UpdatesKnown = true

	if res, ok := t.Get(StepReboot); ok {
		f.RebootRequired, _ = ParseNeedsRebooting(res)
	}
	f.Services = osfamily.Services(t)
	f.NeedsRestart = osfamily.NeedsRestart(t)
	if f.Depth = osfamily.Depth(t, f.Packages); f.Depth != nil {
		depth(f.Depth, t)
	}
	return f, nil
}

// Updates turns zypper's package updates into pending updates and marks
// those that a needed security patch covers. zypper does not say which
// packages a patch updates, so a patch covers the updates whose source
// package (or name) its summary names; "the Linux Kernel" covers the
// kernel-* packages.
func Updates(ups, patches []Update, installed []patchpilot.Package) []patchpilot.Update {
	type key struct{ name, arch string }
	have := map[key]patchpilot.Package{}
	for _, p := range installed {
		k := key{p.Name, p.Arch}
		if cur, ok := have[k]; ok {
			if c, err := osfamily.CompareVersions(patchpilot.FamilySUSE, p.Version, cur.Version); err != nil || c <= 0 {
				continue
			}
		}
		have[k] = p
	}
	var out []patchpilot.Update
	for _, u := range ups {
		if u.Kind != "" && u.Kind != "package" {
			continue
		}
		pu := patchpilot.Update{Package: u.Name, Arch: u.Arch, CandidateVersion: u.Edition, InstalledVersion: u.EditionOld, Origin: u.Repo}
		if p, ok := have[key{u.Name, u.Arch}]; ok {
			pu.SourcePackage = p.SourceName
			if pu.InstalledVersion == "" {
				pu.InstalledVersion = p.Version
			}
		}
		for _, pt := range patches {
			if pt.Category != "security" || (pt.Status != "" && pt.Status != "needed") {
				continue
			}
			if covers(pt, pu) {
				pu.Security = true
				pu.Advisories = append(pu.Advisories, patchpilot.AdvisoryRef{ID: pt.Name, CVEs: append([]string{}, pt.CVEs...), Severity: pt.Severity})
			}
		}
		out = append(out, pu)
	}
	return out
}

func covers(patch Update, u patchpilot.Update) bool {
	for _, src := range PatchSources(patch.Summary) {
		if src == "kernel" && (strings.HasPrefix(u.Package, "kernel-") || strings.HasPrefix(u.SourcePackage, "kernel-")) {
			return true
		}
		if src == u.SourcePackage || src == u.Package {
			return true
		}
	}
	return false
}
