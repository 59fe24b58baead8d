package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// Requests and answers, happy and not, conform to the OpenAPI document:
// each request to its operation's parameters and body, each answer to the
// schema of its status.
func TestRequestsAndAnswersConformToTheOpenAPIDocument(t *testing.T) {
	f := newFixture(t, fixtureOptions{config: policyConfig})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil // match paths on any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	check := func(method, path string, role patchpilot.Role, body, contentType string, want int) response {
		t.Helper()
		req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+f.tok[role])
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: not in the document: %v", method, path, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		if body != "" && want < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: the request does not conform: %v", method, path, err)
			}
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		r := f.do(method, path, f.tok[role], body, "Content-Type", contentType)
		if role == "" {
			r = f.do(method, path, "", body, "Content-Type", contentType)
		}
		if r.status != want {
			t.Fatalf("%s %s: %s; want %d", method, path, r, want)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header,
			Body: io.NopCloser(bytes.NewReader(r.body)), Options: opts}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s: the %d answer does not conform: %v", method, path, r.status, err)
		}
		return r
	}
	const js = "application/json"
	viewer, operator, approver, admin := patchpilot.RoleViewer, patchpilot.RoleOperator, patchpilot.RoleApprover, patchpilot.RoleAdmin
	check("GET", "/api/v1/hosts", viewer, "", "", 200)
	check("GET", "/api/v1/hosts", "", "", "", 401)
	check("GET", "/api/v1/hosts/web-1?packages=true", viewer, "", "", 200)
	check("GET", "/api/v1/hosts/nope", viewer, "", "", 404)
	check("GET", "/api/v1/updates?security=true", viewer, "", "", 200)
	check("GET", "/api/v1/deps?host=web-1&max_age=7d", viewer, "", "", 200)
	check("GET", "/api/v1/deps?host=nope", viewer, "", "", 404)
	check("GET", "/api/v1/deps?max_age=soon", viewer, "", "", 400)
	check("POST", "/api/v1/assessments", viewer, `{"host": "web-1"}`, js, 200)
	check("POST", "/api/v1/plans/validate", viewer, approvalPlan, "application/yaml", 200)
	check("POST", "/api/v1/plans/validate", viewer, "rollout: {x: 1}", "application/yaml", 400)
	plan := decode[PlanCreated](t, check("POST", "/api/v1/plans", operator, `{"patch": "web=1.1", "targets": "env=test"}`, js, 201))
	check("POST", "/api/v1/plans", viewer, `{"patch": "web=1.1"}`, js, 403)
	check("GET", "/api/v1/plans/"+plan.ID, viewer, "", "", 200)
	st := decode[app.RolloutStatus](t, check("POST", "/api/v1/rollouts", operator, `{"plan": `+jsonString(approvalPlan)+`}`, js, 201))
	f.waitState(st.ID, is(patchpilot.RolloutWaitingApproval))
	// Its hosts are taken until it finishes.
	check("POST", "/api/v1/rollouts", operator, `{"plan": `+jsonString(approvalPlan)+`}`, js, 409)
	check("GET", "/api/v1/rollouts?limit=10", viewer, "", "", 200)
	check("GET", "/api/v1/rollouts/"+st.ID, viewer, "", "", 200)
	check("GET", "/api/v1/rollouts/"+st.ID+"/events?after=0", viewer, "", "", 200)
	check("POST", "/api/v1/rollouts/"+st.ID+"/pause", operator, "", "", 200)
	check("POST", "/api/v1/rollouts/"+st.ID+"/resume", operator, "", "", 200)
	f.waitState(st.ID, is(patchpilot.RolloutWaitingApproval))
	check("POST", "/api/v1/rollouts/"+st.ID+"/approve", approver, `{"stage": "first"}`, js, 200)
	f.waitState(st.ID, patchpilot.RolloutState.Final)
	check("POST", "/api/v1/rollouts/"+st.ID+"/abort", operator, "", "", 409)
	check("POST", "/api/v1/rollouts/"+st.ID+"/rollback", operator, `{"hosts": ["web-1"]}`, js, 409)
	check("GET", "/api/v1/history", viewer, "", "", 200)
	check("GET", "/api/v1/model", viewer, "", "", 200)
	check("GET", "/api/v1/quarantines", viewer, "", "", 200)
	check("POST", "/api/v1/quarantines/clear", approver, `{"package":"pp-demo-web","version":"9.9.9","reason":"fixed"}`, js, 404)
	check("POST", "/api/v1/quarantines/clear", approver, `{"package":"pp-demo-web","version":"1.1.3","class":"web","reason":"fixed"}`, js, 400)
	check("POST", "/api/v1/quarantines/clear", operator, `{"package":"pp-demo-web","version":"1.1.3"}`, js, 403)
	check("GET", "/api/v1/compliance", viewer, "", "", 200)
	check("GET", "/api/v1/kpis?since=30d", viewer, "", "", 200)
	check("GET", "/api/v1/kpis?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z", viewer, "", "", 200)
	check("GET", "/api/v1/kpis?since=soon", viewer, "", "", 400)
	check("GET", "/api/v1/kpis?since=1d&from=2026-01-01T00:00:00Z", viewer, "", "", 400)
	check("GET", "/api/v1/policies", viewer, "", "", 200)
	check("POST", "/api/v1/policies/check", viewer, approvalPlan, "application/yaml", 200)
	check("POST", "/api/v1/policies/check", viewer, heldPlan, "application/yaml", 200)
	check("POST", "/api/v1/policies/check", viewer, "rollout: {x: 1}", "application/yaml", 400)
	check("GET", "/api/v1/schedules", viewer, "", "", 200)
	check("GET", "/api/v1/schedules", "", "", "", 401)
	check("POST", "/api/v1/tokens", admin, `{"name": "ci", "role": "viewer"}`, js, 201)
	check("GET", "/api/v1/tokens", admin, "", "", 200)
	check("DELETE", "/api/v1/tokens/ci", admin, "", "", 200)
	check("GET", "/api/v1/audit?actor=token:admin", admin, "", "", 200)
	check("GET", "/api/v1/openapi.json", "", "", "", 200)
	check("GET", "/healthz", "", "", "", 200)
	check("GET", "/readyz", "", "", "", 200)
	check("GET", "/metrics", "", "", "", 200)
}
