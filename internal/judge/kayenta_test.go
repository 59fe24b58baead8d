package judge_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

// flat builds metric series where patched hosts read pv and control hosts
// cv, with a small deterministic wobble so the values are not all tied.
func flat(metric string, pv, cv float64) []judge.Series {
	var out []judge.Series
	for h := range 6 {
		s := judge.Series{Metric: metric, Host: fmt.Sprintf("%s-h%d", metric, h), Group: judge.Control}
		v := cv
		if h < 3 {
			s.Group, v = judge.Patched, pv
		}
		for k := 1; k <= 40; k++ {
			w := v * (1 + 0.01*math.Sin(float64(k*7+h)))
			s.Current = append(s.Current, judge.Sample{Time: t0.Add(time.Duration(k) * scrape), Value: w})
		}
		out = append(out, s)
	}
	return out
}

func TestMannWhitneyJudge(t *testing.T) {
	metric := func(name, group string, dir judge.Direction, critical bool) judge.Metric {
		return judge.Metric{Name: name, Group: group, Direction: dir, Unit: judge.Absolute, Kind: judge.Continuous, Critical: critical}
	}
	tests := []struct {
		name      string
		metrics   []judge.Metric
		series    []judge.Series
		final     bool
		weights   map[string]float64
		wantClass []string
		wantScore float64
		want      judge.Outcome
	}{
		{
			name:    "all pass at the final look",
			metrics: []judge.Metric{metric("p99", "latency", judge.HigherIsWorse, false), metric("cpu", "system", judge.HigherIsWorse, false)},
			series:  append(flat("p99", 100, 100), flat("cpu", 50, 50)...), final: true,
			wantClass: []string{judge.ClassPass, judge.ClassPass}, wantScore: 100, want: judge.Pass,
		},
		{
			name:    "passing mid-bake does not promote",
			metrics: []judge.Metric{metric("p99", "latency", judge.HigherIsWorse, false)},
			series:  flat("p99", 100, 100), wantClass: []string{judge.ClassPass}, wantScore: 100, want: judge.Inconclusive,
		},
		{
			// Latency group (weight 60) High: score = 0*0.6 + 100*0.4 = 40.
			name:    "weighted group fails",
			metrics: []judge.Metric{metric("p99", "latency", judge.HigherIsWorse, false), metric("cpu", "system", judge.HigherIsWorse, false)},
			series:  append(flat("p99", 150, 100), flat("cpu", 50, 50)...), weights: map[string]float64{"latency": 60},
			wantClass: []string{judge.ClassHigh, judge.ClassPass}, wantScore: 40, want: judge.Fail,
		},
		{
			name:    "low throughput",
			metrics: []judge.Metric{metric("rps", "traffic", judge.LowerIsWorse, false)},
			series:  flat("rps", 70, 100), wantClass: []string{judge.ClassLow}, wantScore: 0, want: judge.Fail,
		},
		{
			// An increase of a lower_is_worse metric is not flagged.
			name:    "direction respected",
			metrics: []judge.Metric{metric("rps", "traffic", judge.LowerIsWorse, false)},
			series:  flat("rps", 130, 100), wantClass: []string{judge.ClassPass}, wantScore: 100, want: judge.Inconclusive,
		},
		{
			name:      "critical metric zeroes the score",
			metrics:   []judge.Metric{metric("p99", "latency", judge.HigherIsWorse, false), metric("err", "errors", judge.HigherIsWorse, true)},
			series:    append(flat("p99", 100, 100), flat("err", 2, 1)...),
			wantClass: []string{judge.ClassPass, judge.ClassHigh}, wantScore: 0, want: judge.Fail,
		},
		{
			name:    "no data fails closed",
			metrics: []judge.Metric{metric("p99", "latency", judge.HigherIsWorse, false), metric("cpu", "system", judge.HigherIsWorse, false)},
			series:  flat("p99", 100, 100), weights: map[string]float64{"latency": 60},
			wantClass: []string{judge.ClassPass, judge.ClassNodata}, wantScore: 60, want: judge.Fail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := judge.NewMannWhitney(judge.MannWhitneyOptions{GroupWeights: tt.weights})
			if err != nil {
				t.Fatal(err)
			}
			res, err := mw.Evaluate(judge.Input{Metrics: tt.metrics, Series: tt.series, Start: t0, Now: t0.Add(10 * time.Minute), Final: tt.final})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range res.Verdicts {
				if v.Classification != tt.wantClass[i] {
					t.Errorf("%s classified %s (%s), want %s", v.Metric, v.Classification, v.Reason, tt.wantClass[i])
				}
			}
			if math.Abs(float64(res.Score)-tt.wantScore) > 1e-9 {
				t.Errorf("score %v, want %v", res.Score, tt.wantScore)
			}
			if res.Outcome != tt.want {
				t.Errorf("outcome %s (%s), want %s", res.Outcome, res.Reason, tt.want)
			}
		})
	}
}
