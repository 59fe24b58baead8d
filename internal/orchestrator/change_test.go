package orchestrator

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// scriptedApprover answers the approvals of its script in turn (the last
// one again once it runs out) and records, at each call, how many hosts
// of the gated stage had been changed.
type scriptedApprover struct {
	mu      sync.Mutex
	e       *env
	id      string
	script  []any // patchpilot.ChangeApprovalState or error
	calls   int
	applied []int
	onCall  func(call int)
}

func (a *scriptedApprover) Name() string { return "snow" }

func (a *scriptedApprover) Approval(_ context.Context, r patchpilot.Rollout, stage string) (patchpilot.ChangeApproval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.ID != a.id || stage != "final" {
		return patchpilot.ChangeApproval{}, patchpilot.Errorf(patchpilot.EINVALID, "asked for rollout %s stage %s", r.ID, stage)
	}
	n := 0
	for _, h := range a.e.stageHosts(a.id, "final") {
		n += a.e.f.applies[h]
	}
	a.applied = append(a.applied, n)
	step := a.script[min(a.calls, len(a.script)-1)]
	a.calls++
	if a.onCall != nil {
		a.onCall(a.calls)
	}
	if err, ok := step.(error); ok {
		return patchpilot.ChangeApproval{}, err
	}
	return patchpilot.ChangeApproval{State: step.(patchpilot.ChangeApprovalState), Change: "CHG0030001", Detail: "by cab"}, nil
}

const gatedPlan = `
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: first, targets: 1}
  - {name: final, targets: rest, parallel: 2, approval: required}
`

func changeEvents(t *testing.T, e *env, id string) []string {
	t.Helper()
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id, Kind: patchpilot.EventChangeApproval})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Message)
	}
	return out
}

func TestChangeApprovalHoldsGatedStage(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(gatedPlan)
	a := &scriptedApprover{e: e, id: id, script: []any{patchpilot.ChangePending, patchpilot.ChangePending,
		&patchpilot.DeliveryError{Service: "servicenow", Status: 503, Retryable: true}, patchpilot.ChangeApproved}}
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{a}
	if got := e.run(id); got != patchpilot.RolloutWaitingApproval {
		t.Fatalf("state = %s, want waiting_approval (a person approves first)", got)
	}
	if a.calls != 0 {
		t.Fatalf("the change was asked %d times before the person's approval", a.calls)
	}
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("state = %s, want succeeded", got)
	}
	if a.calls != 4 {
		t.Errorf("asked %d times, want 4 (pending, pending, 503, approved)", a.calls)
	}
	for i, n := range a.applied {
		if n != 0 {
			t.Errorf("call %d: %d hosts of the gated stage were changed before the change was approved", i+1, n)
		}
	}
	evs := changeEvents(t, e, id)
	want := []string{"stage final waits for change CHG0030001 to be approved in snow",
		"stage final: the change approval could not be checked in snow, asking again: servicenow answered 503",
		"stage final: change CHG0030001 approved in snow"}
	if strings.Join(evs, "|") != strings.Join(want, "|") {
		t.Errorf("change events = %q, want %q", evs, want)
	}
}

func TestChangeRejectedHaltsBeforeStage(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(gatedPlan)
	a := &scriptedApprover{e: e, id: id, script: []any{patchpilot.ChangePending, patchpilot.ChangeRejected}}
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{a}
	e.run(id)
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("state = %s, want halted", got)
	}
	r, _ := e.db.Rollout(context.Background(), id)
	if want := "stage final not started: change CHG0030001 was rejected in snow (by cab)"; r.Reason != want {
		t.Errorf("reason = %q, want %q", r.Reason, want)
	}
	if r.Stages[1].State != patchpilot.StagePending || r.Stages[1].Reason != r.Reason {
		t.Errorf("stage final = %s %q, want pending (not started) with the rollout's reason", r.Stages[1].State, r.Stages[1].Reason)
	}
	for _, h := range e.stageHosts(id, "final") {
		if e.f.applies[h] != 0 {
			t.Errorf("%s changed although the change was rejected", h)
		}
	}
}

func TestChangeThatCannotBeCheckedFailsClosed(t *testing.T) {
	e := newEnv(t, hostsNamed(2))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: final, targets: rest, approval: required}
`)
	a := &scriptedApprover{e: e, id: id, script: []any{&patchpilot.DeliveryError{Service: "servicenow", Status: 401, Message: "bad credentials"}}}
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{a}
	e.run(id)
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("state = %s, want halted", got)
	}
	r, _ := e.db.Rollout(context.Background(), id)
	if !strings.Contains(r.Reason, "could not be checked: servicenow answered 401: bad credentials") {
		t.Errorf("reason = %q", r.Reason)
	}
	if r.Stages[0].State != patchpilot.StagePending || r.Stages[0].Reason != r.Reason {
		t.Errorf("stage final = %s %q, want pending (not started) with the rollout's reason", r.Stages[0].State, r.Stages[0].Reason)
	}
	if n := e.f.applies["h01"] + e.f.applies["h02"]; n != 0 {
		t.Errorf("%d applies", n)
	}
}

// A controller that stops while a stage waits for its change leaves the
// stage waiting; the next one asks again and waits on.
func TestChangeWaitSurvivesAController(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	id := e.start(gatedPlan)
	ctx, cancel := context.WithCancel(context.Background())
	a := &scriptedApprover{e: e, id: id, script: []any{patchpilot.ChangePending}}
	a.onCall = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{a}
	e.run(id)
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.e.Run(ctx, id); err == nil {
		t.Fatal("Run after cancel: no error")
	}
	r, _ := e.db.Rollout(context.Background(), id)
	if r.State != patchpilot.RolloutRunning || r.Stages[1].State != patchpilot.StageWaitingApproval ||
		r.Stages[1].Reason != "waits for change CHG0030001 to be approved in snow" {
		t.Fatalf("after the controller stopped: rollout %s, stage %s %q", r.State, r.Stages[1].State, r.Stages[1].Reason)
	}
	a.mu.Lock()
	a.script, a.calls, a.onCall = []any{patchpilot.ChangePending, patchpilot.ChangeApproved}, 0, nil
	a.mu.Unlock()
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("state = %s, want succeeded", got)
	}
	if a.calls != 2 {
		t.Errorf("the next controller asked %d times, want 2", a.calls)
	}
}
