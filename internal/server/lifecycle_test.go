package server

import (
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// onePlan changes every target at once, without approval.
const onePlan = `rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: all, targets: rest, parallel: 2}
`

// Shutdown stops taking work, lets the rollouts it drives stop at a
// stored state and releases their leases, so that another controller (or
// the server started again) can carry them on at once.
func TestShutdownReleasesTheLease(t *testing.T) {
	dialing := make(chan struct{}, 1)
	f := newFixture(t, fixtureOptions{dialer: downDialer{block: dialing}})
	id := decode[struct{ ID string }](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(onePlan)+`}`, http.StatusCreated)).ID
	<-dialing // a host's pipeline is under way: the lease is held
	if granted, holder, err := f.app.Store.AcquireLease(f.ctx, id, "someone-else", time.Minute); err != nil || granted || holder == "" {
		t.Fatalf("lease while the server drives the rollout: granted %v, holder %q, err %v; want it held", granted, holder, err)
	}
	f.srv.Shutdown(context.Background())
	if granted, holder, err := f.app.Store.AcquireLease(f.ctx, id, "someone-else", time.Minute); err != nil || !granted {
		t.Fatalf("lease after shutdown: granted %v, holder %q, err %v; want it free", granted, holder, err)
	}
	r, err := f.app.Store.Rollout(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State.Final() {
		t.Errorf("rollout %s is %s after shutdown; want it left to be carried on", id, r.State)
	}
	// No new work, not ready; still alive.
	if e := f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(onePlan)+`}`, http.StatusServiceUnavailable).apiError(t); e.Code != patchpilot.EUNAVAILABLE {
		t.Errorf("start during shutdown: %+v", e)
	}
	if r := f.do("GET", "/readyz", "", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz during shutdown: %s", r)
	}
	if r := f.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("healthz during shutdown: %s", r)
	}
}

// At start-up the server carries on every rollout left running by a
// controller that is gone, and leaves alone one another live controller
// holds.
func TestStartResumesOrphanedRollouts(t *testing.T) {
	// The two rollouts are unfinished at once: each has hosts of its own.
	f := newFixture(t, fixtureOptions{noStart: true, seed: func(a *app.App) { seedHostsIn(t, a, "test-b", "web-3", "web-4") }})
	start := func(env string) string {
		src := strings.Replace(onePlan, `selector: "env=test"`, `selector: "env=`+env+`"`, 1)
		p, err := parsePlan(src)
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.srv.ctrl.Start(f.ctx, p, []byte(src), StartOptions{Actor: "token:operator"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.app.Store.SetRolloutState(f.ctx, id, patchpilot.RolloutRunning, "started by a server that died"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	orphan, held := start("test"), start("test-b")
	if granted, _, err := f.app.Store.AcquireLease(f.ctx, held, "controller-elsewhere", time.Hour); err != nil || !granted {
		t.Fatalf("lease: %v %v", granted, err)
	}
	if f.do("GET", "/readyz", "", "").status != http.StatusOK {
		t.Error("not ready")
	}
	if err := f.srv.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.waitState(orphan, patchpilot.RolloutState.Final)
	for slices.Contains(f.srv.runs.running(), held) {
		time.Sleep(5 * time.Millisecond)
	}
	r, err := f.app.Store.Rollout(f.ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != patchpilot.RolloutRunning {
		t.Errorf("rollout %s held elsewhere is %s; want it left running", held, r.State)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "rollout not driven here") || !strings.Contains(logs, held) {
		t.Errorf("logs do not say rollout %s was skipped:\n%s", held, logs)
	}
}

func parsePlan(src string) (patchpilot.Plan, error) {
	return app.ParsePlan([]byte(src), "plan")
}

// The OpenAPI document validates, and it names exactly the routes the
// server registers on its mux, each of which answers.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	r := f.do("GET", "/api/v1/openapi.json", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("openapi.json: %s", r)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document does not validate: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := slices.Clone(f.srv.patterns)
	slices.Sort(documented)
	slices.Sort(served)
	for _, p := range served {
		if !slices.Contains(documented, p) {
			t.Errorf("%s is served but not in the OpenAPI document", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("%s is in the OpenAPI document but not served", p)
		}
		method, path, _ := strings.Cut(p, " ")
		if path == "/api/v1/events" {
			continue // a stream: TestEventStream*
		}
		res := f.do(method, concrete(path), f.tok[patchpilot.RoleAdmin], "")
		if res.status == http.StatusMethodNotAllowed || res.status == http.StatusNotFound && !strings.Contains(path, "{") {
			t.Errorf("%s: %s", p, res)
		}
		if res.status == http.StatusNotFound && strings.Contains(string(res.body), "no endpoint") {
			t.Errorf("%s is not routed: %s", p, res)
		}
	}
}

func TestMetricsAndProbes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := decode[struct{ ID string }](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(onePlan)+`}`, http.StatusCreated)).ID
	f.waitState(id, patchpilot.RolloutState.Final)
	f.do("GET", "/api/v1/hosts", "", "")
	// Whether the second host is dispatched before the first one's
	// failure halts the stage depends on timing: the metric must show
	// what the store holds.
	outs, err := f.app.Store.Outcomes(f.ctx, patchpilot.OutcomeFilter{Rollout: id})
	if err != nil || len(outs) == 0 {
		t.Fatalf("outcomes of %s: %d, %v; want at least the first host's", id, len(outs), err)
	}
	byOutcome := map[patchpilot.OutcomeKind]int{}
	for _, o := range outs {
		byOutcome[o.Outcome]++
	}
	// A request's latency is observed as its handler returns, which may
	// be just after its client has the answer: look until the figures are
	// all there.
	wants := []string{
		`patchpilot_hosts{state="security_pending"} 2`,
		`patchpilot_hosts{state="compliant"} 0`,
		`patchpilot_pending_updates{severity="none"} 2`,
		// Both are security updates without a severity: no deadline,
		// so no SLA state measures them; the gauge counts them.
		`patchpilot_sla_unrated_updates 2`,
		`patchpilot_sla_hosts{state="compliant"} 2`,
		`patchpilot_rollouts{state="halted"} 1`,
		`patchpilot_rollouts{state="running"} 0`,
		fmt.Sprintf(`patchpilot_host_outcomes{outcome="unreachable"} %d`, byOutcome[patchpilot.OutcomeUnreachable]),
		`patchpilot_api_request_duration_seconds_count{route="GET /api/v1/hosts",status="401"} 1`,
		`patchpilot_api_request_duration_seconds_count{route="POST /api/v1/rollouts",status="201"} 1`,
		`patchpilot_store_scrape_errors 0`,
	}
	var body string
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := f.do("GET", "/metrics", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("metrics: %s", r)
		}
		body, missing = string(r.body), nil
		for _, want := range wants {
			if !strings.Contains(body, want+"\n") {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("metrics lack %s:\n%s", strings.Join(missing, ", "), body)
	}
	var st map[string]string
	if r := f.do("GET", "/healthz", "", ""); r.status != http.StatusOK || json.Unmarshal(r.body, &st) != nil || st["status"] != "alive" {
		t.Errorf("healthz: %s", r)
	}
	if r := f.do("GET", "/readyz", "", ""); r.status != http.StatusOK {
		t.Errorf("readyz: %s", r)
	}
	f.app.Close()
	if r := f.do("GET", "/readyz", "", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database closed: %s", r)
	}
}

// The server stands on the app and the root package only.
func TestServerImportsOnlyTheApp(t *testing.T) {
	const module = "github.com/patchpilot/patchpilot"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module+"/") && path != module+"/internal/app" {
				t.Errorf("%s imports %s: the server reaches the use cases through internal/app only", name, path)
			}
		}
	}
}

// A path the API serves with other methods answers 405 naming them; an
// unknown path answers 404 in the API's error shape.
func TestUnknownMethodsAndPaths(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	r := f.do("PUT", "/api/v1/rollouts/r-1/pause", f.tok[patchpilot.RoleAdmin], "")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("PUT pause: %s, Allow %q; want 405 allowing POST", r, r.header.Get("Allow"))
	}
	r = f.do("GET", "/api/v1/nothing", f.tok[patchpilot.RoleAdmin], "")
	if r.status != http.StatusNotFound || r.apiError(t).Code != patchpilot.ENOTFOUND {
		t.Errorf("GET /api/v1/nothing: %s", r)
	}
}

// No secret reaches the server's log, whatever the calls.
func TestSecretsStayOutOfTheLog(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	made := decode[tokenCreated](t, f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "ci", "role": "admin"}`, http.StatusCreated))
	f.do("GET", "/api/v1/hosts", made.Secret, "")
	f.do("GET", "/api/v1/hosts", made.Secret+"x", "")
	f.do("GET", "/api/v1/audit", f.tok[patchpilot.RoleViewer], "")
	f.srv.Shutdown(context.Background())
	logs := f.logs.String()
	for _, secret := range append([]string{made.Secret, made.Secret + "x"}, f.tok[patchpilot.RoleAdmin], f.tok[patchpilot.RoleViewer]) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the secret %s:\n%s", secret, logs)
		}
	}
}

// Gate verdicts are counted from the event log, each event once, however
// many scrapes read it.
func TestMetricsCountGateVerdictsOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	verdict := func(v patchpilot.HealthVerdict) {
		data, err := json.Marshal(patchpilot.HealthReport{Verdict: v})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.app.Store.AppendEvent(f.ctx, patchpilot.Event{Actor: "controller", Kind: patchpilot.EventGateVerdict,
			Host: "web-1", Message: "gate", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func() string {
		r := f.do("GET", "/metrics", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("metrics: %s", r)
		}
		return string(r.body)
	}
	if body := scrape(); !strings.Contains(body, `patchpilot_gate_verdicts_total{verdict="rollback"} 0`+"\n") {
		t.Errorf("before any verdict the rollback count is not shown as 0:\n%s", body)
	}
	verdict(patchpilot.Healthy)
	verdict(patchpilot.Unhealthy)
	if body := scrape(); !strings.Contains(body, `patchpilot_gate_verdicts_total{verdict="healthy"} 1`+"\n") {
		t.Errorf("first scrape:\n%s", body)
	}
	verdict(patchpilot.Healthy)
	body := scrape()
	for _, want := range []string{`patchpilot_gate_verdicts_total{verdict="healthy"} 2`, `patchpilot_gate_verdicts_total{verdict="rollback"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("second scrape lacks %s:\n%s", want, body)
		}
	}
}

// A scrape of /metrics needs the hosts' facts, never their collection
// failures: it reads no collection failure event, however long that log.
func TestMetricsReadNoCollectFailures(t *testing.T) {
	var failureReads atomic.Int64
	f := newFixture(t, fixtureOptions{noStart: true, seed: func(a *app.App) {
		if _, err := a.Store.AppendEvents(context.Background(), []patchpilot.Event{{Time: time.Now(), Kind: patchpilot.EventCollectFailed,
			Host: "web-1", Message: "connection refused"}}); err != nil {
			t.Fatal(err)
		}
		a.Store = failureCountingStore{Store: a.Store, reads: &failureReads}
	}})
	r := f.do("GET", "/metrics", "", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `patchpilot_hosts{state="security_pending"}`) {
		t.Fatalf("metrics: %s", r)
	}
	if n := failureReads.Load(); n != 0 {
		t.Errorf("a scrape read the collection failure events %d times", n)
	}
	// The host list shows the failure: the same store counts its read.
	f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts", "", http.StatusOK)
	if failureReads.Load() == 0 {
		t.Errorf("the host list read no collection failure: the test counts nothing")
	}
}

// failureCountingStore counts the reads of collection failure events.
type failureCountingStore struct {
	patchpilot.Store
	reads *atomic.Int64
}

func (s failureCountingStore) Events(ctx context.Context, f patchpilot.EventFilter) ([]patchpilot.Event, error) {
	if f.Kind == patchpilot.EventCollectFailed {
		s.reads.Add(1)
	}
	return s.Store.Events(ctx, f)
}
