package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

// TestHarnessBounds runs a small version of the judgebench table and
// asserts what it must show. The seeds are fixed, so the test is
// deterministic; the bounds leave room for simulation noise.
func TestHarnessBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few hundred bakes")
	}
	sc := Scenarios()
	aa, ab20, ab3, drift := sc[0], sc[1], sc[2], sc[3]
	rep, err := Run(Config{Runs: 200, Seed: 42}, []Scenario{aa})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := Run(Config{Runs: 100, Seed: 44}, []Scenario{drift})
	if err != nil {
		t.Fatal(err)
	}
	det, err := Run(Config{Runs: 60, Seed: 43}, []Scenario{ab20, ab3})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	for _, r := range append(append(rep.Rows, dr.Rows...), det.Rows...) {
		rows[r.Scenario.Name+"/"+r.Judge] = r
	}
	seq := func(s Scenario) Row { return rows[s.Name+"/"+judge.JudgeName] }
	mw := func(s Scenario) Row { return rows[s.Name+"/"+judge.MannWhitneyName] }

	// A/A: at most 1% false alarms over the whole bake; 2% allows for
	// the noise of 200 runs (0 or 1 alarms expected, 4 would be 2%).
	if r := seq(aa); r.AlarmRate() > 0.02 || float64(r.Misses)/float64(r.Runs) > 0.02 {
		t.Errorf("A/A: sequential judge alarmed in %.1f%% of runs, interval missed in %d of %d; want <= 2%% (1%% plus noise)", 100*r.AlarmRate(), r.Misses, r.Runs)
	}
	if r := mw(aa); r.AlarmRate() < 0.2 {
		t.Errorf("A/A: Kayenta-style judge alarmed in only %.1f%% of runs; the harness no longer reproduces its weakness", 100*r.AlarmRate())
	}
	if r := seq(drift); r.AlarmRate() > 0.02 {
		t.Errorf("fleet drift flagged in %.1f%% of runs, want <= 2%% (1%% plus noise)", 100*r.AlarmRate())
	}
	if r := seq(ab20); r.DetectRate() < 0.95 || r.MedianTTD() > 10*time.Minute || r.MedianTTD() < 0 {
		t.Errorf("+20%%: detected %.1f%% within 10m (median %s), want >= 95%%", 100*r.DetectRate(), r.MedianTTD())
	}
	if r := seq(ab3); r.DetectRate() < 0.95 {
		t.Errorf("3x: detected %.1f%% within 2m, want >= 95%%", 100*r.DetectRate())
	}

	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "A/A phi=0.8") || !strings.Contains(buf.String(), "mannwhitney") {
		t.Errorf("table lacks its rows:\n%s", buf.String())
	}
	if err := det.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Runs: 6, Seed: 5}
	one, err := Run(Config{Runs: 6, Seed: 5, Workers: 1}, Scenarios()[1:2])
	if err != nil {
		t.Fatal(err)
	}
	two, err := Run(cfg, Scenarios()[1:2])
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	one.WriteTable(&a)
	two.WriteTable(&b)
	if a.String() != b.String() {
		t.Errorf("tables differ between 1 and 2 workers:\n%s\n%s", a.String(), b.String())
	}
}

// TestRateWindowBounds judges series read as Prometheus would serve
// rate(sum[1m]) / rate(count[1m]) every 5s, whose consecutive samples share
// 11 of their 12 scrapes. The seeds are fixed, so the test is
// deterministic.
func TestRateWindowBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few hundred bakes")
	}
	sc := RateScenarios()
	aa, ab20, ab50 := sc[0], sc[1], sc[2]
	rep, err := Run(RateConfig(200, 42), []Scenario{aa})
	if err != nil {
		t.Fatal(err)
	}
	det, err := Run(RateConfig(60, 43), []Scenario{ab20, ab50})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	for _, r := range append(rep.Rows, det.Rows...) {
		rows[r.Scenario.Name+"/"+r.Judge] = r
	}
	seq := func(s Scenario) Row { return rows[s.Name+"/"+judge.JudgeName] }

	// A/A: at most 1% false alarms over the whole bake of 240 looks (2%
	// allows for the noise of 200 runs), and a promotion in most runs
	// well within the bake.
	if r := seq(aa); r.AlarmRate() > 0.02 || float64(r.Misses)/float64(r.Runs) > 0.02 {
		t.Errorf("A/A: alarmed in %.1f%% of runs, interval missed in %d of %d; want <= 2%%", 100*r.AlarmRate(), r.Misses, r.Runs)
	}
	if r := seq(aa); float64(r.Promoted)/float64(r.Runs) < 0.9 || r.MedianTTP() < 0 || r.MedianTTP() > 10*time.Minute {
		t.Errorf("A/A: promoted in %d of %d runs (median %s), want >= 90%% with a median within 10m", r.Promoted, r.Runs, r.MedianTTP())
	}
	if r := seq(ab20); r.DetectRate() < 0.95 || r.Promoted > 0 {
		t.Errorf("+20%%: detected %.1f%% within 10m, promoted %d; want >= 95%% and none", 100*r.DetectRate(), r.Promoted)
	}
	if r := seq(ab50); r.DetectRate() < 0.95 || r.Promoted > 0 || r.MedianTTD() > 2*time.Minute {
		t.Errorf("+50%%: detected %.1f%% within 5m (median %s), promoted %d; want >= 95%%, median within 2m, none promoted", 100*r.DetectRate(), r.MedianTTD(), r.Promoted)
	}
	// Without the window the judge cannot tell overlapping samples from
	// slow noise: the same fleet is then hardly ever promoted.
	hidden := RateConfig(60, 42)
	hidden.HideWindow = true
	hrep, err := Run(hidden, []Scenario{aa})
	if err != nil {
		t.Fatal(err)
	}
	if r := hrep.Rows[0]; r.AlarmRate() > 0.02 || float64(r.Promoted)/float64(r.Runs) > 0.5 {
		t.Errorf("A/A without the window: alarmed %.1f%%, promoted %d of %d; want no alarm and few promotions", 100*r.AlarmRate(), r.Promoted, r.Runs)
	}
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	det.WriteTable(&buf)
	hrep.WriteTable(&buf)
	t.Logf("\n%s", buf.String())
}

// TestLabFleetBounds simulates the canary lab test's fleet (one patched
// host, one control, 30s rates every 5s, a baseline of 22 samples), on
// which the judge used to stay inconclusive on a 3x regression: with the
// window it must fail it at the first whole window in nearly every run,
// and raise no alarm on A/A. Without the window the same data shows the
// bias of the samples that straddle the change.
func TestLabFleetBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few hundred bakes")
	}
	sc := LabScenarios()
	aa, ab3, ab50 := sc[0], sc[1], sc[2]
	rep, err := Run(LabConfig(200, 52), []Scenario{aa, ab3, ab50})
	if err != nil {
		t.Fatal(err)
	}
	hidden := LabConfig(200, 52)
	hidden.HideWindow = true
	hrep, err := Run(hidden, []Scenario{ab3})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	for _, r := range rep.Rows {
		rows[r.Scenario.Name+"/"+r.Judge] = r
	}
	seq := func(s Scenario) Row { return rows[s.Name+"/"+judge.JudgeName] }
	if r := seq(aa); r.AlarmRate() > 0.02 || float64(r.Misses)/float64(r.Runs) > 0.02 {
		t.Errorf("A/A: alarmed in %.1f%% of runs, interval missed in %d of %d; want <= 2%%", 100*r.AlarmRate(), r.Misses, r.Runs)
	}
	if r := seq(ab3); r.DetectRate() < 0.95 || r.MedianTTD() != 35*time.Second {
		t.Errorf("3x: detected %.1f%% within 2m (median %s); want >= 95%%, at the first whole window (35s)", 100*r.DetectRate(), r.MedianTTD())
	}
	if r := seq(ab50); r.DetectRate() < 0.85 {
		t.Errorf("+50%%: detected %.1f%% within 6m; want >= 85%%", 100*r.DetectRate())
	}
	// Without it, the samples whose window straddles the change pull
	// the estimate down while the interval is still narrow: it misses the
	// true change in a large share of runs.
	if r := hrep.Rows[0]; float64(r.Misses)/float64(r.Runs) < 0.2 {
		t.Errorf("3x without the window: the interval missed the truth in only %d of %d runs; the harness no longer shows the bias of mixed samples", r.Misses, r.Runs)
	}
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	hrep.WriteTable(&buf)
	t.Logf("\n%s", buf.String())
}
