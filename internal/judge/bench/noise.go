package bench

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

// The noise suite checks the sequential judge under noise its first table
// does not use, with a plan's usual settings: a 10-minute baseline, a
// 30-minute bake judged at every scrape, a 10% relative margin, and the
// judge configured as the canary gate configures it (tightest at the bake
// limit).
const (
	NoiseBaseline = 10 * time.Minute
	NoiseBake     = 30 * time.Minute
	NoiseMargin   = 0.10
	// LeakLimit is the time within which a leak must be caught.
	LeakLimit = 10 * time.Minute
	// LeakRate is the leak's growth of the patched hosts' latency, a
	// fraction of the baseline level per minute since the change.
	LeakRate = 0.02
	// RegressionEffect is the real regression each condition is checked
	// with: +20% against the 10% margin.
	RegressionEffect = 1.2
)

// Condition is a fleet and its noise; each is run three times: with no
// change (false alarms, a harmless patch's Pass), with a +20% regression
// and with a 2%-a-minute leak.
type Condition struct {
	Name    string
	Patched int
	Control int
	// Phi is the AR(1) coefficient of each host's noise at the scrape.
	Phi float64
	// NoiseLo and NoiseHi bound each host's own noise level (marginal
	// standard deviation, log scale), drawn uniformly per host.
	NoiseLo, NoiseHi float64
	// TailDF, when > 0, draws the innovations from a Student t with that
	// many degrees of freedom, scaled to the same variance.
	TailDF float64
	// PhaseSpread, when true, gives each host its own phase of the daily
	// cycle instead of the fleet's shared one.
	PhaseSpread bool
	// ControlShift multiplies the last control host's latency by this
	// factor from ControlShiftAt after the change on (0 = none).
	ControlShift   float64
	ControlShiftAt time.Duration
	// EarlySpike puts one outlier scrape (x2 to x5) on a patched host at
	// one of the first EarlySpike scrapes after the change.
	EarlySpike int
	// Baseline overrides NoiseBaseline when > 0.
	Baseline time.Duration
}

// Conditions are the rows of the noise suite.
func Conditions() []Condition {
	std := Condition{Patched: 2, Control: 4, Phi: DefaultPhi, NoiseLo: DefaultNoise, NoiseHi: DefaultNoise}
	with := func(name string, f func(c *Condition)) Condition {
		c := std
		c.Name = name
		f(&c)
		return c
	}
	return []Condition{
		with("2+4, bench noise (phi 0.8, 5%)", func(*Condition) {}),
		with("heavy tails (t, 3 df)", func(c *Condition) { c.TailDF = 3 }),
		with("phi 0.95", func(c *Condition) { c.Phi = 0.95 }),
		with("phi 0.98", func(c *Condition) { c.Phi = 0.98 }),
		with("per-host noise 2%-15%", func(c *Condition) { c.NoiseLo, c.NoiseHi = 0.02, 0.15 }),
		with("1 canary vs 2 controls", func(c *Condition) { c.Patched, c.Control = 1, 2 }),
		with("daily cycles in different phases", func(c *Condition) { c.PhaseSpread = true }),
		with("2+5, a control drops 50% at 1m", func(c *Condition) {
			c.Control, c.ControlShift, c.ControlShiftAt = 5, 0.5, time.Minute
		}),
		with("2+4, a control degrades 30% at 2m", func(c *Condition) {
			c.ControlShift, c.ControlShiftAt = 1.3, 2*time.Minute
		}),
		with("1+2, a control degrades 30% at 2m", func(c *Condition) {
			c.Patched, c.Control, c.ControlShift, c.ControlShiftAt = 1, 2, 1.3, 2*time.Minute
		}),
		with("one outlier in the first 8 scrapes", func(c *Condition) { c.EarlySpike = 8 }),
		with("2+4, 30m baseline", func(c *Condition) { c.Baseline = 30 * time.Minute }),
	}
}

// Change is what the patch does in a run of the noise suite.
type Change int

// Changes.
const (
	NoChange Change = iota
	Regression
	Leak
)

func (c Change) String() string {
	return [...]string{"none", "+20%", "leak 2%/min"}[c]
}

// NoiseRow is one condition's outcome for one change.
type NoiseRow struct {
	Condition Condition
	Change    Change
	Runs      int
	// Alarms counts runs with a Fail at any look of the bake (for a
	// real change these are detections).
	Alarms int
	// Within counts, for a real change, the runs failed within its
	// limit (30m for +20%, 10m for the leak); for no change, the runs
	// whose first decision was a Pass.
	Within int
	// Undecided counts runs with neither a Pass nor a Fail by the bake
	// limit: the plan's on_inconclusive decides them.
	Undecided int
	// Decide holds each run's time to its first Pass or Fail (for a real
	// change, to its first Fail), -1 for none.
	Decide []time.Duration
	// Passed counts runs whose first decision was a Pass (for a real
	// change, a false Pass).
	Passed int
	// SetAside counts runs in which some control was set aside at the
	// last look judged.
	SetAside int
}

// Rate is k over the row's runs.
func (r NoiseRow) Rate(k int) float64 { return float64(k) / float64(r.Runs) }

// MedianDecide is the median time to the first decision, counting
// undecided runs as infinitely late; -1 when more than half are undecided.
func (r NoiseRow) MedianDecide() time.Duration {
	ts := make([]float64, len(r.Decide))
	for i, t := range r.Decide {
		ts[i] = float64(t)
		if t < 0 {
			ts[i] = math.Inf(1)
		}
	}
	slices.Sort(ts)
	if len(ts) == 0 || math.IsInf(ts[(len(ts)-1)/2], 1) {
		return -1
	}
	return time.Duration(ts[(len(ts)-1)/2])
}

// NoiseReport is the outcome of RunNoise.
type NoiseReport struct {
	Runs int
	Seed uint64
	Rows []NoiseRow
}

// RunNoise runs every condition with each change, runs times each, judging
// every run at every scrape of the bake with the sequential judge, on
// workers goroutines. It is deterministic for a seed whatever the workers.
func RunNoise(runs int, seed uint64, workers int, conds []Condition) (NoiseReport, error) {
	if runs <= 0 {
		return NoiseReport{}, fmt.Errorf("runs: want a positive number, got %d", runs)
	}
	workers = max(workers, 1)
	j, err := judge.New(judge.Options{TuneAfter: NoiseBake})
	if err != nil {
		return NoiseReport{}, err
	}
	rep := NoiseReport{Runs: runs, Seed: seed}
	type job struct{ row, run int }
	var rows []NoiseRow
	for _, c := range conds {
		for _, ch := range []Change{NoChange, Regression, Leak} {
			rows = append(rows, NoiseRow{Condition: c, Change: ch, Runs: runs})
		}
	}
	results := make([][]noiseResult, len(rows))
	for i := range results {
		results[i] = make([]noiseResult, runs)
	}
	errs := make([]error, workers)
	next := make(chan job, 64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for jb := range next {
				if errs[w] != nil {
					continue
				}
				row := rows[jb.row]
				rng := rand.New(rand.NewPCG(seed, uint64(jb.row)<<32|uint64(jb.run)))
				results[jb.row][jb.run], errs[w] = noiseRun(j, row.Condition, row.Change, rng)
			}
		})
	}
	for ri := range rows {
		for i := range runs {
			next <- job{ri, i}
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return NoiseReport{}, err
		}
	}
	for ri := range rows {
		row := &rows[ri]
		limit := NoiseBake
		if row.Change == Leak {
			limit = LeakLimit
		}
		for _, r := range results[ri] {
			first := r.fail
			if first < 0 || (r.pass >= 0 && r.pass < first) {
				first = r.pass
			}
			if row.Change != NoChange {
				first = r.fail
			}
			row.Decide = append(row.Decide, first)
			if r.pass >= 0 && (r.fail < 0 || r.pass < r.fail) {
				row.Passed++
			}
			if r.fail >= 0 {
				row.Alarms++
			}
			switch {
			case row.Change == NoChange && r.pass >= 0 && (r.fail < 0 || r.pass < r.fail):
				row.Within++
			case row.Change != NoChange && r.fail >= 0 && r.fail <= limit:
				row.Within++
			}
			if first < 0 {
				row.Undecided++
			}
			if r.setAside {
				row.SetAside++
			}
		}
	}
	rep.Rows = rows
	return rep, nil
}

type noiseResult struct {
	fail, pass time.Duration // -1 when never
	setAside   bool
}

// noiseRun simulates one run and judges it at every scrape until the
// first Fail (a Pass does not stop it: an alarm after a Pass is still
// counted as a false alarm).
func noiseRun(j judge.Evaluator, c Condition, ch Change, rng *rand.Rand) (noiseResult, error) {
	series, start := simulateNoise(c, ch, rng)
	in := judge.Input{Metrics: []judge.Metric{LatencyMetric(NoiseMargin)}, Series: series, Start: start}
	out := noiseResult{fail: -1, pass: -1}
	looks := int(NoiseBake / DefaultScrape)
	for k := 1; k <= looks; k++ {
		at := time.Duration(k) * DefaultScrape
		in.Now = start.Add(at)
		res, err := j.Evaluate(in)
		if err != nil {
			return out, err
		}
		v := res.Verdicts[0]
		out.setAside = len(v.Evidence.SetAside) > 0
		switch v.Outcome {
		case judge.Fail, judge.NoData:
			out.fail = at
			return out, nil
		case judge.Pass:
			if out.pass < 0 {
				out.pass = at
			}
		}
	}
	return out, nil
}

// simulateNoise returns the series of one run of a condition and the
// patch time.
func simulateNoise(c Condition, ch Change, rng *rand.Rand) ([]judge.Series, time.Time) {
	scrape := DefaultScrape
	baseline := NoiseBaseline
	if c.Baseline > 0 {
		baseline = c.Baseline
	}
	start := epoch.Add(time.Duration(rng.Float64() * float64(24*time.Hour))).Truncate(scrape)
	first := start.Add(-baseline)
	steps := int((baseline + NoiseBake) / scrape)
	fleetPhase := rng.Float64() * 2 * math.Pi
	spikeHost, spikeAt := -1, 0
	if c.EarlySpike > 0 {
		spikeHost, spikeAt = rng.IntN(c.Patched), 1+rng.IntN(c.EarlySpike)
	}
	out := make([]judge.Series, 0, c.Patched+c.Control)
	for h := range c.Patched + c.Control {
		s := judge.Series{Metric: "latency_p99", Host: fmt.Sprintf("host%02d", h), Group: judge.Control}
		patched := h < c.Patched
		if patched {
			s.Group = judge.Patched
		}
		shifted := c.ControlShift > 0 && h == c.Patched+c.Control-1
		noise := c.NoiseLo + (c.NoiseHi-c.NoiseLo)*rng.Float64()
		innov := noise * math.Sqrt(1-c.Phi*c.Phi)
		phase := fleetPhase
		if c.PhaseSpread {
			phase = rng.Float64() * 2 * math.Pi
		}
		offset := rng.NormFloat64() * DefaultHostOffset
		x := rng.NormFloat64() * noise
		s.Baseline = make([]judge.Sample, 0, int(baseline/scrape))
		s.Current = make([]judge.Sample, 0, int(NoiseBake/scrape))
		after := 0
		for k := 1; k <= steps; k++ {
			x = c.Phi*x + innov*draw(rng, c.TailDF)
			t := first.Add(time.Duration(k) * scrape)
			day := 2*math.Pi*float64(t.Sub(epoch))/float64(24*time.Hour) + phase
			logv := math.Log(DefaultLevel) + offset + DefaultDiurnal*math.Sin(day) + x
			since := t.Sub(start)
			if since > 0 {
				after++
				if patched {
					switch ch {
					case Regression:
						logv += math.Log(RegressionEffect)
					case Leak:
						logv += math.Log1p(LeakRate * since.Minutes())
					}
				}
				if shifted && since > c.ControlShiftAt {
					logv += math.Log(c.ControlShift)
				}
			}
			v := math.Exp(logv)
			if rng.Float64() < DefaultOutlierRate {
				v *= 2 + 3*rng.Float64()
			}
			if h == spikeHost && after == spikeAt {
				v *= 2 + 3*rng.Float64()
			}
			if rng.Float64() < DefaultMissingRate {
				continue
			}
			p := judge.Sample{Time: t, Value: v}
			if since > 0 {
				s.Current = append(s.Current, p)
			} else {
				s.Baseline = append(s.Baseline, p)
			}
		}
		out = append(out, s)
	}
	return out, start
}

// draw returns a standard normal, or a Student t with df degrees of
// freedom scaled to unit variance when df > 2.
func draw(rng *rand.Rand, df float64) float64 {
	z := rng.NormFloat64()
	if df <= 2 {
		return z
	}
	// A chi-square with df degrees of freedom as a sum of squares when df
	// is whole, else by the gamma's normal approximation.
	var chi float64
	if n := int(df); float64(n) == df {
		for range n {
			g := rng.NormFloat64()
			chi += g * g
		}
	} else {
		chi = max(1e-9, df+math.Sqrt(2*df)*rng.NormFloat64())
	}
	return z / math.Sqrt(chi/df) * math.Sqrt((df-2)/df)
}

// WriteTable prints the noise suite: per condition, false alarms, a
// harmless patch's Pass and the undecided share with no change, detection
// of +20% within 30 minutes, a leak caught within 10 minutes, and the
// median times to decide.
func (r NoiseReport) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "judgebench noise suite: %d runs per cell, seed %d; %s baseline, %s bake judged every %s, margin +%.0f%%, judge tuned at %s; unless the condition says otherwise: 2 patched + 4 control hosts, AR(1) phi %.2f sd %.0f%%, host offsets %.0f%%, shared daily cycle +-%.0f%%, outliers %.1f%%, missing %.0f%%\n",
		r.Runs, r.Seed, NoiseBaseline, NoiseBake, DefaultScrape, 100*NoiseMargin, NoiseBake, DefaultPhi, 100*DefaultNoise,
		100*DefaultHostOffset, 100*DefaultDiurnal, 100*DefaultOutlierRate, 100*DefaultMissingRate); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "condition\tno change: false alarms\tpassed\tundecided at 30m\tmedian decision\t+20%: caught <= 30m\tmedian\tpassed\tleak: caught <= 10m\tmedian\tpassed\tcontrol set aside (none/+20%)")
	byCond := map[string]map[Change]NoiseRow{}
	var order []string
	for _, row := range r.Rows {
		if byCond[row.Condition.Name] == nil {
			byCond[row.Condition.Name] = map[Change]NoiseRow{}
			order = append(order, row.Condition.Name)
		}
		byCond[row.Condition.Name][row.Change] = row
	}
	pct := func(row NoiseRow, k int) string { return fmt.Sprintf("%.1f%%", 100*row.Rate(k)) }
	med := func(row NoiseRow) string {
		if m := row.MedianDecide(); m >= 0 {
			return fmtDur(m.Round(time.Second))
		}
		return "-"
	}
	for _, name := range order {
		rows := byCond[name]
		aa, ab, lk := rows[NoChange], rows[Regression], rows[Leak]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name,
			pct(aa, aa.Alarms), pct(aa, aa.Within), pct(aa, aa.Undecided), med(aa),
			pct(ab, ab.Within), med(ab), pct(ab, ab.Passed), pct(lk, lk.Within), med(lk), pct(lk, lk.Passed),
			pct(aa, aa.SetAside)+" / "+pct(ab, ab.SetAside))
	}
	return tw.Flush()
}
