package planner

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestParseDatadogAndAlertmanager(t *testing.T) {
	src := doc("    - {name: final, targets: rest, criteria: [cpu_increase<15%, no_firing_alerts]}") +
		"  health:\n" +
		"    datadog:\n" +
		"      integration: dd-prod\n" +
		"      queries:\n" +
		"        cpu: 'avg:system.cpu.user{host:{{.Host}}}'\n" +
		"        error_rate: 'sum:trace.http.request.errors{host:{{.Host}}}.as_rate() / sum:trace.http.request.hits{host:{{.Host}}}.as_rate()'\n" +
		"      window: 5m\n" +
		"      step: 20s\n" +
		"    alertmanager:\n" +
		"      url: http://127.0.0.1:9093\n" +
		"      matchers: ['instance=\"{{.Instance}}\"', 'severity=~\"critical|warning\"']\n"
	got, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := patchpilot.HealthConfig{
		Datadog: patchpilot.DatadogConfig{Integration: "dd-prod", Window: 5 * time.Minute, Step: 20 * time.Second,
			Queries: map[string]string{
				"cpu":        "avg:system.cpu.user{host:{{.Host}}}",
				"error_rate": "sum:trace.http.request.errors{host:{{.Host}}}.as_rate() / sum:trace.http.request.hits{host:{{.Host}}}.as_rate()",
			}},
		Alertmanager: patchpilot.AlertmanagerConfig{URL: "http://127.0.0.1:9093",
			Matchers: []string{`instance="{{.Instance}}"`, `severity=~"critical|warning"`}},
	}
	if !reflect.DeepEqual(got.Health, want) {
		t.Errorf("got  %+v\nwant %+v", got.Health, want)
	}
	if c := got.Stages[0].Criteria; len(c) != 2 || c[1].Name != patchpilot.CriterionNoFiringAlerts {
		t.Errorf("criteria %+v", c)
	}
	if w, s := got.Health.MetricsWindow(); w != 5*time.Minute || s != 20*time.Second {
		t.Errorf("metrics window %s step %s, want the datadog section's", w, s)
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
		t.Errorf("round trip:\n%s\ngot  %+v\nwant %+v", out, back.Health, got.Health)
	}
}

func TestParseCanaryOnDatadog(t *testing.T) {
	src := doc("    - {name: final, targets: rest}") +
		"  health:\n    datadog: {integration: dd, step: 15s}\n" +
		"  canary:\n    metrics:\n" +
		"      - {name: latency, query: 'avg:trace.http.request.duration{host:{{.Host}}}', direction: higher_is_worse, margin: 10%}\n"
	got, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Canary.Metrics) != 1 || got.Canary.Metrics[0].Query != "avg:trace.http.request.duration{host:{{.Host}}}" {
		t.Errorf("canary %+v", got.Canary)
	}
	// A PromQL-looking query without a scope is not a Datadog query.
	bad := strings.Replace(src, "avg:trace.http.request.duration{host:{{.Host}}}", "rate(x[1m])", 1)
	_, err = Parse([]byte(bad), "plan.yaml")
	if err == nil || !strings.Contains(err.Error(), "plan.yaml:10:32: canary: metrics[0]: query:") || !strings.Contains(err.Error(), "looks like PromQL") {
		t.Errorf("got %v", err)
	}
}

func TestParseMonitoringErrors(t *testing.T) {
	tests := []struct {
		name  string
		stage string
		lines []string
		want  string
	}{
		{"datadog without integration", okStage, []string{"    datadog: {queries: {cpu: 'avg:x{*}'}}"},
			`plan.yaml:7:14: health: datadog: missing field "integration"`},
		{"datadog unknown field", okStage, []string{"    datadog: {integration: dd, api_key: abc}"},
			`health: datadog: unknown field "api_key" (known fields: integration, queries, window, step)`},
		{"datadog unknown metric", okStage, []string{"    datadog: {integration: dd, queries: {disk: 'avg:x{*}'}}"},
			`plan.yaml:7:42: health: datadog: queries: unknown field "disk"`},
		{"datadog unbalanced query", okStage, []string{"    datadog: {integration: dd, queries: {cpu: 'avg:x{host:{{.Host}}'}}"},
			`plan.yaml:7:47: health: datadog: queries: cpu: query "avg:x{host:web01": a brace or parenthesis is not closed`},
		{"datadog PromQL range", okStage, []string{"    datadog: {integration: dd, queries: {cpu: 'avg:x{host:{{.Host}}}[5m]'}}"},
			`plan.yaml:7:47: health: datadog: queries: cpu: query "avg:x{host:web01}[5m]": "[" looks like PromQL`},
		{"datadog PromQL rate", okStage, []string{"    datadog: {integration: dd, queries: {error_rate: 'sum(rate(errors{host:{{.Host}}}))'}}"},
			`health: datadog: queries: error_rate: query "sum(rate(errors{host:web01}))": "rate(" looks like PromQL`},
		{"datadog step 0s", okStage, []string{"    datadog: {integration: dd, step: 0s}"},
			`plan.yaml:7:38: health: datadog: step: expected a positive duration such as 15s`},
		{"datadog step beyond the default window", okStage, []string{"    datadog: {integration: dd, step: 5m}"},
			`plan.yaml:7:38: health: datadog: step: 5m0s is longer than the window, 2m0s`},
		{"datadog step beyond the window", okStage, []string{"    datadog: {integration: dd, window: 1m, step: 90s}"},
			`plan.yaml:7:50: health: datadog: step: 1m30s is longer than the window, 1m0s`},
		{"datadog and prometheus", okStage, []string{"    prometheus: {url: http://p:9090}", "    datadog: {integration: dd}"},
			`plan.yaml:7:5: health: prometheus and datadog are both given`},
		{"alertmanager without url", okStage, []string{"    alertmanager: {matchers: ['a=\"b\"']}"},
			`plan.yaml:7:19: health: alertmanager: missing field "url"`},
		{"alertmanager bad url", okStage, []string{"    alertmanager: {url: am:9093}"},
			`plan.yaml:7:25: health: alertmanager: url: "am:9093" is not an http or https URL`},
		{"bad matcher operator", okStage, []string{"    alertmanager: {url: http://am:9093, matchers: ['instance=>\"x\"']}"},
			`plan.yaml:7:52: health: alertmanager: matchers[0]: matcher "instance=>\"x\""`},
		{"bad matcher regex", okStage, []string{"    alertmanager: {url: http://am:9093, matchers: ['severity=~\"(crit\"']}"},
			`health: alertmanager: matchers[0]: matcher "severity=~\"(crit\"": invalid regular expression`},
		{"bad matcher template", okStage, []string{"    alertmanager: {url: http://am:9093, matchers: ['instance=\"{{.Inst}}\"']}"},
			`plan.yaml:7:52: health: alertmanager: matchers[0]: template matcher:`},
		{"no_firing_alerts without alertmanager", "    - {name: final, targets: rest, criteria: [services_running, no_firing_alerts]}", []string{"    critical_units: [ssh]"},
			`plan.yaml:5:65: stage "final": criteria: no_firing_alerts needs health.alertmanager.url`},
		{"no_firing_alerts takes no threshold", "    - {name: final, targets: rest, criteria: [no_firing_alerts<1]}", []string{"    alertmanager: {url: http://am:9093}"},
			`criterion "no_firing_alerts<1" takes no threshold`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := doc(tt.stage) + "  health:\n" + strings.Join(tt.lines, "\n") + "\n"
			_, err := Parse([]byte(src), "plan.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Errorf("code = %q, want invalid", patchpilot.ErrorCode(err))
			}
		})
	}
}
