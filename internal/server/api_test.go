package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// concrete fills a route's pattern with values.
func concrete(pattern string) string {
	return strings.NewReplacer("{id}", "r-nope", "{name}", "nobody").Replace(pattern)
}

// below is the role just under need: the one that may not.
func below(need patchpilot.Role) (patchpilot.Role, bool) {
	i := slices.Index(patchpilot.Roles, need)
	if i <= 0 {
		return "", false
	}
	return patchpilot.Roles[i-1], true
}

// Every endpoint refuses a call without a token, or with one that is
// unknown, with 401; and a role under the one it needs with 403, which a
// changing call records in the audit log.
func TestEveryEndpointAuthenticatesAndChecksTheRole(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, rt := range f.srv.routes {
		path := concrete(rt.pattern)
		for _, secret := range []string{"", "pp_not_a_token"} {
			r := f.do(rt.method, path, secret, "")
			if r.status != http.StatusUnauthorized || r.apiError(t).Code != patchpilot.EUNAUTHENTICATED {
				t.Errorf("%s %s with token %q: %s; want 401 unauthenticated", rt.method, path, secret, r)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", rt.method, path)
			}
		}
		r := f.do(rt.method, path, "pp_viewer_secret", "", "Authorization", "Basic dmlld2VyOnNlY3JldA==")
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s %s with Basic auth: %s; want 401", rt.method, path, r)
		}
		low, ok := below(rt.role)
		if !ok {
			continue
		}
		before := len(f.people.entries())
		r = f.do(rt.method, path, f.tok[low], "")
		if r.status != http.StatusForbidden || r.apiError(t).Code != patchpilot.EFORBIDDEN {
			t.Errorf("%s %s as %s: %s; want 403 forbidden", rt.method, path, low, r)
		}
		if rt.action != "" {
			es := f.people.entries()
			if len(es) != before+1 || es[before].Action != rt.action || es[before].Outcome != "forbidden" || es[before].Actor != "token:"+string(low) {
				t.Errorf("%s %s as %s: audit log %+v; want one %s entry with outcome forbidden", rt.method, path, low, es[before:], rt.action)
			}
		}
	}
}

// bodyCase is an endpoint that takes a body, called by a role that may.
type bodyCase struct {
	method, path string
	role         patchpilot.Role
	cap          int64
}

// Every endpoint that takes a body refuses an unknown field with 400
// naming it, and a body over its cap with 413.
func TestBodiesAreCheckedAndCapped(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	cases := []bodyCase{
		{"POST", "/api/v1/assessments", patchpilot.RoleViewer, MaxBodyBytes},
		{"POST", "/api/v1/plans", patchpilot.RoleOperator, MaxBodyBytes},
		{"POST", "/api/v1/rollouts", patchpilot.RoleOperator, MaxPlanBodyBytes},
		{"POST", "/api/v1/rollouts/r-nope/approve", patchpilot.RoleApprover, MaxBodyBytes},
		{"POST", "/api/v1/rollouts/r-nope/pause", patchpilot.RoleOperator, MaxBodyBytes},
		{"POST", "/api/v1/rollouts/r-nope/resume", patchpilot.RoleOperator, MaxBodyBytes},
		{"POST", "/api/v1/rollouts/r-nope/abort", patchpilot.RoleOperator, MaxBodyBytes},
		{"POST", "/api/v1/rollouts/r-nope/rollback", patchpilot.RoleOperator, MaxBodyBytes},
		{"POST", "/api/v1/quarantines/clear", patchpilot.RoleApprover, MaxBodyBytes},
		{"POST", "/api/v1/tokens", patchpilot.RoleAdmin, MaxBodyBytes},
		{"DELETE", "/api/v1/tokens/nobody", patchpilot.RoleAdmin, MaxBodyBytes},
	}
	// Plans as YAML: TestPlans, TestPolicyAndScheduleReads.
	covered := map[string]bool{"POST /api/v1/plans/validate": true, "POST /api/v1/policies/check": true}
	for _, c := range cases {
		for _, rt := range f.srv.routes {
			if rt.method == c.method && concrete(rt.pattern) == c.path {
				covered[rt.method+" "+rt.pattern] = true
			}
		}
		r := f.as(c.role, c.method, c.path, `{"colour": "blue"}`, http.StatusBadRequest)
		if e := r.apiError(t); e.Field != "colour" || !strings.Contains(e.Message, "colour") {
			t.Errorf("%s %s with an unknown field: %+v; want the field named", c.method, c.path, e)
		}
		r = f.as(c.role, c.method, c.path, `{"x": `+jsonString(strings.Repeat("a", int(c.cap)))+`}`, http.StatusRequestEntityTooLarge)
		if e := r.apiError(t); !strings.Contains(e.Message, fmt.Sprint(c.cap)) {
			t.Errorf("%s %s oversized: %+v; want the cap named", c.method, c.path, e)
		}
	}
	for _, rt := range f.srv.routes {
		if rt.method != "GET" && !covered[rt.method+" "+rt.pattern] {
			t.Errorf("%s %s takes a body but has no case here", rt.method, rt.pattern)
		}
	}
	// A field of the wrong type is named too.
	r := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan_id": "p", "dry_run": "yes"}`, http.StatusBadRequest)
	if e := r.apiError(t); e.Field != "dry_run" {
		t.Errorf("dry_run as a string: %+v; want the field dry_run", e)
	}
	r = f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "ci", "role": "root"}`, http.StatusBadRequest)
	if e := r.apiError(t); e.Field != "role" {
		t.Errorf("role root: %+v; want the field role", e)
	}
	r = f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{}`, http.StatusBadRequest)
	if e := r.apiError(t); e.Field != "plan_id" {
		t.Errorf("no plan: %+v; want the field plan_id", e)
	}
}

// TestHostsCarryTheirSLAState: GET /hosts lists each host as 'hosts -o
// json' does, with its state against its patch SLA (GET /compliance's).
func TestHostsCarryTheirSLAState(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
	}})
	hosts := decode[[]struct {
		Name     string       `json:"name"`
		SLAState app.SLAState `json:"sla_state"`
	}](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts", "", http.StatusOK))
	comp := decode[app.ComplianceReport](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/compliance", "", http.StatusOK))
	states := map[app.SLAState]int{}
	for _, h := range hosts {
		want := app.SLAUnknown
		if hc, ok := comp.Host(h.Name); ok {
			want = hc.State
		}
		if h.SLAState != want {
			t.Errorf("%s: sla_state %q; GET /compliance says %q", h.Name, h.SLAState, want)
		}
		states[h.SLAState]++
	}
	if len(hosts) != 5 || states[app.SLAOut] != 1 || states[app.SLAUnknown] != 1 {
		t.Errorf("hosts by SLA state %v over %d hosts; want one out of its SLA (db-1) and one never collected (new-1)", states, len(hosts))
	}
}

func TestReads(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	hosts := decode[[]patchpilot.HostSummary](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts", "", http.StatusOK))
	if len(hosts) != 2 || hosts[0].Name != "web-1" || hosts[0].PendingUpdateCount != 1 {
		t.Errorf("hosts = %+v", hosts)
	}
	d := decode[HostDetail](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts/web-1", "", http.StatusOK))
	if d.Name != "web-1" || d.Facts == nil || len(d.Facts.Packages) != 0 || len(d.Updates) != 1 || d.Updates[0].CandidateVersion != "1.1" {
		t.Errorf("host web-1 = %+v", d)
	}
	d = decode[HostDetail](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts/web-1?packages=true", "", http.StatusOK))
	if d.Facts == nil || len(d.Facts.Packages) != 1 {
		t.Errorf("host web-1 with packages = %+v", d.Facts)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts/nope", "", http.StatusNotFound).apiError(t); e.Code != patchpilot.ENOTFOUND {
		t.Errorf("unknown host: %+v", e)
	}
	ups := decode[[]patchpilot.HostUpdate](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?security=true&host=web-2", "", http.StatusOK))
	if len(ups) != 1 || ups[0].Host != "web-2" || ups[0].Package != "web" {
		t.Errorf("updates = %+v", ups)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?security=maybe", "", http.StatusBadRequest).apiError(t); e.Field != "security" {
		t.Errorf("security=maybe: %+v; want the parameter named", e)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?severity=high", "", http.StatusBadRequest).apiError(t); e.Field != "severity" {
		t.Errorf("unknown parameter: %+v; want it named", e)
	}
	res := decode[app.AssessResult](t, f.as(patchpilot.RoleViewer, "POST", "/api/v1/assessments", `{"host": "web-1"}`, http.StatusOK))
	if res.ModelVersion == "" || len(res.Patches) != 1 || len(res.Patches[0].Hosts) != 1 {
		t.Errorf("assessment = %+v", res)
	}
	// The body may be left out: every pending update is assessed.
	res = decode[app.AssessResult](t, f.as(patchpilot.RoleViewer, "POST", "/api/v1/assessments", "", http.StatusOK))
	if len(res.Patches) != 1 || len(res.Patches[0].Hosts) != 2 {
		t.Errorf("assessment of everything = %+v", res)
	}
	hist := decode[[]app.HistoryRecord](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/history?host=web-1", "", http.StatusOK))
	if len(hist) != 0 {
		t.Errorf("history = %+v; want none yet", hist)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/history?host=nope", "", http.StatusNotFound).apiError(t); e.Field != "host" {
		t.Errorf("history of an unknown host: %+v; want 404 naming host", e)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/history?rollout=r-nope", "", http.StatusNotFound).apiError(t); e.Field != "rollout" {
		t.Errorf("history of an unknown rollout: %+v; want 404 naming rollout", e)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/history?limit=-1", "", http.StatusBadRequest).apiError(t); e.Field != "limit" {
		t.Errorf("limit=-1: %+v", e)
	}
}

func TestPlans(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	chk := decode[planCheck](t, f.as(patchpilot.RoleViewer, "POST", "/api/v1/plans/validate", approvalPlan, http.StatusOK))
	if !chk.Valid || chk.Name != "web-1.1" || !slices.Equal(chk.Stages, []string{"first", "rest"}) {
		t.Errorf("validate = %+v", chk)
	}
	bad := strings.Replace(approvalPlan, "approval: required", "aproval: required", 1)
	e := f.as(patchpilot.RoleViewer, "POST", "/api/v1/plans/validate", bad, http.StatusBadRequest).apiError(t)
	if e.Code != patchpilot.EINVALID || !strings.Contains(e.Message, "plan:6:33:") || e.Field != "aproval" || e.Line != 6 || e.Column != 33 {
		t.Errorf("validate a misspelt field: %+v; want plan:6:33 and the field aproval", e)
	}
	bad = strings.Replace(approvalPlan, "targets: 1,", "targets: lots,", 1)
	e = f.as(patchpilot.RoleViewer, "POST", "/api/v1/plans/validate", bad, http.StatusBadRequest).apiError(t)
	if e.Line != 6 || e.Field != `stage "first".targets` {
		t.Errorf("validate a bad size: %+v; want line 6 and the field stage \"first\".targets", e)
	}
	f.as(patchpilot.RoleViewer, "POST", "/api/v1/plans/validate", "rollout:\n"+strings.Repeat("#", app.MaxPlanBytes), http.StatusRequestEntityTooLarge)

	created := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "env=test"}`, http.StatusCreated))
	if created.ID == "" || created.CreatedBy != "token:operator" || len(created.Targets) != 2 || !strings.Contains(created.Source, "web=1.1") {
		t.Errorf("created plan = %+v", created)
	}
	got := decode[StoredPlan](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/plans/"+created.ID, "", http.StatusOK))
	if got.ID != created.ID || got.CreatedBy != "token:operator" || got.Source != created.Source {
		t.Errorf("stored plan = %+v", got)
	}
	if _, err := app.ParsePlan([]byte(got.Source), "stored"); err != nil {
		t.Errorf("the stored plan does not parse: %v", err)
	}
	f.as(patchpilot.RoleViewer, "GET", "/api/v1/plans/p-999", "", http.StatusNotFound)
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web"}`, http.StatusBadRequest).apiError(t); e.Field != "patch" {
		t.Errorf("a pin without version: %+v; want the field patch", e)
	}
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "env=="}`, http.StatusBadRequest).apiError(t); e.Field != "targets" {
		t.Errorf("a bad selector: %+v; want the field targets", e)
	}
	es := f.people.entries()
	if len(es) == 0 || es[0].Action != "plan.create" || es[0].Outcome != "ok" || es[0].Target != created.ID || es[0].Actor != "token:operator" || es[0].Token != "operator" {
		t.Errorf("audit log = %+v; want plan.create by token:operator first", es)
	}
}

func TestTokensAndAudit(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	made := decode[tokenCreated](t, f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "ci", "role": "operator"}`, http.StatusCreated))
	if made.Secret == "" || made.Token.Name != "ci" || made.Token.Role != patchpilot.RoleOperator || made.Token.CreatedBy != "token:admin" {
		t.Fatalf("created token = %+v", made)
	}
	f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "ci", "role": "viewer"}`, http.StatusConflict)
	if r := f.do("GET", "/api/v1/hosts", made.Secret, ""); r.status != http.StatusOK {
		t.Errorf("the new token: %s", r)
	}
	ts := decode[[]patchpilot.Token](t, f.as(patchpilot.RoleAdmin, "GET", "/api/v1/tokens", "", http.StatusOK))
	if !slices.ContainsFunc(ts, func(x patchpilot.Token) bool { return x.Name == "ci" }) {
		t.Errorf("tokens = %+v; want ci", ts)
	}
	if strings.Contains(string(f.as(patchpilot.RoleAdmin, "GET", "/api/v1/tokens", "", http.StatusOK).body), made.Secret) {
		t.Error("the token list shows a secret")
	}
	f.as(patchpilot.RoleAdmin, "DELETE", "/api/v1/tokens/ci", "", http.StatusOK)
	if r := f.do("GET", "/api/v1/hosts", made.Secret, ""); r.status != http.StatusUnauthorized {
		t.Errorf("a revoked token: %s; want 401", r)
	}
	f.as(patchpilot.RoleAdmin, "DELETE", "/api/v1/tokens/nobody", "", http.StatusNotFound)

	all := decode[[]patchpilot.AuditEntry](t, f.as(patchpilot.RoleAdmin, "GET", "/api/v1/audit?actor=token:admin", "", http.StatusOK))
	var actions []string
	for _, e := range all {
		actions = append(actions, e.Action+":"+e.Target+":"+e.Outcome)
	}
	want := []string{"token.create:ci:ok", "token.create:ci:conflict", "token.revoke:ci:ok", "token.revoke:nobody:not_found"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit = %v; want %v", actions, want)
	}
	for _, e := range all {
		if e.Actor != "token:admin" || e.Token != "admin" {
			t.Errorf("audit entry %+v: want actor token:admin", e)
		}
	}
	if got := decode[[]patchpilot.AuditEntry](t, f.as(patchpilot.RoleAdmin, "GET", "/api/v1/audit?actor=token:operator", "", http.StatusOK)); len(got) != 0 {
		t.Errorf("audit of token:operator = %+v; want none", got)
	}
	if got := decode[[]patchpilot.AuditEntry](t, f.as(patchpilot.RoleAdmin, "GET", "/api/v1/audit?since=2099-01-01T00:00:00Z", "", http.StatusOK)); len(got) != 0 {
		t.Errorf("audit since 2099 = %+v; want none", got)
	}
	if e := f.as(patchpilot.RoleAdmin, "GET", "/api/v1/audit?since=yesterday", "", http.StatusBadRequest).apiError(t); e.Field != "since" ||
		!strings.HasPrefix(e.Message, `query parameter since "yesterday": expected a duration`) {
		t.Errorf("since=yesterday: %+v", e)
	}
}
