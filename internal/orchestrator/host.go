package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// probeTimeout bounds the command that tells a failing host from an
// unreachable one.
const probeTimeout = 10 * time.Second

// job is one host's pipeline in one pass of the controller.
type job struct {
	rn     *run
	hr     patchpilot.HostRun
	stage  patchpilot.Stage
	host   patchpilot.Host
	facts  *patchpilot.Facts
	pm     patchpilot.PackageManager
	hc     patchpilot.HealthChecker
	runner patchpilot.Runner

	pins       []patchpilot.PackagePin
	pre        *patchpilot.PreflightReport
	rebootNeed bool
	since      time.Time
	deps       dependentConns
	// keptConn is true while runner is the connection the host's
	// preparation kept open, not yet used at the host's turn.
	keptConn bool
}

// stepError ends a host's pipeline in a state with a reason.
type stepError struct {
	state  patchpilot.HostState
	reason string
}

func (e *stepError) Error() string { return e.reason }

func failed(format string, args ...any) error {
	return &stepError{patchpilot.HostFailed, fmt.Sprintf(format, args...)}
}

func unreachable(format string, args ...any) error {
	return &stepError{patchpilot.HostUnreachable, fmt.Sprintf(format, args...)}
}

func (rn *run) newJob(ctx context.Context, hr patchpilot.HostRun, stage patchpilot.Stage) (*job, error) {
	j := &job{rn: rn, hr: hr, stage: stage, host: rn.hosts[hr.Host], facts: rn.facts[hr.Host]}
	if j.facts == nil {
		// An inventory entry never reached: nothing says which package
		// manager it has, nor what it runs.
		return j, failed("no facts were ever collected from %s, so its OS and package manager are unknown: collect its inventory first ('patchpilot inventory collect')", hr.Host)
	}
	var err error
	if j.pm, err = rn.e.PackageManagers(j.facts.OSFamily); err != nil {
		reason := err.Error()
		if hint := patchpilot.ErrorHint(err); hint != "" {
			reason += ": " + hint
		}
		return j, failed("%s", reason)
	}
	if rn.e.Health != nil {
		if j.hc, err = rn.e.Health(rn.r.Plan, stage); err != nil {
			return j, failed("health gates: %s", err)
		}
	}
	return j, nil
}

// pipeline takes a host from its recorded state to the end of its
// pipeline, or to rolling_back when it failed after its change and the
// plan rolls failed hosts back. It returns the host's final record.
func (rn *run) pipeline(ctx context.Context, hr patchpilot.HostRun, stage patchpilot.Stage) patchpilot.HostRun {
	j, err := rn.newJob(ctx, hr, stage)
	if err == nil {
		err = j.dial(ctx)
	}
	if err == nil {
		err = j.run(ctx)
	}
	defer j.close()
	if err != nil && ctx.Err() != nil {
		// The controller is stopping (a signal, a lost lease): the record
		// keeps the step the host was in, and the next controller reads
		// the host's real state from there. Interruption is no failure.
		return j.hr
	}
	if err != nil {
		return j.fail(ctx, err)
	}
	return j.finish(ctx, patchpilot.HostSucceeded, succeededReason(j.hr))
}

// close drops the job's connection, if it has one.
func (j *job) close() {
	j.closeDependents()
	if j.runner != nil {
		_ = j.runner.Close()
		j.runner = nil
	}
}

func succeededReason(hr patchpilot.HostRun) string {
	var parts []string
	for _, name := range sortedKeys(hr.ToVersions) {
		if from, to := hr.FromVersions[name], hr.ToVersions[name]; from != "" && from == to {
			parts = append(parts, fmt.Sprintf("%s %s (unchanged: installed already)", name, to))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s→%s", name, orDefault(hr.FromVersions[name], "none"), hr.ToVersions[name]))
	}
	return "installed " + strings.Join(parts, ", ")
}

// dial connects to the host: on the connection its preparation kept open
// (prepare.go) when there is one, else on a new one.
func (j *job) dial(ctx context.Context) error {
	if r := j.rn.preparedConn(ctx, j.hr.Host); r != nil {
		j.runner, j.keptConn = r, true
		return nil
	}
	r, err := j.rn.e.Dialer.Dial(ctx, j.host)
	if err != nil {
		return classify("connect", err)
	}
	j.runner = r
	return nil
}

// hostKeyRefused is the reason of a host whose SSH host key was refused.
// The host answered, but not with the identity known_hosts records for it
// (an unknown key, or one that changed): that is no network failure, and
// retrying will not help until a person has checked the key.
const hostKeyRefused = "host_key_refused"

// hostKeyHint is said when the SSH layer gives no hint of its own.
const hostKeyHint = "verify the host's key fingerprint, then add it to known_hosts (ssh-keyscan HOST >> known_hosts) or re-run with --accept-new-host-keys"

func refusedHostKey(step string, err error) error {
	hint := patchpilot.ErrorHint(err)
	if hint == "" {
		hint = hostKeyHint
	}
	return &stepError{patchpilot.HostFailed, fmt.Sprintf("%s: %s: %s; to fix: %s", hostKeyRefused, step, err, hint)}
}

// isHostKeyRefusal reports whether a host ended because its host key was
// refused: a fact about the connection, not about the patch.
func isHostKeyRefusal(hr patchpilot.HostRun) bool {
	return strings.HasPrefix(hr.Reason, hostKeyRefused+":")
}

// run executes the steps from where the record says the host is; for a
// host caught mid-change by a dead controller, resumeStep looks at the
// host first.
func (j *job) run(ctx context.Context) error {
	step, err := j.resumeStep(ctx)
	if err != nil {
		return err
	}
	steps := []func(context.Context) error{j.preflight, j.snapshot, j.apply, j.reboot, j.verify}
	// The stage's timeout bounds the steps before the bake. Their
	// commands run to their end when the controller drains (Engine.Drain);
	// the bake does not.
	bounded, cancel := context.WithTimeout(stepContext(ctx), j.stage.Timeout)
	defer cancel()
	for ; step < len(steps); step++ {
		if err := ctx.Err(); err != nil {
			return failed("interrupted: %s", err)
		}
		stepCtx := bounded
		if step == stepVerify {
			stepCtx = ctx
		}
		if err := steps[step](stepCtx); err != nil {
			if bounded.Err() != nil && ctx.Err() == nil {
				return failed("%s: the stage timeout of %s ran out: %s", stepName(step), j.stage.Timeout, err)
			}
			return err
		}
	}
	return nil
}

// save stores the record, moving it to state, and writes the host state
// event announcing it; every transition is stored before the side effect
// it announces.
func (j *job) save(ctx context.Context, state patchpilot.HostState, reason string) error {
	return j.saveNoting(ctx, state, reason, reason)
}

// saveNoting is save with an event that says note where the stored
// reason would not tell two moments of the same state apart.
func (j *job) saveNoting(ctx context.Context, state patchpilot.HostState, reason, note string) error {
	msg := j.hr.Host + " " + string(state)
	if note != "" {
		msg += ": " + note
	}
	return j.record(ctx, state, reason, msg)
}

// store stores the record in state without an event. On its own it keeps
// what a step learnt (the snapshot's versions, artifacts and baseline)
// while the host stays in the step whose event announced it.
func (j *job) store(ctx context.Context, state patchpilot.HostState, reason string) error {
	return j.record(ctx, state, reason, "")
}

// record stores the record in state, with its host state event saying msg
// in the same transaction when msg is not empty.
func (j *job) record(ctx context.Context, state patchpilot.HostState, reason, msg string) error {
	now := j.rn.e.now()
	j.hr.State, j.hr.Reason, j.hr.UpdatedAt = state, reason, now
	if j.hr.StartedAt == nil {
		j.hr.StartedAt = &now
	}
	if state.Terminal() {
		j.hr.FinishedAt = &now
	}
	save := func() error { return j.rn.saveHostRun(context.WithoutCancel(ctx), j.hr) }
	if msg != "" {
		save = func() error { return j.rn.saveHostRunNoting(context.WithoutCancel(ctx), j.hr, msg) }
	}
	if err := save(); err != nil {
		return failed("store host state: %s", err)
	}
	return nil
}

// fail ends the pipeline after an error. A host that does not answer is
// unreachable; one that failed before its change is failed; one that
// failed or stopped answering after its change began waits in rolling_back
// for the stage to roll it back (a host still not answering then fails
// its rollback, which a person is alerted to), unless the stage's action
// is halt_and_alert, which leaves hosts as they are.
func (j *job) fail(ctx context.Context, err error) patchpilot.HostRun {
	var se *stepError
	if !errors.As(err, &se) {
		se = &stepError{patchpilot.HostFailed, err.Error()}
	}
	if se.state == patchpilot.HostFailed && j.runner != nil && !j.reachable(ctx) {
		se = &stepError{patchpilot.HostUnreachable, se.reason + " (the host no longer answers)"}
	}
	if (se.state == patchpilot.HostFailed || se.state == patchpilot.HostUnreachable) && j.hr.Order > 0 {
		if se.state == patchpilot.HostUnreachable {
			se.reason += " after its change began"
		}
		if j.stage.OnFailure != patchpilot.HaltAndAlert {
			// The host waits for its stage to roll it back, which may
			// come after the stage's other hosts in flight finish: the
			// rollback itself announces its start (rollbackHost).
			if err := j.saveNoting(ctx, patchpilot.HostRollingBack, se.reason, "waits for its rollback: "+se.reason); err != nil {
				j.rn.e.logger().Warn("store host state", "host", j.hr.Host, "err", err)
			}
			return j.hr
		}
		se.reason += "; left at the new versions (halt_and_alert)"
	}
	return j.finish(ctx, se.state, se.reason)
}

// finish stores a terminal state and the host's outcome.
func (j *job) finish(ctx context.Context, state patchpilot.HostState, reason string) patchpilot.HostRun {
	if err := j.save(ctx, state, reason); err != nil {
		j.rn.e.logger().Warn("store host state", "host", j.hr.Host, "err", err)
	}
	j.rn.recordOutcome(ctx, j.hr, j.pre)
	return j.hr
}

// reachable runs a trivial command to tell a failing host from one that
// no longer answers.
func (j *job) reachable(ctx context.Context) bool {
	ctx = context.WithoutCancel(ctx)
	_, err := j.runner.Run(ctx, patchpilot.Command{Args: []string{"true"}, Timeout: probeTimeout})
	return err == nil
}

// classify turns an error of a step into a failure, unreachable when it
// is a transport failure, or a host key refusal (failed, with its own
// reason and how to fix it).
func classify(step string, err error) error {
	switch patchpilot.ErrorCode(err) {
	case patchpilot.EHOSTKEY:
		return refusedHostKey(step, err)
	case patchpilot.EUNREACHABLE:
		return unreachable("%s: %s", step, err)
	}
	return failed("%s: %s", step, err)
}

func (j *job) target(ctx context.Context) patchpilot.HealthTarget {
	since := j.since
	switch {
	case !since.IsZero():
	case j.hr.AppliedAt != nil:
		since = *j.hr.AppliedAt
	case j.hr.StartedAt != nil:
		since = *j.hr.StartedAt
	}
	t := patchpilot.HealthTarget{Host: j.host, Runner: j.runner, Since: since, Rollout: j.rn.r.ID}
	if t.Dependents = j.dependents(ctx); len(t.Dependents) > 0 {
		t.Dial = j.dialDependent
	}
	return t
}

// readBootID returns the host's boot id.
func readBootID(ctx context.Context, r patchpilot.Runner) (string, error) {
	cmd := patchpilot.Command{Args: []string{"cat", "/proc/sys/kernel/random/boot_id"}, Timeout: probeTimeout}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", patchpilot.CommandError(cmd, res)
	}
	return strings.TrimSpace(string(res.Stdout)), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
