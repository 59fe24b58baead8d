package debian

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/pkgmgr/systemdrun"
)

// PackageManager changes packages on Debian and Ubuntu hosts with apt and
// dpkg. Transactions run detached on the host as transient systemd units
// (see package systemdrun), so they finish even when the controller dies,
// and running one again under the same unit waits for (or reads) the first
// instead of starting a second. The zero value is ready to use.
type PackageManager struct {
	// ArtifactDir is where rollback artifacts are kept on the host; ""
	// means DefaultArtifactDir.
	ArtifactDir string
	// Jobs runs the detached transactions.
	Jobs systemdrun.Runner
}

var _ patchpilot.PackageManager = (*PackageManager)(nil)

func (pm *PackageManager) artifactDir() string {
	if pm.ArtifactDir != "" {
		return pm.ArtifactDir
	}
	return DefaultArtifactDir
}

// Installed returns the installed version of each named package, "" for
// those not installed.
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
	// dpkg-query exits 1 when some package is unknown to it.
	if res.ExitCode != 0 && res.ExitCode != 1 {
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

// Preflight checks the lock (waiting up to opts.LockWait), the free space
// of apt's cache, that the repositories offer each pinned version, and the
// dry run, which is Apply's transaction with apt's -s (SimulateCommand):
// its changes, removals, downgrades (refused by apt unless
// opts.AllowDowngrade), held packages and whether a reboot will be needed.
// It does not run "apt-get update": the package lists are the host's
// current ones.
func (pm *PackageManager) Preflight(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, opts patchpilot.PreflightOptions) (patchpilot.PreflightReport, error) {
	if err := ValidPins(pins); err != nil {
		return patchpilot.PreflightReport{}, err
	}
	rep := patchpilot.PreflightReport{Pins: pins}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	// The lock: apt-get check takes it, waiting up to the bound.
	cmd := LockCheckCommand(opts.LockWait)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return rep, err
	}
	if res.ExitCode != 0 {
		e := ParseAptErrors(append(res.Stdout, res.Stderr...))
		if e.LockHeld {
			problem("the dpkg lock is held by another process (waited %s)", opts.LockWait)
		} else {
			problem("apt-get check failed: %s", aptFailure(e, res))
		}
	}

	// Free space.
	cmd = FreeSpaceCommand()
	if res, err = r.Run(ctx, cmd); err != nil {
		return rep, err
	}
	if res.ExitCode != 0 {
		return rep, patchpilot.CommandError(cmd, res)
	}
	if rep.FreeBytes, err = ParseFreeSpace(res.Stdout); err != nil {
		return rep, err
	}
	if rep.FreeBytes < opts.MinFreeBytes {
		problem("only %d bytes free in %s, want at least %d", rep.FreeBytes, AptArchives, opts.MinFreeBytes)
	}

	// Versions offered.
	names := make([]string, 0, len(pins))
	for _, p := range pins {
		names = append(names, p.Name)
	}
	cmd = MadisonCommand(names)
	if res, err = r.Run(ctx, cmd); err != nil {
		return rep, err
	}
	if res.ExitCode != 0 {
		return rep, patchpilot.CommandError(cmd, res)
	}
	offered, err := ParseMadison(res.Stdout)
	if err != nil {
		return rep, err
	}
	var available []patchpilot.PackagePin
	for _, p := range pins {
		if contains(offered[p.Name], p.Version) {
			available = append(available, p)
			continue
		}
		rep.Unavailable = append(rep.Unavailable, p.String())
		problem("%s: the repositories do not offer this version", p)
	}

	// The dry run, of the pins that can be installed: apt stops at the
	// first missing version, which would hide every other finding.
	if len(available) > 0 {
		cmd = SimulateCommand(available, InstallOptions{LockWait: opts.LockWait, AllowDowngrade: opts.AllowDowngrade})
		if res, err = r.Run(ctx, cmd); err != nil {
			return rep, err
		}
		if res.ExitCode != 0 {
			e := ParseAptErrors(append(res.Stdout, res.Stderr...))
			for _, u := range e.Unavailable {
				rep.Unavailable = append(rep.Unavailable, u.String())
			}
			if e.DowngradeRefused {
				rep.Downgrades = e.Downgrades
				problem("the transaction downgrades %s to an older version and downgrades are not allowed", orUnnamed(e.Downgrades))
			} else {
				problem("the dry run failed: %s", aptFailure(e, res))
			}
		} else {
			plan, err := ParseAptSimulate(res.Stdout)
			if err != nil {
				return rep, err
			}
			for _, u := range plan.Updates {
				rep.Changes = append(rep.Changes, patchpilot.PackageChange{Name: u.Package, From: u.InstalledVersion, To: u.CandidateVersion})
				if u.InstalledVersion != "" {
					if c, err := osfamily.CompareVersions(patchpilot.FamilyDebian, u.InstalledVersion, u.CandidateVersion); err == nil && c > 0 {
						rep.Downgrades = append(rep.Downgrades, u.Package)
					}
				}
			}
			for _, rm := range plan.Removals {
				rep.Removals = append(rep.Removals, rm.Package)
				rep.Changes = append(rep.Changes, patchpilot.PackageChange{Name: rm.Package, From: rm.Version})
			}
			if len(rep.Removals) > 0 {
				problem("the transaction removes %s", strings.Join(rep.Removals, ", "))
			}
		}
	}
	for _, c := range rep.Changes {
		if NeedsReboot(c.Name) {
			rep.RebootRequired = true
		}
	}

	// Held packages the transaction touches.
	cmd = HeldCommand()
	if res, err = r.Run(ctx, cmd); err != nil {
		return rep, err
	}
	if res.ExitCode != 0 {
		return rep, patchpilot.CommandError(cmd, res)
	}
	rep.Held = osfamily.HeldInTransaction(pins, rep.Changes, ParseHeld(res.Stdout))
	if len(rep.Held) > 0 {
		problem("the transaction changes held packages: %s", strings.Join(rep.Held, ", "))
	}
	return rep, nil
}

// PreflightInputs fingerprints what Preflight's dry run reads on the host
// (see PreflightInputsCommand) and reads the free space of apt's cache: a
// preflight run earlier stands for one run now when the fingerprint is
// unchanged (orchestrator.PreflightInputs).
func (pm *PackageManager) PreflightInputs(ctx context.Context, r patchpilot.Runner) (string, int64, error) {
	cmd := PreflightInputsCommand()
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return "", 0, err
	}
	if res.ExitCode != 0 {
		return "", 0, patchpilot.CommandError(cmd, res)
	}
	return ParsePreflightInputs(res.Stdout)
}

// Snapshot records the version of every package the planned transaction
// changes and keeps a .deb of each installed one in ArtifactDir: the
// repository's copy (apt-get download), else apt's cached copy, else one
// rebuilt by dpkg-repack where it is installed. Each artifact is checked
// with dpkg-deb before it is recorded; packages with no way back are listed
// in Missing. Artifacts already kept (by an earlier, interrupted snapshot)
// are reused.
func (pm *PackageManager) Snapshot(ctx context.Context, r patchpilot.Runner, plan patchpilot.PreflightReport) (patchpilot.PackageSnapshot, error) {
	snap := patchpilot.PackageSnapshot{Versions: map[string]string{}, Artifacts: map[string]string{}}
	var names []string
	for _, c := range plan.Changes {
		if err := ValidName(c.Name); err != nil {
			return snap, err
		}
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return snap, nil
	}
	// Three things are independent and go at once, each on its own
	// session: the installed versions (the host's real state, not the
	// plan's: it may have changed since), the packages' architectures
	// (which name their .deb files; asked of every package, used for the
	// installed ones) and the artifact directory. Artifacts are secured
	// once all three are in.
	dir := pm.artifactDir()
	var (
		installed    map[string]string
		instErr      error
		mkdir        patchpilot.Result
		mkdirErr     error
		archs        = make([]string, len(names))
		archErrs     = make([]error, len(names))
		wg           sync.WaitGroup
		mkdirCommand = patchpilot.Command{Args: []string{"mkdir", "-p", "-m", "0700", "--", dir}, Privileged: true, Timeout: commandTimeout}
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		installed, instErr = pm.Installed(ctx, r, names)
	}()
	go func() {
		defer wg.Done()
		mkdir, mkdirErr = r.Run(ctx, mkdirCommand)
	}()
	go func() {
		defer wg.Done()
		for i, name := range names {
			archs[i], archErrs[i] = pm.arch(ctx, r, name)
		}
	}()
	wg.Wait()
	if instErr != nil {
		return snap, instErr
	}
	if mkdirErr != nil {
		return snap, mkdirErr
	} else if mkdir.ExitCode != 0 {
		return snap, patchpilot.CommandError(patchpilot.Command{Args: []string{"mkdir"}}, mkdir)
	}
	for i, name := range names {
		v := installed[name]
		snap.Versions[name] = v
		if v == "" {
			continue // new: rolling back removes it
		}
		if err := ValidVersion(v); err != nil {
			return snap, err
		}
		if archErrs[i] != nil {
			return snap, archErrs[i]
		}
		file, err := pm.secure(ctx, r, dir, name, v, archs[i])
		if err != nil {
			return snap, err
		}
		if file == "" {
			snap.Missing = append(snap.Missing, name)
			continue
		}
		snap.Artifacts[name] = file
	}
	return snap, nil
}

// secure keeps a .deb of name=version (of architecture arch) in dir and
// returns its path, or "" when no source has it.
func (pm *PackageManager) secure(ctx context.Context, r patchpilot.Runner, dir, name, version, arch string) (string, error) {
	downloaded := path.Join(dir, DebFileName(name, version, arch))
	repacked := path.Join(dir, RepackFileName(name, version, arch))
	// Already kept?
	for _, f := range []string{downloaded, repacked} {
		if ok, err := verifyDeb(ctx, r, f, name, version); err != nil || ok {
			return pick(ok, f), err
		}
	}
	for _, step := range []struct {
		cmd  patchpilot.Command
		file string
	}{
		{DownloadCommand(dir, name, version), downloaded},
		{CacheCopyCommand(dir, name, version, arch), downloaded},
		{RepackCommand(dir, name), repacked},
	} {
		res, err := r.Run(ctx, step.cmd)
		if err != nil {
			return "", err
		}
		if res.ExitCode != 0 {
			continue // this source does not have it; try the next
		}
		ok, err := verifyDeb(ctx, r, step.file, name, version)
		if err != nil || ok {
			return pick(ok, step.file), err
		}
	}
	return "", nil
}

func pick(ok bool, file string) string {
	if ok {
		return file
	}
	return ""
}

// arch is the architecture of the installed package, which names its
// .deb file.
func (pm *PackageManager) arch(ctx context.Context, r patchpilot.Runner, name string) (string, error) {
	cmd := patchpilot.Command{Args: []string{"dpkg-query", "-W", "-f", `${Architecture}\n`, "--", name}, Timeout: commandTimeout}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", patchpilot.CommandError(cmd, res)
	}
	arch, _, _ := strings.Cut(string(res.Stdout), "\n")
	if arch = strings.TrimSpace(arch); arch == "" || strings.ContainsAny(arch, "/ ") {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query: want the architecture of %s, got %q", name, truncate(arch, 40))
	}
	return arch, nil
}

// verifyDeb reports whether file exists and is the package name=version.
func verifyDeb(ctx context.Context, r patchpilot.Runner, file, name, version string) (bool, error) {
	res, err := r.Run(ctx, DebInfoCommand(file))
	if err != nil {
		return false, err
	}
	if res.ExitCode != 0 {
		return false, nil
	}
	n, v, err := ParseDebInfo(res.Stdout)
	return err == nil && n == name && v == version, nil
}

// Apply installs the pins as one detached apt transaction named opts.Unit
// (see Wait). A transaction that ran and failed (a maintainer script
// failed, dpkg returned an error code) is a report with a non-zero
// ExitCode, not an error.
func (pm *PackageManager) Apply(ctx context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	if err := ValidPins(pins); err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.run(ctx, r, ApplyArgs(pins, InstallOptions{LockWait: lockWait(opts), AllowDowngrade: opts.AllowDowngrade}), opts, "patchpilot apply")
}

// Rollback restores the snapshot as one detached apt transaction: the kept
// artifacts are installed with downgrades allowed, the packages the change
// added are removed (configuration files kept). dpkg installs an older
// version over a half-configured one (a failed postinst leaves "iF"), so a
// failed apply rolls back the same way. No --force option is used: when a
// maintainer script of the new version also fails during the downgrade,
// forcing past it would leave the package's service in an unknown state,
// so the rollback reports the failure for a person to look at. Afterwards
// the versions are checked; a rollback that ran but left another version
// is an ECONFLICT error, with the report.
func (pm *PackageManager) Rollback(ctx context.Context, r patchpilot.Runner, snap patchpilot.PackageSnapshot, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	args, err := RollbackArgs(snap, lockWait(opts))
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	rep, err := pm.run(ctx, r, args, opts, "patchpilot rollback")
	if err != nil || rep.ExitCode != 0 {
		return rep, err
	}
	got, err := pm.Installed(ctx, r, sortedKeys(snap.Versions))
	if err != nil {
		return rep, err
	}
	var wrong []string
	for _, name := range sortedKeys(snap.Versions) {
		if got[name] != snap.Versions[name] {
			wrong = append(wrong, fmt.Sprintf("%s is %q, want %q", name, got[name], snap.Versions[name]))
		}
	}
	if len(wrong) > 0 {
		return rep, patchpilot.Errorf(patchpilot.ECONFLICT, "rollback finished but %s", strings.Join(wrong, ", ")).
			WithHint("check the host's apt preferences and the kept artifacts")
	}
	return rep, nil
}

// Wait waits for the transaction named unit, started by an earlier Apply or
// Rollback (perhaps by a controller that has since died), and reports it.
func (pm *PackageManager) Wait(ctx context.Context, r patchpilot.Runner, unit string, opts patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	res, err := pm.Jobs.Wait(ctx, r, unit, opts.Timeout)
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.report(ctx, r, unit, res)
}

// lockWait is the bound on the wait for the dpkg lock in a transaction.
func lockWait(opts patchpilot.ApplyOptions) time.Duration {
	if opts.LockWait > 0 {
		return opts.LockWait
	}
	return DefaultLockWait
}

func (pm *PackageManager) run(ctx context.Context, r patchpilot.Runner, args []string, opts patchpilot.ApplyOptions, desc string) (patchpilot.ApplyReport, error) {
	unit := opts.Unit
	if unit == "" {
		return patchpilot.ApplyReport{}, patchpilot.Errorf(patchpilot.EINVALID, "apply options: unit: expected the name of the transaction's systemd unit")
	}
	res, err := pm.Jobs.Run(ctx, r, systemdrun.Job{Unit: unit, Args: args, Timeout: opts.Timeout, Description: desc})
	if err != nil {
		return patchpilot.ApplyReport{}, err
	}
	return pm.report(ctx, r, unit, res)
}

func (pm *PackageManager) report(ctx context.Context, r patchpilot.Runner, unit string, res systemdrun.Result) (patchpilot.ApplyReport, error) {
	rep := patchpilot.ApplyReport{
		Changes:     ParseDpkgProgress(res.Output),
		Transaction: unit,
		Output:      tailOf(res.Output),
		ExitCode:    res.ExitCode,
	}
	reboot, err := r.Run(ctx, patchpilot.Command{Args: []string{"test", "-e", RebootRequiredFile}, Timeout: commandTimeout})
	if err != nil {
		return rep, err
	}
	rep.RebootRequired = reboot.ExitCode == 0
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orUnnamed lists names, or says "some packages" when apt named none.
func orUnnamed(names []string) string {
	if len(names) == 0 {
		return "some packages"
	}
	return strings.Join(names, ", ")
}

// aptFailure says why an apt command failed: apt's own "E:" lines, or,
// when it printed none because it never ran (sudo missing or asking for a
// password, apt-get not found), the exit status and the last line of the
// command's error output, so that the reason is never empty.
func aptFailure(e AptErrors, res patchpilot.Result) string {
	if len(e.Errors) > 0 {
		return strings.Join(e.Errors, "; ")
	}
	msg := fmt.Sprintf("exit status %d", res.ExitCode)
	for _, out := range [][]byte{res.Stderr, res.Stdout} {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
			const max = 300
			if len(last) > max {
				last = last[:max] + "..."
			}
			return msg + ": " + last
		}
	}
	return msg + " with no output"
}
