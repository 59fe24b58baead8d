package canary_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/datadog"
	"github.com/patchpilot/patchpilot/internal/judge"
)

// fakeDatadog answers the metrics query API with a latency per host: one
// point every 15 s with a small wobble, the newest 30 s old (Datadog's
// ingestion delay), and, after changeAt, the factor of the host's
// change.
type fakeDatadog struct {
	t        *testing.T
	changeAt time.Time
	factor   map[string]float64
}

var hostScope = regexp.MustCompile(`\{host:([a-z0-9]+)\}`)

func (f *fakeDatadog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path != "/api/v1/query" || r.Header.Get("DD-APPLICATION-KEY") != "app" {
		f.t.Errorf("request %s %v", r.URL.Path, r.Header)
	}
	m := hostScope.FindStringSubmatch(q.Get("query"))
	if m == nil || !strings.HasPrefix(q.Get("query"), "avg:trace.http.request.duration{") {
		f.t.Errorf("query %q", q.Get("query"))
		http.Error(w, `{"errors":["bad query"]}`, http.StatusBadRequest)
		return
	}
	host := m[1]
	from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
	to, _ := strconv.ParseInt(q.Get("to"), 10, 64)
	var pts []string
	for ts := from - from%15; ts <= to-30; ts += 15 {
		if ts < from {
			continue
		}
		v := 0.050 * (1 + 0.02*math.Sin(float64(ts)/15))
		if !time.Unix(ts, 0).Before(f.changeAt) {
			v *= f.factor[host]
		}
		pts = append(pts, fmt.Sprintf("[%d.0, %g]", ts*1000, v))
	}
	fmt.Fprintf(w, `{"status":"ok","res_type":"time_series","series":[{"metric":"trace.http.request.duration","scope":"host:%s","pointlist":[%s]}]}`,
		host, strings.Join(pts, ","))
}

// TestAnalyzeDatadog runs the canary judge on metrics read from Datadog
// (health.DatadogSource): a patched host whose latency tripled fails, and
// the same fleet without a change does not.
func TestAnalyzeDatadog(t *testing.T) {
	applied := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	fake := &fakeDatadog{t: t, changeAt: applied, factor: map[string]float64{"h1": 3, "h2": 1, "h3": 1}}
	srv := httptest.NewServer(fake)
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
	const step = 15 * time.Second
	cfg := patchpilot.CanaryConfig{Baseline: 10 * time.Minute, Metrics: []patchpilot.CanaryMetric{{
		Name: "latency", Query: "avg:trace.http.request.duration{host:{{.Host}}}", Direction: patchpilot.CanaryHigherIsWorse,
		Margin: 0.1, Relative: true, Critical: true}}}
	ev, err := canary.NewEvaluatorWithDelay(cfg, step, health.DatadogIngestDelay)
	if err != nil {
		t.Fatal(err)
	}
	now := applied.Add(5 * time.Minute)
	a := &canary.Analyzer{Prom: health.DatadogSource(dd), Judge: ev, Step: step, Now: func() time.Time { return now }}
	hosts := []patchpilot.Host{{Name: "h1", Address: "10.0.0.1"}, {Name: "h2", Address: "10.0.0.2"}, {Name: "h3", Address: "10.0.0.3"}}
	patched := targets(hosts, "h1")
	patched[0].AppliedAt = applied
	res, err := a.Analyze(context.Background(), cfg, patched, targets(hosts, "h2", "h3"), time.Time{}, false)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := res.Verdict("latency")
	if res.Outcome != judge.Fail || v.Outcome != judge.Fail || float64(v.Estimate) < 1.5 {
		t.Fatalf("tripled latency: %s, verdict %s estimate %v (%s)", res.Outcome, v.Outcome, v.Estimate, v.Reason)
	}
	for _, s := range v.Evidence.Series {
		if len(s.Baseline) < patchpilot.CanaryMinBaselineSamples || len(s.Current) == 0 {
			t.Errorf("host %s: %d baseline and %d current samples", s.Host, len(s.Baseline), len(s.Current))
		}
	}
	fake.factor["h1"] = 1
	res, err = a.Analyze(context.Background(), cfg, patched, targets(hosts, "h2", "h3"), time.Time{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome == judge.Fail {
		t.Errorf("unchanged latency: %s (%s)", res.Outcome, res.Reason)
	}
}
