package planner

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func relaxPlan(stages ...string) string {
	return "rollout:\n  name: r\n  patch: {packages: [\"pp-demo-web=1.1.0\"]}\n  targets: {selector: \"env=lab\"}\n" +
		"  health: {prometheus: {url: \"http://prom:9090\"}}\n  stages:\n" + strings.Join(stages, "\n") + "\n"
}

func TestParseBuiltinCriteria(t *testing.T) {
	tests := []struct {
		in   string
		want patchpilot.Criterion
	}{
		{"mean_cpu_usage<baseline+15%", patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}},
		{"mean_cpu_usage < baseline + 15%", patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}},
		{"mean_cpu_usage<=80%", patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<=", Value: 80, Unit: "%"}},
		{"mean_cpu_usage", patchpilot.Criterion{Name: "mean_cpu_usage"}},
		{"disk_io_within_normal", patchpilot.Criterion{Name: "disk_io_within_normal"}},
		{"disk_io_within_normal<3x", patchpilot.Criterion{Name: "disk_io_within_normal", Op: "<", Value: 3, Unit: "x"}},
		{"network_connectivity", patchpilot.Criterion{Name: "network_connectivity"}},
		{"load<1.5", patchpilot.Criterion{Name: "load", Op: "<", Value: 1.5}},
	}
	for _, tt := range tests {
		got, err := ParseCriterion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCriterion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if got := (patchpilot.Criterion{Name: "mean_cpu_usage", Op: "<", Value: 15, Unit: "%", OverBaseline: true}).String(); got != "mean_cpu_usage<baseline+15%" {
		t.Errorf("String() = %q", got)
	}
	for _, bad := range []string{"mean_cpu_usage<baseline+abc", "mean_cpu_usage<baseline+15", "mean_cpu_usage<baseline-15%", "mean_cpu_usage<baseline+150%",
		"disk_io_within_normal<0.5x", "disk_io_within_normal<20%", "network_connectivity<1", "load<2%", "cpu_increase<baseline+15%"} {
		if _, err := ParseCriterion(bad); err == nil {
			t.Errorf("ParseCriterion(%q) accepted", bad)
		}
	}
	// A malformed criterion in a plan is named with its file and line.
	_, err := Parse([]byte(relaxPlan("    - {name: one, targets: 1, criteria: [services_running, mean_cpu_usage<baseline+abc]}")), "plan.yaml")
	if err == nil || !strings.Contains(err.Error(), `plan.yaml:7:`) || !strings.Contains(err.Error(), `invalid criterion "mean_cpu_usage<baseline+abc": expected a threshold such as mean_cpu_usage<baseline+15%`) {
		t.Errorf("malformed criterion: %v", err)
	}
}

func TestRelaxCriterion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cpu_increase<25%", "cpu_increase<37.5%"},
		{"mean_cpu_usage<baseline+15%", "mean_cpu_usage<baseline+22.5%"},
		{"mean_cpu_usage", "mean_cpu_usage<baseline+22.5%"},
		{"mean_cpu_usage<80%", "mean_cpu_usage<86.67%"},
		{"memory<90%", "memory<93.33%"},
		{"error_rate_increase<0.05", "error_rate_increase<0.075"},
		{"latency_p99<2x", "latency_p99<2.5x"},
		{"latency_p99<500ms", "latency_p99<750ms"},
		{"disk_io_within_normal", "disk_io_within_normal<2.5x"},
		{"disk_io_within_normal<3x", "disk_io_within_normal<4x"},
		{"boot_time<120s", "boot_time<180s"},
		{"load<2", "load<3"},
		{"services_running", "services_running"},
		{"network_connectivity", "network_connectivity"},
	}
	for _, tt := range tests {
		c, err := ParseCriterion(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := RelaxCriterion(c, 1.5).String(); got != tt.want {
			t.Errorf("relax %s by 1.5 = %s, want %s", tt.in, got, tt.want)
		}
		if got := RelaxCriterion(c, 1).String(); got != c.String() {
			t.Errorf("relax %s by 1 = %s, want it unchanged", tt.in, got)
		}
	}
}

func TestParseCriteriaSameAs(t *testing.T) {
	src := relaxPlan(
		"    - {name: canary, targets: 1, criteria: [services_running, mean_cpu_usage<baseline+15%, memory<90%, disk_io_within_normal, network_connectivity]}",
		"    - {name: wave_1, targets: 20%, criteria: {same_as: canary}}",
		"    - {name: wave_2, targets: 30%, criteria: {same_as: wave_1, relax: 1.5, add: [http_ok, memory<95%]}}",
		"    - {name: final, targets: rest, criteria: {same_as: wave_2, relax: 2}}",
	)
	p, err := Parse([]byte(src), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range p.Stages {
		var cs []string
		for _, c := range s.Criteria {
			cs = append(cs, c.String())
		}
		got[s.Name] = strings.Join(cs, ", ")
	}
	want := map[string]string{
		"canary": "services_running, mean_cpu_usage<baseline+15%, memory<90%, disk_io_within_normal, network_connectivity",
		"wave_1": "services_running, mean_cpu_usage<baseline+15%, memory<90%, disk_io_within_normal, network_connectivity",
		"wave_2": "services_running, mean_cpu_usage<baseline+22.5%, disk_io_within_normal<2.5x, network_connectivity, http_ok, memory<95%",
		"final":  "services_running, mean_cpu_usage<baseline+45%, disk_io_within_normal<4x, network_connectivity, http_ok, memory<97.5%",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("stage %s: %s\nwant %s", name, got[name], w)
		}
	}
	// The plan shows (and stores) the resolved criteria.
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "mean_cpu_usage<baseline+22.5%") {
		t.Errorf("marshalled plan lacks the relaxed criteria:\n%s", out)
	}
	back, err := Parse(out, "out.yaml")
	if err != nil || len(back.Stages[2].Criteria) != len(p.Stages[2].Criteria) || back.Stages[2].Criteria[1] != p.Stages[2].Criteria[1] {
		t.Errorf("marshalled plan does not read back the same: %v\n%s", err, out)
	}

	bad := []struct {
		stages []string
		want   string
	}{
		{[]string{"    - {name: a, targets: 1, criteria: {same_as: b}}", "    - {name: b, targets: rest, criteria: [services_running]}"},
			`plan.yaml:7:39: stage "a": criteria: same_as: no earlier stage is named "b"`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: b}}"},
			`plan.yaml:8:42: stage "b": criteria: same_as: no earlier stage is named "b": a stage can take the criteria of a stage before it only (the stages before this one are a)`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: nope}}"},
			`no earlier stage is named "nope"`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: a, relax: 0.5}}"},
			`plan.yaml:8:62: stage "b": criteria: relax: invalid factor "0.5": expected a number of at least 1`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: a, relax: lots}}"},
			`invalid factor "lots"`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {relax: 2}}"},
			`plan.yaml:8:42: stage "b": criteria: missing field "same_as"`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: a, scale: 2}}"},
			`unknown field "scale"`},
		{[]string{"    - {name: a, targets: 1, criteria: [services_running]}", "    - {name: b, targets: rest, criteria: {same_as: a, add: [mean_cpu_usage<baseline+x%]}}"},
			`plan.yaml:8:`},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(relaxPlan(tt.stages...)), "plan.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.stages, err, tt.want)
		}
	}
}
