package planner

import (
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
)

// levelSettings are the knobs a default plan turns by risk level.
type levelSettings struct {
	validationBake time.Duration
	canaryBake     time.Duration
	waveBake       time.Duration
	parallel       int              // most hosts changed at once in a wave
	waveFailures   patchpilot.Limit // max_failures of waves
	budget         float64          // max unavailable per role, percent
	waves          []float64        // intermediate wave sizes, percent, before the final rest
	canary         bool             // whether there is a canary stage
	approveFinal   bool             // whether the final stage needs approval
}

// Default plan settings. Low risk bakes briefly and moves in big steps;
// high risk bakes the canaries for hours, moves in small waves and asks a
// person before the last one.
func settingsFor(level patchpilot.RiskLevel, targets int) levelSettings {
	switch level {
	case patchpilot.RiskLow:
		s := levelSettings{
			validationBake: 10 * time.Minute, waveBake: 5 * time.Minute,
			parallel: 10, waveFailures: patchpilot.LimitPercent(10), budget: 50,
		}
		if targets >= largeFleet {
			s.waves = []float64{25}
		}
		return s
	case patchpilot.RiskMedium:
		s := levelSettings{
			validationBake: 15 * time.Minute, canaryBake: 30 * time.Minute, waveBake: 15 * time.Minute,
			parallel: 5, waveFailures: patchpilot.LimitPercent(5), budget: 25, canary: true,
			waves: []float64{20},
		}
		if targets >= largeFleet {
			s.waves = []float64{10, 30}
		}
		return s
	}
	return levelSettings{
		validationBake: 30 * time.Minute, canaryBake: 2 * time.Hour, waveBake: 30 * time.Minute,
		parallel: 2, waveFailures: patchpilot.LimitCount(0), budget: 10, canary: true,
		waves: []float64{5, 15, 30}, approveFinal: true,
	}
}

// largeFleet is the number of targets from which default plans add waves.
const largeFleet = 20

// maxCanaries caps the canary stage of default plans; canaryShare sizes it
// below the cap.
const (
	maxCanaries = 5
	canaryShare = 0.05
)

// defaultCriteria are the gates of default plans: those observable over SSH
// alone, so that a default plan works on a fleet without Prometheus or HTTP
// probes (criteria without data fail closed).
func defaultCriteria() []patchpilot.Criterion {
	return []patchpilot.Criterion{
		{Name: patchpilot.CriterionServicesRunning},
		{Name: patchpilot.CriterionNoFailedUnits},
		{Name: patchpilot.CriterionNoNewErrors},
		{Name: patchpilot.CriterionPortsListening},
	}
}

// Default returns a plan for a patch on the given number of targets at the
// given risk level. One host gets a single stage; two or three get a
// validation host and the rest; larger fleets get a validation host, a
// canary stage (medium and high risk), waves, and a final stage, dropping
// waves that the fleet is too small to fill. The plan targets every host
// (an empty selector); callers set Targets.
func Default(patch patchpilot.PatchSpec, targets int, level patchpilot.RiskLevel) patchpilot.Plan {
	if level != patchpilot.RiskLow && level != patchpilot.RiskMedium {
		level = patchpilot.RiskHigh
	}
	set := settingsFor(level, targets)
	p := patchpilot.Plan{
		Name:   "default-" + string(level),
		Patch:  patch,
		Policy: patchpilot.Policy{AllowReboot: true, RequireRollback: true},
		Budgets: []patchpilot.DisruptionBudget{{
			Group: patchpilot.LabelRole, MaxUnavailable: patchpilot.LimitPercent(set.budget),
		}},
	}
	final := patchpilot.Stage{
		Name: "final", Targets: patchpilot.TargetsRest(), Criteria: defaultCriteria(),
		Bake: set.waveBake, MaxFailures: set.waveFailures, OnFailure: patchpilot.RollbackWaveAndHold,
	}
	if set.approveFinal {
		final.Approval = patchpilot.ApprovalRequired
	}
	if targets <= 1 {
		final.Name, final.Bake, final.OnFailure = "single", set.validationBake, patchpilot.RollbackAndAlert
		final.MaxFailures = patchpilot.LimitCount(0)
		p.Stages = []patchpilot.Stage{final}
		return fitParallel(p, max(targets, 1), set.parallel)
	}
	validation := patchpilot.Stage{
		Name: "validation", Targets: patchpilot.TargetsCount(1), Criteria: defaultCriteria(),
		Bake: set.validationBake, OnFailure: patchpilot.HaltAndAlert,
	}
	if targets <= 3 {
		p.Stages = []patchpilot.Stage{validation, final}
		return fitParallel(p, targets, set.parallel)
	}
	var middle []patchpilot.Stage
	if set.canary {
		n := min(max(int(math.Ceil(float64(targets)*canaryShare)), 1), maxCanaries)
		middle = append(middle, patchpilot.Stage{
			Name: "canary", Targets: patchpilot.TargetsCount(n), Criteria: defaultCriteria(),
			Bake: set.canaryBake, OnFailure: patchpilot.RollbackAndAlert,
		})
	}
	for i, pct := range set.waves {
		middle = append(middle, patchpilot.Stage{
			Name: waveName(i), Targets: patchpilot.TargetsPercent(pct), Criteria: defaultCriteria(),
			Bake: set.waveBake, MaxFailures: set.waveFailures, OnFailure: patchpilot.RollbackWaveAndHold,
		})
	}
	// Drop the last intermediate stage until the plan fits the fleet:
	// small fleets cannot fill every wave and still leave a final stage.
	for {
		p.Stages = append(append([]patchpilot.Stage{validation}, middle...), final)
		if _, err := StageSizes(p.Stages, targets); err == nil || len(middle) == 0 {
			break
		}
		middle = middle[:len(middle)-1]
	}
	return fitParallel(p, targets, set.parallel)
}

func waveName(i int) string { return "wave_" + string(rune('1'+i)) }

// fitParallel sets each stage's parallelism to the level's cap or the
// stage's size, whichever is smaller, and fills the defaults.
func fitParallel(p patchpilot.Plan, targets, limit int) patchpilot.Plan {
	p = p.WithDefaults()
	sizes, err := StageSizes(p.Stages, targets)
	if err != nil {
		return p
	}
	for i := range p.Stages {
		if i == 0 && len(p.Stages) > 1 {
			continue // the validation host goes alone
		}
		p.Stages[i].Parallel = max(min(sizes[i], limit), 1)
	}
	return p
}

// MetricCriteria are the gates default plans add to every stage when a
// metrics source (Prometheus with node_exporter, or Datadog) is
// configured: the built-in queries need nothing written by hand.
func MetricCriteria() []patchpilot.Criterion {
	return []patchpilot.Criterion{
		{Name: patchpilot.CriterionMeanCPUUsage, Op: "<", Value: 15, Unit: "%", OverBaseline: true},
		{Name: patchpilot.CriterionMemory, Op: "<", Value: 90, Unit: "%"},
		{Name: patchpilot.CriterionDiskIO},
		{Name: patchpilot.CriterionNetworkConnectivity},
	}
}

// WithMetrics gives a plan a metrics source and adds MetricCriteria to
// each of its stages, after the SSH probes; a criterion a stage already
// names keeps its own threshold. A health section without a source
// leaves the plan as it is.
func WithMetrics(p patchpilot.Plan, h patchpilot.HealthConfig) patchpilot.Plan {
	if h.Prometheus.URL == "" && h.Datadog.Integration == "" {
		return p
	}
	p.Health.Prometheus, p.Health.Datadog = h.Prometheus, h.Datadog
	p.Stages = append([]patchpilot.Stage(nil), p.Stages...)
	for i := range p.Stages {
		s := &p.Stages[i]
		own := map[string]bool{}
		for _, c := range s.Criteria {
			own[c.Name] = true
		}
		s.Criteria = append([]patchpilot.Criterion(nil), s.Criteria...)
		for _, c := range MetricCriteria() {
			if !own[c.Name] {
				s.Criteria = append(s.Criteria, c)
			}
		}
	}
	return p
}
