package orchestrator

import (
	"context"
	"fmt"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestResumeAfterAnUnwatchedReboot: a controller that died while its host
// rebooted (the controller's own machine, patched with --local, reboots
// with it) left the host in reboot; resume finds a new boot id, verifies
// without rebooting again and records the boot id the host came back with.
func TestResumeAfterAnUnwatchedReboot(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
policy: {allow_reboot: true}
stages:
  - {name: all, targets: rest}
`)
	ctx := context.Background()
	if err := e.db.SetRolloutState(ctx, id, patchpilot.RolloutRunning, "started"); err != nil {
		t.Fatal(err)
	}
	runs, _ := e.db.HostRuns(ctx, id)
	h := runs[0]
	now := e.clock.Now()
	h.State, h.Order, h.StartedAt, h.UpdatedAt = patchpilot.HostReboot, 1, &now, now
	h.FromVersions, h.ToVersions = map[string]string{"web": "1.0"}, map[string]string{"web": "1.1"}
	h.BootIDBefore = fmt.Sprintf("boot-%s-0", h.Host)
	h.Baseline = patchpilot.HealthBaseline{"cpu": []byte(`{"cpu":0.1}`)}
	if err := e.db.SaveHostRun(ctx, h); err != nil {
		t.Fatal(err)
	}
	e.f.installed[h.Host]["web"] = "1.1"
	e.f.boot[h.Host] = 1 // it came back

	if got, err := e.e.Resume(ctx, id, "user:test"); err != nil || got != patchpilot.RolloutSucceeded {
		t.Fatalf("Resume = %s, %v; want succeeded", got, err)
	}
	if n := len(e.f.entries("reboot ")); n != 0 {
		t.Errorf("resume rebooted the host %d times, want none", n)
	}
	runs, _ = e.db.HostRuns(ctx, id)
	if want := fmt.Sprintf("boot-%s-1", h.Host); runs[0].State != patchpilot.HostSucceeded || runs[0].BootIDAfter != want {
		t.Errorf("host %s with boot id after %q, want succeeded with %q", runs[0].State, runs[0].BootIDAfter, want)
	}
}
