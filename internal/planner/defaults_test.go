package planner

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestDefault(t *testing.T) {
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1~deb12u1"}}}
	tests := []struct {
		level   patchpilot.RiskLevel
		targets int
		names   string
		sizes   []int
	}{
		{patchpilot.RiskLow, 1, "single", []int{1}},
		{patchpilot.RiskHigh, 1, "single", []int{1}},
		{patchpilot.RiskLow, 2, "validation,final", []int{1, 1}},
		{patchpilot.RiskHigh, 3, "validation,final", []int{1, 2}},
		{patchpilot.RiskLow, 8, "validation,final", []int{1, 7}},
		{patchpilot.RiskLow, 50, "validation,wave_1,final", []int{1, 13, 36}},
		{patchpilot.RiskMedium, 4, "validation,canary,wave_1,final", []int{1, 1, 1, 1}},
		{patchpilot.RiskMedium, 8, "validation,canary,wave_1,final", []int{1, 1, 2, 4}},
		{patchpilot.RiskMedium, 100, "validation,canary,wave_1,wave_2,final", []int{1, 5, 10, 30, 54}},
		// Small fleets drop the waves they cannot fill.
		{patchpilot.RiskHigh, 4, "validation,canary,wave_1,final", []int{1, 1, 1, 1}},
		{patchpilot.RiskHigh, 8, "validation,canary,wave_1,wave_2,final", []int{1, 1, 1, 2, 3}},
		{patchpilot.RiskHigh, 100, "validation,canary,wave_1,wave_2,wave_3,final", []int{1, 5, 5, 15, 30, 44}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.level, tt.targets), func(t *testing.T) {
			p := Default(patch, tt.targets, tt.level)
			var names []string
			for _, s := range p.Stages {
				names = append(names, s.Name)
			}
			if got := strings.Join(names, ","); got != tt.names {
				t.Errorf("stages = %s, want %s", got, tt.names)
			}
			sizes, err := StageSizes(p.Stages, tt.targets)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sizes, tt.sizes) {
				t.Errorf("sizes = %v, want %v", sizes, tt.sizes)
			}
			for i, s := range p.Stages {
				if s.Parallel < 1 || s.Parallel > sizes[i] {
					t.Errorf("stage %s: parallel %d with %d hosts", s.Name, s.Parallel, sizes[i])
				}
				if len(s.Criteria) == 0 || s.Timeout == 0 || !s.OnFailure.Valid() {
					t.Errorf("stage %s lacks criteria, timeout or on_failure: %+v", s.Name, s)
				}
			}
			final := p.Stages[len(p.Stages)-1]
			if want := tt.level == patchpilot.RiskHigh; (final.Approval == patchpilot.ApprovalRequired) != want {
				t.Errorf("final approval = %s; want required only for high risk", final.Approval)
			}
			if !reflect.DeepEqual(p.Patch, patch) || !p.Policy.RequireRollback {
				t.Errorf("plan patch or policy wrong: %+v %+v", p.Patch, p.Policy)
			}
			if !reflect.DeepEqual(p, p.WithDefaults()) {
				t.Error("default plan does not have its defaults filled in")
			}
			// The plan must resolve against that many ordinary hosts.
			var hosts []HostView
			for i := range tt.targets {
				hosts = append(hosts, view(fmt.Sprintf("h%03d", i), "debian:12", "role=web"))
			}
			if _, err := Resolve(p, hosts); err != nil {
				t.Errorf("Resolve: %v", err)
			}
		})
	}
}

// TestDefaultCaution checks that higher risk bakes longer and tolerates
// fewer failures.
func TestDefaultCaution(t *testing.T) {
	var prevBake, prevFinalBake int64
	prevParallel := 1 << 30
	for _, level := range patchpilot.RiskLevels() {
		p := Default(patchpilot.PatchSpec{SecurityAll: true}, 100, level)
		first, last := p.Stages[0], p.Stages[len(p.Stages)-1]
		if int64(first.Bake) <= prevBake || int64(last.Bake) <= prevFinalBake {
			t.Errorf("%s: bakes %v/%v are not longer than the level below", level, first.Bake, last.Bake)
		}
		if last.Parallel >= prevParallel {
			t.Errorf("%s: final parallel %d is not smaller than the level below", level, last.Parallel)
		}
		prevBake, prevFinalBake, prevParallel = int64(first.Bake), int64(last.Bake), last.Parallel
		if first.OnFailure != patchpilot.HaltAndAlert || first.Targets != patchpilot.TargetsCount(1) {
			t.Errorf("%s: validation stage = %+v", level, first)
		}
	}
	// An unknown level is treated as high.
	if p := Default(patchpilot.PatchSpec{SecurityAll: true}, 10, "bogus"); p.Name != "default-high" {
		t.Errorf("unknown level gave plan %q, want default-high", p.Name)
	}
}

func TestBaselineRisk(t *testing.T) {
	tests := []struct {
		name    string
		in      BaselineInput
		score   int
		level   patchpilot.RiskLevel
		reasons []string
	}{
		{"plain library", BaselineInput{Packages: []string{"libxml2"}}, 0, patchpilot.RiskLow, nil},
		{"critical CVE only", BaselineInput{Packages: []string{"openssl"}, MaxSeverity: "CRITICAL"}, 2, patchpilot.RiskMedium,
			[]string{"+2 fixes a critical CVE"}},
		{"critical in a distribution's word", BaselineInput{Packages: []string{"openssl"}, MaxSeverity: "urgent"}, 2, patchpilot.RiskMedium, nil},
		{"critical by CVSS", BaselineInput{Packages: []string{"openssl"}, MaxSeverity: "high", MaxCVSS: 9.8}, 2, patchpilot.RiskMedium, nil},
		{"high CVE is not critical", BaselineInput{Packages: []string{"openssl"}, MaxSeverity: "high", MaxCVSS: 8.9}, 0, patchpilot.RiskLow, nil},
		{"past failures", BaselineInput{Packages: []string{"nginx"}, PastFailureRate: 0.08}, 3, patchpilot.RiskMedium,
			[]string{"+3 past failure rate 8.0% is over 5%"}},
		{"past failures at 5%", BaselineInput{Packages: []string{"nginx"}, PastFailureRate: 0.05}, 0, patchpilot.RiskLow, nil},
		{"failures and critical", BaselineInput{PastFailureRate: 0.2, MaxSeverity: "critical"}, 5, patchpilot.RiskHigh, nil},
		{"debian kernel", BaselineInput{Packages: []string{"bash", "linux-image-6.1.0-27-amd64"}}, 5, patchpilot.RiskHigh,
			[]string{"+5 kernel update (linux-image-6.1.0-27-amd64)"}},
		{"rhel kernel", BaselineInput{Packages: []string{"kernel-core"}}, 5, patchpilot.RiskHigh, nil},
		{"reboot package", BaselineInput{Packages: []string{"libc6"}, RebootPackages: []string{"libc6"}}, 5, patchpilot.RiskHigh,
			[]string{"+5 libc6 requires a reboot"}},
		{"marked kernel", BaselineInput{IsKernel: true}, 5, patchpilot.RiskHigh, []string{"+5 kernel update"}},
		{"removals", BaselineInput{HasRemovals: true}, 5, patchpilot.RiskHigh, []string{"+5 the transaction removes packages"}},
		{"conflicts and removals count once", BaselineInput{HasConflicts: true, HasRemovals: true}, 5, patchpilot.RiskHigh,
			[]string{"+5 the transaction conflicts and removes packages"}},
		{"everything", BaselineInput{Packages: []string{"linux-image-amd64"}, PastFailureRate: 0.1, HasConflicts: true, MaxSeverity: "critical"},
			15, patchpilot.RiskHigh, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			score, level, reasons := BaselineRisk(tt.in)
			if score != tt.score || level != tt.level {
				t.Errorf("score, level = %d, %s; want %d, %s (reasons %q)", score, level, tt.score, tt.level, reasons)
			}
			if tt.reasons != nil && !reflect.DeepEqual(reasons, tt.reasons) {
				t.Errorf("reasons = %q, want %q", reasons, tt.reasons)
			}
			if score > 0 && len(reasons) == 0 {
				t.Error("a positive score without reasons")
			}
		})
	}
}

func TestIsKernelPackage(t *testing.T) {
	for name, want := range map[string]bool{
		"linux-image-6.1.0-27-amd64": true, "linux-image-amd64": true, "linux-modules-6.8.0-45-generic": true,
		"kernel": true, "kernel-core": true, "kernel-default": true,
		"linux-base": false, "libkernelish": false, "openssl": false, "kmod": false,
	} {
		if got := IsKernelPackage(name); got != want {
			t.Errorf("IsKernelPackage(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDefaultWithMetrics(t *testing.T) {
	p := Default(patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "a", Version: "1"}}}, 30, patchpilot.RiskMedium)
	// Without a metrics source: the SSH probes only.
	same := WithMetrics(p, patchpilot.HealthConfig{})
	for _, s := range same.Stages {
		if len(s.Criteria) != 4 || s.Criteria[0].Name != patchpilot.CriterionServicesRunning {
			t.Errorf("stage %s without metrics: %v", s.Name, s.Criteria)
		}
	}
	prom := patchpilot.HealthConfig{Prometheus: patchpilot.PrometheusConfig{URL: "http://prom:9090"}}
	m := WithMetrics(p, prom)
	if m.Health.Prometheus.URL != "http://prom:9090" || len(m.Health.Prometheus.Queries) != 0 {
		t.Errorf("health: %+v", m.Health.Prometheus)
	}
	want := "services_running, no_failed_units, no_new_errors, ports_listening, mean_cpu_usage<baseline+15%, memory<90%, disk_io_within_normal, network_connectivity"
	for _, s := range m.Stages {
		var cs []string
		for _, c := range s.Criteria {
			cs = append(cs, c.String())
		}
		if got := strings.Join(cs, ", "); got != want {
			t.Errorf("stage %s: %s\nwant %s", s.Name, got, want)
		}
	}
	if len(p.Stages[0].Criteria) != 4 {
		t.Error("WithMetrics changed the plan it was given")
	}
	// The plan reads back: every criterion is one the planner knows.
	out, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(out, "default.yaml"); err != nil {
		t.Errorf("default plan with metrics does not parse: %v\n%s", err, out)
	}
	dd := WithMetrics(p, patchpilot.HealthConfig{Datadog: patchpilot.DatadogConfig{Integration: "dd"}})
	if dd.Health.Datadog.Integration != "dd" || len(dd.Stages[0].Criteria) != 8 {
		t.Errorf("datadog: %+v %v", dd.Health.Datadog, dd.Stages[0].Criteria)
	}
}
