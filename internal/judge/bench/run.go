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

// Row is one scenario and judge of the table.
type Row struct {
	Scenario Scenario
	Judge    string
	Runs     int
	// Alarms counts runs with a failed gate at any look of the bake.
	Alarms int
	// Detected counts runs failed within the scenario's limit.
	Detected int
	// TimesToDetect holds each run's time to the first failed look, or
	// -1 when the gate never failed.
	TimesToDetect []time.Duration
	// Promoted counts runs the judge passed (promoted early) at some look.
	Promoted int
	// Misses counts runs whose interval ever excluded the true change
	// (sequential judge only).
	Misses int
}

// AlarmRate is the share of runs with any failed look.
func (r Row) AlarmRate() float64 { return float64(r.Alarms) / float64(r.Runs) }

// DetectRate is the share of runs failed within the limit.
func (r Row) DetectRate() float64 { return float64(r.Detected) / float64(r.Runs) }

// MedianTTD is the median time to the first failed look over all runs;
// runs never failed count as infinitely late, so a judge that misses most
// runs has no median (-1).
func (r Row) MedianTTD() time.Duration {
	ts := make([]float64, len(r.TimesToDetect))
	for i, t := range r.TimesToDetect {
		ts[i] = float64(t)
		if t < 0 {
			ts[i] = math.Inf(1)
		}
	}
	slices.Sort(ts)
	m := ts[(len(ts)-1)/2]
	if math.IsInf(m, 1) {
		return -1
	}
	return time.Duration(m)
}

// Report is the outcome of Run.
type Report struct {
	Config Config
	Rows   []Row
}

// runResult is one run's outcome for one judge.
type runResult struct {
	alarm, pass time.Duration // -1 when never
	miss        bool
}

// Run simulates cfg.Runs runs of each scenario and judges each run at every
// scrape of the bake with both judges. It is deterministic for a seed: run
// i of scenario s draws from its own generator seeded with (Seed, s, i),
// whatever the number of workers.
func Run(cfg Config, scenarios []Scenario) (Report, error) {
	cfg = cfg.withDefaults()
	seq, err := judge.New(judge.Options{})
	if err != nil {
		return Report{}, err
	}
	mw, err := judge.NewMannWhitney(judge.MannWhitneyOptions{})
	if err != nil {
		return Report{}, err
	}
	rep := Report{Config: cfg}
	for si, sc := range scenarios {
		results := make([][2]runResult, cfg.Runs)
		errs := make([]error, cfg.Runs)
		var wg sync.WaitGroup
		next := make(chan int)
		for range cfg.Workers {
			wg.Go(func() {
				for i := range next {
					rng := rand.New(rand.NewPCG(cfg.Seed, uint64(si)<<32|uint64(i)))
					results[i], errs[i] = oneRun(cfg, sc, rng, seq, mw)
				}
			})
		}
		for i := range cfg.Runs {
			next <- i
		}
		close(next)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return Report{}, err
			}
		}
		for ji, name := range []string{judge.JudgeName, judge.MannWhitneyName} {
			row := Row{Scenario: sc, Judge: name, Runs: cfg.Runs}
			for _, r := range results {
				res := r[ji]
				row.TimesToDetect = append(row.TimesToDetect, res.alarm)
				if res.alarm >= 0 {
					row.Alarms++
					if sc.Limit > 0 && res.alarm <= sc.Limit {
						row.Detected++
					}
				}
				if res.pass >= 0 {
					row.Promoted++
				}
				if res.miss {
					row.Misses++
				}
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	return rep, nil
}

// oneRun judges one simulated run at every scrape of the bake.
func oneRun(cfg Config, sc Scenario, rng *rand.Rand, seq, mw judge.Evaluator) ([2]runResult, error) {
	series, start := simulate(cfg, sc, rng)
	in := judge.Input{Metrics: []judge.Metric{LatencyMetric(cfg.Margin)}, Series: series, Start: start}
	truth := sc.Effect - 1
	out := [2]runResult{{alarm: -1, pass: -1}, {alarm: -1, pass: -1}}
	looks := int(cfg.Bake / cfg.Scrape)
	for k := 1; k <= looks; k++ {
		at := time.Duration(k) * cfg.Scrape
		in.Now, in.Final = start.Add(at), k == looks
		for ji, ev := range []judge.Evaluator{seq, mw} {
			r := &out[ji]
			if ji == 1 && r.alarm >= 0 {
				continue // the Kayenta-style judge has nothing more to report
			}
			res, err := ev.Evaluate(in)
			if err != nil {
				return out, err
			}
			// An alarm is a metric judged beyond its margin (or without
			// data), not the plan's policy at the bake limit.
			switch res.Verdicts[0].Outcome {
			case judge.Fail, judge.NoData:
				if r.alarm < 0 {
					r.alarm = at
				}
			}
			if res.Outcome == judge.Pass && !in.Final {
				if r.pass < 0 {
					r.pass = at
				}
			}
			if ji == 0 {
				v := res.Verdicts[0]
				if v.Outcome != judge.NoData && (float64(v.Lower) > truth || float64(v.Upper) < truth) {
					r.miss = true
				}
			}
		}
	}
	return out, nil
}

// WriteTable prints the report as one table.
func (r Report) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "judgebench: %s\n", r.Config.Describe()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tjudge\truns\tany alarm (95% CI)\tdetected within limit\tmedian time to detect\tpromoted early\tinterval missed truth")
	for _, row := range r.Rows {
		lo, hi := wilson(row.Alarms, row.Runs)
		alarm := fmt.Sprintf("%.1f%% [%.1f, %.1f]", 100*row.AlarmRate(), 100*lo, 100*hi)
		det, ttd := "-", "-"
		if row.Scenario.Limit > 0 {
			det = fmt.Sprintf("%.1f%% (<= %s)", 100*row.DetectRate(), fmtDur(row.Scenario.Limit))
			ttd = "never (median)"
			if m := row.MedianTTD(); m >= 0 {
				ttd = fmtDur(m)
			}
		}
		promoted, missed := "-", "-"
		if row.Judge == judge.JudgeName {
			promoted = fmt.Sprintf("%.1f%%", 100*float64(row.Promoted)/float64(row.Runs))
			missed = fmt.Sprintf("%.1f%%", 100*float64(row.Misses)/float64(row.Runs))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", row.Scenario.Name, row.Judge, row.Runs, alarm, det, ttd, promoted, missed)
	}
	return tw.Flush()
}

func fmtDur(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}

// wilson is the 95% Wilson score interval of k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959964
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / den
	h := z * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn)) / den
	return max(0, c-h), min(1, c+h)
}
