package patchpilot

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// Every RolloutState constant declared in rollout.go is in RolloutStates,
// once: code that derives queries from it (the unfinished states, the
// states that hold hosts) would otherwise miss a state added later.
func TestRolloutStatesListsEveryState(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rollout.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []RolloutState
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "RolloutState" {
				continue
			}
			for _, val := range v.Values {
				lit, ok := val.(*ast.BasicLit)
				if !ok {
					t.Fatalf("RolloutState constant with a value that is not a literal: %#v", val)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				declared = append(declared, RolloutState(s))
			}
		}
	}
	listed := RolloutStates()
	if len(declared) < 10 {
		t.Fatalf("found only %d RolloutState constants in rollout.go: %v", len(declared), declared)
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Errorf("RolloutStates() = %v; the constants are %v", listed, declared)
	}
}

func TestHoldsHosts(t *testing.T) {
	for _, c := range []struct {
		state  RolloutState
		reason string
		want   bool
	}{
		{RolloutPending, "", true},
		{RolloutRunning, "", true},
		{RolloutWaitingApproval, "", true},
		{RolloutPaused, "paused by user:alice", true},
		{RolloutRollingBack, "", true},
		{RolloutHalted, "held: stage canary failed; stage rolled back (rollback_wave_and_hold), waiting for a person to resume or abort", true},
		{RolloutHalted, "held: no maintenance window opens within 168h0m0s", true},
		{RolloutHalted, "stage canary failed; halted (halt_and_alert)", false},
		{RolloutSucceeded, "held: a reason that does not matter in this state", false},
		{RolloutRolledBack, "", false},
		{RolloutFailed, "", false},
		{RolloutAborted, "aborted by user:bob", false},
	} {
		if got := HoldsHosts(c.state, c.reason); got != c.want {
			t.Errorf("HoldsHosts(%s, %q) = %v, want %v", c.state, c.reason, got, c.want)
		}
	}
}

func TestHostsHeldError(t *testing.T) {
	for _, c := range []struct {
		name          string
		holders       []HostsHolder
		message, hint string
	}{
		{"one host", []HostsHolder{{Rollout: "r-1", State: RolloutWaitingApproval, Hosts: []string{"web-2"}}},
			"host web-2 is in rollout r-1 (waiting_approval), which has not finished: one rollout at a time changes a host",
			"finish it first ('patchpilot rollout status r-1' shows what it waits for and how to end it), or leave those hosts out of the targets"},
		{"held, many hosts", []HostsHolder{{Rollout: "r-1", State: RolloutHalted, Reason: "held: stage wave rolled back",
			Hosts: []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7"}}},
			"hosts h1, h2, h3, h4, h5 and 2 more are in rollout r-1 (held for a person), which has not finished: one rollout at a time changes a host",
			"finish it first ('patchpilot rollout status r-1' shows what it waits for and how to end it), or leave those hosts out of the targets"},
		{"three holders", []HostsHolder{
			{Rollout: "r-1", State: RolloutPaused, Hosts: []string{"a", "b"}},
			{Rollout: "r-2", State: RolloutRunning, Hosts: []string{"c"}},
			{Rollout: "r-3", State: RolloutRollingBack, Hosts: []string{"d", "e", "f"}}},
			"hosts a and b are in rollout r-1 (paused), host c in rollout r-2 (running), hosts d, e and f in rollout r-3 (rolling_back); those rollouts have not finished: one rollout at a time changes a host",
			"finish them first ('patchpilot rollout status r-1', 'patchpilot rollout status r-2' and 'patchpilot rollout status r-3' show what they wait for and how to end them), or leave those hosts out of the targets"},
	} {
		err := HostsHeldError(c.holders)
		if err.Code != ECONFLICT || err.Error() != c.message || err.Hint != c.hint {
			t.Errorf("%s: %s %q\nhint %q\nwant ECONFLICT %q\nhint %q", c.name, err.Code, err.Error(), err.Hint, c.message, c.hint)
		}
	}
}

// A holder's state is named as a person reads it: held for a person when
// a halt waits for one, its state otherwise, a halt for another reason
// and a finished rollout with a "held" reason included.
func TestHolderState(t *testing.T) {
	for _, c := range []struct {
		state  RolloutState
		reason string
		want   string
	}{
		{RolloutHalted, "held: no maintenance window opens within 168h0m0s", "held for a person"},
		{RolloutHalted, "stage canary failed; halted (halt_and_alert)", "halted"},
		{RolloutSucceeded, "held: a reason that does not matter in this state", "succeeded"},
		{RolloutWaitingApproval, "", "waiting_approval"},
		{RolloutRunning, "held", "running"},
	} {
		if got := HolderState(c.state, c.reason); got != c.want {
			t.Errorf("HolderState(%s, %q) = %q, want %q", c.state, c.reason, got, c.want)
		}
	}
}
