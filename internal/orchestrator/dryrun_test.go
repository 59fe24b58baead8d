package orchestrator

import (
	"context"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// gatesThatCannotPass is a health checker whose gates fail on every host
// before any change, as systemctl's do on a machine without systemd.
type gatesThatCannotPass struct{}

func (gatesThatCannotPass) Baseline(context.Context, patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	return patchpilot.HealthBaseline{}, nil
}

func (gatesThatCannotPass) Check(context.Context, patchpilot.HealthTarget, patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	reason := "services_running: System has not been booted with systemd"
	return patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: reason,
		Results: []patchpilot.GateResult{{Gate: "services_running", Outcome: patchpilot.GateError, Reason: reason}}}, nil
}

// startDry starts a dry run of the plan on every stored host.
func (e *env) startDry(planYAML string) string {
	e.t.Helper()
	return e.startRollout(planYAML, true)
}

const dryRunPlan = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, criteria: [services_running], bake: 1m}`

// A dry run checks the gates once on the unchanged hosts: healthy ones end
// skipped with what they would install, and gates that cannot pass before
// the change halt the dry run naming the gate, with nothing installed.
func TestDryRunChecksGatesBeforeAnyChange(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.startDry(dryRunPlan)
	if state := e.run(id); state != patchpilot.RolloutSucceeded {
		t.Fatalf("dry run on healthy hosts: %s, want succeeded", state)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSkipped {
			t.Errorf("%s: %s, want skipped", h, s)
		}
		if e.f.checks[h] != 1 {
			t.Errorf("%s: gates checked %d times in the dry run, want once", h, e.f.checks[h])
		}
	}

	e = newEnv(t, hostsNamed(2))
	e.e.Health = func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) {
		return gatesThatCannotPass{}, nil
	}
	id = e.startDry(dryRunPlan)
	if state := e.run(id); state != patchpilot.RolloutHalted {
		t.Fatalf("dry run whose gates cannot pass: %s, want halted", state)
	}
	runs, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range runs {
		if hr.State != patchpilot.HostFailed || !strings.Contains(hr.Reason, "health gates fail before any change") ||
			!strings.Contains(hr.Reason, "System has not been booted with systemd") {
			t.Errorf("%s: %s (%s), want failed naming the gate that cannot pass", hr.Host, hr.State, hr.Reason)
		}
		if v := e.f.installed[hr.Host]["web"]; v != "1.0" {
			t.Errorf("%s: the dry run installed web %s", hr.Host, v)
		}
		// The check that failed is kept as the host's gate results, as
		// a bake's last check is.
		if len(hr.Gates) != 1 || hr.Gates[0].Gate != "services_running" || hr.Gates[0].Outcome != patchpilot.GateError {
			t.Errorf("%s: gate results %+v, want the failed services_running", hr.Host, hr.Gates)
		}
	}
}

// A host with nothing to install (a security patch on hosts with no
// pending security update) is skipped in a dry run as in the real one: it
// is no failure, and the dry run does not halt as if its preflight had
// failed.
func TestDryRunWithNothingToInstallIsNoFailure(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.startDry(`
patch: {security: all}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, criteria: [services_running], bake: 1m}`)
	if state := e.run(id); state != patchpilot.RolloutSucceeded {
		t.Errorf("dry run with nothing to install: %s, want succeeded", state)
	}
	r, err := e.db.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Reason, "failed") || !strings.Contains(r.Reason, "nothing to install") {
		t.Errorf("dry run reason %q: want it to say there is nothing to install, and nothing about a failure", r.Reason)
	}
	for h, s := range e.states(id) {
		if s != patchpilot.HostSkipped {
			t.Errorf("%s: %s, want skipped", h, s)
		}
	}
}

// interruptingGates cancels the controller's context while it takes the
// baseline, as a SIGINT during a dry run does.
type interruptingGates struct{ cancel context.CancelFunc }

func (g interruptingGates) Baseline(ctx context.Context, _ patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	g.cancel()
	return nil, ctx.Err()
}

func (interruptingGates) Check(context.Context, patchpilot.HealthTarget, patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	return patchpilot.HealthReport{Verdict: patchpilot.Healthy}, nil
}

// An interrupted dry run fails no host and does not stay running: it ends
// aborted, and the engine reports the interruption.
func TestDryRunInterrupted(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.e.Health = func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) {
		return interruptingGates{cancel}, nil
	}
	id := e.startDry(dryRunPlan)
	_, err := e.e.Run(ctx, id)
	if patchpilot.ErrorCode(err) != patchpilot.ECANCELED {
		t.Fatalf("Run of an interrupted dry run: %v, want %s", err, patchpilot.ECANCELED)
	}
	r, err := e.db.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != patchpilot.RolloutAborted {
		t.Errorf("rollout %s (%s), want aborted", r.State, r.Reason)
	}
	for h, s := range e.states(id) {
		if s == patchpilot.HostFailed || s == patchpilot.HostUnreachable {
			t.Errorf("%s: %s; an interruption is no host failure", h, s)
		}
		if s == patchpilot.HostPreflight {
			t.Errorf("%s: left in preflight, which no controller carries on", h)
		}
	}
}
