package planner

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// canaryDoc is a one-stage plan with a Prometheus step of 5s and the given
// canary section lines, which start at line 9.
func canaryDoc(lines ...string) string {
	return doc(okStage) + "  health:\n    prometheus: {url: \"http://127.0.0.1:9090\", step: 5s}\n  canary:\n" + strings.Join(lines, "\n") + "\n"
}

const latencyQuery = `rate(pp_demo_request_duration_seconds_sum{instance="{{.Address}}:8080"}[30s]) / rate(pp_demo_request_duration_seconds_count{instance="{{.Address}}:8080"}[30s])`

func TestParseCanary(t *testing.T) {
	src := canaryDoc(
		"    judge: mannwhitney",
		"    baseline: 5m",
		"    interval: 10s",
		"    max_bake: 30m",
		"    on_inconclusive: pass",
		"    metrics:",
		"      - name: latency_mean",
		"        query: '"+latencyQuery+"'",
		"        direction: higher_is_worse",
		"        margin: 5%",
		"        critical: true",
		`      - {name: error_ratio, query: "rate(errors{host=\"{{.Host}}\"}[1m])", direction: higher_is_worse, margin: 0.005}`,
		`      - {name: throughput, query: "rate(req{instance=\"{{.Instance}}\"}[1m])", direction: lower_is_worse, margin: 12.5%}`,
		`      - {name: restarts, query: "increase(restarts{host=\"{{.Host}}\"}[5s])", direction: higher_is_worse, margin: 50%, kind: count}`,
	)
	got, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := patchpilot.CanaryConfig{
		Judge: "mannwhitney", Baseline: 5 * time.Minute, Interval: 10 * time.Second, MaxBake: 30 * time.Minute, OnInconclusive: "pass",
		Metrics: []patchpilot.CanaryMetric{
			{Name: "latency_mean", Query: latencyQuery, Direction: "higher_is_worse", Margin: 0.05, Relative: true, Critical: true},
			{Name: "error_ratio", Query: `rate(errors{host="{{.Host}}"}[1m])`, Direction: "higher_is_worse", Margin: 0.005},
			{Name: "throughput", Query: `rate(req{instance="{{.Instance}}"}[1m])`, Direction: "lower_is_worse", Margin: 0.125, Relative: true},
			{Name: "restarts", Query: `increase(restarts{host="{{.Host}}"}[5s])`, Direction: "higher_is_worse", Margin: 0.5, Relative: true, Kind: "count"},
		},
	}
	if !reflect.DeepEqual(got.Canary, want) {
		t.Errorf("got  %+v\nwant %+v", got.Canary, want)
	}
	out, err := Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "out.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, got) {
		t.Errorf("round trip:\n%s\ngot  %+v\nwant %+v", out, back.Canary, got.Canary)
	}
}

func TestParseCanaryDefaults(t *testing.T) {
	src := canaryDoc("    baseline: 2m", "    metrics:", "      - {name: m, query: up, direction: higher_is_worse, margin: 10%}")
	got, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Parse leaves zero fields zero, as written; WithDefaults fills them.
	if got.Canary.Judge != "" || got.Canary.Interval != 0 {
		t.Errorf("parsed %+v, want unset fields left zero", got.Canary)
	}
	d := got.Canary.WithDefaults(got.Health.Prometheus.Step)
	if d.Judge != patchpilot.CanaryJudgeSequential || d.Interval != 5*time.Second || d.Baseline != 2*time.Minute ||
		d.OnInconclusive != patchpilot.CanaryFail || d.Metrics[0].Kind != patchpilot.CanaryContinuous || d.MaxBake != 0 {
		t.Errorf("defaults = %+v", d)
	}
	// A plan without the section has none, and writes none.
	plain, err := Parse([]byte(doc(okStage)), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if plain.Canary.Enabled() {
		t.Errorf("canary enabled without a section: %+v", plain.Canary)
	}
	out, err := Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "canary") {
		t.Errorf("marshalled a canary section for a plan without one:\n%s", out)
	}
	// Settings without metrics cannot be written.
	plain.Canary.Judge = patchpilot.CanaryJudgeSequential
	if _, err := Marshal(plain); err == nil || !strings.Contains(err.Error(), "canary: metrics: at least one metric is required") {
		t.Errorf("Marshal of a canary without metrics: %v", err)
	}
}

func TestParseCanaryErrors(t *testing.T) {
	metric := func(fields string) []string {
		return []string{"    metrics:", "      - {" + fields + "}"}
	}
	ok := "name: m, query: up, direction: higher_is_worse"
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"unknown field", []string{"    metric: []"},
			`plan.yaml:9:5: canary: unknown field "metric" (known fields: judge, baseline, interval, max_bake, on_inconclusive, metrics)`},
		{"bad judge", []string{"    judge: kayenta"},
			`plan.yaml:9:12: canary: judge: expected sequential or mannwhitney, got "kayenta"`},
		{"bad policy", []string{"    on_inconclusive: extend"},
			`plan.yaml:9:22: canary: on_inconclusive: expected fail or pass, got "extend"`},
		{"bad duration", []string{"    baseline: ten minutes"},
			`plan.yaml:9:15: canary: baseline: invalid duration "ten minutes"`},
		{"zero interval", []string{"    interval: 0s"},
			`plan.yaml:9:15: canary: interval: expected a positive duration`},
		{"short baseline", []string{"    baseline: 90s"},
			`plan.yaml:9:15: canary: baseline: 1m30s holds 18 samples at the Prometheus step of 5s; the judge needs 20`},
		{"no metrics", []string{"    judge: sequential"},
			`plan.yaml:9:5: canary: missing field "metrics"`},
		{"empty metrics", []string{"    metrics: []"},
			`plan.yaml:9:14: canary: metrics: at least one metric is required`},
		{"unknown metric field", metric(ok + ", margin: 5%, unit: ms"),
			`plan.yaml:10:70: canary: metrics[0]: unknown field "unit"`},
		{"missing margin", metric(ok),
			`plan.yaml:10:9: canary: metrics[0]: missing field "margin"`},
		{"bad name", metric("name: \"p 99\", query: up, direction: higher_is_worse, margin: 5%"),
			`plan.yaml:10:16: canary: metrics[0]: name: invalid metric name "p 99"`},
		{"bad template", metric(`name: m, query: "up{host=\"{{.Hostname}}\"}", direction: higher_is_worse, margin: 5%`),
			`plan.yaml:10:26: canary: metrics[0]: query: template m:`},
		{"empty query", metric(`name: m, query: " ", direction: higher_is_worse, margin: 5%`),
			`plan.yaml:10:26: canary: metrics[0]: query: the query is empty`},
		{"bad direction", metric("name: m, query: up, direction: up, margin: 5%"),
			`plan.yaml:10:41: canary: metrics[0]: direction: expected higher_is_worse or lower_is_worse, got "up"`},
		{"bad margin", metric(ok + ", margin: five"),
			`plan.yaml:10:66: canary: metrics[0]: margin: invalid margin "five"`},
		{"negative margin", metric(ok + ", margin: -1"),
			`plan.yaml:10:66: canary: metrics[0]: margin: invalid margin "-1"`},
		{"bad kind", metric(ok + ", margin: 5%, kind: gauge"),
			`plan.yaml:10:76: canary: metrics[0]: kind: expected continuous or count, got "gauge"`},
		{"absolute count margin", metric(ok + ", margin: 2, kind: count"),
			`plan.yaml:10:66: canary: metrics[0]: margin: a count metric takes a percentage`},
		{"lower is worse by 100%", metric("name: m, query: up, direction: lower_is_worse, margin: 100%"),
			`plan.yaml:10:65: canary: metrics[0]: margin: a lower_is_worse metric cannot fall by 100% or more`},
		{"bad critical", metric(ok + ", margin: 5%, critical: maybe"),
			`plan.yaml:10:80: canary: metrics[0]: critical: expected true or false, got "maybe"`},
		{"duplicate metric", []string{"    metrics:", "      - {" + ok + ", margin: 5%}", "      - {" + ok + ", margin: 1%}"},
			`plan.yaml:11:9: canary: metrics[1]: metric name "m" is used twice (first at line 10)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(canaryDoc(tt.lines...)), "plan.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Errorf("code = %q, want invalid", patchpilot.ErrorCode(err))
			}
		})
	}
}

func TestParseCanaryNeedsPrometheus(t *testing.T) {
	src := doc(okStage) + "  canary:\n    metrics:\n      - {name: m, query: up, direction: higher_is_worse, margin: 5%}\n"
	_, err := Parse([]byte(src), "plan.yaml")
	want := `plan.yaml:7:5: canary: metrics: canary metrics need health.prometheus.url`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	// The default step of 15s makes the default baseline of 10m hold 40
	// samples, and a baseline of 4m only 16.
	src = doc(okStage) + "  health: {prometheus: {url: \"http://p:9090\"}}\n  canary: {baseline: 4m, metrics: [{name: m, query: up, direction: higher_is_worse, margin: 5%}]}\n"
	_, err = Parse([]byte(src), "plan.yaml")
	want = `plan.yaml:7:22: canary: baseline: 4m holds 16 samples at the Prometheus step of 15s`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
