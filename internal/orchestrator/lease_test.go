package orchestrator

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// deadPID returns the pid of a process that has run and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestDeadControllerLeaseIsTakenOver checks that a lease held by a process
// of this machine (same hostname, boot id and pid namespace) that no longer
// runs is taken over at once, with an event saying so, while a holder on
// another machine, in another boot or container of this one, or still
// running keeps its lease until it expires.
func TestDeadControllerLeaseIsTakenOver(t *testing.T) {
	m, err := LocalMachine()
	if err != nil {
		t.Skipf("this machine's identity cannot be read: %v", err)
	}
	dead := deadPID(t)
	if processRunning(dead) {
		t.Fatalf("pid %d of a reaped child still runs", dead)
	}
	if !processRunning(1) {
		t.Fatal("pid 1 does not run")
	}
	tests := []struct {
		name     string
		holder   LeaseOwner
		takeOver bool
	}{
		{"dead on this machine", LeaseOwner{Host: m.Host, PID: dead, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "dead01"}, true},
		{"dead pid in another boot", LeaseOwner{Host: m.Host, PID: dead, BootID: "00000000-0000-0000-0000-000000000000", PIDNamespace: m.PIDNamespace, Nonce: "boot01"}, false},
		{"dead pid on another machine", LeaseOwner{Host: m.Host + "-other", PID: dead, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "host01"}, false},
		{"dead pid in another container", LeaseOwner{Host: m.Host, PID: dead, BootID: m.BootID, PIDNamespace: "1", Nonce: "cont01"}, false},
		{"alive on this machine", LeaseOwner{Host: m.Host, PID: 1, BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: "live01"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hostsNamed(2))
			id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 2}
`)
			ctx := context.Background()
			holder := tt.holder.String()
			if back, ok := ParseLeaseOwner(holder); !ok || back != tt.holder {
				t.Fatalf("ParseLeaseOwner(%q) = %+v, %v", holder, back, ok)
			}
			if granted, _, err := e.db.AcquireLease(ctx, id, holder, time.Hour); err != nil || !granted {
				t.Fatalf("AcquireLease: %v, %v", granted, err)
			}
			state, err := e.e.Run(ctx, id)
			evs, _ := e.db.Events(ctx, patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventLease})
			if !tt.takeOver {
				if patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || !strings.Contains(err.Error(), holder) {
					t.Errorf("Run = %s, %v; want ECONFLICT naming %s", state, err, holder)
				}
				if len(evs) != 0 {
					t.Errorf("lease events %v, want none", evs)
				}
				return
			}
			if err != nil || state != patchpilot.RolloutSucceeded {
				t.Fatalf("Run = %s, %v; want the dead controller's lease taken over and the rollout run", state, err)
			}
			if len(evs) != 1 || !strings.Contains(evs[0].Message, "took over the lease") || !strings.Contains(evs[0].Message, holder) ||
				!strings.Contains(evs[0].Message, "no longer runs on this machine") {
				t.Errorf("lease events %+v, want one saying the dead controller's lease was taken over", evs)
			}
		})
	}
}
