package sim

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// RolloutConfig describes a comparison of adaptive and fixed waves. Zero
// fields take the defaults below.
type RolloutConfig struct {
	Seed     uint64
	Rollouts int // rollouts of each kind (good, bad); DefaultRollouts
	Hosts    int // fleet size; DefaultRolloutHosts
	// Good patches break each host with a rate drawn uniformly from
	// [0, GoodMaxRate]; bad ones from [BadMinRate, BadMaxRate].
	GoodMaxRate, BadMinRate, BadMaxRate float64
	// ModelGood and ModelBad are the model's probabilities for good and
	// bad patches: the prior means. The defaults say the model sees a
	// little, as it does on real data, not that it knows.
	ModelGood, ModelBad float64
	// Budget is the broken hosts a rollout may cost; 0 means 5% of the
	// fleet (at least one).
	Budget int
	// Bake is the time each wave is watched; time to finish is waves × Bake.
	Bake time.Duration
}

// Comparison defaults.
const (
	DefaultRollouts     = 2000
	DefaultRolloutHosts = 100
	DefaultGoodMaxRate  = 0.02
	DefaultBadMinRate   = 0.10
	DefaultBadMaxRate   = 0.50
	DefaultModelGood    = 0.03
	DefaultModelBad     = 0.06
	DefaultBudgetShare  = 0.05
	DefaultBake         = 30 * time.Minute
)

func (c RolloutConfig) withDefaults() RolloutConfig {
	if c.Rollouts <= 0 {
		c.Rollouts = DefaultRollouts
	}
	if c.Hosts <= 0 {
		c.Hosts = DefaultRolloutHosts
	}
	if c.GoodMaxRate <= 0 {
		c.GoodMaxRate = DefaultGoodMaxRate
	}
	if c.BadMinRate <= 0 {
		c.BadMinRate = DefaultBadMinRate
	}
	if c.BadMaxRate <= 0 {
		c.BadMaxRate = DefaultBadMaxRate
	}
	if c.ModelGood <= 0 {
		c.ModelGood = DefaultModelGood
	}
	if c.ModelBad <= 0 {
		c.ModelBad = DefaultModelBad
	}
	if c.Budget <= 0 {
		c.Budget = max(int(math.Ceil(float64(c.Hosts)*DefaultBudgetShare)), 1)
	}
	if c.Bake <= 0 {
		c.Bake = DefaultBake
	}
	return c
}

// run is how one rollout ended.
type run struct {
	broken    int
	waves     int
	completed bool
}

// Stats summarise one strategy over the simulated rollouts.
type Stats struct {
	Name string `json:"name"`
	// Bad patches: hosts broken before the rollout halted.
	BadBrokenMedian float64 `json:"bad_broken_median"`
	BadBrokenP95    float64 `json:"bad_broken_p95"`
	BadBrokenMean   float64 `json:"bad_broken_mean"`
	BadHalted       float64 `json:"bad_halted_share"`
	// Good patches: waves (and time, waves × bake) to reach the whole
	// fleet; a halted rollout never reaches it and counts as infinite.
	GoodWavesMedian float64       `json:"good_waves_median"`
	GoodWavesP95    float64       `json:"good_waves_p95"`
	GoodTimeMedian  time.Duration `json:"good_time_median"`
	GoodCompleted   float64       `json:"good_completed_share"`
	GoodBrokenMean  float64       `json:"good_broken_mean"`
}

// Comparison is the result of CompareRollouts.
type Comparison struct {
	Config   RolloutConfig `json:"config"`
	Plan     []string      `json:"fixed_plan"`
	Fixed    Stats         `json:"fixed"`
	Adaptive Stats         `json:"adaptive"`
}

// CompareRollouts simulates rollouts of good and bad patches over one fleet
// with the default plan's fixed waves (internal/planner.Default at the
// level the model's probability gives) and with adaptive waves
// (risk.NextWave, prior from the model's probability). Both strategies see
// the same hosts fail in the same order (common random numbers), dispatch
// in batches of the plan's parallelism and stop dispatching as soon as
// their rule says so; hosts in flight finish.
func CompareRollouts(cfg RolloutConfig) (Comparison, error) {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))
	cmp := Comparison{Config: cfg}
	var fixedGood, fixedBad, adGood, adBad []run
	for _, bad := range []bool{false, true} {
		modelP := cfg.ModelGood
		if bad {
			modelP = cfg.ModelBad
		}
		plan := planner.Default(patchpilot.PatchSpec{}, cfg.Hosts, risk.LevelOf(modelP))
		sizes, err := planner.StageSizes(plan.Stages, cfg.Hosts)
		if err != nil {
			return cmp, err
		}
		if !bad {
			for i, s := range plan.Stages {
				cmp.Plan = append(cmp.Plan, fmt.Sprintf("%s:%d/max_failures %s/parallel %d", s.Name, sizes[i], s.MaxFailures, s.Parallel))
			}
		}
		parallel := plan.Stages[len(plan.Stages)-1].Parallel
		prior := risk.BetaFromProbability(modelP, risk.DefaultPriorStrength)
		for i := 0; i < cfg.Rollouts; i++ {
			rate := rng.Float64() * cfg.GoodMaxRate
			if bad {
				rate = cfg.BadMinRate + rng.Float64()*(cfg.BadMaxRate-cfg.BadMinRate)
			}
			fails := make([]bool, cfg.Hosts)
			for h := range fails {
				fails[h] = rng.Float64() < rate
			}
			f := runFixed(plan, sizes, fails)
			a := runAdaptive(prior, cfg.Budget, parallel, fails)
			if bad {
				fixedBad, adBad = append(fixedBad, f), append(adBad, a)
			} else {
				fixedGood, adGood = append(fixedGood, f), append(adGood, a)
			}
		}
	}
	cmp.Fixed = summarize("fixed waves (default plan)", fixedGood, fixedBad, cfg.Bake)
	cmp.Adaptive = summarize("adaptive waves", adGood, adBad, cfg.Bake)
	return cmp, nil
}

// runFixed plays a plan's stages: each dispatches its hosts in batches of
// its parallelism and stops the rollout once its failures exceed its
// max_failures.
func runFixed(plan patchpilot.Plan, sizes []int, fails []bool) run {
	var r run
	next := 0
	for i, s := range plan.Stages {
		r.waves++
		stageFailures, done := 0, 0
		for done < sizes[i] {
			batch := min(max(s.Parallel, 1), sizes[i]-done)
			for k := 0; k < batch; k++ {
				if fails[next] {
					stageFailures++
					r.broken++
				}
				next++
			}
			done += batch
			if s.MaxFailures.Exceeded(stageFailures, sizes[i]) {
				return r
			}
		}
	}
	r.completed = true
	return r
}

// runAdaptive plays adaptive waves: NextWave sizes each wave and is asked
// again after every batch, so that it halts as soon as the evidence turns;
// WaveParallel sizes the batches.
func runAdaptive(prior risk.Beta, budget, parallel int, fails []bool) run {
	var r run
	hosts := 0
	for {
		size, decision := risk.NextWave(prior, r.broken, hosts, len(fails)-hosts, budget)
		if decision == risk.DecisionHalt {
			return r
		}
		if size == 0 {
			r.completed = true
			return r
		}
		r.waves++
		for done := 0; done < size; {
			batch := min(risk.WaveParallel(hosts, parallel), size-done)
			for k := 0; k < batch; k++ {
				if fails[hosts] {
					r.broken++
				}
				hosts++
			}
			done += batch
			if _, d := risk.NextWave(prior, r.broken, hosts, len(fails)-hosts, budget); d == risk.DecisionHalt {
				return r
			}
		}
	}
}

func summarize(name string, good, bad []run, bake time.Duration) Stats {
	s := Stats{Name: name}
	var broken, waves []float64
	for _, r := range bad {
		broken = append(broken, float64(r.broken))
		s.BadBrokenMean += float64(r.broken)
		if !r.completed {
			s.BadHalted++
		}
	}
	s.BadBrokenMean /= float64(len(bad))
	s.BadHalted /= float64(len(bad))
	s.BadBrokenMedian, s.BadBrokenP95 = quantile(broken, 0.5), quantile(broken, 0.95)
	for _, r := range good {
		w := math.Inf(1)
		if r.completed {
			w = float64(r.waves)
			s.GoodCompleted++
		}
		waves = append(waves, w)
		s.GoodBrokenMean += float64(r.broken)
	}
	s.GoodCompleted /= float64(len(good))
	s.GoodBrokenMean /= float64(len(good))
	s.GoodWavesMedian, s.GoodWavesP95 = quantile(waves, 0.5), quantile(waves, 0.95)
	if !math.IsInf(s.GoodWavesMedian, 1) {
		s.GoodTimeMedian = time.Duration(s.GoodWavesMedian * float64(bake))
	}
	return s
}

// quantile is the nearest-rank quantile.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(min(i, len(s)-1), 0)]
}

// WriteComparison prints the comparison as a table.
func WriteComparison(w io.Writer, c Comparison) {
	fmt.Fprintf(w, "%d good and %d bad patches on %d hosts; good rates 0-%.0f%%, bad %.0f-%.0f%%; model p good %.2f, bad %.2f; budget %d broken hosts; bake %s\n",
		c.Config.Rollouts, c.Config.Rollouts, c.Config.Hosts, c.Config.GoodMaxRate*100, c.Config.BadMinRate*100,
		c.Config.BadMaxRate*100, c.Config.ModelGood, c.Config.ModelBad, c.Config.Budget, c.Config.Bake)
	fmt.Fprintf(w, "fixed plan: %v\n\n", c.Plan)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STRATEGY\tBAD: BROKEN MEDIAN\tP95\tMEAN\tHALTED\tGOOD: WAVES MEDIAN\tP95\tTIME MEDIAN\tCOMPLETED\tBROKEN MEAN")
	for _, s := range []Stats{c.Fixed, c.Adaptive} {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.1f%%\t%s\t%s\t%s\t%.1f%%\t%.2f\n", s.Name,
			s.BadBrokenMedian, s.BadBrokenP95, s.BadBrokenMean, s.BadHalted*100,
			waveText(s.GoodWavesMedian), waveText(s.GoodWavesP95), durText(s.GoodTimeMedian), s.GoodCompleted*100, s.GoodBrokenMean)
	}
	tw.Flush()
}

func waveText(v float64) string {
	if math.IsInf(v, 1) {
		return "never"
	}
	return fmt.Sprintf("%.0f", v)
}

func durText(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.String()
}
