package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/datadog"
)

// TestDatadogMetricGate runs cpu_increase against a Datadog answering the
// metrics query API: the gate's query is the plan's template rendered for
// the host, the window is the Datadog section's, and a jump of the CPU
// after the change breaches.
func TestDatadogMetricGate(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	var level atomic.Int64
	level.Store(10)
	var queries atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.Header.Get("DD-APPLICATION-KEY") != "app" || r.Header.Get("DD-API-KEY") != "api" {
			t.Errorf("request %s %v", r.URL.Path, r.Header)
		}
		queries.Store(r.URL.Query().Get("query"))
		from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
		to, _ := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
		// One point every 15 s, the newest 40 s old: Datadog's delay.
		var pts []string
		for ts := from; ts <= to-40; ts += 15 {
			pts = append(pts, fmt.Sprintf("[%d.0, %d]", ts*1000, level.Load()))
		}
		fmt.Fprintf(w, `{"status":"ok","series":[{"metric":"system.cpu.user","scope":"host:web01","pointlist":[%s]}]}`, strings.Join(pts, ","))
	}))
	defer srv.Close()
	var doc yaml.Node
	src := "services:\n  - name: dd\n    type: datadog\n    url: " + srv.URL + "\n    api_key: {env: K}\n    app_key: {env: A}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	ic, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{datadog.Type})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := datadog.New(ic.Items[0], func(k string) string { return map[string]string{"K": "api", "A": "app"}[k] }, datadog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd", Window: 3 * time.Minute, Step: 15 * time.Second,
		Queries: map[string]string{patchpilot.MetricCPU: "avg:system.cpu.user{host:{{.Host}}}"}}}
	crit := []patchpilot.Criterion{{Name: patchpilot.CriterionCPUIncrease, Op: "<", Value: 25, Unit: "%"}}
	c, err := New(crit, cfg, Options{Metrics: DatadogSource(dd), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web01", Address: "10.0.0.5"}}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if q := queries.Load(); q != "avg:system.cpu.user{host:web01}" {
		t.Errorf("query %q", q)
	}
	if strings.Contains(string(base["cpu_increase<25%"]), "baseline_error") {
		t.Fatalf("baseline %s", base["cpu_increase<25%"])
	}
	target.Since = now
	now = now.Add(5 * time.Minute)
	rep, err := c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Outcome != patchpilot.GatePass || *r.Value != 10 {
		t.Errorf("steady cpu: %s %q", r.Outcome, r.Reason)
	}
	level.Store(50)
	rep, err = c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Outcome != patchpilot.GateBreach || *r.Value != 50 || *r.Baseline != 10 {
		t.Errorf("cpu +40: %s %q", r.Outcome, r.Reason)
	}
	// Without the client (the integration missing), the gate fails closed.
	c2, err := New(crit, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = c2.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, `datadog integration "dd"`) {
		t.Errorf("no client: %s %q", r.Outcome, r.Reason)
	}
}

func TestValidateDatadogConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  patchpilot.HealthConfig
		want string
	}{
		{patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Queries: map[string]string{"cpu": "avg:x{*}"}}}, "health: datadog: integration: expected the name"},
		{patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd", Queries: map[string]string{"disk": "avg:x{*}"}}}, `unknown metric "disk"`},
		{patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd", Queries: map[string]string{"cpu": "avg:x{host:{{.Host}}"}}}, "not closed"},
		{patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd", Window: time.Second, Step: time.Minute}}, "step 1m0s is longer than window 1s"},
		{patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd"}, Prometheus: patchpilot.PrometheusConfig{URL: "http://p:9090"}}, "prometheus and datadog are both given"},
	} {
		err := ValidateConfig(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
