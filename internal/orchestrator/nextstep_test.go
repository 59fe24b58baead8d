package orchestrator

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// hintScenario leaves a rollout in one state; it is built afresh for every
// command its hint names, so that each command is tried on the state the
// hint was given for.
type hintScenario struct {
	name  string
	build func(t *testing.T) (*env, string)
	// want and never are verbs ('rollout VERB') the hint must and must
	// not name.
	want, never []string
}

const oneStage = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 2, criteria: [http_ok], bake: 3s, on_failure: %s}
`

func runOneStage(t *testing.T, onFailure string, setup func(e *env, hosts []string)) (*env, string) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(strings.Replace(oneStage, "%s", onFailure, 1))
	setup(e, e.stageHosts(id, "all"))
	_, _ = e.e.Run(context.Background(), id)
	return e, id
}

func hintScenarios() []hintScenario {
	unhealthy := func(e *env, _ []string) {
		e.f.verdict = func(string, int) patchpilot.HealthVerdict { return patchpilot.Unhealthy }
	}
	return []hintScenario{
		{name: "every preflight failed: nothing changed", build: func(t *testing.T) (*env, string) {
			return runOneStage(t, "halt_and_alert", func(e *env, hosts []string) {
				for _, h := range hosts {
					e.f.removals[h] = []string{"libc6"}
				}
			})
		}, want: []string{"status", "start"}, never: []string{"rollback", "resume", "abort"}},
		{name: "halted with a changed host", build: func(t *testing.T) (*env, string) {
			e := newEnv(t, hostsNamed(6))
			id := e.start(threeStages)
			canaries := e.stageHosts(id, "canary")
			e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
				if h == canaries[0] {
					return patchpilot.Unhealthy
				}
				return patchpilot.Healthy
			}
			_, _ = e.e.Run(context.Background(), id)
			return e, id
		}, want: []string{"rollback"}, never: []string{"resume", "abort", "start"}},
		{name: "held after a wave was rolled back", build: func(t *testing.T) (*env, string) {
			e := newEnv(t, hostsNamed(6))
			id := e.start(threeStages)
			wave := e.stageHosts(id, "wave_1")
			e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
				if h == wave[0] || h == wave[1] {
					return patchpilot.Unhealthy
				}
				return patchpilot.Healthy
			}
			_, _ = e.e.Run(context.Background(), id)
			return e, id
		}, want: []string{"resume", "abort", "rollback"}, never: []string{"start"}},
		{name: "everything rolled back", build: func(t *testing.T) (*env, string) {
			return runOneStage(t, "rollback_all", unhealthy)
		}, want: []string{"events"}, never: []string{"rollback", "resume", "abort"}},
		{name: "a rollback failed", build: func(t *testing.T) (*env, string) {
			return runOneStage(t, "rollback_and_alert", func(e *env, hosts []string) {
				unhealthy(e, hosts)
				e.f.rbFails[hosts[0]] = true
			})
		}, want: []string{"rollback"}, never: []string{"resume", "abort"}},
		{name: "aborted before any host", build: func(t *testing.T) (*env, string) {
			e := newEnv(t, hostsNamed(2))
			id := e.start(strings.Replace(oneStage, "%s", "halt_and_alert", 1))
			if err := e.e.Abort(context.Background(), id, "user:test"); err != nil {
				t.Fatal(err)
			}
			return e, id
		}, want: []string{"start"}, never: []string{"rollback", "resume", "abort"}},
		{name: "paused", build: func(t *testing.T) (*env, string) {
			e := newEnv(t, hostsNamed(2))
			id := e.start(strings.Replace(oneStage, "%s", "halt_and_alert", 1))
			if err := e.e.Pause(context.Background(), id, "user:test"); err != nil {
				t.Fatal(err)
			}
			return e, id
		}, want: []string{"resume", "abort"}, never: []string{"rollback"}},
	}
}

var hintCommand = regexp.MustCompile(`'patchpilot rollout (\w+) ([^' ]+)`)

func (e *env) nextStep(id string) (patchpilot.Rollout, string) {
	e.t.Helper()
	ctx := context.Background()
	r, err := e.db.Rollout(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	runs, err := e.db.HostRuns(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, NextStep(id, r.State, r.Reason, runs)
}

// TestEveryHintedCommandWorks follows every command a rollout's hint names
// and checks that the engine accepts it in that state: no hint sends a
// person to 'rollback' when nothing was changed, to 'resume' or 'abort'
// when the rollout is over, or in a circle.
func TestEveryHintedCommandWorks(t *testing.T) {
	for _, sc := range hintScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			e, id := sc.build(t)
			r, hint := e.nextStep(id)
			t.Logf("%s (%s): %s", r.State, r.Reason, hint)
			verbs := map[string]bool{}
			for _, m := range hintCommand.FindAllStringSubmatch(hint, -1) {
				verbs[m[1]] = true
				if m[1] != "start" && m[2] != id {
					t.Errorf("hint %q names rollout %s, want %s", hint, m[2], id)
				}
			}
			for _, v := range sc.want {
				if !verbs[v] {
					t.Errorf("rollout %s (%s: %s): hint %q does not name 'rollout %s'", id, r.State, r.Reason, hint, v)
				}
			}
			for _, v := range sc.never {
				if verbs[v] {
					t.Errorf("rollout %s (%s: %s): hint %q names 'rollout %s'", id, r.State, r.Reason, hint, v)
				}
			}
			for v := range verbs {
				e, id := sc.build(t)
				if err := tryVerb(e, id, v); err != nil {
					t.Errorf("rollout %s (%s): hint %q, but 'rollout %s' fails: %v (hint: %s)", id, r.State, hint, v, err, patchpilot.ErrorHint(err))
				}
			}
			// The commands that do not apply say so with a hint that
			// leads somewhere too.
			for _, v := range []string{"rollback", "resume", "abort"} {
				if verbs[v] {
					continue
				}
				e, id := sc.build(t)
				err := tryVerb(e, id, v)
				if err == nil {
					continue // it works, though the hint need not offer it
				}
				h := patchpilot.ErrorHint(err)
				t.Logf("'rollout %s' refused: %v; hint: %s", v, err, h)
				for _, m := range hintCommand.FindAllStringSubmatch(h, -1) {
					e, id := sc.build(t)
					if err2 := tryVerb(e, id, m[1]); err2 != nil {
						t.Errorf("'rollout %s' on %s fails (%v) with a hint to 'rollout %s', which fails too: %v", v, r.State, err, m[1], err2)
					}
				}
			}
		})
	}
}

// tryVerb does what the CLI's 'rollout VERB ID' asks of the engine, up to
// the point where the request is accepted or refused.
func tryVerb(e *env, id, verb string) error {
	ctx := context.Background()
	switch verb {
	case "rollback":
		_, err := e.e.RequestRollback(ctx, id, nil, "user:test")
		return err
	case "resume":
		_, err := e.e.Resume(ctx, id, "user:test")
		return err
	case "abort":
		return e.e.Abort(ctx, id, "user:test")
	case "approve":
		_, err := e.e.Approve(ctx, id, "", "user:test")
		return err
	case "status", "events":
		_, err := e.db.Rollout(ctx, id)
		return err
	case "start":
		return nil // a new plan file: always possible
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "hint names unknown command 'rollout %s'", verb)
}

func TestNextStepNamesAFewHosts(t *testing.T) {
	var runs []patchpilot.HostRun
	for i, h := range []string{"a", "b", "c", "d", "e"} {
		runs = append(runs, patchpilot.HostRun{Host: h, State: patchpilot.HostSucceeded, Order: i + 1})
	}
	hint := NextStep("r-1", patchpilot.RolloutHalted, "failed", runs)
	if !strings.Contains(hint, "(a, b, c and 2 more)") || !strings.Contains(hint, "'patchpilot rollout rollback r-1'") {
		t.Errorf("hint %q", hint)
	}
}

// A host that stopped answering after its change began is left out of
// every rollback without named hosts: the hint names it, with the command
// that rolls it back once it answers, and never says that no host is left
// changed.
func TestNextStepNamesHostsThatStoppedAnswering(t *testing.T) {
	runs := []patchpilot.HostRun{
		{Host: "a", State: patchpilot.HostSucceeded, Order: 1},
		{Host: "b", State: patchpilot.HostUnreachable, Order: 2},
		{Host: "c", State: patchpilot.HostUnreachable}, // never reached: unchanged
		{Host: "d", State: patchpilot.HostPending},
	}
	lost := "b stopped answering after its change began and may still be changed: once it answers, roll it back with 'patchpilot rollout rollback r-1 --hosts b'"
	if hint := NextStep("r-1", patchpilot.RolloutHalted, "failed", runs); !strings.Contains(hint, "roll its changed hosts (a) back") || !strings.Contains(hint, lost) {
		t.Errorf("halted with a changed and a lost host: hint %q", hint)
	}
	runs[0].State = patchpilot.HostRolledBack
	for _, state := range []patchpilot.RolloutState{patchpilot.RolloutRolledBack, patchpilot.RolloutFailed} {
		hint := NextStep("r-1", state, "failed", runs)
		if !strings.Contains(hint, lost) || strings.Contains(hint, "no host is left changed") || strings.Contains(hint, "every changed host was rolled back") {
			t.Errorf("%s with a lost host: hint %q", state, hint)
		}
		if strings.Contains(hint, "'patchpilot rollout rollback r-1'") {
			t.Errorf("%s: hint %q offers a rollback without hosts, which would find none", state, hint)
		}
	}
	runs[1].State = patchpilot.HostRolledBack
	if hint := NextStep("r-1", patchpilot.RolloutRolledBack, "", runs); strings.Contains(hint, "stopped answering") || !strings.Contains(hint, "no host is left changed") {
		t.Errorf("rolled back with every host answering: hint %q", hint)
	}
}
