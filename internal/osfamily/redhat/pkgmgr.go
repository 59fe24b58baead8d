package redhat

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/pkgmgr/systemdrun"
)

// Defaults of the package manager.
const (
	// DnfCache is dnf's package cache, whose filesystem must have room.
	DnfCache = "/var/cache/dnf"
	// DefaultLockWait bounds dnf's wait for another dnf when the options
	// give none. dnf 4 waits for the other process's lock without a bound
	// of its own, so the dry run is run under timeout(1).
	DefaultLockWait = 60 * time.Second
	commandTimeout  = 2 * time.Minute
	// exitTimedOut is timeout(1)'s exit status.
	exitTimedOut = 124
)

// rpmName and rpmVersion are what this package accepts in pins: rpm names
// (letters, digits, "._+-", not starting with "-") and
// [epoch:]version[-release] with rpm's version characters.
var (
	rpmName    = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,199}$`)
	rpmVersion = regexp.MustCompile(`^(?:[0-9]{1,9}:)?[A-Za-z0-9][A-Za-z0-9._+~^]{0,127}(?:-[A-Za-z0-9][A-Za-z0-9._+~^]{0,127})?$`)
)

// ValidPins checks every pin against rpm's grammar.
func ValidPins(pins []patchpilot.PackagePin) error {
	if len(pins) == 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "no packages to install: expected at least one name=version")
	}
	for i, p := range pins {
		if !rpmName.MatchString(p.Name) {
			return patchpilot.Errorf(patchpilot.EINVALID, "pin %d: package name %q: expected an rpm package name", i+1, truncate(p.Name, 80))
		}
		if !rpmVersion.MatchString(p.Version) {
			return patchpilot.Errorf(patchpilot.EINVALID, "pin %d (%s): version %q: expected [epoch:]version[-release]", i+1, p.Name, truncate(p.Version, 80))
		}
	}
	return nil
}

func validNames(names []string) error {
	for _, n := range names {
		if !rpmName.MatchString(n) {
			return patchpilot.Errorf(patchpilot.EINVALID, "package name %q: expected an rpm package name", truncate(n, 80))
		}
	}
	return nil
}

// Spec is how dnf names an exact version: "name-[epoch:]version[-release]".
func Spec(p patchpilot.PackagePin) string { return p.Name + "-" + p.Version }

// InstalledCommand asks rpm for the named packages; rpm exits with the
// number of packages not installed.
func InstalledCommand(names []string) patchpilot.Command {
	return patchpilot.Command{Args: append([]string{"rpm", "-q", "--qf", InstalledFormat}, names...), Timeout: commandTimeout}
}

// DryRunCommand resolves the transaction apply runs (the same builder,
// installArgs) and answers no, under timeout(1) so that a lock held by
// another dnf is waited for a bounded time.
func DryRunCommand(pins []patchpilot.PackagePin, lockWait time.Duration) patchpilot.Command {
	args := []string{"timeout", strconv.FormatInt(int64((lockWait+time.Second-1)/time.Second)+60, 10)}
	args = append(args, installArgs(pins, true)...)
	return patchpilot.Command{Args: args, Privileged: true, Timeout: lockWait + commandTimeout}
}

// ApplyArgs is the transaction that installs the pins.
func ApplyArgs(pins []patchpilot.PackagePin) []string { return installArgs(pins, false) }

// installArgs is the one builder of the install transaction, for apply and
// for its dry run, so that the dry run resolves what apply will do. dnf
// installs an exact version whatever version is installed, downgrading
// when it is older, so no flag tells a downgrade apart here: Preflight
// reads the dry run's "Downgrading:" section and refuses it unless the
// options allow downgrades.
func installArgs(pins []patchpilot.PackagePin, dryRun bool) []string {
	answer := "-y"
	if dryRun {
		answer = "--assumeno"
	}
	args := []string{"dnf", "install", answer, "--setopt=install_weak_deps=False"}
	for _, p := range pins {
		args = append(args, Spec(p))
	}
	return args
}

// HistoryCommand lists dnf's transactions, newest first.
func HistoryCommand() patchpilot.Command {
	return patchpilot.Command{Args: []string{"dnf", "-q", "history", "list"}, Privileged: true, Timeout: commandTimeout}
}

// PackageManager changes packages on RHEL-family hosts with dnf 4 and rpm.
// Transactions run detached as transient systemd units (package
// systemdrun); the snapshot records dnf's last transaction id, and a
// rollback undoes the one transaction after it (dnf history undo), or,
// when other transactions happened since, downgrades the packages by
// version and removes the ones the change added. The zero value is ready
// to use.
type PackageManager struct {
	Jobs systemdrun.Runner
}

var _ patchpilot.PackageManager = (*PackageManager)(nil)

// Installed returns the installed version ("[epoch:]version-release") of
// each named package, "" for those not installed.
func (pm *PackageManager) Installed(ctx context.Context, r patchpilot.Runner, names []string) (map[string]string, error) {
	if err := validNames(names); err != nil {
		return nil, err
	}
	got := make(map[string]string, len(names))
	for _, n := range names {
		got[n] = ""
	}
	if len(names) == 0 {
		return got, nil
	}
	cmd := InstalledCommand(names)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitCode < 0 || res.ExitCode > len(names) {
		return nil, patchpilot.CommandError(cmd, res)
	}
	versions, err := ParseInstalled(res.Stdout)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		got[n] = versions[n]
	}
	return got, nil
}

// Preflight checks free space in dnf's cache, the dry run (which also
// shows missing versions and a held lock) and versionlocked packages.
func (pm *PackageManager) Preflight(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, opts patchpilot.PreflightOptions) (patchpilot.PreflightReport, error) {
	if err := ValidPins(pins); err != nil {
		return patchpilot.PreflightReport{}, err
	}
	rep := patchpilot.PreflightReport{Pins: pins}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	cmd := patchpilot.Command{Args: []string{"df", "-B1", "--output=avail", DnfCache}, Timeout: commandTimeout}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return rep, err
	}
	if res.ExitCode != 0 {
		return rep, patchpilot.CommandError(cmd, res)
	}
	if rep.FreeBytes, err = ParseFreeSpace(res.Stdout); err != nil {
		return rep, err
	}
	if rep.FreeBytes < opts.MinFreeBytes {
		problem("only %d bytes free in %s, want at least %d", rep.FreeBytes, DnfCache, opts.MinFreeBytes)
	}

	lockWait := opts.LockWait
	if lockWait <= 0 {
		lockWait = DefaultLockWait
	}
	cmd = DryRunCommand(pins, lockWait)
	if res, err = r.Run(ctx, cmd); err != nil {
		return rep, err
	}
	t := ParseTransaction(append(res.Stdout, res.Stderr...))
	switch {
	case res.ExitCode == exitTimedOut && t.LockWait:
		problem("another dnf holds the lock (waited %s)", lockWait)
	case len(t.NoMatch) > 0:
		for _, m := range t.NoMatch {
			rep.Unavailable = append(rep.Unavailable, m)
			problem("%s: the repositories do not offer this version", m)
		}
	case len(t.Errors) > 0:
		problem("the dry run failed: %s", strings.Join(t.Errors, "; "))
	case res.ExitCode != 0 && res.ExitCode != 1:
		problem("the dry run exited with status %d", res.ExitCode)
	}
	var names []string
	for _, c := range t.Changes {
		names = append(names, c.Name)
	}
	before, err := pm.Installed(ctx, r, names)
	if err != nil {
		return rep, err
	}
	for _, c := range t.Changes {
		ch := patchpilot.PackageChange{Name: c.Name, From: before[c.Name], To: c.Version}
		if c.Action == "remove" {
			ch.From, ch.To = c.Version, ""
			rep.Removals = append(rep.Removals, c.Name)
		}
		if c.Action == "downgrade" {
			rep.Downgrades = append(rep.Downgrades, c.Name)
		}
		rep.Changes = append(rep.Changes, ch)
		if NeedsReboot(c.Name) {
			rep.RebootRequired = true
		}
	}
	if len(rep.Removals) > 0 {
		problem("the transaction removes %s", strings.Join(rep.Removals, ", "))
	}
	if len(rep.Downgrades) > 0 && !opts.AllowDowngrade {
		problem("the transaction downgrades %s to an older version and downgrades are not allowed", strings.Join(rep.Downgrades, ", "))
	}

	// versionlock is a plugin; without it nothing is locked.
	cmd = patchpilot.Command{Args: []string{"dnf", "-q", "versionlock", "list"}, Privileged: true, Timeout: commandTimeout}
	if res, err = r.Run(ctx, cmd); err != nil {
		return rep, err
	}
	if res.ExitCode == 0 {
		rep.Held = osfamily.HeldInTransaction(pins, rep.Changes, ParseVersionlock(res.Stdout))
		if len(rep.Held) > 0 {
			problem("the transaction changes versionlocked packages: %s", strings.Join(rep.Held, ", "))
		}
	}
	return rep, nil
}

// Snapshot records the installed version of every package the plan changes
// and dnf's newest transaction id, which the rollback undoes after. dnf
// keeps no package files of its own (keepcache is off by default), so the
// rollback needs the old versions in the repositories, as RHEL, Rocky and
// Alma keep them; Artifacts stays empty.
func (pm *PackageManager) Snapshot(ctx context.Context, r patchpilot.Runner, plan patchpilot.PreflightReport) (patchpilot.PackageSnapshot, error) {
	snap := patchpilot.PackageSnapshot{Versions: map[string]string{}, Artifacts: map[string]string{}}
	var names []string
	for _, c := range plan.Changes {
		names = append(names, c.Name)
	}
	installed, err := pm.Installed(ctx, r, names)
	if err != nil {
		return snap, err
	}
	for _, n := range names {
		snap.Versions[n] = installed[n]
	}
	ids, err := pm.history(ctx, r)
	if err != nil {
		return snap, err
	}
	snap.Transaction = strconv.Itoa(newest(ids))
	return snap, nil
}

func (pm *PackageManager) history(ctx context.Context, r patchpilot.Runner) ([]int, error) {
	cmd := HistoryCommand()
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, patchpilot.CommandError(cmd, res)
	}
	return ParseHistoryList(res.Stdout)
}

func newest(ids []int) int {
	n := 0
	for _, id := range ids {
		n = max(n, id)
	}
	return n
}

// Apply installs the pins as one detached dnf transaction named opts.Unit.
// rpm keeps configuration files an administrator changed (it writes the
// package's as .rpmnew). A failed transaction is a report with a non-zero
// ExitCode.
func (pm *PackageManager) Apply(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	if err := ValidPins(pins); err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.run(ctx, r, ApplyArgs(pins), opts)
}

// Rollback undoes the transaction after the snapshot's when it is the only
// one since; otherwise it downgrades (or installs) each package to its
// recorded version and removes the packages the change added, with
// --allowerasing so that dnf may swap conflicting packages back.
func (pm *PackageManager) Rollback(ctx context.Context, r patchpilot.Runner, snap patchpilot.PackageSnapshot, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	before, err := strconv.Atoi(snap.Transaction)
	if err != nil || before < 0 {
		return patchpilot.ApplyReport{}, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: transaction: expected a dnf history id, got %q", truncate(snap.Transaction, 20))
	}
	ids, err := pm.history(ctx, r)
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	var since []int
	for _, id := range ids {
		if id > before {
			since = append(since, id)
		}
	}
	if len(since) == 1 {
		return pm.run(ctx, r, []string{"dnf", "history", "undo", "-y", strconv.Itoa(since[0])}, opts)
	}
	names := make([]string, 0, len(snap.Versions))
	for n := range snap.Versions {
		names = append(names, n)
	}
	sort.Strings(names)
	var installs, removes []string
	for _, n := range names {
		v := snap.Versions[n]
		if v == "" {
			removes = append(removes, n)
			continue
		}
		p := patchpilot.PackagePin{Name: n, Version: v}
		if err := ValidPins([]patchpilot.PackagePin{p}); err != nil {
			return patchpilot.ApplyReport{}, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: %w", err)
		}
		installs = append(installs, Spec(p))
	}
	if err := validNames(removes); err != nil {
		return patchpilot.ApplyReport{}, err
	}
	if len(installs) > 0 {
		rep, err := pm.run(ctx, r, append([]string{"dnf", "downgrade", "-y", "--allowerasing"}, installs...), opts)
		if err != nil || rep.ExitCode != 0 || len(removes) == 0 {
			return rep, err
		}
		opts.Unit += "-remove"
	}
	if len(removes) == 0 {
		return patchpilot.ApplyReport{}, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: no package versions to restore")
	}
	return pm.run(ctx, r, append([]string{"dnf", "remove", "-y"}, removes...), opts)
}

// Wait waits for the transaction named unit and reports it.
func (pm *PackageManager) Wait(ctx context.Context, r patchpilot.Runner, unit string, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	res, err := pm.Jobs.Wait(ctx, r, unit, opts.Timeout)
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.report(ctx, r, res)
}

func (pm *PackageManager) run(ctx context.Context, r patchpilot.Runner, args []string, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	if opts.Unit == "" {
		return patchpilot.ApplyReport{}, patchpilot.Errorf(patchpilot.EINVALID, "apply options: unit: expected the name of the transaction's systemd unit")
	}
	res, err := pm.Jobs.Run(ctx, r, systemdrun.Job{Unit: opts.Unit, Args: args, Timeout: opts.Timeout, Description: "patchpilot dnf transaction"})
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.report(ctx, r, res)
}

// report reads the transaction table from the job's output (what dnf
// installs and removes) and dnf's newest transaction id, and asks
// needs-restarting whether a reboot is needed.
func (pm *PackageManager) report(ctx context.Context, r patchpilot.Runner, res systemdrun.Result) (patchpilot.ApplyReport, error) {
	rep := patchpilot.ApplyReport{ExitCode: res.ExitCode, Output: tail(string(res.Output))}
	for _, c := range ParseTransaction(res.Output).Changes {
		ch := patchpilot.PackageChange{Name: c.Name, To: c.Version}
		if c.Action == "remove" {
			ch = patchpilot.PackageChange{Name: c.Name, From: c.Version}
		}
		rep.Changes = append(rep.Changes, ch)
	}
	ids, err := pm.history(ctx, r)
	if err != nil {
		return rep, err
	}
	rep.Transaction = strconv.Itoa(newest(ids))
	nr, err := r.Run(ctx, patchpilot.Command{Args: []string{"needs-restarting", "-r"}, Privileged: true, Timeout: commandTimeout})
	if err != nil {
		return rep, err
	}
	rep.RebootRequired, _, _ = ParseNeedsRestarting(nr)
	return rep, nil
}

func tail(s string) string {
	const n = 8 << 10
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
