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

// TestNoiseSuite runs a small version of the noise suite on the plan's
// usual fleet and on a control dropping on its own, and asserts what the
// judge must show there: few false alarms, most harmless patches passed
// within the bake, the departing control set aside, and the same table
// whatever the number of workers.
func TestNoiseSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few hundred bakes")
	}
	var std, drop Condition
	for _, c := range Conditions() {
		switch {
		case strings.HasPrefix(c.Name, "2+4, bench noise"):
			std = c
		case strings.Contains(c.Name, "drops 50%"):
			drop = c
		}
	}
	rep, err := RunNoise(60, 7, 2, []Condition{std, drop})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]NoiseRow{}
	for _, r := range rep.Rows {
		rows[r.Condition.Name+"/"+r.Change.String()] = r
	}
	for _, c := range []Condition{std, drop} {
		aa := rows[c.Name+"/"+NoChange.String()]
		if aa.Rate(aa.Alarms) > 0.05 {
			t.Errorf("%s: false alarms in %.1f%% of runs, want <= 5%% (1%% plus the noise of 60 runs)", c.Name, 100*aa.Rate(aa.Alarms))
		}
		if aa.Rate(aa.Within) < 0.6 {
			t.Errorf("%s: a harmless patch passed in %.1f%% of runs, want >= 60%%", c.Name, 100*aa.Rate(aa.Within))
		}
		if ab := rows[c.Name+"/"+Regression.String()]; ab.Rate(ab.Within) < 0.5 || ab.Passed > 1 {
			t.Errorf("%s: +20%% caught in %.1f%% of runs, passed in %d; want >= 50%% and at most one", c.Name, 100*ab.Rate(ab.Within), ab.Passed)
		}
	}
	if aa := rows[drop.Name+"/"+NoChange.String()]; aa.Rate(aa.SetAside) < 0.9 {
		t.Errorf("the control that dropped 50%% was set aside in %.1f%% of runs, want >= 90%%", 100*aa.Rate(aa.SetAside))
	}
	one, err := RunNoise(8, 3, 1, []Condition{drop})
	if err != nil {
		t.Fatal(err)
	}
	two, err := RunNoise(8, 3, 3, []Condition{drop})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	one.WriteTable(&a)
	two.WriteTable(&b)
	if a.String() != b.String() {
		t.Errorf("tables differ between 1 and 3 workers:\n%s\n%s", a.String(), b.String())
	}
	t.Logf("\n%s", a.String())
}
