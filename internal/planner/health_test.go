package planner

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// healthDoc is a one-stage plan with the given health section lines.
func healthDoc(lines ...string) string {
	return doc(okStage) + "  health:\n" + strings.Join(lines, "\n") + "\n"
}

func TestParseHealth(t *testing.T) {
	src := healthDoc(
		"    http:",
		`      - {name: web, url: "http://{{.Address}}:8080/health", expect_status: 200, timeout: 3s, max_latency: 500ms}`,
		`      - name: api`,
		`        url: "https://{{.Host}}.example.com/ping"`,
		"    prometheus:",
		"      url: http://127.0.0.1:9090",
		"      queries:",
		`        error_rate: 'sum(rate(errors_total{instance="{{.Address}}:8080"}[1m]))'`,
		`        cpu: '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",instance="{{.Instance}}"}[1m])))'`,
		"      window: 1m",
		"      step: 5s",
		"    critical_units: [pp-demo-web.service, ssh]",
	)
	got, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := patchpilot.HealthConfig{
		HTTP: []patchpilot.HTTPProbe{
			{Name: "web", URL: "http://{{.Address}}:8080/health", ExpectStatus: 200, Timeout: 3 * time.Second, MaxLatency: 500 * time.Millisecond},
			{Name: "api", URL: "https://{{.Host}}.example.com/ping"},
		},
		Prometheus: patchpilot.PrometheusConfig{URL: "http://127.0.0.1:9090", Window: time.Minute, Step: 5 * time.Second,
			Queries: map[string]string{
				"error_rate": `sum(rate(errors_total{instance="{{.Address}}:8080"}[1m]))`,
				"cpu":        `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",instance="{{.Instance}}"}[1m])))`,
			}},
		CriticalUnits: []string{"pp-demo-web.service", "ssh"},
	}
	if !reflect.DeepEqual(got.Health, want) {
		t.Errorf("got  %+v\nwant %+v", got.Health, want)
	}
	// The section survives a round trip through Marshal.
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

func TestParseHealthErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"unknown health field", []string{"    probes: []"},
			`plan.yaml:7:5: health: unknown field "probes" (known fields: http, prometheus, datadog, alertmanager, critical_units, puppet)`},
		{"unknown probe field", []string{"    http:", `      - {name: a, url: "http://x/", method: POST}`},
			`plan.yaml:8:37: health: http[0]: unknown field "method"`},
		{"probe without url", []string{"    http:", `      - {name: a}`},
			`plan.yaml:8:9: health: http[0]: missing field "url"`},
		{"bad url", []string{"    http:", `      - {name: a, url: "ftp://{{.Address}}/"}`},
			`plan.yaml:8:24: health: http[0]: url: "ftp://{{.Address}}/" is not an http or https URL`},
		{"relative url", []string{"    http:", `      - {name: a, url: "/health"}`},
			`plan.yaml:8:24: health: http[0]: url: "/health" is not an http or https URL`},
		{"bad url template", []string{"    http:", `      - {name: a, url: "http://{{.Address:8080/"}`},
			`plan.yaml:8:24: health: http[0]: url: template url:`},
		{"unknown template key", []string{"    http:", `      - {name: a, url: "http://{{.Adress}}/"}`},
			`plan.yaml:8:24: health: http[0]: url: template url:`},
		{"bad status", []string{"    http:", `      - {name: a, url: "http://x/", expect_status: 2000}`},
			`plan.yaml:8:52: health: http[0]: expect_status: invalid status "2000"`},
		{"bad timeout", []string{"    http:", `      - {name: a, url: "http://x/", timeout: 5}`},
			`plan.yaml:8:46: health: http[0]: timeout: invalid duration "5"`},
		{"duplicate probe", []string{"    http:", `      - {name: a, url: "http://x/"}`, `      - {name: a, url: "http://y/"}`},
			`plan.yaml:9:9: health: http[1]: probe name "a" is used twice (first at line 8)`},
		{"prometheus without url", []string{"    prometheus: {window: 1m}"},
			`plan.yaml:7:17: health: prometheus: missing field "url"`},
		{"bad prometheus url", []string{"    prometheus: {url: localhost:9090}"},
			`plan.yaml:7:23: health: prometheus: url: "localhost:9090" is not an http or https URL`},
		{"unknown metric", []string{"    prometheus:", "      url: http://p:9090", "      queries: {disk: up}"},
			`plan.yaml:9:17: health: prometheus: queries: unknown field "disk" (known fields: cpu, memory, error_rate, latency_p99, disk_io, net_errors, net_up, load)`},
		{"bad query template", []string{"    prometheus:", "      url: http://p:9090", `      queries: {cpu: "up{instance=\"{{.Nope}}\"}"}`},
			`plan.yaml:9:22: health: prometheus: queries: cpu: template cpu:`},
		{"step longer than window", []string{"    prometheus: {url: http://p:9090, window: 10s, step: 1m}"},
			`plan.yaml:7:5: health: prometheus: step 1m0s is longer than window 10s`},
		{"alertmanager url with a password", []string{"    alertmanager: {url: \"http://user:PASSWORD@am:9093/\"}"},
			`plan.yaml:7:25: health: alertmanager: url: a user or password in the URL is not allowed`},
		{"prometheus url with a user", []string{"    prometheus: {url: \"http://user@p:9090\"}"},
			`plan.yaml:7:23: health: prometheus: url: a user or password in the URL is not allowed`},
		{"probe url with a literal password", []string{"    http:", `      - {name: a, url: "http://u:PASSWORD@{{.Address}}/{{.Host}}"}`},
			`plan.yaml:8:24: health: http[0]: url: a user or password in the URL is not allowed`},
		{"bad unit name", []string{"    critical_units: [\"nginx service\"]"},
			`plan.yaml:7:22: health: critical_units: "nginx service" is not a systemd unit name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(healthDoc(tt.lines...)), "plan.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), "PASSWORD") {
				t.Errorf("error %q repeats the password", err)
			}
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Errorf("code = %q, want invalid", patchpilot.ErrorCode(err))
			}
		})
	}
}
