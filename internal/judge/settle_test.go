package judge

import (
	"testing"
	"time"
)

// A current sample whose window reaches back before the patch is left out;
// until the first whole window, the metric waits rather than failing on
// stale data.
func TestWindowLeavesOutSamplesThatStraddleThePatch(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var cur []Sample
	for i := 1; i <= 12; i++ {
		cur = append(cur, Sample{Time: start.Add(time.Duration(i) * 5 * time.Second), Value: float64(i)})
	}
	s := []Series{{Metric: "latency", Host: "web-1", Group: Patched, Current: cur}}
	in := Input{Start: start, Now: start.Add(time.Minute)}
	m := Metric{Name: "latency", Window: 30 * time.Second}
	got := window(m, s, in)[0].Current
	if len(got) != 6 || !got[0].Time.Equal(start.Add(35*time.Second)) {
		t.Errorf("with a 30s window, current samples %v; want the 6 after 00:30", got)
	}
	if got := window(Metric{Name: "latency"}, s, in)[0].Current; len(got) != 12 {
		t.Errorf("point values: %d current samples, want all 12", len(got))
	}
	// Inside the first window of a long range there is nothing current
	// yet: the metric waits, it does not fail as stale.
	j, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := Metric{Name: "latency", Direction: HigherIsWorse, Margin: 0.1, Unit: Relative, Kind: Continuous, Window: 5 * time.Minute}
	base := make([]Sample, 0, 30)
	for i := 30; i > 0; i-- {
		base = append(base, Sample{Time: start.Add(-time.Duration(i) * 5 * time.Second), Value: 1})
	}
	ss := []Series{{Metric: "latency", Host: "web-1", Group: Patched, Baseline: base, Current: cur},
		{Metric: "latency", Host: "db-1", Group: Control, Baseline: base, Current: cur}}
	in.Now = start.Add(2 * time.Minute)
	if reason, wait := j.dataProblem(long, window(long, ss, in), in); !wait {
		t.Errorf("two minutes into a 5m window: %q, wait %v; want to wait for the first whole window", reason, wait)
	}
}
