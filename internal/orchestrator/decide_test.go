package orchestrator

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func hr(host, stage string, state patchpilot.HostState, order int) patchpilot.HostRun {
	return patchpilot.HostRun{Host: host, Stage: stage, State: state, Order: order}
}

func TestDecide(t *testing.T) {
	const (
		ok   = patchpilot.HostSucceeded
		bad  = patchpilot.HostRollingBack // failed after its change
		pre  = patchpilot.HostFailed      // failed in preflight
		gone = patchpilot.HostUnreachable
		pend = patchpilot.HostPending
	)
	earlier := []patchpilot.HostRun{hr("v1", "validation", ok, 1), hr("c1", "canary", ok, 2)}
	tests := []struct {
		name        string
		stage       patchpilot.Stage
		hosts       []patchpilot.HostRun
		wantExceed  bool
		wantBack    []string
		wantSkip    []string
		wantStage   patchpilot.StageState
		wantRollout patchpilot.RolloutState
		wantReason  string
	}{
		{
			name:     "max_failures 1 tolerates one failure, rolled back alone",
			stage:    patchpilot.Stage{MaxFailures: patchpilot.LimitCount(1), OnFailure: patchpilot.RollbackWaveAndHold},
			hosts:    []patchpilot.HostRun{hr("w1", "wave", ok, 3), hr("w2", "wave", bad, 4), hr("w3", "wave", ok, 5)},
			wantBack: []string{"w2"}, wantStage: patchpilot.StageSucceeded, wantReason: "within max_failures 1",
		},
		{
			name:       "max_failures 0 exceeded by one unreachable host, halt leaves hosts as they are",
			stage:      patchpilot.Stage{MaxFailures: patchpilot.LimitCount(0), OnFailure: patchpilot.HaltAndAlert},
			hosts:      []patchpilot.HostRun{hr("w1", "wave", ok, 3), hr("w2", "wave", gone, 0), hr("w3", "wave", pend, 0)},
			wantExceed: true, wantSkip: []string{"w3"}, wantStage: patchpilot.StageFailed, wantRollout: patchpilot.RolloutHalted,
			wantReason: "more than max_failures 0",
		},
		{
			name:       "rollback_and_alert rolls back the stage's changed hosts in reverse order",
			stage:      patchpilot.Stage{MaxFailures: patchpilot.LimitCount(0), OnFailure: patchpilot.RollbackAndAlert},
			hosts:      []patchpilot.HostRun{hr("c1", "canary", bad, 2), hr("c2", "canary", ok, 4), hr("c3", "canary", pre, 0), hr("c4", "canary", bad, 3)},
			wantExceed: true, wantBack: []string{"c2", "c4", "c1"}, wantStage: patchpilot.StageRolledBack, wantRollout: patchpilot.RolloutHalted,
		},
		{
			name:       "rollback_wave_and_hold holds the rollout",
			stage:      patchpilot.Stage{MaxFailures: patchpilot.LimitPercent(10), OnFailure: patchpilot.RollbackWaveAndHold},
			hosts:      []patchpilot.HostRun{hr("w1", "wave", bad, 3), hr("w2", "wave", ok, 4)},
			wantExceed: true, wantBack: []string{"w2", "w1"}, wantStage: patchpilot.StageRolledBack, wantRollout: patchpilot.RolloutHalted,
			wantReason: "held:",
		},
		{
			// w2 stopped answering after its change began: it is tried
			// too (and fails its rollback while it does not answer).
			name:       "rollback_all includes earlier stages and lost hosts, newest first",
			stage:      patchpilot.Stage{MaxFailures: patchpilot.LimitCount(0), OnFailure: patchpilot.RollbackAll},
			hosts:      []patchpilot.HostRun{hr("w1", "wave", bad, 3), hr("w2", "wave", gone, 4)},
			wantExceed: true, wantBack: []string{"w2", "w1", "c1", "v1"}, wantStage: patchpilot.StageRolledBack, wantRollout: patchpilot.RolloutRolledBack,
		},
		{
			name:      "50% of 4 tolerates two failures",
			stage:     patchpilot.Stage{MaxFailures: patchpilot.LimitPercent(50), OnFailure: patchpilot.HaltAndAlert},
			hosts:     []patchpilot.HostRun{hr("a", "w", pre, 0), hr("b", "w", gone, 0), hr("c", "w", ok, 1), hr("d", "w", ok, 2)},
			wantStage: patchpilot.StageSucceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := append(append([]patchpilot.HostRun(nil), earlier...), tt.hosts...)
			got := decide(tt.stage, tt.hosts, all)
			if got.Exceeded != tt.wantExceed || !reflect.DeepEqual(got.Rollback, tt.wantBack) || !reflect.DeepEqual(got.Skip, tt.wantSkip) ||
				got.Stage != tt.wantStage || got.Rollout != tt.wantRollout || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("decide = %+v\nwant exceeded %v, rollback %v, skip %v, stage %s, rollout %q, reason containing %q",
					got, tt.wantExceed, tt.wantBack, tt.wantSkip, tt.wantStage, tt.wantRollout, tt.wantReason)
			}
		})
	}
}

func TestResumeDecision(t *testing.T) {
	to := map[string]string{"web": "1.1", "lib": "2.0"}
	tests := []struct {
		name string
		hr   patchpilot.HostRun
		real hostReality
		want int
	}{
		{"pending starts over", patchpilot.HostRun{State: patchpilot.HostPending}, hostReality{}, stepPreflight},
		{"snapshot changed nothing", patchpilot.HostRun{State: patchpilot.HostSnapshot, ToVersions: to}, hostReality{}, stepPreflight},
		{"apply finished: verify, never apply twice", patchpilot.HostRun{State: patchpilot.HostApply, ToVersions: to},
			hostReality{Installed: map[string]string{"web": "1.1", "lib": "2.0"}}, stepVerify},
		{"apply finished and the host wants a reboot", patchpilot.HostRun{State: patchpilot.HostApply, ToVersions: to},
			hostReality{Installed: map[string]string{"web": "1.1", "lib": "2.0"}, RebootPending: true}, stepReboot},
		{"apply half done: apply again", patchpilot.HostRun{State: patchpilot.HostApply, ToVersions: to},
			hostReality{Installed: map[string]string{"web": "1.1", "lib": "1.0"}}, stepApply},
		{"apply not started: apply", patchpilot.HostRun{State: patchpilot.HostApply, ToVersions: to},
			hostReality{Installed: map[string]string{"web": "1.0", "lib": "1.0"}}, stepApply},
		{"reboot done: new boot id", patchpilot.HostRun{State: patchpilot.HostReboot, BootIDBefore: "a"}, hostReality{BootID: "b"}, stepVerify},
		{"reboot not done: same boot id", patchpilot.HostRun{State: patchpilot.HostReboot, BootIDBefore: "a"}, hostReality{BootID: "a"}, stepReboot},
		{"verify bakes again", patchpilot.HostRun{State: patchpilot.HostVerify}, hostReality{}, stepVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resumeDecision(tt.hr, tt.real); got != tt.want {
				t.Errorf("resumeDecision = %s, want %s", stepName(got), stepName(tt.want))
			}
		})
	}
}

func TestWindowsOpen(t *testing.T) {
	monday10 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	night := patchpilot.MaintenanceWindow{Start: 22 * 60, End: 4 * 60}
	tests := []struct {
		name     string
		ws       []patchpilot.MaintenanceWindow
		now      time.Time
		wantOpen bool
		wantNext time.Time
	}{
		{"closed until the evening", []patchpilot.MaintenanceWindow{night}, monday10, false, time.Date(2026, 3, 2, 22, 0, 0, 0, time.UTC)},
		{"open after midnight", []patchpilot.MaintenanceWindow{night}, time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC), true, time.Time{}},
		{"earliest of two", []patchpilot.MaintenanceWindow{night, {Start: 12 * 60, End: 13 * 60}}, monday10, false, time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, next, ok := windowsOpen(tt.ws, tt.now)
			if open != tt.wantOpen || !ok || (!open && !next.Equal(tt.wantNext)) {
				t.Errorf("windowsOpen = %v, %v, %v; want %v, %v", open, next, ok, tt.wantOpen, tt.wantNext)
			}
		})
	}
}
