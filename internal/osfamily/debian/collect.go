package debian

import (
	"context"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// Step names, which are also the names of the transcript files.
const (
	StepRefresh  = "refresh"
	StepPackages = "packages"
	StepUpdates  = "updates"
)

// RefreshTimeout bounds apt-get update, which fetches from the network.
const RefreshTimeout = 5 * time.Minute

// Steps returns the commands that collect a Debian host's packages, updates,
// running services and services needing a restart; the identity comes from
// osfamily.ProbeSteps.
func Steps(opts osfamily.Options) []osfamily.Step {
	var steps []osfamily.Step
	if opts.Refresh {
		steps = append(steps, osfamily.Step{Name: StepRefresh, First: true, Cmd: patchpilot.Command{
			Args: []string{"apt-get", "-q", "update"}, Privileged: true, Timeout: RefreshTimeout,
		}})
	}
	steps = append(steps,
		osfamily.Step{Name: StepPackages, Cmd: patchpilot.Command{Args: []string{"dpkg-query", "-W", "-f", dpkgFormat}}},
		// Debug::NoLocking lets the simulation run without root and
		// while another apt holds the lock; it only reads.
		osfamily.Step{Name: StepUpdates, Cmd: patchpilot.Command{Args: []string{"apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"}}},
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
// package list and the update simulation must have succeeded; the
// service list is optional (see osfamily.Services). Removals that the
// simulation would make are kept as Facts.Removals, for the risk model's
// warnings.
func Parse(p osfamily.Probe, t osfamily.Transcript) (patchpilot.Facts, error) {
	f := p.Facts()
	steps := Steps(osfamily.Options{Refresh: true})
	byName := osfamily.ByName(steps)
	if res, ok := t.Get(StepRefresh); ok && res.ExitCode != 0 {
		return f, patchpilot.CommandError(byName[StepRefresh].Cmd, res).WithHint("check the host's apt sources and its access to the repositories")
	}
	res, err := t.Need(byName[StepPackages])
	if err != nil {
		return f, err
	}
	if f.Packages, err = ParseDpkgQuery(res.Stdout); err != nil {
		return f, err
	}
	f.PackagesKnown = true

	if _, ran := t.Get(StepUpdates); !ran {
		if _, err := ParseState(t); err == nil {
			// The collector reuses the pending updates of another
			// collection with the same package state (see
			// Facts.PackageState); it fills them in.
			return parseRest(p, t, f)
		}
	}
	if res, err = t.Need(byName[StepUpdates]); err != nil {
		e := patchpilot.Errorf(patchpilot.ErrorCode(err), "list pending updates: %w", err)
		return f, e.WithHint("run apt-get -s dist-upgrade on the host; broken dependencies must be fixed first")
	}
	plan, err := ParseAptSimulate(res.Stdout)
	if err != nil {
		return f, err
	}
	f.Updates = withSources(plan.Updates, f.Packages)
	f.UpdatesKnown = true
	f.Removals = removals(plan.Removals, f.Packages)
	return parseRest(p, t, f)
}

// parseRest reads the package state, the services and the collection in
// depth into f.
func parseRest(p osfamily.Probe, t osfamily.Transcript, f patchpilot.Facts) (patchpilot.Facts, error) {
	// A host that cannot tell its package state is collected in full
	// every time: PackageState stays "".
	if state, err := ParseState(t); err == nil {
		f.PackageState = state
	}
	f.Services = osfamily.Services(t)
	f.NeedsRestart = osfamily.NeedsRestart(t)
	if _, ok := p.Files[osfamily.FileRebootRequired]; ok {
		f.RebootRequired = true
	}
	f.RebootPackages = rebootPackages(p.Files[osfamily.FileRebootPackages])
	if f.Depth = osfamily.Depth(t, f.Packages); f.Depth != nil {
		pkgs, _ := t.Get(StepPackages)
		depth(f.Depth, t, pkgs.Stdout)
	}
	return f, nil
}

// withSources fills each update's source package from the installed
// package of the same name and architecture; apt's simulation does not
// print it. A package new to the host keeps an empty source.
func withSources(updates []patchpilot.Update, pkgs []patchpilot.Package) []patchpilot.Update {
	type key struct{ name, arch string }
	src := make(map[key]string, len(pkgs))
	for _, p := range pkgs {
		src[key{p.Name, p.Arch}] = p.SourceName
	}
	for i, u := range updates {
		if s, ok := src[key{u.Package, u.Arch}]; ok {
			updates[i].SourcePackage = s
		}
	}
	return updates
}

// removals turns the simulation's removals into package changes, with the
// source package of the installed package where it is known.
func removals(rms []Removal, pkgs []patchpilot.Package) []patchpilot.PackageChange {
	if len(rms) == 0 {
		return nil
	}
	src := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		src[p.Name] = p.SourceName
	}
	out := make([]patchpilot.PackageChange, 0, len(rms))
	for _, rm := range rms {
		out = append(out, patchpilot.PackageChange{Name: rm.Package, From: rm.Version, SourcePackage: src[rm.Package]})
	}
	return out
}

// rebootPackages lists the packages named in reboot-required.pkgs, one per
// line, without duplicates.
func rebootPackages(data []byte) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}
