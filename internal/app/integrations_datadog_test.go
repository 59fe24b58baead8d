package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// A plan whose health section names a datadog integration reads its metric
// gates and its canary metrics from that integration's Datadog, with the
// keys patchpilot.yaml names.
func TestStageCheckerReadsDatadog(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+" "+r.URL.Query().Get("query")+" "+r.Header.Get("DD-API-KEY")+" "+r.Header.Get("DD-APPLICATION-KEY"))
		mu.Unlock()
		fmt.Fprint(w, `{"status":"ok","series":[]}`)
	}))
	defer srv.Close()
	var doc yaml.Node
	src := "services:\n  - name: dd-prod\n    type: datadog\n    url: " + srv.URL + "\n    api_key: {env: DD_API_KEY}\n    app_key: {env: DD_APP_KEY}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	ic, err := integrations.Decode("patchpilot.yaml", doc.Content[0], IntegrationTypes())
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Parse([]byte(`rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  health:
    datadog: {integration: dd-prod, step: 15s, queries: {cpu: 'avg:system.cpu.user{host:{{.Host}}}'}}
  canary:
    metrics:
      - {name: latency, query: 'avg:trace.http.request.duration{host:{{.Host}}}', direction: higher_is_worse, margin: 10%}
  stages:
    - {name: validation, targets: 1, bake: 1m, canary: false, criteria: [cpu_increase<20%]}
    - {name: canary, targets: 2, bake: 1m}
    - {name: rest, targets: rest}
`), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Options: Options{Integrations: ic, Env: []string{"DD_API_KEY=k-api", "DD_APP_KEY=k-app"}}}
	now := func() time.Time { return time.Now() }
	hc, err := a.stageChecker(p, p.Stages[0], now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, err := hc.Baseline(context.Background(), patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web01", Address: "10.0.0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/api/v1/query avg:system.cpu.user{host:web01} k-api k-app"; len(asked) != 1 || asked[0] != want {
		t.Errorf("asked %q, want %q", asked, want)
	}
	// No series: the baseline could not be taken, and says why.
	if !strings.Contains(string(base["cpu_increase<20%"]), "returned 0 series") {
		t.Errorf("baseline %s", base["cpu_increase<20%"])
	}
	cc, err := a.stageChecker(p, p.Stages[1], now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cc.(*canary.Checker)
	if !ok || c.Analyzer.Prom == nil || c.Analyzer.Prom.URL() != srv.URL {
		t.Fatalf("canary checker %#v: want the analyzer on %s", cc, srv.URL)
	}

	// The integration missing from patchpilot.yaml: the stage cannot start.
	a.Options.Integrations = integrations.Config{}
	_, err = a.stageChecker(p, p.Stages[0], now, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `integration "dd-prod": no integration of type datadog has that name`) {
		t.Errorf("missing integration: %v", err)
	}
}

// A rollout whose plan names a datadog integration patchpilot.yaml does not
// have is refused when it starts, before any stage runs.
func TestStartRolloutNeedsTheDatadogIntegration(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	p, err := planner.Parse([]byte(`rollout:
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  health:
    datadog: {integration: dd-prod}
  stages:
    - {name: all, targets: rest, criteria: [cpu_increase<20%]}
`), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.StartRollout(ctx, a.Engine(EngineOptions{}), p, nil, StartOptions{DryRun: true})
	if err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), `health: datadog: integration "dd-prod"`) {
		t.Errorf("err %v", err)
	}
	// policy check (and the dashboard's plan check) refuse it the same way
	if _, err := a.CheckPolicy(ctx, p); err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), `health: datadog: integration "dd-prod"`) {
		t.Errorf("CheckPolicy: %v", err)
	}
	// an integration without app_key cannot read metrics: refused at
	// the start, at the integration's line
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n  - name: dd-prod\n    type: datadog\n    api_key: {env: DD_API_KEY}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	if a.Options.Integrations, err = integrations.Decode("patchpilot.yaml", doc.Content[0], IntegrationTypes()); err != nil {
		t.Fatal(err)
	}
	// a missing API key names the integration's line
	if _, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), p, nil, StartOptions{DryRun: true}); err == nil ||
		!strings.Contains(err.Error(), "patchpilot.yaml:4: integrations: dd-prod: api_key: environment variable DD_API_KEY is not set") {
		t.Errorf("start without DD_API_KEY: %v", err)
	}
	a.Options.Env = append(a.Options.Env, "DD_API_KEY=k-api")
	for name, check := range map[string]func() error{
		"start": func() error {
			_, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), p, nil, StartOptions{DryRun: true})
			return err
		},
		"policy": func() error { _, err := a.CheckPolicy(ctx, p); return err },
	} {
		if err := check(); err == nil || !strings.Contains(err.Error(), "patchpilot.yaml:2: integrations: dd-prod: app_key: missing; reading metrics") {
			t.Errorf("%s without app_key: %v", name, err)
		}
	}
}
