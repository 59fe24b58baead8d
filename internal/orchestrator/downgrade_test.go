package orchestrator

import (
	"context"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

const downgradePlan = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, max_failures: 3, on_failure: %s}
`

func hostRun(t *testing.T, e *env, id, host string) patchpilot.HostRun {
	t.Helper()
	runs, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range runs {
		if hr.Host == host {
			return hr
		}
	}
	t.Fatalf("no host run of %s", host)
	return patchpilot.HostRun{}
}

// TestApplyRefusedBeforeAnyChangeIsNoChange checks that a transaction that
// fails before it changes anything leaves the host failed with "nothing
// was changed", neither "left at the new versions" nor rolled back, under
// both kinds of failure action.
func TestApplyRefusedBeforeAnyChangeIsNoChange(t *testing.T) {
	for _, action := range []string{"halt_and_alert", "rollback_and_alert"} {
		t.Run(action, func(t *testing.T) {
			e := newEnv(t, hostsNamed(2))
			id := e.start(strings.Replace(downgradePlan, "%s", action, 1))
			bad := e.stageHosts(id, "all")[0]
			e.f.applyRefused[bad] = true
			e.run(id)
			hr := hostRun(t, e, id, bad)
			if hr.State != patchpilot.HostFailed || hr.Order != 0 || !strings.Contains(hr.Reason, "nothing was changed") ||
				strings.Contains(hr.Reason, "left at the new versions") {
				t.Errorf("host %s: state %s, order %d, reason %q; want failed, no deployment order, nothing changed", bad, hr.State, hr.Order, hr.Reason)
			}
			if got := e.f.entries("rollback "); len(got) != 0 {
				t.Errorf("rolled back %v, want none: nothing was changed", got)
			}
			if e.f.installed[bad]["web"] != "1.0" {
				t.Errorf("web on %s is %s, want 1.0", bad, e.f.installed[bad]["web"])
			}
		})
	}
}

// TestApplyFailureAfterChangeIsStillAChange checks the other side: a
// transaction that changed the host before failing is left at the new
// versions under halt_and_alert.
func TestApplyFailureAfterChangeIsStillAChange(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(strings.Replace(downgradePlan, "%s", "halt_and_alert", 1))
	bad := e.stageHosts(id, "all")[0]
	e.f.applyFails[bad] = true
	e.run(id)
	if hr := hostRun(t, e, id, bad); hr.State != patchpilot.HostFailed || hr.Order == 0 || !strings.Contains(hr.Reason, "left at the new versions") {
		t.Errorf("host %s: state %s, order %d, reason %q; want failed and left at the new versions", bad, hr.State, hr.Order, hr.Reason)
	}
}

// TestDowngradeNeedsThePolicy checks that a host found newer than the pin
// at preflight (its facts were stale when the plan was resolved) fails
// before any change with a hint naming allow_downgrade, and that with the
// policy set the preflight and the apply are both told to allow it and the
// host is rolled back to the pinned version.
func TestDowngradeNeedsThePolicy(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, hostsNamed(1))
		plan := downgradePlan
		if allow {
			plan += "policy: {allow_downgrade: true}\n"
		}
		id := e.start(strings.Replace(plan, "%s", "rollback_and_alert", 1))
		h := e.stageHosts(id, "all")[0]
		e.f.installed[h]["web"] = "1.2" // newer than the facts say
		state := e.run(id)
		hr := hostRun(t, e, id, h)
		if !allow {
			if hr.State != patchpilot.HostFailed || hr.Order != 0 || !strings.Contains(hr.Reason, "downgrade") ||
				!strings.Contains(hr.Reason, "allow_downgrade: true") || len(e.f.entries("apply ")) != 0 {
				t.Errorf("without the policy: state %s, order %d, reason %q, applies %v; want failed at preflight naming allow_downgrade",
					hr.State, hr.Order, hr.Reason, e.f.entries("apply "))
			}
			if len(e.f.preflightOpts) != 1 || e.f.preflightOpts[0].AllowDowngrade {
				t.Errorf("preflight options %+v, want downgrades not allowed", e.f.preflightOpts)
			}
			continue
		}
		if state != patchpilot.RolloutSucceeded || hr.State != patchpilot.HostSucceeded || e.f.installed[h]["web"] != "1.1" {
			t.Errorf("with the policy: rollout %s, host %s (%s), web %s; want succeeded at 1.1", state, hr.State, hr.Reason, e.f.installed[h]["web"])
		}
		if len(e.f.preflightOpts) != 1 || !e.f.preflightOpts[0].AllowDowngrade || len(e.f.applyOpts) != 1 || !e.f.applyOpts[0].AllowDowngrade {
			t.Errorf("options: preflight %+v, apply %+v; want both to allow the downgrade", e.f.preflightOpts, e.f.applyOpts)
		}
	}
}

// TestStartRefusesADowngradeThePlanDoesNotAllow checks the planner's
// check as the engine starts a rollout: the hosts' facts show a newer
// version than the pin.
func TestStartRefusesADowngradeThePlanDoesNotAllow(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	ctx := context.Background()
	for _, allow := range []bool{false, true} {
		src := "rollout:\n  patch: {packages: [\"web=0.9\"]}\n  targets: {selector: \"env=test\"}\n  stages:\n    - {name: all, targets: rest}\n"
		if allow {
			src += "  policy: {allow_downgrade: true}\n"
		}
		p, err := planner.Parse([]byte(src), "plan.yaml")
		if err != nil {
			t.Fatal(err)
		}
		hosts, _ := e.db.Hosts(ctx)
		var views []planner.HostView
		for _, h := range hosts {
			f, _ := e.db.LatestFacts(ctx, h.Name)
			views = append(views, planner.NewHostView(h, &f))
		}
		_, err = e.e.Start(ctx, p, src, views, StartOptions{CreatedBy: "user:test"})
		if allow && err != nil {
			t.Errorf("with allow_downgrade: %v", err)
		}
		if !allow && (patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "web 1.0") ||
			!strings.Contains(patchpilot.ErrorHint(err), "allow_downgrade")) {
			t.Errorf("without allow_downgrade: got %v (hint %q), want EINVALID naming web 1.0 and allow_downgrade", err, patchpilot.ErrorHint(err))
		}
	}
}
