package judge_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

// sim describes a fleet for the tests of the judge under noise: each host
// has AR(1) noise on the logarithm, a fixed offset and a 10-minute baseline
// scraped every 15 s, and bake minutes after the patch at t0.
type sim struct {
	patched, control int
	phi, sd          float64
	bake             time.Duration
	effect           float64 // multiplies the patched hosts after the patch
	leak             float64 // patched hosts grow by this fraction per minute after the patch
	// the last control is multiplied by shift from shiftAt on
	shift   float64
	shiftAt time.Duration
}

func (c sim) series(seed uint64) []judge.Series {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out []judge.Series
	innov := c.sd * math.Sqrt(1-c.phi*c.phi)
	for h := range c.patched + c.control {
		s := judge.Series{Metric: "latency", Host: fmt.Sprintf("c%d", h-c.patched), Group: judge.Control}
		if h < c.patched {
			s.Host, s.Group = fmt.Sprintf("p%d", h), judge.Patched
		}
		offset := 0.05 * rng.NormFloat64()
		x := c.sd * rng.NormFloat64()
		for k := -39; k <= int(c.bake/scrape); k++ {
			x = c.phi*x + innov*rng.NormFloat64()
			at := t0.Add(time.Duration(k) * scrape)
			since := at.Sub(t0)
			logv := math.Log(0.2) + offset + x
			if k > 0 {
				if s.Group == judge.Patched {
					logv += math.Log(c.effect) + math.Log1p(c.leak*since.Minutes())
				}
				if c.shift > 0 && h == c.patched+c.control-1 && since > c.shiftAt {
					logv += math.Log(c.shift)
				}
				s.Current = append(s.Current, judge.Sample{Time: at, Value: math.Exp(logv)})
			} else if k < 0 {
				s.Baseline = append(s.Baseline, judge.Sample{Time: at, Value: math.Exp(logv)})
			}
		}
		out = append(out, s)
	}
	return out
}

func lookAt(t *testing.T, j *judge.Judge, ss []judge.Series, at time.Duration) judge.Verdict {
	t.Helper()
	res, err := j.Evaluate(judge.Input{Metrics: []judge.Metric{latency()}, Series: ss, Start: t0, Now: t0.Add(at)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Verdicts[0]
}

func judgeTuned(t *testing.T, opts judge.Options) *judge.Judge {
	t.Helper()
	if opts.TuneAfter == 0 {
		opts.TuneAfter = 30 * time.Minute
	}
	j, err := judge.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A control that halves its latency on its own a minute into the bake
// would make the unchanged patched hosts look 14% slower than the
// controls; it is set aside, named in the evidence and the reason, and the
// estimate stays near no change.
func TestDepartingControlIsSetAside(t *testing.T) {
	c := sim{patched: 2, control: 5, phi: 0.8, sd: 0.05, bake: 15 * time.Minute, effect: 1, shift: 0.5, shiftAt: time.Minute}
	with := judgeTuned(t, judge.Options{})
	without := judgeTuned(t, judge.Options{SetAsideK: -1})
	for seed := range uint64(5) {
		ss := c.series(seed)
		v := lookAt(t, with, ss, 15*time.Minute)
		if v.Outcome == judge.Fail || len(v.Evidence.SetAside) != 1 || v.Evidence.SetAside[0] != "c4" {
			t.Fatalf("seed %d: %s (%s), set aside %v; want c4 set aside and no Fail", seed, v.Outcome, v.Reason, v.Evidence.SetAside)
		}
		if !strings.Contains(v.Reason, "control c4 set aside") || !strings.Contains(v.Evidence.SetAsideReasons[0], "departs from the other controls' median") {
			t.Errorf("seed %d: reason %q and %v do not say which control was set aside and why", seed, v.Reason, v.Evidence.SetAsideReasons)
		}
		for _, h := range v.Evidence.Hosts {
			if h.Host == "c4" && h.Weight != 0 {
				t.Errorf("seed %d: c4 still weighs %v", seed, h.Weight)
			}
		}
		if math.Abs(float64(v.Estimate)) > 0.06 {
			t.Errorf("seed %d: estimate %+.3f with c4 set aside, want near 0", seed, v.Estimate)
		}
		// Kept, the same control moves the estimate beyond the margin.
		if w := lookAt(t, without, ss, 15*time.Minute); float64(w.Estimate) < 0.08 || len(w.Evidence.SetAside) != 0 {
			t.Errorf("seed %d: without setting aside, estimate %+.3f (set aside %v); want above +8%%", seed, w.Estimate, w.Evidence.SetAside)
		}
	}
}

// With one canary and two controls, the control degrading by 30% from the
// change on is set aside (the one farther from no change), and the
// canary's real +20% is failed instead of hidden: against both controls
// it would read +5%.
func TestDegradingControlDoesNotHideRegression(t *testing.T) {
	c := sim{patched: 1, control: 2, phi: 0.5, sd: 0.02, bake: 30 * time.Minute, effect: 1.2, shift: 1.3}
	j := judgeTuned(t, judge.Options{})
	for seed := range uint64(5) {
		ss := c.series(10 + seed)
		var v judge.Verdict
		for look := 1; look <= 120; look++ {
			if v = lookAt(t, j, ss, time.Duration(look)*scrape); v.Outcome == judge.Fail {
				break
			}
		}
		if v.Outcome != judge.Fail || len(v.Evidence.SetAside) != 1 || v.Evidence.SetAside[0] != "c1" {
			t.Errorf("seed %d: %s (%s), set aside %v; want a Fail with c1 set aside", seed, v.Outcome, v.Reason, v.Evidence.SetAside)
		}
	}
}

// Latency growing 2% a minute after the change is failed by the trend test
// while the mean since the change is still within the margin, so the level
// test alone could not fail it yet.
func TestLeakFailedByTrend(t *testing.T) {
	c := sim{patched: 2, control: 4, phi: 0.5, sd: 0.02, bake: 30 * time.Minute, effect: 1, leak: 0.02}
	j := judgeTuned(t, judge.Options{})
	for seed := range uint64(5) {
		ss := c.series(20 + seed)
		var v judge.Verdict
		var at time.Duration
		for look := 1; look <= 120; look++ {
			at = time.Duration(look) * scrape
			if v = lookAt(t, j, ss, at); v.Outcome == judge.Fail {
				break
			}
		}
		if v.Outcome != judge.Fail || v.Evidence.Trend == nil || !v.Evidence.Trend.Fail {
			t.Fatalf("seed %d: %s (%s); want a Fail by the trend test", seed, v.Outcome, v.Reason)
		}
		if at > 10*time.Minute || float64(v.Lower) > 0.10 {
			t.Errorf("seed %d: failed at %s with the level's interval [%+.3f, %+.3f]; want within 10m, before the level alone is beyond the margin", seed, at, v.Lower, v.Upper)
		}
		if !strings.Contains(v.Reason, "rising") || float64(v.Evidence.Trend.Lower) <= v.Evidence.Trend.Limit {
			t.Errorf("seed %d: reason %q, trend %+v; want a rising slope whose interval is above its limit", seed, v.Reason, *v.Evidence.Trend)
		}
	}
	// No change: the trend test raises nothing over the whole bake.
	c.leak = 0
	for seed := range uint64(5) {
		ss := c.series(30 + seed)
		for look := 1; look <= 120; look++ {
			if v := lookAt(t, j, ss, time.Duration(look)*scrape); v.Outcome == judge.Fail {
				t.Fatalf("seed %d look %d: no change failed: %s", seed, look, v.Reason)
			}
		}
	}
}

// One outlier scrape as the newest sample of a patched host, at each of
// the first looks, does not fail a no-change series: it is held out until
// the next scrapes show it does not persist. A shift that persists is
// failed a few scrapes after the change.
func TestNewestOutlierIsHeldNotFailed(t *testing.T) {
	c := sim{patched: 2, control: 4, phi: 0.5, sd: 0.02, bake: 10 * time.Minute, effect: 1}
	j := judgeTuned(t, judge.Options{TuneAfter: 10 * time.Minute})
	for look := 1; look <= 20; look++ {
		ss := c.series(40)
		at := time.Duration(look) * scrape
		ss[0].Current[look-1].Value *= 4 // the newest sample of p0 at this look
		v := lookAt(t, j, ss, at)
		if v.Outcome == judge.Fail {
			t.Fatalf("look %d: a single outlier failed the gate: %s", look, v.Reason)
		}
		if v.Outcome != judge.Inconclusive || !strings.Contains(v.Reason, "held out") {
			if h := v.Evidence.Hosts[0]; h.Held != 1 {
				t.Errorf("look %d: p0 holds %d samples (%s), want the outlier held", look, h.Held, v.Reason)
			}
		}
		// At the next scrape it is an ordinary spike and is replaced.
		if look <= 18 {
			if v := lookAt(t, j, ss, at+2*scrape); v.Outcome == judge.Fail || v.Evidence.Hosts[0].Replaced < 1 {
				t.Errorf("look %d+2: %s, p0 replaced %d; want the spike replaced and no Fail", look, v.Outcome, v.Evidence.Hosts[0].Replaced)
			}
		}
	}
	c.effect = 3
	ss := c.series(41)
	failed := 0
	for look := 1; look <= 8 && failed == 0; look++ {
		if v := lookAt(t, j, ss, time.Duration(look)*scrape); v.Outcome == judge.Fail {
			failed = look
		}
	}
	if failed == 0 {
		t.Errorf("a lasting 3x shift was not failed within 8 scrapes")
	}
}

// A +20% regression against the 10% margin, 2 canaries and 4 controls
// with a 10-minute baseline and 3% noise, is failed within the 30-minute
// bake, with an interval that covers it.
func TestRegressionOf20PercentFails(t *testing.T) {
	c := sim{patched: 2, control: 4, phi: 0.8, sd: 0.03, bake: 30 * time.Minute, effect: 1.2}
	j := judgeTuned(t, judge.Options{})
	for seed := range uint64(5) {
		ss := c.series(50 + seed)
		var v judge.Verdict
		for look := 1; look <= 120; look++ {
			if v = lookAt(t, j, ss, time.Duration(look)*scrape); v.Outcome != judge.Inconclusive {
				break
			}
		}
		if v.Outcome != judge.Fail || float64(v.Lower) <= 0.10 || float64(v.Upper) < 0.2 {
			t.Errorf("seed %d: %s, %+.3f in [%+.3f, %+.3f]; want a Fail with the interval above +10%% and covering +20%%", seed, v.Outcome, v.Estimate, v.Lower, v.Upper)
		}
	}
}
