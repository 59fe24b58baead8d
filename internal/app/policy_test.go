package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/policy"
)

// firstSeen is when the fleet's facts first listed openssl 3.0.2.
var firstSeen = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// policyApp opens an App on a fresh SQLite store with the policy (written
// as in patchpilot.yaml) and a clock the test moves. The fleet: s1 in
// staging, p1 and p2 (critical) in prod, each first seeing openssl 3.0.2
// pending at firstSeen and again a day later.
func policyApp(t *testing.T, policyYAML string) (context.Context, *App, *time.Time) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var pol policy.Policy
	if policyYAML != "" {
		c, err := LoadConfig(writeConfig(t, "policy:\n"+policyYAML), false)
		if err != nil {
			t.Fatal(err)
		}
		pol = *c.Policy
	}
	now := firstSeen.Add(48 * time.Hour)
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"},
		Policy: pol, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	hosts := []patchpilot.Host{
		{Name: "s1", Address: "192.0.2.1", Labels: map[string]string{"env": "staging", "role": "web"}},
		{Name: "p1", Address: "192.0.2.2", Labels: map[string]string{"env": "prod", "role": "web"}},
		{Name: "p2", Address: "192.0.2.3", Labels: map[string]string{"env": "prod", "role": "db", "criticality": "critical"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		for _, at := range []time.Time{firstSeen, firstSeen.Add(24 * time.Hour)} {
			f := patchpilot.Facts{Host: h.Name, CollectedAt: at, Source: "ssh",
				OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
				Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.1"}},
				Updates:  []patchpilot.Update{{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: "3.0.2", Security: true}}}
			if err := a.Store.SaveFacts(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ctx, a, &now
}

// opensslPlan is a one-stage plan of openssl 3.0.2 over the selector.
func opensslPlan(t *testing.T, selector string) (patchpilot.Plan, []byte) {
	t.Helper()
	src := []byte("rollout:\n  name: openssl\n  patch: {packages: [\"openssl=3.0.2\"]}\n  targets: {selector: \"" + selector + "\"}\n" +
		"  stages:\n    - {name: all, targets: rest}\n")
	p, err := planner.Parse(src, "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p, src
}

// noDialer fails every dial: nothing in these tests may reach a host.
type noDialer struct{}

func (noDialer) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "test: %s must not be dialled", h.Name)
}

func storedStage(t *testing.T, a *App, id string, i int) (patchpilot.Stage, patchpilot.StageRun) {
	t.Helper()
	r, err := a.Store.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Plan.Stages[i], r.Stages[i]
}

func TestPolicyDelayHoldsTheRollout(t *testing.T) {
	ctx, a, now := policyApp(t, `  groups:
    - name: prod
      hosts: env=prod
      level: autopilot
      auto_approve: [{classification: security, after: 7d}]
`)
	c := a.Controller(EngineOptions{Dialer: noDialer{}, Actor: "controller"})
	p, src := opensslPlan(t, "env=prod,role=web")
	id, err := c.Start(ctx, p, src, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until := firstSeen.Add(7 * 24 * time.Hour).Format(time.RFC3339)
	ps, _ := storedStage(t, a, id, 0)
	if ps.Approval != patchpilot.ApprovalRequired || !strings.Contains(ps.ApprovalReason, "auto-approved only from "+until) ||
		!strings.Contains(ps.ApprovalReason, "first seen pending on") {
		t.Fatalf("stored stage %+v: want approval required until %s", ps, until)
	}
	state, err := c.Run(ctx, id)
	if err != nil || state != patchpilot.RolloutWaitingApproval {
		t.Fatalf("run: %s, %v; want waiting_approval", state, err)
	}
	st, err := a.RolloutStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Stages[0].Reason, "until then a person must approve") || !strings.Contains(st.Reason, until) {
		t.Errorf("rollout reason %q, stage reason %q: want the time the delay passes", st.Reason, st.Stages[0].Reason)
	}
	for _, h := range st.Stages[0].Hosts {
		if h.State != patchpilot.HostPending {
			t.Errorf("host %s is %s while the rollout is held", h.Host, h.State)
		}
	}
	if ps.AutoApproveAt == nil || ps.AutoApproveAt.Format(time.RFC3339) != until {
		t.Errorf("stored stage auto-approves at %v, want %s", ps.AutoApproveAt, until)
	}
	// Once the delay has passed, the same plan is not held, and the held
	// rollout goes on by itself: the policy approves its stage.
	*now = firstSeen.Add(7*24*time.Hour + time.Minute)
	state, err = c.Run(ctx, id)
	if err != nil || state == patchpilot.RolloutWaitingApproval {
		t.Fatalf("run after the delay: %s, %v; want the stage approved by the policy", state, err)
	}
	if _, sr := storedStage(t, a, id, 0); sr.ApprovedBy != "policy:auto-approval" {
		t.Errorf("after the delay the stage was approved by %q, want the policy", sr.ApprovedBy)
	}
	id2, err := c.Start(ctx, p, src, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := storedStage(t, a, id2, 0); ps.Approval != patchpilot.ApprovalNone {
		t.Errorf("after the delay the stage still needs approval: %+v", ps)
	}
	// An advisory published earlier than the first sighting starts the
	// delay earlier.
	*now = firstSeen.Add(48 * time.Hour)
	rep, err := a.CheckPolicy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stages[0].Decision != PolicyApprove {
		t.Errorf("check before the delay: %+v", rep.Stages[0])
	}
}

func TestPolicyPromotion(t *testing.T) {
	ctx, a, now := policyApp(t, `  default: {level: autopilot}
  promotions:
    - {from: env=staging, to: env=prod, after: 72h}
`)
	c := a.Controller(EngineOptions{Dialer: noDialer{}})
	p, src := opensslPlan(t, "env=prod,role=web")
	_, err := c.Start(ctx, p, src, StartOptions{})
	if patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN {
		t.Fatalf("prod before staging: %v, want %s", err, patchpilot.EFORBIDDEN)
	}
	for _, w := range []string{"p1:", "openssl 3.0.2", "env=prod only after it succeeded on env=staging for 3d", "has not succeeded on env=staging yet"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not name %q", err, w)
		}
	}
	if rs, _ := a.Store.Rollouts(ctx, patchpilot.RolloutFilter{}); len(rs) != 0 {
		t.Errorf("a refused plan created rollout %s", rs[0].ID)
	}
	// The staging rollout is allowed: no rule governs staging.
	ps, psrc := opensslPlan(t, "env=staging")
	if _, err := c.Start(ctx, ps, psrc, StartOptions{}); err != nil {
		t.Fatalf("staging: %v", err)
	}
	success := patchpilot.Outcome{Time: *now, Rollout: "r-staging", Host: "s1", Labels: map[string]string{"env": "staging"},
		Packages: []patchpilot.PackageChange{{Name: "openssl", From: "3.0.1", To: "3.0.2"}}, Outcome: patchpilot.OutcomeSucceeded}
	if err := a.Store.RecordOutcome(ctx, success); err != nil {
		t.Fatal(err)
	}
	// Ten hours later: not long enough.
	*now = now.Add(10 * time.Hour)
	_, err = c.Start(ctx, p, src, StartOptions{})
	if patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN || !strings.Contains(err.Error(), "only 10h ago") ||
		!strings.Contains(err.Error(), "it may reach env=prod from "+success.Time.Add(72*time.Hour).Format(time.RFC3339)) {
		t.Fatalf("10h after staging: %v, want a refusal saying when", err)
	}
	// After the set time: allowed.
	*now = success.Time.Add(72 * time.Hour)
	if _, err := c.Start(ctx, p, src, StartOptions{}); err != nil {
		t.Fatalf("72h after staging succeeded: %v", err)
	}
}

func TestPolicyHeldPackageNeverReachesAHeldGroup(t *testing.T) {
	ctx, a, _ := policyApp(t, `  groups:
    - {name: prod, hosts: env=prod, level: autopilot, hold: ["openssl*"]}
`)
	c := a.Controller(EngineOptions{Dialer: noDialer{}})
	p, src := opensslPlan(t, "role=web") // s1 and p1
	_, err := c.Start(ctx, p, src, StartOptions{})
	if patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN || !strings.Contains(err.Error(), `p1: package openssl is held in group prod (hold "openssl*")`) {
		t.Fatalf("held package to prod: %v", err)
	}
	if strings.Contains(err.Error(), "s1:") {
		t.Errorf("the refusal names s1, whose group holds nothing: %v", err)
	}
	// Through a security-all plan as well.
	sec, err := planner.Parse([]byte("rollout:\n  patch: {security: all}\n  targets: {selector: env=prod}\n  stages: [{name: all, targets: rest}]\n"), "sec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, sec, nil, StartOptions{}); patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN {
		t.Errorf("security-all over prod, which holds openssl: %v", err)
	}
	// A dry run is refused too: it would show a rollout that may not run.
	if _, err := c.Start(ctx, p, src, StartOptions{DryRun: true}); patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN {
		t.Errorf("dry run: %v", err)
	}
	ps, psrc := opensslPlan(t, "env=staging")
	if _, err := c.Start(ctx, ps, psrc, StartOptions{}); err != nil {
		t.Errorf("staging holds nothing: %v", err)
	}
	rep, err := a.CheckPolicy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decision != PolicyRefuse || rep.Unattended {
		t.Errorf("check: %s unattended %v", rep.Decision, rep.Unattended)
	}
}

func TestPolicyAdvisorNeverStartsByItself(t *testing.T) {
	p, _ := opensslPlan(t, "env=staging")
	// No policy section: every host is in the default group, an advisor.
	ctx, a, _ := policyApp(t, "")
	ok, why, err := a.MayStartUnattended(ctx, p)
	if err != nil || ok || !strings.Contains(why, "group default is advisor") {
		t.Errorf("default policy: %v %q %v; want never, as an advisor", ok, why, err)
	}
	ctx, a, _ = policyApp(t, `  groups:
    - {name: staging, hosts: env=staging, level: advisor, auto_approve: [{classification: any, after: 0}]}
  default: {level: autopilot}
`)
	ok, why, err = a.MayStartUnattended(ctx, p)
	if err != nil || ok || !strings.Contains(why, "group staging is advisor: plans are proposed, a person starts them") {
		t.Errorf("advisor group: %v %q %v", ok, why, err)
	}
	// One advisor host among autopilot ones is enough to need a person.
	mixed, _ := opensslPlan(t, "role=web")
	if ok, _, _ := a.MayStartUnattended(ctx, mixed); ok {
		t.Error("a plan reaching an advisor host may start by itself")
	}
	// The prod web host alone is in autopilot.
	prod, _ := opensslPlan(t, "env=prod,role=web")
	if ok, why, err := a.MayStartUnattended(ctx, prod); err != nil || !ok {
		t.Errorf("autopilot: %v %q %v", ok, why, err)
	}
}

func TestCriticalGatedDespiteAStoredWaiver(t *testing.T) {
	ctx, a, _ := policyApp(t, "  default: {level: autopilot}\n")
	p, src := opensslPlan(t, "env=prod,role=db")
	// The plan as older versions stored it, waiver and all, started
	// straight on the engine as a stored rollout would be resumed.
	p.Policy.CriticalWithoutApproval = true
	views, err := a.HostViews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Controller(EngineOptions{Dialer: noDialer{}})
	id, err := c.eng.Start(ctx, p, string(src), views, orchestrator.StartOptions{CreatedBy: "user:old"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil || !r.Plan.Policy.CriticalWithoutApproval {
		t.Fatalf("the stored plan lost its waiver (%v): the test would prove nothing", err)
	}
	state, err := c.Run(ctx, id)
	if err != nil || state != patchpilot.RolloutWaitingApproval {
		t.Fatalf("run of a stored plan with the waiver: %s, %v; want waiting_approval for the critical host", state, err)
	}
	// Through the app, the policy reports it too.
	rep, err := a.CheckPolicy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Stages[0]; s.Decision != PolicyApprove || !strings.Contains(s.Findings[0].Reason, "p2") {
		t.Errorf("policy on the critical stage: %+v", s)
	}
}

func TestTwoApproversCountedDistinctly(t *testing.T) {
	ctx, a, _ := policyApp(t, `  groups:
    - {name: prod, hosts: env=prod, level: autopilot, two_approvers: true}
`)
	c := a.Controller(EngineOptions{Dialer: noDialer{}})
	p, src := opensslPlan(t, "env=prod,role=db")
	id, err := c.Start(ctx, p, src, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := storedStage(t, a, id, 0); ps.Approvers != 2 || !strings.Contains(ps.ApprovalReason, "two distinct approvers") {
		t.Fatalf("stored stage %+v: want two approvers", ps)
	}
	if state, err := c.Run(ctx, id); err != nil || state != patchpilot.RolloutWaitingApproval {
		t.Fatalf("run: %s, %v", state, err)
	}
	if _, err := c.Approve(ctx, id, "", "token:alice"); err != nil {
		t.Fatal(err)
	}
	if _, sr := storedStage(t, a, id, 0); sr.ApprovedBy != "" {
		t.Fatalf("one approver approved a stage that needs two: %q", sr.ApprovedBy)
	}
	// The same person again does not count twice.
	if _, err := c.Approve(ctx, id, "all", "token:alice"); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT ||
		!strings.Contains(err.Error(), "needs 2 distinct approvers (1 so far)") {
		t.Fatalf("second approval by the same actor: %v, want a conflict", err)
	}
	if _, sr := storedStage(t, a, id, 0); sr.ApprovedBy != "" {
		t.Fatalf("the same approver twice approved the stage: %q", sr.ApprovedBy)
	}
	st, err := a.RolloutStatus(ctx, id)
	if err != nil || st.State != patchpilot.RolloutWaitingApproval {
		t.Fatalf("after one approval the rollout is %s (%v), want still waiting", st.State, err)
	}
	if _, err := c.Approve(ctx, id, "", "token:bob"); err != nil {
		t.Fatal(err)
	}
	_, sr := storedStage(t, a, id, 0)
	if sr.ApprovedBy != "token:alice, token:bob" || sr.ApprovedAt == nil {
		t.Fatalf("after two distinct approvers: approved by %q", sr.ApprovedBy)
	}
	if st, _ := a.RolloutStatus(ctx, id); st.State != patchpilot.RolloutRunning {
		t.Errorf("approved rollout is %s, want running", st.State)
	}
	evs, err := a.RolloutEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == patchpilot.EventApproval {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d approval events, want one per distinct approver", n)
	}
}

// A policy built in code is checked as the file's is: a group with a
// selector that does not parse would otherwise match no host silently.
func TestNewRefusesABadPolicy(t *testing.T) {
	dir := t.TempDir()
	_, err := New(context.Background(), Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir},
		Policy: policy.Policy{Groups: []policy.Group{{Name: "prod", Selector: "env=prod,=x"}}}})
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "policy: groups[0] (prod): hosts") {
		t.Errorf("New with a bad policy: %v", err)
	}
}

// Two people approving at the same moment both count: each approval is
// stored before the approvers are counted, so the later count sees both.
func TestTwoApproversAtOnce(t *testing.T) {
	ctx, a, _ := policyApp(t, `  groups:
    - {name: prod, hosts: env=prod, level: autopilot, two_approvers: true}
`)
	c := a.Controller(EngineOptions{Dialer: noDialer{}})
	p, src := opensslPlan(t, "env=prod,role=db")
	for round := range 5 {
		id, err := c.Start(ctx, p, src, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if state, err := c.Run(ctx, id); err != nil || state != patchpilot.RolloutWaitingApproval {
			t.Fatalf("run: %s, %v", state, err)
		}
		errs := make(chan error, 2)
		for _, who := range []string{"token:alice", "token:bob"} {
			go func() {
				_, err := c.Approve(ctx, id, "all", who)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		_, sr := storedStage(t, a, id, 0)
		if !strings.Contains(sr.ApprovedBy, "token:alice") || !strings.Contains(sr.ApprovedBy, "token:bob") {
			t.Fatalf("round %d: two distinct approvers at once left the stage approved by %q", round, sr.ApprovedBy)
		}
		endRollout(t, a, id) // the next round's rollout takes the same host
	}
}

// endRollout marks a rollout a test has done with as aborted, so that
// another rollout may take its hosts (see Store.CreateRollout).
func endRollout(t *testing.T, a *App, id string) {
	t.Helper()
	if err := a.Store.SetRolloutState(context.Background(), id, patchpilot.RolloutAborted, "the test is done with it"); err != nil {
		t.Fatal(err)
	}
}
