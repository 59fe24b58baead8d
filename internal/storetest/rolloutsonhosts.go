package storetest

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// rolloutsOnHostsOracle is what RolloutsOnHosts should list, worked out
// the straightforward way: every rollout with its host runs.
func rolloutsOnHostsOracle(t *testing.T, st patchpilot.Store, f patchpilot.HostsRolloutFilter) []patchpilot.RolloutOnHosts {
	t.Helper()
	ctx := context.Background()
	all, err := st.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b patchpilot.Rollout) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	after := -1
	if f.After != "" {
		after = slices.IndexFunc(all, func(r patchpilot.Rollout) bool { return r.ID == f.After })
	}
	var out []patchpilot.RolloutOnHosts
	for i, r := range all {
		if r.DryRun || i <= after || (f.Holding && !patchpilot.HoldsHosts(r.State, r.Reason)) {
			continue
		}
		runs, err := st.HostRuns(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var hosts []patchpilot.HostOfRollout
		for _, h := range runs {
			if len(f.Hosts) == 0 || slices.Contains(f.Hosts, h.Host) {
				hosts = append(hosts, patchpilot.HostOfRollout{Host: h.Host, State: h.State, Order: h.Order})
			}
		}
		if len(hosts) == 0 {
			continue
		}
		slices.SortFunc(hosts, func(a, b patchpilot.HostOfRollout) int { return cmp.Compare(a.Host, b.Host) })
		out = append(out, patchpilot.RolloutOnHosts{Rollout: r.ID, State: r.State, Reason: r.Reason, CreatedAt: r.CreatedAt, Hosts: hosts})
	}
	return out
}

// testRolloutsOnHosts: RolloutsOnHosts lists, oldest first, the rollouts
// (dry runs aside) over any of the hosts asked about, with those hosts,
// their states and orders; Holding keeps those that hold their hosts
// (HoldsHosts), After those created after a rollout in the order
// (CreatedAt, ID), in which two rollouts of one instant are not both
// after each other. Every filter lists what the straightforward reading
// of every rollout and its host runs gives.
func (s suite) testRolloutsOnHosts(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)

	mk := func(id string, n int, state patchpilot.RolloutState, reason string, hosts ...string) {
		t.Helper()
		r := onHosts(id, n, hosts...)
		r.State, r.Reason = state, reason
		mustCreate(t, st, r)
	}
	// Created in this order; "a" and "b" in the same microsecond, as are
	// "m" and "k" (whose ids sort the other way round).
	mk("a", 0, patchpilot.RolloutSucceeded, "done", "web-1", "web-2", "db-1")
	mk("b", 0, patchpilot.RolloutAborted, "aborted by bob", "web-2", "web-3")
	mk("c", 1, patchpilot.RolloutHalted, "stage all failed; halted (halt_and_alert)", "web-1", "db-1")
	dry := onHosts("dry", 2, "web-1", "web-2", "web-3")
	dry.DryRun = true
	mustCreate(t, st, dry)
	mk("m", 3, patchpilot.RolloutHalted, patchpilot.HeldReasonPrefix+": no maintenance window opens", "web-1", "web-9")
	mk("k", 3, patchpilot.RolloutRunning, "", "db-1", "db-2")
	mk("z", 4, patchpilot.RolloutRolledBack, "rolled back", "web-3")

	// Where the hosts stand: a changed, one rolled back, one failed.
	save := func(rollout, host string, state patchpilot.HostState, order int) {
		t.Helper()
		hr, err := st.HostRun(ctx, rollout, host)
		if err != nil {
			t.Fatal(err)
		}
		hr.State, hr.Order, hr.UpdatedAt = state, order, baseTime.Add(time.Hour)
		if err := st.SaveHostRun(ctx, hr); err != nil {
			t.Fatal(err)
		}
	}
	save("a", "web-1", patchpilot.HostSucceeded, 1)
	save("a", "web-2", patchpilot.HostRolledBack, 2)
	save("a", "db-1", patchpilot.HostSucceeded, 3)
	save("c", "db-1", patchpilot.HostRollbackFailed, 1)
	save("c", "web-1", patchpilot.HostFailed, 0)
	save("k", "db-2", patchpilot.HostApply, 1)
	save("dry", "web-1", patchpilot.HostSucceeded, 1)

	list := func(f patchpilot.HostsRolloutFilter) []patchpilot.RolloutOnHosts {
		t.Helper()
		got, err := st.RolloutsOnHosts(ctx, f)
		if err != nil {
			t.Fatalf("RolloutsOnHosts(%+v): %v", f, err)
		}
		return got
	}
	ids := func(rs []patchpilot.RolloutOnHosts) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.Rollout)
		}
		return out
	}

	// A few answers spelled out.
	got := list(patchpilot.HostsRolloutFilter{Hosts: []string{"db-1", "web-2"}})
	want := []patchpilot.RolloutOnHosts{
		{Rollout: "a", State: patchpilot.RolloutSucceeded, Reason: "done", CreatedAt: baseTime, Hosts: []patchpilot.HostOfRollout{
			{Host: "db-1", State: patchpilot.HostSucceeded, Order: 3}, {Host: "web-2", State: patchpilot.HostRolledBack, Order: 2}}},
		{Rollout: "b", State: patchpilot.RolloutAborted, Reason: "aborted by bob", CreatedAt: baseTime, Hosts: []patchpilot.HostOfRollout{
			{Host: "web-2", State: patchpilot.HostPending}}},
		{Rollout: "c", State: patchpilot.RolloutHalted, Reason: "stage all failed; halted (halt_and_alert)", CreatedAt: baseTime.Add(time.Second),
			Hosts: []patchpilot.HostOfRollout{{Host: "db-1", State: patchpilot.HostRollbackFailed, Order: 1}}},
		{Rollout: "k", State: patchpilot.RolloutRunning, CreatedAt: baseTime.Add(3 * time.Second), Hosts: []patchpilot.HostOfRollout{
			{Host: "db-1", State: patchpilot.HostPending}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RolloutsOnHosts(db-1, web-2) =\n%+v\nwant\n%+v", got, want)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{Hosts: []string{"web-1", "web-3"}, Holding: true})); !slices.Equal(got, []string{"m"}) {
		t.Errorf("holders of web-1 and web-3 = %v; want [m] (held for a person)", got)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{Holding: true})); !slices.Equal(got, []string{"k", "m"}) {
		t.Errorf("holders of any host = %v; want [k m]", got)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{Hosts: []string{"nowhere"}})); len(got) != 0 {
		t.Errorf("rollouts on an unknown host = %v; want none", got)
	}
	// The same instant: a is before b, k before m, and never both ways.
	if got := ids(list(patchpilot.HostsRolloutFilter{After: "a"})); !slices.Equal(got, []string{"b", "c", "k", "m", "z"}) {
		t.Errorf("after a = %v", got)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{After: "b", Hosts: []string{"web-1", "web-2"}})); !slices.Equal(got, []string{"c", "m"}) {
		t.Errorf("after b on web-1, web-2 = %v; want [c m], not a (created in the same microsecond, before it)", got)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{After: "k"})); !slices.Equal(got, []string{"m", "z"}) {
		t.Errorf("after k = %v; want [m z]", got)
	}
	if got := ids(list(patchpilot.HostsRolloutFilter{After: "m"})); !slices.Equal(got, []string{"z"}) {
		t.Errorf("after m = %v; want [z], not k (created in the same microsecond, before it)", got)
	}
	if got := list(patchpilot.HostsRolloutFilter{After: "z"}); len(got) != 0 {
		t.Errorf("after the last = %v; want none", got)
	}
	_, err := st.RolloutsOnHosts(ctx, patchpilot.HostsRolloutFilter{After: "nope"})
	wantCode(t, err, patchpilot.ENOTFOUND, "nope")

	// Every combination agrees with the straightforward reading.
	hostSets := [][]string{nil, {"web-1"}, {"db-1", "db-2"}, {"web-2", "web-3", "web-9"}, {"web-9", "web-1", "nowhere"}}
	for _, hosts := range hostSets {
		for _, after := range []string{"", "a", "b", "c", "dry", "k", "m", "z"} {
			for _, holding := range []bool{false, true} {
				f := patchpilot.HostsRolloutFilter{Hosts: hosts, After: after, Holding: holding}
				got, want := list(f), rolloutsOnHostsOracle(t, st, f)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("RolloutsOnHosts(%+v) =\n%+v\nwant\n%+v", f, got, want)
				}
			}
		}
	}

	// Every state and reason: Holding is exactly HoldsHosts.
	n := 10
	for _, state := range patchpilot.RolloutStates() {
		for _, reason := range []string{"", patchpilot.HeldReasonPrefix + ": stage canary rolled back, waiting for a person", "Held by accident of case"} {
			n++
			mk(fmt.Sprintf("s-%d", n), n, state, reason, fmt.Sprintf("h-%d", n))
			got := list(patchpilot.HostsRolloutFilter{Hosts: []string{fmt.Sprintf("h-%d", n)}, Holding: true})
			if held := patchpilot.HoldsHosts(state, reason); held != (len(got) == 1) {
				t.Errorf("a rollout %s (%q): listed as holding = %v; HoldsHosts says %v", state, reason, len(got) == 1, held)
			}
		}
	}
}
