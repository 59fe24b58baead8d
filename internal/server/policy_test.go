package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// policyConfig is a patchpilot.yaml with a policy and a schedule, for
// the read endpoints.
const policyConfig = nightlySchedule + `policy:
  groups:
    - name: test
      hosts: env=test
      level: supervised
      auto_approve: [{classification: security, after: 3d}]
      hold: ["forbidden-*"]
  promotions:
    - {from: env=staging, to: env=prod, after: 72h}
`

// heldPlan sends a package the test group holds.
const heldPlan = `rollout:
  name: held
  patch: {packages: ["forbidden-tool=2.0"]}
  targets: {selector: "env=test"}
  stages:
    - {name: all, targets: rest}
`

// The policy, its verdict on a plan and the schedules are read through
// the API as the CLI prints them as JSON.
func TestPolicyAndScheduleReads(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	f := newFixture(t, fixtureOptions{now: clk.now, config: policyConfig})

	type group struct {
		Name, Hosts, Level string
		AutoApprove        []struct{ Classification, After string } `json:"auto_approve"`
		Hold               []string
	}
	pol := decode[struct {
		Groups     []group
		Default    group
		Promotions []struct{ From, To, After string }
	}](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/policies", "", http.StatusOK))
	if len(pol.Groups) != 1 || pol.Groups[0].Name != "test" || pol.Groups[0].Level != "supervised" || pol.Groups[0].Hosts != "env=test" ||
		len(pol.Groups[0].AutoApprove) != 1 || pol.Groups[0].AutoApprove[0].After != "3d" || len(pol.Groups[0].Hold) != 1 ||
		pol.Default.Name != "default" || pol.Default.Level != "advisor" || pol.Default.Hold == nil ||
		len(pol.Promotions) != 1 || pol.Promotions[0].After != "3d" {
		t.Errorf("policy = %+v", pol)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/policies?group=test", "", http.StatusBadRequest).apiError(t); e.Field != "group" {
		t.Errorf("an unknown parameter: %+v; want it named", e)
	}

	rep := decode[app.PolicyReport](t, f.as(patchpilot.RoleViewer, "POST", "/api/v1/policies/check", approvalPlan, http.StatusOK))
	if rep.Plan != "web-1.1" || rep.Decision != app.PolicyAllow || len(rep.Stages) != 2 || rep.Stages[0].Decision != app.PolicyApprove ||
		len(rep.Hosts) != 2 || rep.Hosts[0].Group != "test" || rep.Unattended {
		t.Errorf("report = %+v; want allowed, the first stage waiting, hosts in group test, not unattended", rep)
	}
	rep = decode[app.PolicyReport](t, f.as(patchpilot.RoleViewer, "POST", "/api/v1/policies/check", heldPlan, http.StatusOK))
	if rep.Decision != app.PolicyRefuse || len(rep.Refusals()) != 2 || !strings.Contains(rep.Refusals()[0], "forbidden-tool") {
		t.Errorf("report on a held package = %+v; want refused for both hosts", rep)
	}
	bad := strings.Replace(approvalPlan, "approval: required", "aproval: required", 1)
	if e := f.as(patchpilot.RoleViewer, "POST", "/api/v1/policies/check", bad, http.StatusBadRequest).apiError(t); !strings.Contains(e.Field, "aproval") ||
		!strings.Contains(e.Message, "plan:6:") {
		t.Errorf("a misspelt field: %+v; want the field and line named", e)
	}
	if e := f.as(patchpilot.RoleViewer, "POST", "/api/v1/policies/check", "", http.StatusBadRequest).apiError(t); !strings.Contains(e.Message, "empty") {
		t.Errorf("no body: %+v", e)
	}
	f.as(patchpilot.RoleViewer, "POST", "/api/v1/policies/check", "rollout:\n"+strings.Repeat("#", app.MaxPlanBytes), http.StatusRequestEntityTooLarge)

	views := decode[[]app.ScheduleView](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/schedules", "", http.StatusOK))
	if len(views) != 1 || views[0].Name != "nightly" || views[0].Kind != patchpilot.SchedulePatch || len(views[0].Next) != app.ScheduleListRuns ||
		!views[0].NextUTC[0].Equal(time.Date(2026, 3, 2, 22, 0, 0, 0, time.UTC)) || views[0].Last != nil || views[0].UpdatesText == "" {
		t.Errorf("schedules = %+v; want nightly, next at 22:00 UTC, never run", views)
	}
	f.as(patchpilot.RoleViewer, "GET", "/api/v1/schedules?limit=1", "", http.StatusBadRequest)
}
