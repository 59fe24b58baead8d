package redhat

import (
	"context"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// Step names, which are also the names of the transcript files.
const (
	StepRefresh    = "refresh"
	StepPackages   = "packages"
	StepUpdates    = "updates"
	StepAdvisories = "advisories"
	StepReboot     = "reboot"
)

// RefreshTimeout bounds dnf makecache, which fetches from the network.
const RefreshTimeout = 5 * time.Minute

// Steps returns the commands that collect a RHEL-family host's packages,
// updates, advisories, reboot flag, running services and services needing
// a restart. The dnf listings run
// with --cacheonly, which lets an unprivileged user read the system's
// metadata cache instead of downloading a private one, and keeps
// collection off the network unless Refresh asks for it.
func Steps(opts osfamily.Options) []osfamily.Step {
	var steps []osfamily.Step
	if opts.Refresh {
		steps = append(steps, osfamily.Step{Name: StepRefresh, First: true, Cmd: patchpilot.Command{
			Args: []string{"dnf", "-q", "-y", "makecache", "--refresh"}, Privileged: true, Timeout: RefreshTimeout,
		}})
	}
	steps = append(steps,
		osfamily.Step{Name: StepPackages, Cmd: RPMQueryCommand()},
		osfamily.Step{Name: StepUpdates, Cmd: patchpilot.Command{Args: []string{"dnf", "-q", "--cacheonly", "check-update"}}},
		osfamily.Step{Name: StepAdvisories, Cmd: patchpilot.Command{Args: []string{"dnf", "-q", "--cacheonly", "updateinfo", "list", "--security"}}},
		osfamily.Step{Name: StepReboot, Cmd: patchpilot.Command{Args: []string{"needs-restarting", "-r"}}},
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

// Parse builds facts from the probe and a transcript of Steps. The
// package list and check-update must have succeeded; a failed advisory
// listing is an error too, since updates would otherwise look like
// non-security ones. needs-restarting and systemctl are optional.
func Parse(p osfamily.Probe, t osfamily.Transcript) (patchpilot.Facts, error) {
	f := p.Facts()
	byName := osfamily.ByName(Steps(osfamily.Options{Refresh: true}))
	if res, ok := t.Get(StepRefresh); ok && res.ExitCode != 0 {
		return f, patchpilot.CommandError(byName[StepRefresh].Cmd, res).WithHint("check the host's dnf repositories and its access to them")
	}
	res, err := t.Need(byName[StepPackages])
	if err != nil {
		return f, err
	}
	if f.Packages, err = ParseRPMQuery(res.Stdout); err != nil {
		return f, err
	}
	f.PackagesKnown = true

	if res, err = t.Need(byName[StepUpdates], checkUpdateNone, checkUpdateAvailable); err != nil {
		return f, patchpilot.Errorf(patchpilot.ErrorCode(err), "list pending updates: %w", err).
			WithHint("run dnf makecache on the host (or collect with refresh) and check its repositories")
	}
	cu, err := ParseCheckUpdate(res.Stdout)
	if err != nil {
		return f, err
	}
	if res, err = t.Need(byName[StepAdvisories]); err != nil {
		return f, patchpilot.Errorf(patchpilot.ErrorCode(err), "list security advisories: %w", err)
	}
	advs, err := ParseUpdateInfo(res.Stdout)
	if err != nil {
		return f, err
	}
	f.Updates = Updates(cu, advs, f.Packages)
	f.UpdatesKnown = true

	if res, ok := t.Get(StepReboot); ok {
		f.RebootRequired, f.RebootPackages, _ = ParseNeedsRestarting(res)
	}
	f.Services = osfamily.Services(t)
	f.NeedsRestart = osfamily.NeedsRestart(t)
	if f.Depth = osfamily.Depth(t, f.Packages); f.Depth != nil {
		depth(f.Depth, t)
	}
	return f, nil
}

// Updates joins dnf's offers with the installed packages and the security
// advisories. The installed version is the highest installed version of
// the same name and architecture (several kernels may be installed). An
// obsoleting package that is not also an update is a new package to the
// host. An advisory marks the update of its package and architecture as
// a security update and is attached to it once.
func Updates(cu CheckUpdate, advs []Advisory, installed []patchpilot.Package) []patchpilot.Update {
	type key struct{ name, arch string }
	have := map[key]patchpilot.Package{}
	for _, p := range installed {
		k := key{p.Name, p.Arch}
		if cur, ok := have[k]; ok {
			if c, err := osfamily.CompareVersions(patchpilot.FamilyRedHat, p.Version, cur.Version); err != nil || c <= 0 {
				continue
			}
		}
		have[k] = p
	}
	var updates []patchpilot.Update
	index := map[key]int{}
	add := func(a Available) {
		k := key{a.Name, a.Arch}
		if _, dup := index[k]; dup {
			return
		}
		u := patchpilot.Update{Package: a.Name, Arch: a.Arch, CandidateVersion: a.Version, Origin: a.Repo}
		if p, ok := have[k]; ok {
			u.InstalledVersion, u.SourcePackage = p.Version, p.SourceName
		}
		index[k] = len(updates)
		updates = append(updates, u)
	}
	for _, a := range cu.Updates {
		add(a)
	}
	for _, o := range cu.Obsoleting {
		add(o.Available)
	}
	for _, adv := range advs {
		i, ok := index[key{adv.Name, adv.Arch}]
		if !ok {
			continue
		}
		u := &updates[i]
		u.Security = true
		dup := false
		for _, ref := range u.Advisories {
			dup = dup || ref.ID == adv.ID
		}
		if !dup {
			u.Advisories = append(u.Advisories, patchpilot.AdvisoryRef{ID: adv.ID, CVEs: []string{}, Severity: adv.Severity})
		}
	}
	return updates
}
