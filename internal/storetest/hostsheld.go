package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// onHosts returns a rollout (not a dry run) of one stage over hosts,
// created at baseTime plus n seconds.
func onHosts(id string, n int, hosts ...string) patchpilot.Rollout {
	return patchpilot.Rollout{ID: id, CreatedBy: "alice@ops", CreatedAt: baseTime.Add(time.Duration(n) * time.Second),
		Stages: []patchpilot.StageRun{{Index: 0, Name: "all", Hosts: hosts}}}
}

// wantHeld fails the test unless err refuses a rollout over hosts that
// rollout holder holds (and only those), as HostsHeldError says it.
func wantHeld(t *testing.T, err error, holder string, hosts ...string) {
	t.Helper()
	wantCode(t, err, patchpilot.ECONFLICT, "rollout "+holder+" ")
	msg, hint := err.Error(), patchpilot.ErrorHint(err)
	for _, h := range hosts {
		if !strings.Contains(msg, h) {
			t.Errorf("refusal %q does not name host %s", msg, h)
		}
	}
	if strings.Count(msg, "rollout "+holder+" ") != 1 || strings.Contains(msg, "create rollout") {
		t.Errorf("refusal %q names a rollout twice or names the refused one", msg)
	}
	if !strings.Contains(hint, "'patchpilot rollout status "+holder+"'") {
		t.Errorf("refusal's hint %q does not name 'patchpilot rollout status %s'", hint, holder)
	}
}

// testHostsHeld: a host is in at most one rollout that holds hosts
// (patchpilot.HoldsHosts), dry runs aside; CreateRollout refuses another
// one over it with ECONFLICT naming the holder and the hosts, and stores
// nothing of it.
func (s suite) testHostsHeld(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, onHosts("a", 0, "web-1", "web-2", "db-1"))

	// Overlapping hosts: refused, naming only the hosts in common.
	err := st.CreateRollout(ctx, onHosts("b", 1, "web-3", "web-2", "db-1"))
	wantHeld(t, err, "a", "web-2", "db-1")
	if strings.Contains(err.Error(), "web-1") || strings.Contains(err.Error(), "web-3") {
		t.Errorf("refusal %q names a host not in both rollouts", err)
	}
	if _, err := st.Rollout(ctx, "b"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("the refused rollout was stored: Rollout(b) = %v", err)
	}
	if runs, err := st.HostRuns(ctx, "b"); err == nil && len(runs) > 0 {
		t.Errorf("the refused rollout left host runs: %v", runs)
	}

	// Disjoint hosts: allowed.
	mustCreate(t, st, onHosts("c", 2, "web-3", "web-4"))

	// A dry run is neither blocked by a holder nor blocks others.
	dry := onHosts("dry", 3, "web-1", "web-9")
	dry.DryRun = true
	mustCreate(t, st, dry)
	mustCreate(t, st, onHosts("d", 4, "web-9"))

	// Two holders: both named, each with its hosts.
	err = st.CreateRollout(ctx, onHosts("e", 5, "web-4", "web-1", "web-9"))
	wantCode(t, err, patchpilot.ECONFLICT, "")
	for _, want := range []string{"rollout a ", "rollout c ", "rollout d ", "web-1", "web-4", "web-9",
		"'patchpilot rollout status a'", "'patchpilot rollout status c'", "'patchpilot rollout status d'"} {
		if !strings.Contains(err.Error()+" "+patchpilot.ErrorHint(err), want) {
			t.Errorf("refusal %q (hint %q) does not mention %q", err, patchpilot.ErrorHint(err), want)
		}
	}

	// A finished rollout no longer holds its hosts.
	if err := st.SetRolloutState(ctx, "a", patchpilot.RolloutSucceeded, "done"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, onHosts("b", 6, "web-3x", "web-2", "db-1"))
	wantHeld(t, st.CreateRollout(ctx, onHosts("f", 7, "db-1")), "b", "db-1")
}

// testHostsHeldStates: which rollouts hold their hosts is exactly
// patchpilot.HoldsHosts, for every state, with the reasons that matter.
func (s suite) testHostsHeldStates(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	n := 0
	for _, state := range patchpilot.RolloutStates() {
		for _, reason := range []string{"", patchpilot.HeldReasonPrefix + ": stage canary rolled back, waiting for a person",
			"stage canary failed; halted (halt_and_alert)", "Held by accident of case"} {
			n++
			holder, host := fmt.Sprintf("holder-%d", n), fmt.Sprintf("host-%d", n)
			r := onHosts(holder, 2*n, host)
			r.State, r.Reason = state, reason
			mustCreate(t, st, r)
			err := st.CreateRollout(ctx, onHosts(fmt.Sprintf("next-%d", n), 2*n+1, host))
			if patchpilot.HoldsHosts(state, reason) {
				if err == nil {
					t.Errorf("a rollout %s (%q) did not hold its host", state, reason)
				} else {
					wantHeld(t, err, holder, host)
				}
			} else if err != nil {
				t.Errorf("a rollout %s (%q) held its host: %v", state, reason, err)
			}
		}
	}
}

// testHostsHeldRace: rollouts over one host started at once from many
// goroutines: exactly one is created, the others are refused naming it.
func (s suite) testHostsHeldRace(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = st.CreateRollout(ctx, onHosts(fmt.Sprintf("r%d", i), i, fmt.Sprintf("own-%d", i), "shared"))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("rollouts r%d and r%d over one host were both created", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no rollout was created: %v", errs)
	}
	for i, err := range errs {
		if i != winner {
			wantHeld(t, err, fmt.Sprintf("r%d", winner), "shared")
		}
	}
	got, err := st.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil || len(got) != 1 || got[0].ID != fmt.Sprintf("r%d", winner) {
		t.Errorf("Rollouts after the race = %v, %v; want only r%d", got, err, winner)
	}
}
