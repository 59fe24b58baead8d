package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Indexes of the pipeline's steps in job.run.
const (
	stepPreflight = iota
	stepSnapshot
	stepApply
	stepReboot
	stepVerify
)

// pinsFor returns what the plan installs on a host: its exact pins, or the
// host's pending security updates at their candidate versions.
func pinsFor(p patchpilot.PatchSpec, f *patchpilot.Facts) []patchpilot.PackagePin {
	if !p.SecurityAll {
		return p.Packages
	}
	if f == nil {
		return nil
	}
	var pins []patchpilot.PackagePin
	for _, u := range f.Updates {
		if u.Security {
			pins = append(pins, patchpilot.PackagePin{Name: u.Package, Version: u.CandidateVersion})
		}
	}
	return pins
}

func (j *job) preflight(ctx context.Context) error {
	j.pins = pinsFor(j.rn.r.Plan.Patch, j.facts)
	// The dry run may have run ahead of the stage, while the stages
	// before it ran (prepare.go): it stands when its inputs on the host
	// are unchanged since (a read, before the step is stored); otherwise
	// it runs now.
	var rep patchpilot.PreflightReport
	ahead := false
	if len(j.pins) > 0 {
		var err error
		if rep, ahead, err = j.preparedPreflight(ctx); err != nil {
			return err
		}
	}
	note := ""
	if ahead {
		note = "the dry run ran ahead of the stage and its inputs are unchanged"
	}
	if err := j.saveNoting(ctx, patchpilot.HostPreflight, "", note); err != nil {
		return err
	}
	if len(j.pins) == 0 {
		return &stepError{patchpilot.HostSkipped, "nothing to install: no pending security updates"}
	}
	if needsPlaybooks(j.rn.r.Plan) && j.rn.e.Playbooks == nil {
		return failed("preflight: the plan runs Ansible playbooks and this controller has no Ansible runner")
	}
	if problems := playbookProblems(j.rn.r.Plan); len(problems) > 0 {
		return failed("preflight: %s", strings.Join(problems, "; "))
	}
	allowDowngrade := j.rn.r.Plan.Policy.AllowDowngrade
	if !ahead {
		var err error
		if rep, err = j.pm.Preflight(ctx, j.runner, j.pins, j.rn.preflightOptions()); err != nil {
			return classify("preflight", err)
		}
	}
	j.pre = &rep
	j.rn.mu.Lock()
	j.rn.pre[j.hr.Host] = rep
	j.rn.mu.Unlock()
	if problems := preflightProblems(rep); len(problems) > 0 {
		if len(rep.Downgrades) > 0 && !allowDowngrade {
			problems = append(problems, "to roll back to older versions on purpose, set policy: {allow_downgrade: true} in the plan")
		}
		return failed("preflight: %s", strings.Join(problems, "; "))
	}
	if rep.RebootRequired && !j.rn.r.Plan.Policy.AllowReboot {
		return failed("held: the update needs a reboot and the plan does not allow reboots (policy allow_reboot)")
	}
	j.rebootNeed = rep.RebootRequired
	return nil
}

// preflightProblems lists every reason the dry run gives not to go on.
func preflightProblems(rep patchpilot.PreflightReport) []string {
	problems := append([]string(nil), rep.Problems...)
	add := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		msg := what + " " + strings.Join(names, ", ")
		for _, p := range problems {
			if strings.Contains(p, names[0]) {
				return
			}
		}
		problems = append(problems, msg)
	}
	add("would remove", rep.Removals)
	add("held packages", rep.Held)
	add("versions not available:", rep.Unavailable)
	return problems
}

func (j *job) snapshot(ctx context.Context) error {
	if err := j.save(ctx, patchpilot.HostSnapshot, ""); err != nil {
		return err
	}
	// The health baseline is a read of its own: it is taken while the
	// package manager secures the rollback artifacts, on the same
	// connection, and stored with them.
	type baseline struct {
		base patchpilot.HealthBaseline
		err  error
	}
	var based chan baseline
	if j.hc != nil {
		based = make(chan baseline, 1)
		target := j.target(ctx)
		go func() {
			b, err := j.hc.Baseline(ctx, target)
			based <- baseline{b, err}
		}()
	}
	snap, err := j.pm.Snapshot(ctx, j.runner, *j.pre)
	var base baseline
	if based != nil {
		base = <-based
	}
	if err != nil {
		return classify("snapshot", err)
	}
	if j.rn.r.Plan.Policy.RequireRollback && len(snap.Missing) > 0 {
		return failed("preflight: no rollback artifact could be secured for %s and the plan requires rollback", strings.Join(snap.Missing, ", "))
	}
	from, to := map[string]string{}, map[string]string{}
	for _, c := range j.pre.Changes {
		from[c.Name], to[c.Name] = c.From, c.To
	}
	var unchanged []string
	for _, p := range j.pins {
		to[p.Name] = p.Version
		if _, ok := from[p.Name]; !ok {
			unchanged = append(unchanged, p.Name)
		}
	}
	if len(unchanged) > 0 {
		// A pin the transaction does not change is installed already
		// (a plan started again, a host patched since): its version
		// before is the host's, never "none", which a rollback would
		// take for a package to remove.
		got, err := j.pm.Installed(ctx, j.runner, unchanged)
		if err != nil {
			return classify("snapshot", err)
		}
		for _, name := range unchanged {
			from[name] = got[name]
		}
	}
	for name, v := range snap.Versions {
		if _, ok := to[name]; ok {
			from[name] = v
		}
	}
	j.hr.FromVersions, j.hr.ToVersions = from, to
	j.hr.Artifacts, j.hr.Transaction = snap.Artifacts, snap.Transaction
	if j.hc != nil {
		if base.err != nil {
			return classify("health baseline", base.err)
		}
		j.hr.Baseline = base.base
	}
	// The snapshot's event was written when the step began: this stores
	// what it found, with no second announcement.
	return j.store(ctx, patchpilot.HostSnapshot, "")
}

func (j *job) apply(ctx context.Context) error {
	if j.pins == nil {
		j.pins = pinsFromVersions(j.hr.ToVersions, j.rn.r.Plan.Patch, j.facts)
	}
	// Pre hooks (a drain, say) run before the host counts as changed:
	// one that fails leaves a host to look at, not one to roll back.
	if err := j.runHooks(ctx, phasePre, j.rn.r.Plan.Hooks.Pre); err != nil {
		return err
	}
	if j.hr.Order == 0 {
		j.hr.Order = j.rn.nextOrder()
	}
	if id, err := readBootID(ctx, j.runner); err == nil {
		j.hr.BootIDBefore = id
	}
	now := j.rn.e.now()
	j.hr.AppliedAt = &now
	if err := j.save(ctx, patchpilot.HostApply, ""); err != nil {
		return err
	}
	j.since = now
	if pb := j.rn.r.Plan.Apply.Ansible; pb != nil {
		return j.applyPlaybook(ctx, *pb)
	}
	rep, err := j.pm.Apply(ctx, j.runner, j.pins, patchpilot.ApplyOptions{
		Timeout: j.stage.Timeout, LockWait: j.rn.e.lockWait(), Unit: UnitName(j.rn.r.ID, j.hr.Host, "apply"),
		AllowDowngrade: j.rn.r.Plan.Policy.AllowDowngrade,
	})
	if err != nil {
		return classify("apply", err)
	}
	if rep.Transaction != "" {
		j.hr.Transaction = rep.Transaction
	}
	if rep.ExitCode != 0 {
		why := fmt.Sprintf("apply: the package manager exited with status %d: %s", rep.ExitCode, tail(rep.Output, 300))
		if j.unchanged(ctx) {
			// The transaction failed before it changed anything (apt
			// refused it, the lock or a download failed): the host is
			// as it was, so it is no changed host to roll back or to
			// call "left at the new versions".
			j.hr.Order = 0
			return failed("%s; nothing was changed: the installed versions are those before the apply", why)
		}
		return failed("%s", why)
	}
	j.rebootNeed = j.rebootNeed || rep.RebootRequired
	return nil
}

// unchanged reports whether the host still runs every version recorded
// before the change (FromVersions). When that cannot be read, the host
// may have changed.
func (j *job) unchanged(ctx context.Context) bool {
	if len(j.hr.FromVersions) == 0 {
		return false
	}
	names := sortedKeys(j.hr.FromVersions)
	got, err := j.pm.Installed(ctx, j.runner, names)
	if err != nil {
		return false
	}
	for _, n := range names {
		if got[n] != j.hr.FromVersions[n] {
			return false
		}
	}
	return true
}

// pinsFromVersions rebuilds the pins of a host whose record was written
// by an earlier controller: the plan's pins, restricted to the host's
// recorded targets for a security-update plan.
func pinsFromVersions(to map[string]string, p patchpilot.PatchSpec, f *patchpilot.Facts) []patchpilot.PackagePin {
	pins := pinsFor(p, f)
	if !p.SecurityAll || len(to) == 0 {
		return pins
	}
	var out []patchpilot.PackagePin
	for _, pin := range pins {
		if _, ok := to[pin.Name]; ok {
			out = append(out, pin)
		}
	}
	return out
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// reboot restarts the host when its update needs it and the plan allows,
// and waits for it to come back with a new boot id.
func (j *job) reboot(ctx context.Context) error {
	if !j.rebootNeed {
		return nil
	}
	if !j.rn.r.Plan.Policy.AllowReboot {
		j.hr.Reason = "needs a reboot the plan does not allow"
		return nil
	}
	if err := j.save(ctx, patchpilot.HostReboot, "boot id "+j.hr.BootIDBefore); err != nil {
		return err
	}
	return j.rebootAndWait(ctx)
}

func (j *job) rebootAndWait(ctx context.Context) error {
	before := j.hr.BootIDBefore
	// The connection drops as the host goes down: an error here is
	// expected and says nothing.
	_, _ = j.runner.Run(ctx, patchpilot.Command{Args: []string{"systemctl", "reboot"}, Privileged: true, Timeout: 30 * time.Second})
	_ = j.runner.Close()
	j.runner = nil
	start := j.rn.e.now()
	deadline := start.Add(j.stage.Timeout)
	backoff := time.Second
	for {
		if err := j.rn.e.sleep(ctx, backoff); err != nil {
			return failed("reboot: %s", err)
		}
		backoff = min(backoff*2, rebootBackoffMax)
		dctx, cancel := context.WithTimeout(ctx, probeTimeout)
		r, err := j.rn.e.Dialer.Dial(dctx, j.host)
		cancel()
		if patchpilot.ErrorCode(err) == patchpilot.EHOSTKEY {
			// The host is back with another identity: waiting longer
			// cannot help.
			return refusedHostKey("reboot", err)
		}
		if err == nil {
			id, err := readBootID(ctx, r)
			if err == nil && id != "" && id != before {
				j.runner = r
				j.hr.BootIDAfter = id
				return j.save(ctx, patchpilot.HostReboot, fmt.Sprintf("back after %s with boot id %s", j.rn.e.now().Sub(start).Round(time.Second), id))
			}
			_ = r.Close()
		}
		if !j.rn.e.now().Before(deadline) {
			return unreachable("reboot: no new boot id within %s", j.stage.Timeout)
		}
	}
}

// verify checks the versions, then watches the health gates for the
// bake. Healthy at the end succeeds, and so does a healthy report that may
// promote early (a canary judge's Pass); under review extends the bake a
// limited number of times, or up to the canary section's max_bake;
// unhealthy (or gates that cannot be evaluated) fails at once.
func (j *job) verify(ctx context.Context) error {
	if err := j.save(ctx, patchpilot.HostVerify, ""); err != nil {
		return err
	}
	if err := j.checkVersions(ctx, j.hr.ToVersions); err != nil {
		return err
	}
	// Post hooks (putting the host back) run once it runs the target
	// versions, so that the bake watches it in service.
	if err := j.runHooks(ctx, phasePost, j.rn.r.Plan.Hooks.Post); err != nil {
		return err
	}
	bake := j.stage.Bake
	if j.hc == nil {
		// No criteria: nothing to check, but the bake is still a soak
		// time the plan asked for, in which people and alerts may pause
		// or abort the rollout before the next host.
		if bake > 0 {
			j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventHostState,
				fmt.Sprintf("%s bakes %s with no health criteria: nothing is checked meanwhile; pause or abort the rollout to stop it", j.hr.Host, bake), nil)
			if err := j.rn.e.sleep(ctx, bake); err != nil {
				return failed("verify interrupted: %s", err)
			}
		}
		return nil
	}
	deadline := j.rn.e.now().Add(bake)
	extensions := 0
	// A canary judge may look until its bake limit before its final
	// verdict: a host under review is given that long, however many
	// extensions it takes.
	var reviewUntil time.Time
	if p := j.rn.r.Plan; p.CanaryOn(j.stage) {
		reviewUntil = j.rn.e.now().Add(p.Canary.BakeLimit(bake))
	}
	for {
		rep, err := j.hc.Check(ctx, j.target(ctx), j.hr.Baseline)
		if err != nil {
			if ctx.Err() != nil {
				return failed("verify interrupted: %s", ctx.Err())
			}
			rep = patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "the gates could not be evaluated: " + err.Error()}
		}
		j.hr.Gates = rep.Results
		j.recordVerdict(ctx, rep, "")
		if rep.Verdict == patchpilot.Unhealthy {
			return failed("unhealthy: %s", rep.Reason)
		}
		if rep.Verdict == patchpilot.Healthy && rep.Promote && j.rn.e.now().Before(deadline) {
			j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventGateVerdict,
				fmt.Sprintf("%s promoted early: the evidence is within the margins %s before the bake ends", j.hr.Host,
					deadline.Sub(j.rn.e.now()).Round(time.Second)), nil)
			return nil
		}
		if !j.rn.e.now().Before(deadline) {
			if rep.Verdict == patchpilot.Healthy {
				return nil
			}
			if extensions >= j.rn.e.reviewExtensions() && !j.rn.e.now().Before(reviewUntil) {
				ext := "bake extensions"
				if extensions == 1 {
					ext = "bake extension"
				}
				return failed("still under review after %d %s: %s", extensions, ext, rep.Reason)
			}
			extensions++
			deadline = j.rn.e.now().Add(max(bake, j.rn.e.checkInterval()))
			j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventGateVerdict, fmt.Sprintf("%s under review: bake extended until %s", j.hr.Host, deadline.Format(time.RFC3339)), nil)
		}
		if err := j.rn.e.sleep(ctx, min(j.rn.e.checkInterval(), max(deadline.Sub(j.rn.e.now()), 0))); err != nil {
			return failed("verify interrupted: %s", err)
		}
	}
}

// recordVerdict writes a check's gate verdict event; phase says which
// check it is (see patchpilot.GatePhase) and is named in the message.
func (j *job) recordVerdict(ctx context.Context, rep patchpilot.HealthReport, phase patchpilot.GatePhase) {
	data, _ := json.Marshal(rep)
	msg := fmt.Sprintf("%s gates %s", j.hr.Host, rep.Verdict)
	if phase == patchpilot.GateAfterRollback {
		msg = fmt.Sprintf("%s gates after the rollback %s", j.hr.Host, rep.Verdict)
	}
	if rep.Reason != "" {
		msg += ": " + rep.Reason
	}
	j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventGateVerdict, msg, data)
}

// checkVersions compares the installed versions with want ("" meaning
// not installed).
func (j *job) checkVersions(ctx context.Context, want map[string]string) error {
	names := sortedKeys(want)
	got, err := j.pm.Installed(ctx, j.runner, names)
	if err != nil {
		return classify("version check", err)
	}
	var wrong []string
	for _, n := range names {
		if got[n] != want[n] {
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", n, orDefault(got[n], "not installed"), orDefault(want[n], "not installed")))
		}
	}
	if len(wrong) > 0 {
		return failed("version check: %s", strings.Join(wrong, "; "))
	}
	return nil
}
