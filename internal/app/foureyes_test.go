package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// seedWebHosts stores three web hosts with a pending kernel update, so
// that savedPlanYAML resolves to a rollout.
func seedWebHosts(t *testing.T, ctx context.Context, a *App) {
	t.Helper()
	var hosts []patchpilot.Host
	for _, n := range []string{"web1", "web2", "web3"} {
		hosts = append(hosts, patchpilot.Host{Name: n, Labels: map[string]string{"role": "web"}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Updates: []patchpilot.Update{{Package: "linux-image-amd64", InstalledVersion: "6.1.1", CandidateVersion: "6.1.2", Security: true}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartRecordsActorAndPlan(t *testing.T) {
	ctx, a, _, _, _ := openPeopleApp(t)
	seedWebHosts(t, ctx, a)
	p, src, err := parsePlanForTest(savedPlanYAML)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Controller(EngineOptions{})
	// The local CLI's default actor.
	id, err := c.Start(ctx, p, src, StartOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedBy != "user:ann" || r.PlanID != "" || !r.DryRun {
		t.Errorf("rollout from a file = created by %q, plan %q, dry run %v; want user:ann, none, true", r.CreatedBy, r.PlanID, r.DryRun)
	}
	// From a saved plan, by a token, with neither plan nor source: the
	// saved plan is the one started.
	rec, err := a.SavePlan(ctx, p, src, "token:planner")
	if err != nil {
		t.Fatal(err)
	}
	id, err = c.Start(ctx, patchpilot.Plan{}, nil, StartOptions{Actor: "token:ops", PlanID: rec.ID})
	if err != nil {
		t.Fatal(err)
	}
	r, err = a.Store.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedBy != "token:ops" || r.PlanID != rec.ID || r.PlanSource != savedPlanYAML || r.Plan.Name != "kernel" || len(r.Stages) != 2 {
		t.Errorf("rollout from a saved plan = %+v, want token:ops, plan %s and its source", r, rec.ID)
	}
	if st, err := a.RolloutStatus(ctx, id); err != nil || st.PlanID != rec.ID || st.CreatedBy != "token:ops" {
		t.Errorf("status = %+v, %v; want plan %s started by token:ops", st, err, rec.ID)
	}
	_, err = c.Start(ctx, p, src, StartOptions{Actor: "token:ops", PlanID: "p-none"})
	wantCode(t, "unknown plan id", err, patchpilot.ENOTFOUND)
}

// TestFourEyes: whoever started a rollout, or created its saved plan, may
// not approve it with a token; another token may; the local user is not
// bound.
func TestFourEyes(t *testing.T) {
	ctx, a, _, _, _ := openPeopleApp(t)
	seedWebHosts(t, ctx, a)
	p, src, err := parsePlanForTest(savedPlanYAML)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := a.SavePlan(ctx, p, src, "token:alice")
	if err != nil {
		t.Fatal(err)
	}
	c := a.Controller(EngineOptions{})
	id, err := c.Start(ctx, p, src, StartOptions{Actor: "token:bob", PlanID: rec.ID})
	if err != nil {
		t.Fatal(err)
	}
	approvedBy := func() string {
		t.Helper()
		r, err := a.Store.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Stages[1].ApprovedBy
	}

	_, err = c.Approve(ctx, id, "final", "token:bob")
	wantCode(t, "the starter", err, patchpilot.EFORBIDDEN)
	if msg := err.Error(); !strings.Contains(msg, "four-eyes") || !strings.Contains(msg, "token:bob started rollout "+id) ||
		!strings.Contains(patchpilot.ErrorHint(err), "another token with the approver or admin role") {
		t.Errorf("the starter's refusal %q (hint %q) does not say why and who may approve", msg, patchpilot.ErrorHint(err))
	}
	_, err = c.Approve(ctx, id, "final", "token:alice")
	wantCode(t, "the plan's creator", err, patchpilot.EFORBIDDEN)
	if msg := err.Error(); !strings.Contains(msg, "token:alice created plan "+rec.ID) {
		t.Errorf("the plan creator's refusal %q does not say why", msg)
	}
	if by := approvedBy(); by != "" {
		t.Fatalf("a refused approval was stored: approved by %q", by)
	}
	stage, err := c.Approve(ctx, id, "final", "token:carol")
	if err != nil || stage != "final" {
		t.Fatalf("another token's approval: %q, %v", stage, err)
	}
	if by := approvedBy(); by != "token:carol" {
		t.Errorf("approved by %q, want token:carol", by)
	}

	// The local user started this one and approves it: not bound.
	endRollout(t, a, id) // the next rollout takes the same hosts
	id2, err := c.Start(ctx, p, src, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Approve(ctx, id2, "final", a.LocalActor()); err != nil {
		t.Errorf("the local user approving their own rollout: %v", err)
	}
	// A token that started a rollout from a file is refused too.
	endRollout(t, a, id2) // the next rollout takes the same hosts
	id3, err := c.Start(ctx, p, src, StartOptions{Actor: "token:dave"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Approve(ctx, id3, "final", "token:dave")
	wantCode(t, "starter of a rollout from a file", err, patchpilot.EFORBIDDEN)
	_, err = c.Approve(ctx, "r-none", "final", "token:dave")
	wantCode(t, "unknown rollout", err, patchpilot.ENOTFOUND)

	// The saved plan's YAML sent whole, laid out differently and with
	// comments, is still alice's plan: she may not approve its rollout.
	relaid := "# the kernel plan, as saved\n" + strings.ReplaceAll(savedPlanYAML, "\n", "  \n")
	p4, src4, err := parsePlanForTest(relaid)
	if err != nil {
		t.Fatal(err)
	}
	endRollout(t, a, id3) // the next rollout takes the same hosts
	id4, err := c.Start(ctx, p4, src4, StartOptions{Actor: "token:erin"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := a.Store.Rollout(ctx, id4); err != nil || r.PlanID != rec.ID {
		t.Fatalf("rollout of the saved plan's YAML: plan %q, %v; want %s", r.PlanID, err, rec.ID)
	}
	_, err = c.Approve(ctx, id4, "final", "token:alice")
	wantCode(t, "the creator of a plan sent whole", err, patchpilot.EFORBIDDEN)
}
