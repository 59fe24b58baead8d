package server

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// TestQuarantineEndpoints: a rolled-back version is listed by GET
// /quarantines; an approver clears it with POST /quarantines/clear,
// recorded as the token's and in the audit log, and the list is empty.
func TestQuarantineEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	o := patchpilot.Outcome{Time: time.Now().UTC().Add(-time.Minute), Rollout: "r-1", Host: "web-1", OS: "debian:12",
		Labels: map[string]string{"role": "web"}, Outcome: patchpilot.OutcomeRolledBack, Reason: "canary failed",
		Packages: []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: "1.1.3"}}}
	if err := f.app.Store.RecordOutcome(f.ctx, o); err != nil {
		t.Fatal(err)
	}
	qs := decode[[]app.Quarantine](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/quarantines", "", 200))
	if len(qs) != 1 || qs[0].Class != "debian:12/web" || qs[0].Version != "1.1.3" {
		t.Fatalf("quarantines %+v", qs)
	}
	res := decode[app.QuarantineCleared](t, f.as(patchpilot.RoleApprover, "POST", "/api/v1/quarantines/clear",
		`{"package":"pp-demo-web","version":"1.1.3","class":"debian:12/web","reason":"fixed"}`, 200))
	if len(res.Lifted) != 1 || res.Clearance.ClearedBy != "token:approver" || res.Clearance.Reason != "fixed" {
		t.Fatalf("clearance %+v", res)
	}
	if qs := decode[[]app.Quarantine](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/quarantines", "", 200)); len(qs) != 0 {
		t.Fatalf("after the clearance: %+v", qs)
	}
	entries, err := f.app.Store.Audit(f.ctx, patchpilot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range entries {
		if e.Action == "quarantine.clear" && e.Actor == "token:approver" && e.Outcome == "ok" && strings.Contains(e.Target, "pp-demo-web=1.1.3") {
			found++
		}
	}
	if found != 1 {
		t.Errorf("audit entries %+v, want one quarantine.clear by token:approver", entries)
	}
}

// TestQuarantineClearAndPlanOverAPI: a clearance needs a reason (400
// naming the field), a 404's hint speaks of the request's field class,
// not the CLI's flag, and POST /plans refuses a patch quarantined on every
// target unless allow_quarantined keeps them.
func TestQuarantineClearAndPlanOverAPI(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	// The fixture's hosts run debian 12 without a role: class debian:12/-.
	o := patchpilot.Outcome{Time: time.Now().UTC().Add(-time.Minute), Rollout: "r-1", Host: "web-1", OS: "debian:12",
		Labels: map[string]string{"env": "test"}, Outcome: patchpilot.OutcomeRolledBack, Reason: "canary failed",
		Packages: []patchpilot.PackageChange{{Name: "web", From: "1.0", To: "1.1"}}}
	if err := f.app.Store.RecordOutcome(f.ctx, o); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"package":"web","version":"1.1"}`, `{"package":"web","version":"1.1","reason":"  "}`} {
		if e := f.as(patchpilot.RoleApprover, "POST", "/api/v1/quarantines/clear", body, 400).apiError(t); e.Field != "reason" {
			t.Errorf("clear %s: field %q (%s), want reason", body, e.Field, e.Message)
		}
	}
	e := f.as(patchpilot.RoleApprover, "POST", "/api/v1/quarantines/clear",
		`{"package":"web","version":"1.1","class":"debian:12/web","reason":"fixed"}`, 404).apiError(t)
	if !strings.Contains(e.Hint, "debian:12/-") || !strings.Contains(e.Hint, `"class"`) || strings.Contains(e.Hint, "--class") {
		t.Errorf("404 hint %q: want the class quarantined and the field \"class\", not --class", e.Hint)
	}

	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1"}`, 403).apiError(t); !strings.Contains(e.Message, "quarantined") {
		t.Errorf("plan of a patch quarantined on every target: %q", e.Message)
	}
	created := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "allow_quarantined": true}`, 201))
	if len(created.Targets) != 2 || len(created.LeftOut) != 0 || len(created.LeftOutReasons) != 0 ||
		!strings.Contains(strings.Join(created.Header, "\n"), "kept web-1 (--allow-quarantined)") {
		t.Errorf("plan with allow_quarantined: targets %v, left out %v %v, header %v", created.Targets, created.LeftOut, created.LeftOutReasons, created.Header)
	}
}
