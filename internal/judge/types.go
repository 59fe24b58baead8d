package judge

import (
	"encoding/json"
	"math"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Direction says which way a metric gets worse.
type Direction string

// Directions.
const (
	HigherIsWorse Direction = "higher_is_worse" // latency, error rate, CPU
	LowerIsWorse  Direction = "lower_is_worse"  // throughput, cache hit ratio
)

// Kind selects the test used for a metric.
type Kind string

// Kinds.
const (
	// Continuous metrics (latency, CPU, error ratio) are compared by a
	// difference-in-differences of per-host means with a confidence sequence.
	Continuous Kind = "continuous"
	// Count metrics (crashes, restarts) are compared as Poisson rates. Each
	// sample is the number of events since the previous sample, e.g. a
	// Prometheus increase() over the scrape interval.
	Count Kind = "count"
)

// Unit says how a margin is expressed.
type Unit string

// Units.
const (
	// Relative margins are fractions of the baseline level: 0.05 means 5%.
	// The comparison runs on the logarithm of the values, which must be
	// positive.
	Relative Unit = "relative"
	// Absolute margins are in the metric's own unit: 0.005 on an error
	// ratio means half a percentage point.
	Absolute Unit = "absolute"
)

// Metric declares one health metric of a gate: how it gets worse and by how
// much it may get worse before the gate fails.
type Metric struct {
	Name      string    `json:"name"`
	Direction Direction `json:"direction"`
	// Margin is the largest tolerated worsening, never negative: a
	// fraction for Relative (0.05 = +5%), points for Absolute.
	Margin   float64 `json:"margin"`
	Unit     Unit    `json:"unit"`
	Critical bool    `json:"critical,omitempty"`
	Kind     Kind    `json:"kind"`
	// Group is the Kayenta metric group used by the MannWhitney judge's
	// weighted score; empty means the metric's own name.
	Group string `json:"group,omitempty"`
	// Window is the time each sample summarises (the range of
	// rate(x[30s])), 0 for point values. A current sample whose window
	// reaches back before the patch mixes both sides, and the restart of a
	// patched service with them: current samples start a Window after it.
	Window time.Duration `json:"window,omitempty"`
}

// Validate reports the first field of m that is missing or out of range.
func (m Metric) Validate() error {
	bad := func(field, want string) error {
		return patchpilot.Errorf(patchpilot.EINVALID, "metric %q: field %s: %s", m.Name, field, want).
			WithHint("fix the metric declaration in the plan's gate criteria")
	}
	switch {
	case m.Name == "":
		return bad("name", "a name is required")
	case m.Direction != HigherIsWorse && m.Direction != LowerIsWorse:
		return bad("direction", "want higher_is_worse or lower_is_worse, got "+string(m.Direction))
	case m.Unit != Relative && m.Unit != Absolute:
		return bad("unit", "want relative or absolute, got "+string(m.Unit))
	case m.Kind != Continuous && m.Kind != Count:
		return bad("kind", "want continuous or count, got "+string(m.Kind))
	case math.IsNaN(m.Margin) || math.IsInf(m.Margin, 0) || m.Margin < 0:
		return bad("margin", "want a finite number >= 0")
	case m.Kind == Count && m.Unit != Relative:
		return bad("unit", "count metrics take a relative margin on the event rate")
	case m.Unit == Relative && m.Direction == LowerIsWorse && m.Margin >= 1:
		return bad("margin", "a relative margin for a lower_is_worse metric must be below 1")
	}
	return nil
}

// Role says whether a host took the patch.
type Role string

// Roles.
const (
	Patched Role = "patched"
	Control Role = "control"
)

// Sample is one scraped value.
type Sample struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

// MarshalJSON writes a NaN or infinite value as null, which encoding/json
// would otherwise refuse: such values are exactly the evidence a failed gate
// must be able to store.
func (s Sample) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Time  time.Time `json:"t"`
		Value Number    `json:"v"`
	}{s.Time, Number(s.Value)})
}

// Series is one host's samples of one metric: its pre-patch baseline and
// its samples since the patch (or, for a control host, since the patched
// hosts were patched).
type Series struct {
	Metric string `json:"metric"`
	Host   string `json:"host"`
	Group  Role   `json:"group"`
	// Stratum matches patched hosts to control hosts, e.g. "web/debian12".
	// A patched host is compared with the control hosts of its stratum
	// when there are any, else with all control hosts.
	Stratum  string   `json:"stratum,omitempty"`
	Baseline []Sample `json:"baseline"`
	Current  []Sample `json:"current"`
}

// Outcome is the result of a metric or of a whole gate.
type Outcome string

// Outcomes.
const (
	Pass         Outcome = "pass"         // within the margin: promote
	Fail         Outcome = "fail"         // beyond the margin: roll back
	Inconclusive Outcome = "inconclusive" // not yet known: extend the bake
	NoData       Outcome = "nodata"       // missing, stale or NaN data: fails the gate
)

// Input is everything one look of a gate needs.
type Input struct {
	Metrics []Metric `json:"metrics"`
	Series  []Series `json:"series"`
	// Start is when the patch was applied: baseline samples are those
	// before Start, current samples those after it.
	Start time.Time `json:"start"`
	// Now is the time of this look. Current samples after Now are ignored,
	// and a host whose last sample is older than the judge's staleness
	// bound fails the gate.
	Now time.Time `json:"now"`
	// Final marks the last look, at the bake limit: an inconclusive gate
	// then resolves by OnInconclusive.
	Final bool `json:"final,omitempty"`
	// OnInconclusive is the plan's policy at the bake limit: Fail (the
	// default when empty) or Pass.
	OnInconclusive Outcome `json:"on_inconclusive,omitempty"`
}

// Evaluator is a gate judge. Both Judge and MannWhitney implement it.
// Evaluate is a pure function of its input: the verdict at a look depends
// only on the data up to Now, so a restarted controller gets the same answer.
type Evaluator interface {
	Evaluate(in Input) (Result, error)
}

// Verdict is the judgement of one metric at one look, with its evidence.
// Estimate, Lower and Upper are the change of the patched hosts relative to
// the control hosts, in the metric's unit (a fraction for Relative margins).
// Margin is the signed limit the interval is compared with: +margin for
// higher_is_worse, -margin for lower_is_worse.
type Verdict struct {
	Metric    string   `json:"metric"`
	Outcome   Outcome  `json:"outcome"`
	Reason    string   `json:"reason"`
	Critical  bool     `json:"critical,omitempty"`
	Estimate  Number   `json:"estimate"`
	Lower     Number   `json:"lower"`
	Upper     Number   `json:"upper"`
	Margin    float64  `json:"margin"`
	Unit      Unit     `json:"unit"`
	Statistic Number   `json:"statistic"`
	Looks     int      `json:"looks"`
	Evidence  Evidence `json:"evidence"`
	// Classification is the Kayenta label (High, Low, Pass, Nodata) set by
	// the MannWhitney judge.
	Classification string `json:"classification,omitempty"`
}

// Evidence is what a verdict was computed from, for events and the
// dashboard.
type Evidence struct {
	Method string        `json:"method"`
	Hosts  []HostSummary `json:"hosts,omitempty"`
	// Continuous metrics: the pooled lag-1 autocorrelation of the
	// baselines, the information (1/variance) of the estimate, current and
	// baseline means together, the mixture parameter, the level test's
	// alpha (AlphaCurrent; AlphaBaseline is no longer spent separately)
	// and the interval's half-width split into the parts due to the
	// current and the baseline means (by their shares of the variance).
	Phi         Number `json:"phi,omitempty"`
	Information Number `json:"information,omitempty"`
	// Rho and Slope are the level's boundary |K (estimate - change)| <=
	// Rho + Slope K, fixed by the baseline (the sequential judge; older
	// verdicts held a normal mixture's parameter in Rho).
	Rho               Number  `json:"rho,omitempty"`
	Slope             Number  `json:"slope,omitempty"`
	AlphaCurrent      float64 `json:"alpha_current,omitempty"`
	AlphaBaseline     float64 `json:"alpha_baseline,omitempty"`
	HalfWidthCurrent  Number  `json:"half_width_current,omitempty"`
	HalfWidthBaseline Number  `json:"half_width_baseline,omitempty"`
	// SetAside names the control hosts left out of the comparison because
	// their own change departs from the other controls' (a control
	// changing on its own), with why in SetAsideReasons.
	SetAside        []string `json:"set_aside,omitempty"`
	SetAsideReasons []string `json:"set_aside_reasons,omitempty"`
	// Trend is the slope test of a continuous metric: the difference in
	// the slopes of patched and control hosts since the change.
	Trend *Trend `json:"trend,omitempty"`
	// Count metrics: events and exposures (in samples) per group and the
	// e-values of the two one-sided tests.
	PatchedEvents   float64 `json:"patched_events,omitempty"`
	ControlEvents   float64 `json:"control_events,omitempty"`
	PatchedExposure float64 `json:"patched_exposure,omitempty"`
	ControlExposure float64 `json:"control_exposure,omitempty"`
	EValueWorse     Number  `json:"e_value_worse,omitempty"`
	EValueBetter    Number  `json:"e_value_better,omitempty"`
	// MannWhitney: the p-value, the ratio of means and sample sizes.
	PValue        Number `json:"p_value,omitempty"`
	Ratio         Number `json:"ratio,omitempty"`
	PatchedValues int    `json:"patched_values,omitempty"`
	ControlValues int    `json:"control_values,omitempty"`
	// Series are the raw series the verdict used, when the judge keeps them.
	Series []Series `json:"series,omitempty"`
}

// HostSummary is one host's contribution to a continuous verdict, in the
// transformed scale (logarithm for Relative margins).
type HostSummary struct {
	Host         string  `json:"host"`
	Group        Role    `json:"group"`
	Stratum      string  `json:"stratum,omitempty"`
	BaselineMean Number  `json:"baseline_mean"`
	CurrentMean  Number  `json:"current_mean"`
	BaselineN    int     `json:"baseline_n"`
	CurrentN     int     `json:"current_n"`
	Variance     Number  `json:"variance"` // sample variance of the baseline
	LongRunVar   Number  `json:"long_run_variance"`
	Weight       float64 `json:"weight"` // the host's weight in the difference-in-differences; 0 for a control set aside
	Replaced     int     `json:"replaced"`
	// Held is how many of the newest samples are held out of this look:
	// they jump away from the host's recent values, and the next scrapes
	// will tell a spike (replaced) from a lasting shift (kept).
	Held int `json:"held,omitempty"`
	// Slope is the least-squares slope of the current samples per minute,
	// in the transformed scale.
	Slope Number `json:"slope"`
}

// Trend is the evidence of the slope test: the weighted difference of the
// per-host slopes since the change (per minute, on the logarithm for
// relative margins) with its always-valid interval, and Limit, the signed
// slope that would carry the difference past the margin within Horizon.
// Fail is set when the whole interval is beyond Limit.
type Trend struct {
	Slope       Number  `json:"slope"`
	Lower       Number  `json:"lower"`
	Upper       Number  `json:"upper"`
	Limit       float64 `json:"limit"`
	Information Number  `json:"information"`
	Alpha       float64 `json:"alpha"`
	Horizon     string  `json:"horizon"`
	Fail        bool    `json:"fail,omitempty"`
}

// Result is the judgement of a gate at one look.
type Result struct {
	Judge    string    `json:"judge"`
	Outcome  Outcome   `json:"outcome"` // Pass, Fail or Inconclusive; never NoData
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	Final    bool      `json:"final,omitempty"`
	Score    Number    `json:"score,omitempty"` // the MannWhitney judge's Kayenta score
	Verdicts []Verdict `json:"verdicts"`
}

// Verdict returns the verdict of the named metric.
func (r Result) Verdict(metric string) (Verdict, bool) {
	for _, v := range r.Verdicts {
		if v.Metric == metric {
			return v, true
		}
	}
	return Verdict{}, false
}

// Number is a float64 that encodes NaN and infinities as JSON null, since
// unbounded intervals and missing estimates are normal parts of a verdict.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null as NaN.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Number(f)
	return nil
}
