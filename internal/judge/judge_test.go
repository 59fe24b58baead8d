package judge_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

var t0 = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)

const scrape = 15 * time.Second

func latency() judge.Metric {
	return judge.Metric{Name: "latency", Direction: judge.HigherIsWorse, Margin: 0.10,
		Unit: judge.Relative, Kind: judge.Continuous}
}

// fleet builds 4 patched and 4 control hosts with 30 minutes of baseline
// and bake minutes of current samples, AR(1) noise (phi 0.8, 5%), host
// offsets, the patch multiplying patched hosts by effect and a fleet-wide
// multiplier drift(t) applied to every host after the patch.
func fleet(seed uint64, bake time.Duration, effect float64, drift func(frac float64) float64) []judge.Series {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []judge.Series
	for h := range 8 {
		s := judge.Series{Metric: "latency", Host: fmt.Sprintf("h%d", h), Group: judge.Control}
		if h < 4 {
			s.Group = judge.Patched
		}
		offset := 0.05 * rng.NormFloat64()
		x := 0.05 * rng.NormFloat64()
		for k := -119; k <= int(bake/scrape); k++ {
			x = 0.8*x + 0.03*rng.NormFloat64()
			at := t0.Add(time.Duration(k) * scrape)
			v := 0.2 * math.Exp(offset+x)
			if k > 0 {
				v *= drift(float64(k) * float64(scrape) / float64(bake))
				if s.Group == judge.Patched {
					v *= effect
				}
				s.Current = append(s.Current, judge.Sample{Time: at, Value: v})
			} else if k < 0 {
				s.Baseline = append(s.Baseline, judge.Sample{Time: at, Value: v})
			}
		}
		out = append(out, s)
	}
	return out
}

func none(float64) float64 { return 1 }

func newJudge(t *testing.T) *judge.Judge {
	t.Helper()
	j, err := judge.New(judge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestFailsClosedOnBadData(t *testing.T) {
	base := func() judge.Input {
		return judge.Input{Metrics: []judge.Metric{latency()}, Series: fleet(1, 10*time.Minute, 1, none),
			Start: t0, Now: t0.Add(10 * time.Minute)}
	}
	tests := []struct {
		name   string
		mutate func(in *judge.Input)
		reason string
	}{
		{"NaN sample", func(in *judge.Input) { in.Series[2].Current[5].Value = math.NaN() }, "NaN"},
		{"stale host", func(in *judge.Input) {
			c := in.Series[6].Current
			in.Series[6].Current = c[:len(c)-8] // two minutes without a scrape
		}, "old"},
		{"no control hosts", func(in *judge.Input) { in.Series = in.Series[:4] }, "no control host"},
		{"no series at all", func(in *judge.Input) { in.Series = nil }, "no patched host"},
		{"host without samples", func(in *judge.Input) { in.Series[1].Current = nil }, "no samples"},
		{"short baseline", func(in *judge.Input) { in.Series[0].Baseline = in.Series[0].Baseline[:5] }, "baseline"},
		{"zero latency", func(in *judge.Input) { in.Series[3].Current[0].Value = 0 }, "relative"},
	}
	j := newJudge(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mutate(&in)
			res, err := j.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			v := res.Verdicts[0]
			if res.Outcome != judge.Fail || v.Outcome != judge.NoData {
				t.Errorf("gate %s, metric %s; want fail and nodata", res.Outcome, v.Outcome)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", v.Reason, tt.reason)
			}
			if _, err := json.Marshal(res); err != nil {
				t.Errorf("a NoData result must encode: %v", err)
			}
		})
	}
}

func TestFirstLookWaitsForFirstScrape(t *testing.T) {
	in := judge.Input{Metrics: []judge.Metric{latency()}, Series: fleet(1, time.Minute, 1, none), Start: t0, Now: t0.Add(10 * time.Second)}
	res, err := newJudge(t).Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != judge.Inconclusive {
		t.Errorf("outcome %s before the first scrape (%s), want inconclusive", res.Outcome, res.Reason)
	}
}

func TestRegressionFailsAndNoChangePasses(t *testing.T) {
	j := newJudge(t)
	for _, tt := range []struct {
		effect float64
		want   judge.Outcome
	}{{1.25, judge.Fail}, {1, judge.Pass}} {
		in := judge.Input{Metrics: []judge.Metric{latency()}, Series: fleet(3, 30*time.Minute, tt.effect, none),
			Start: t0, Now: t0.Add(30 * time.Minute)}
		res, err := j.Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		v := res.Verdicts[0]
		if v.Outcome != tt.want {
			t.Errorf("effect %v: %s (%s), want %s", tt.effect, v.Outcome, v.Reason, tt.want)
		}
		if truth := tt.effect - 1; float64(v.Lower) > truth || float64(v.Upper) < truth {
			t.Errorf("effect %v: interval [%v, %v] misses the truth", tt.effect, v.Lower, v.Upper)
		}
		if len(v.Evidence.Hosts) != 8 || v.Evidence.Phi <= 0.5 {
			t.Errorf("evidence: %d hosts, phi %v; want 8 hosts and phi near 0.8", len(v.Evidence.Hosts), v.Evidence.Phi)
		}
	}
}

func TestFleetDriftNotFlagged(t *testing.T) {
	// Load rises 50% on every host during the bake; the patch does nothing.
	j := newJudge(t)
	ramp := func(frac float64) float64 { return 1 + 0.5*frac }
	for seed := range uint64(20) {
		series := fleet(100+seed, 30*time.Minute, 1, ramp)
		for look := 1; look <= 120; look += 7 {
			in := judge.Input{Metrics: []judge.Metric{latency()}, Series: series, Start: t0, Now: t0.Add(time.Duration(look) * scrape)}
			res, err := j.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome == judge.Fail {
				t.Fatalf("seed %d look %d: drift flagged: %s", seed, look, res.Verdicts[0].Reason)
			}
		}
	}
}

func TestLowerIsWorse(t *testing.T) {
	m := latency()
	m.Name, m.Direction = "throughput", judge.LowerIsWorse
	series := fleet(5, 30*time.Minute, 0.7, none)
	for i := range series {
		series[i].Metric = "throughput"
	}
	res, err := newJudge(t).Evaluate(judge.Input{Metrics: []judge.Metric{m}, Series: series, Start: t0, Now: t0.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Verdicts[0]; v.Outcome != judge.Fail || v.Margin != -0.10 {
		t.Errorf("30%% less throughput: %s margin %v, want fail at -0.10", v.Outcome, v.Margin)
	}
}

// counts builds a crash-count metric: each sample is the number of crashes
// in its scrape interval.
func counts(patchedEvents, controlEvents int, minutes int) []judge.Series {
	var out []judge.Series
	for h := range 10 {
		s := judge.Series{Metric: "crashes", Host: fmt.Sprintf("h%d", h), Group: judge.Control}
		events := controlEvents
		if h < 5 {
			s.Group, events = judge.Patched, patchedEvents
		}
		for k := 1; k <= minutes*4; k++ {
			v := 0.0
			if h%5 == 0 && k <= events {
				v = 1
			}
			s.Current = append(s.Current, judge.Sample{Time: t0.Add(time.Duration(k) * scrape), Value: v})
		}
		out = append(out, s)
	}
	return out
}

func TestCountMetric(t *testing.T) {
	m := judge.Metric{Name: "crashes", Direction: judge.HigherIsWorse, Margin: 0, Unit: judge.Relative,
		Kind: judge.Count, Critical: true}
	j := newJudge(t)
	tests := []struct {
		name             string
		patched, control int
		final            bool
		want             judge.Outcome
	}{
		{"crash loop on patched hosts", 12, 0, false, judge.Fail},
		{"same crashes on both", 3, 3, false, judge.Inconclusive},
		{"no crashes mid-bake", 0, 0, false, judge.Inconclusive},
		{"no crashes at the limit", 0, 0, true, judge.Pass},
		{"crashes only on controls", 0, 15, false, judge.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := judge.Input{Metrics: []judge.Metric{m}, Series: counts(tt.patched, tt.control, 10),
				Start: t0, Now: t0.Add(10 * time.Minute), Final: tt.final}
			res, err := j.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Verdicts[0].Outcome; got != tt.want {
				t.Errorf("got %s (%s), want %s", got, res.Verdicts[0].Reason, tt.want)
			}
		})
	}
}

func TestAggregation(t *testing.T) {
	mk := func(name string, critical bool) judge.Metric {
		m := latency()
		m.Name, m.Critical = name, critical
		return m
	}
	bad := fleet(9, 30*time.Minute, 1.3, none)
	good := fleet(9, 30*time.Minute, 1, none)
	named := func(ss []judge.Series, name string) []judge.Series {
		out := make([]judge.Series, len(ss))
		for i, s := range ss {
			s.Metric = name
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name    string
		metrics []judge.Metric
		series  []judge.Series
		final   bool
		policy  judge.Outcome
		want    judge.Outcome
	}{
		{"one non-critical fail is under review", []judge.Metric{mk("a", false), mk("b", false)},
			append(named(bad, "a"), named(good, "b")...), false, "", judge.Inconclusive},
		{"one critical fail fails", []judge.Metric{mk("a", true), mk("b", false)},
			append(named(bad, "a"), named(good, "b")...), false, "", judge.Fail},
		{"two fails fail", []judge.Metric{mk("a", false), mk("b", false)},
			append(named(bad, "a"), named(bad, "b")...), false, "", judge.Fail},
		{"all pass promotes", []judge.Metric{mk("a", false), mk("b", false)},
			append(named(good, "a"), named(good, "b")...), false, "", judge.Pass},
		{"review at the limit follows a pass policy", []judge.Metric{mk("a", false), mk("b", false)},
			append(named(bad, "a"), named(good, "b")...), true, judge.Pass, judge.Pass},
		{"review at the limit fails by default", []judge.Metric{mk("a", false), mk("b", false)},
			append(named(bad, "a"), named(good, "b")...), true, "", judge.Fail},
	}
	j := newJudge(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := j.Evaluate(judge.Input{Metrics: tt.metrics, Series: tt.series, Start: t0,
				Now: t0.Add(30 * time.Minute), Final: tt.final, OnInconclusive: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want {
				t.Errorf("got %s (%s), want %s", res.Outcome, res.Reason, tt.want)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	j := newJudge(t)
	good := fleet(1, time.Minute, 1, none)
	tests := []struct {
		name string
		in   judge.Input
		want string
	}{
		{"no metrics", judge.Input{Start: t0, Now: t0}, "no metrics"},
		{"bad direction", judge.Input{Metrics: []judge.Metric{{Name: "x", Direction: "up", Unit: judge.Relative, Kind: judge.Continuous}}, Start: t0, Now: t0}, "direction"},
		{"undeclared metric", judge.Input{Metrics: []judge.Metric{latency()}, Series: []judge.Series{{Metric: "cpu", Host: "a", Group: judge.Patched}}, Start: t0, Now: t0}, "not declared"},
		{"bad group", judge.Input{Metrics: []judge.Metric{latency()}, Series: []judge.Series{{Metric: "latency", Host: "a", Group: "canary"}}, Start: t0, Now: t0}, "group"},
		{"look before patch", judge.Input{Metrics: []judge.Metric{latency()}, Series: good, Start: t0, Now: t0.Add(-time.Minute)}, "before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := j.Evaluate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestVerdictJSON(t *testing.T) {
	j, err := judge.New(judge.Options{KeepSeries: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Evaluate(judge.Input{Metrics: []judge.Metric{latency()}, Series: fleet(2, 5*time.Minute, 1.4, none), Start: t0, Now: t0.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back judge.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	v := back.Verdicts[0]
	if v.Outcome != judge.Fail || len(v.Evidence.Series) != 8 || len(v.Evidence.Hosts) != 8 || v.Evidence.HalfWidthCurrent <= 0 {
		t.Errorf("round trip lost evidence: outcome %s, %d series, %d hosts, half-width %v",
			v.Outcome, len(v.Evidence.Series), len(v.Evidence.Hosts), v.Evidence.HalfWidthCurrent)
	}
}
