package canary_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

func TestSplit(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	points := []prometheus.Point{{Time: at(-10), Value: 1}, {Time: at(-5), Value: math.NaN()}, {Time: at(0), Value: 3},
		{Time: at(5), Value: 4}, {Time: at(10), Value: 5}}
	base, cur := canary.Split(points, t0)
	if len(base) != 2 || base[0].Value != 1 || !math.IsNaN(base[1].Value) || !base[1].Time.Equal(at(-5)) {
		t.Errorf("baseline = %v, want the two samples before the change, NaN kept", base)
	}
	if want := []judge.Sample{{Time: at(5), Value: 4}, {Time: at(10), Value: 5}}; !reflect.DeepEqual(cur, want) {
		t.Errorf("current = %v, want %v (the sample at the change belongs to neither)", cur, want)
	}
	if b, c := canary.Split(nil, t0); b != nil || c != nil {
		t.Errorf("Split(nil) = %v, %v", b, c)
	}
}

func fleetHost(name, role, os string) canary.Target {
	return canary.Target{Host: patchpilot.Host{Name: name, Labels: map[string]string{"role": role, "os": os}}}
}

func names(ts []canary.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Host.Name)
	}
	return out
}

func TestControls(t *testing.T) {
	pool := []canary.Target{
		fleetHost("web9", "web", "debian:12"), fleetHost("web3", "web", "debian:12"), fleetHost("web4", "web", "debian:11"),
		fleetHost("db1", "db", "debian:12"), fleetHost("db2", "db", "rhel:9"), fleetHost("cache1", "cache", "debian:12"),
		fleetHost("web1", "web", "debian:12"), fleetHost("web5", "web", "debian:12"),
	}
	tests := []struct {
		name    string
		changed []canary.Target
		per     int
		want    []string
	}{
		{"same role and OS first, in name order, changed hosts excluded",
			[]canary.Target{fleetHost("web1", "web", "debian:12")}, 2, []string{"web3", "web5"}},
		{"same role when no host has the same OS",
			[]canary.Target{fleetHost("web7", "web", "ubuntu:24.04")}, 2, []string{"web1", "web3"}},
		{"any host when the role has none",
			[]canary.Target{fleetHost("mq1", "mq", "debian:12")}, 2, []string{"cache1", "db1"}},
		{"one set per stratum, none taken twice",
			[]canary.Target{fleetHost("db3", "db", "debian:12"), fleetHost("web2", "web", "debian:12"), fleetHost("web8", "web", "debian:12")}, 0,
			[]string{"db1", "web1", "web3", "web5", "web9"}},
		{"the os field wins over the label",
			[]canary.Target{{Host: patchpilot.Host{Name: "x", Labels: map[string]string{"role": "db", "os": "debian:12"}}, OS: "rhel:9"}}, 1,
			[]string{"db2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(canary.Controls(tt.changed, pool, tt.per)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := canary.Stratum(fleetHost("a", "web", "debian:12")); got != "web/debian:12" {
		t.Errorf("Stratum = %q", got)
	}
	if got := canary.Stratum(canary.Target{Host: patchpilot.Host{Name: "a"}}); got != "" {
		t.Errorf("Stratum without labels = %q, want empty", got)
	}
}

func TestReport(t *testing.T) {
	nan := judge.Number(math.NaN())
	res := judge.Result{Judge: "sequential", Outcome: judge.Fail, Reason: "critical metric beyond its margin: p99",
		Time: time.Unix(100, 0).UTC(), Verdicts: []judge.Verdict{
			{Metric: "p99", Outcome: judge.Fail, Critical: true, Estimate: 1.9, Lower: 1.5, Upper: 2.3, Margin: 0.05, Unit: judge.Relative},
			{Metric: "cpu", Outcome: judge.Fail, Estimate: 0.3, Margin: 0.15},
			{Metric: "errors", Outcome: judge.Inconclusive, Estimate: 0.001, Margin: 0.005},
			{Metric: "mem", Outcome: judge.Pass, Estimate: -0.01, Margin: 0.1},
			{Metric: "restarts", Outcome: judge.NoData, Estimate: nan, Lower: nan, Upper: nan, Margin: 0.5},
		}}
	rep := canary.Report(res)
	if rep.Verdict != patchpilot.Unhealthy || rep.Reason != "canary (sequential): critical metric beyond its margin: p99" {
		t.Errorf("report %s: %q", rep.Verdict, rep.Reason)
	}
	want := []patchpilot.GateOutcome{patchpilot.GateCritical, patchpilot.GateBreach, patchpilot.GateInconclusive, patchpilot.GatePass, patchpilot.GateError}
	for i, gr := range rep.Results {
		if gr.Gate != canary.GatePrefix+res.Verdicts[i].Metric || gr.Outcome != want[i] || !gr.Time.Equal(res.Time) {
			t.Errorf("result %d = %s %s, want %s%s %s", i, gr.Gate, gr.Outcome, canary.GatePrefix, res.Verdicts[i].Metric, want[i])
		}
		var back judge.Verdict
		if err := json.Unmarshal(gr.Evidence, &back); err != nil || back.Metric != res.Verdicts[i].Metric {
			t.Errorf("result %d evidence %s: %v", i, gr.Evidence, err)
		}
	}
	if v := rep.Results[0]; v.Value == nil || *v.Value != 1.9 || v.Threshold == nil || *v.Threshold != 0.05 {
		t.Errorf("p99 value and threshold = %v, %v", v.Value, v.Threshold)
	}
	if rep.Results[4].Value != nil {
		t.Errorf("a NaN estimate has a value: %v", *rep.Results[4].Value)
	}
	for o, want := range map[judge.Outcome]patchpilot.HealthVerdict{
		judge.Pass: patchpilot.Healthy, judge.Inconclusive: patchpilot.UnderReview,
		judge.Fail: patchpilot.Unhealthy, judge.NoData: patchpilot.Unhealthy,
	} {
		if got := canary.VerdictFor(o); got != want {
			t.Errorf("VerdictFor(%s) = %s, want %s", o, got, want)
		}
	}
}

func TestNewEvaluatorAndBakeLimit(t *testing.T) {
	if patchpilot.CanaryMinBaselineSamples != judge.DefaultMinBaseline {
		t.Errorf("the plan's baseline rule (%d samples) and the judge's (%d) differ", patchpilot.CanaryMinBaselineSamples, judge.DefaultMinBaseline)
	}
	for cfg, want := range map[string]string{"": judge.JudgeName, "sequential": judge.JudgeName, "mannwhitney": judge.MannWhitneyName} {
		ev, err := canary.NewEvaluator(patchpilot.CanaryConfig{Judge: cfg}, 0)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.(type) {
		case *judge.Judge:
			if want != judge.JudgeName {
				t.Errorf("judge %q gave the sequential judge", cfg)
			}
		case *judge.MannWhitney:
			if want != judge.MannWhitneyName {
				t.Errorf("judge %q gave the Mann-Whitney judge", cfg)
			}
		}
	}
	if _, err := canary.NewEvaluator(patchpilot.CanaryConfig{Judge: "kayenta"}, 0); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("unknown judge: %v", err)
	}
	cfg := patchpilot.CanaryConfig{MaxBake: 30 * time.Minute}
	if got := cfg.BakeLimit(10 * time.Minute); got != 30*time.Minute {
		t.Errorf("BakeLimit = %s", got)
	}
	if got := (patchpilot.CanaryConfig{}).BakeLimit(10 * time.Minute); got != 10*time.Minute {
		t.Errorf("BakeLimit without max_bake = %s", got)
	}
	t0 := time.Unix(0, 0)
	if canary.Final(cfg, 10*time.Minute, t0, t0.Add(29*time.Minute)) || !canary.Final(cfg, 10*time.Minute, t0, t0.Add(30*time.Minute)) {
		t.Error("Final is wrong around the bake limit")
	}
}
