package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// A rollout over hosts of another that has not finished is refused with
// 409 and ECONFLICT: the message names the rollout that holds them and
// the hosts, the hint the command that shows it. Once that one is over,
// the same start goes through.
func TestStartOverHeldHostsIsAConflict(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	first := f.startApproval(patchpilot.RoleOperator)
	body := `{"plan": ` + jsonString(onePlan) + `}`
	e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", body, http.StatusConflict).apiError(t)
	if e.Code != patchpilot.ECONFLICT {
		t.Errorf("code %s; want ECONFLICT", e.Code)
	}
	if want := "hosts web-1 and web-2 are in rollout " + first + " (waiting_approval), which has not finished: one rollout at a time changes a host"; e.Message != want {
		t.Errorf("message %q; want %q", e.Message, want)
	}
	if !strings.Contains(e.Hint, "'patchpilot rollout status "+first+"'") {
		t.Errorf("hint %q does not name 'patchpilot rollout status %s'", e.Hint, first)
	}
	// A dry run changes nothing: it goes through.
	dry := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(onePlan)+`, "dry_run": true}`, http.StatusCreated))
	f.waitState(dry.ID, patchpilot.RolloutState.Final)
	if list := decode[[]patchpilot.Rollout](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts", "", http.StatusOK)); len(list) != 2 {
		t.Errorf("rollouts after the refusal: %d; want the first and the dry run", len(list))
	}

	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+first+"/abort", "", http.StatusOK)
	f.waitState(first, patchpilot.RolloutState.Final)
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", body, http.StatusCreated)
}

// A plan asked of the API over hosts an unfinished rollout holds keeps
// them and warns in its header, naming the hosts and the rollout, as
// 'plan' does; starting it is what is refused.
func TestPlanOverHeldHostsWarns(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	first := f.startApproval(patchpilot.RoleOperator)
	created := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "env=test"}`, http.StatusCreated))
	want := "warning: hosts web-1 and web-2 are in rollout " + first + " (waiting_approval), which has not finished: one rollout at a time changes a host, so starting this plan is refused until then"
	found := false
	for _, line := range created.Header {
		found = found || strings.HasPrefix(line, want)
	}
	if !found || len(created.Targets) != 2 {
		t.Errorf("plan over held hosts: targets %v, header %q; want both targets and a line starting %q", created.Targets, created.Header, want)
	}
	if !strings.Contains(created.Source, want) {
		t.Errorf("the stored plan's source does not carry the warning:\n%s", created.Source)
	}
}
