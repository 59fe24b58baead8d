package risk

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Level thresholds on the calibrated probability of failure. An update
// below 2% is low risk: the public base rate of security updates needing a
// regression fix is 2.5% (Debian) to 4.6% (Ubuntu), so low means "safer
// than the average security update". From 10% it is high: one host in ten
// is expected to break, more than any canary should discover by accident.
const (
	MediumFrom = 0.02
	HighFrom   = 0.10
)

// LevelOf maps a probability to a risk level.
func LevelOf(p float64) patchpilot.RiskLevel {
	switch {
	case p < MediumFrom:
		return patchpilot.RiskLow
	case p < HighFrom:
		return patchpilot.RiskMedium
	}
	return patchpilot.RiskHigh
}

// Strategy is the recommended way to roll an update out.
type Strategy string

// Strategies, from least to most careful.
const (
	StrategyImmediate    Strategy = "immediate_full_deploy"
	StrategyCanary       Strategy = "canary"
	StrategyManualReview Strategy = "manual_review_required"
)

func (s Strategy) rank() int {
	switch s {
	case StrategyImmediate:
		return 0
	case StrategyCanary:
		return 1
	}
	return 2
}

// StrategyFor picks the strategy: manual review for high risk or a version
// that already failed in this fleet; canary for medium risk or any other
// warning; otherwise immediate deployment.
func StrategyFor(level patchpilot.RiskLevel, warnings []Warning) Strategy {
	s := StrategyImmediate
	if level == patchpilot.RiskMedium || len(warnings) > 0 {
		s = StrategyCanary
	}
	if level.Rank() >= patchpilot.RiskHigh.Rank() {
		s = StrategyManualReview
	}
	for _, w := range warnings {
		if w.Kind == WarnVersionFailed {
			s = StrategyManualReview
		}
	}
	return s
}

// Reason is one feature's contribution to a score, in operator words.
// Effect is the change in the probability of failure that the feature makes
// against an average update (positive raises the risk); Direction says the
// same in a word, and always agrees with Effect's sign.
type Reason struct {
	Feature   string  `json:"feature"`
	Text      string  `json:"text"`
	Direction string  `json:"direction"` // "raises" or "lowers"
	Effect    float64 `json:"effect"`
}

// String renders the reason with its effect in percentage points of the
// probability of failure and the direction in words, so that the sign and
// the words cannot disagree: "raises the risk by 3.1 points: openssl updates
// failed ...".
func (r Reason) String() string {
	if r.Direction == DirectionContext {
		return r.Text
	}
	dir := "raises"
	if r.Effect < 0 {
		dir = "lowers"
	}
	return fmt.Sprintf("%s the risk by %.1f points: %s", dir, math.Abs(r.Effect*100), r.Text)
}

// Warning kinds. Warnings are facts, not model output.
const (
	WarnRemovals       = "removals"
	WarnConflicts      = "conflicts"
	WarnVersionFailed  = "version_failed"
	WarnHostRolledBack = "host_rolled_back"
	// WarnModified: the update's package has files changed on the host
	// (a configuration file edited by hand); WarnHeld: the host holds the
	// package (apt-mark hold, dnf versionlock).
	WarnModified = "modified_files"
	WarnHeld     = "held"
)

// Warning is a fact an operator should see before rolling out.
type Warning struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Assessment is the model's verdict on one update (or one patch) on one
// host. Features are kept so that the assessment can be stored with the
// inputs that produced it.
type Assessment struct {
	Host          string               `json:"host,omitempty"`
	Packages      []string             `json:"packages"`
	Probability   float64              `json:"probability"`
	Level         patchpilot.RiskLevel `json:"level"`
	Reasons       []Reason             `json:"reasons"`
	Warnings      []Warning            `json:"warnings"`
	Strategy      Strategy             `json:"strategy"`
	ModelVersion  string               `json:"model_version"`
	BaselineScore int                  `json:"baseline_score"`
	Features      []Features           `json:"features,omitempty"`
	// BlastRadius is who depends on what the update touches on the host
	// (see BlastRadiusOf); nil when nobody does or the map is unknown.
	// Its reason ends Reasons, with direction "context".
	BlastRadius *BlastRadius `json:"blast_radius,omitempty"`
}

// MaxReasons is how many reasons an assessment lists, largest first;
// minReasonEffect drops contributions under a tenth of a point.
const (
	MaxReasons      = 5
	minReasonEffect = 0.001
)

// Assess scores one package update on one host against the model's
// history. r's Outcome is ignored.
func (m *Model) Assess(r Record) Assessment {
	f := computeFeatures(r, m.History, m.Priors, m.Strengths)
	x := f.vector()
	p := m.probability(x)
	var reasons []Reason
	for _, g := range explanationGroups() {
		without := append([]float64(nil), x...)
		moved := false
		for _, name := range g {
			if j := indexOf(m.Features, name); j >= 0 && m.Weights[j] != 0 {
				without[j], moved = m.Mean[j], true
			}
		}
		if !moved {
			continue
		}
		effect := p - m.probability(without)
		if math.Abs(effect) < minReasonEffect {
			continue
		}
		dir := "raises"
		if effect < 0 {
			dir = "lowers"
		}
		reasons = append(reasons, Reason{Feature: g[0], Text: reasonText(g[0], r, f, m.Priors, effect), Direction: dir, Effect: effect})
	}
	sort.SliceStable(reasons, func(i, j int) bool { return math.Abs(reasons[i].Effect) > math.Abs(reasons[j].Effect) })
	if len(reasons) > MaxReasons {
		reasons = reasons[:MaxReasons]
	}
	if r.BlastRadius != nil {
		reasons = append(reasons, r.BlastRadius.Reason())
	}
	warnings := warningsFor(r, f)
	level := LevelOf(p)
	return Assessment{
		Host: r.Host, Packages: []string{r.Package + "=" + r.ToVersion}, Probability: p, Level: level,
		Reasons: nonNil(reasons), Warnings: nonNil(warnings), Strategy: StrategyFor(level, warnings),
		ModelVersion: m.Version, BaselineScore: baselineScore(r, f), Features: []Features{f},
		BlastRadius: r.BlastRadius,
	}
}

// Explain returns the reasons of an update's score.
func (m *Model) Explain(r Record) []Reason { return m.Assess(r).Reasons }

// AssessPatch scores a patch (several package updates) on one host. The
// binary packages of one source package (openssl and libssl3) carry one
// change and fail together, and the history marks them so, so a source's
// risk is that of its riskiest package, and its reasons are that package's:
// each reason shows once per source, not once per binary package. The
// patch fails when any of its sources does; treating sources as
// independent gives 1 - Π(1 - p_s).
func (m *Model) AssessPatch(updates []Record) Assessment {
	if len(updates) == 0 {
		return Assessment{Level: patchpilot.RiskLow, Strategy: StrategyImmediate, ModelVersion: m.Version,
			Reasons: []Reason{}, Warnings: []Warning{}, Packages: []string{}}
	}
	out := Assessment{Host: updates[0].Host, ModelVersion: m.Version}
	bySource := map[string]Assessment{}
	var sources []string
	seen := map[string]bool{}
	for _, u := range updates {
		a := m.Assess(u)
		if prev, ok := bySource[u.Source()]; !ok || a.Probability > prev.Probability {
			if !ok {
				sources = append(sources, u.Source())
			}
			bySource[u.Source()] = a
		}
		out.Packages = append(out.Packages, a.Packages...)
		for _, w := range a.Warnings {
			if !seen[w.Text] {
				seen[w.Text] = true
				out.Warnings = append(out.Warnings, w)
			}
		}
		out.BaselineScore = max(out.BaselineScore, a.BaselineScore)
		out.Features = append(out.Features, a.Features...)
	}
	survive := 1.0
	riskiest := sources[0]
	for _, src := range sources {
		survive *= 1 - bySource[src].Probability
		if bySource[src].Probability > bySource[riskiest].Probability {
			riskiest = src
		}
		for _, r := range bySource[src].Reasons {
			if r.Direction == DirectionContext {
				continue // the patch's blast radius is added once below
			}
			// With several sources, a reason about the host ("the host
			// runs 4 services") shows once for each, with that source's
			// effect: name the source so the lines read apart.
			if len(sources) > 1 && !strings.Contains(r.Text, src) {
				r.Text = src + ": " + r.Text
			}
			out.Reasons = append(out.Reasons, r)
		}
	}
	out.Probability = clampProb(1 - survive)
	sort.SliceStable(out.Reasons, func(i, j int) bool { return math.Abs(out.Reasons[i].Effect) > math.Abs(out.Reasons[j].Effect) })
	if len(out.Reasons) > MaxReasons {
		out.Reasons = out.Reasons[:MaxReasons]
	}
	// Each source's reasons explain that source's probability against an
	// average update; what several sources add together is a factor of
	// its own, often the largest: it is named first, never trimmed.
	if r, ok := sourcesReason(len(sources), out.Probability, riskiest, bySource[riskiest].Probability); ok {
		out.Reasons = append([]Reason{r}, out.Reasons...)
	}
	if out.BlastRadius = mergeBlast(updates); out.BlastRadius != nil {
		out.Reasons = append(out.Reasons, out.BlastRadius.Reason())
	}
	out.Reasons, out.Warnings = nonNil(out.Reasons), nonNil(out.Warnings)
	out.Level = LevelOf(out.Probability)
	out.Strategy = StrategyFor(out.Level, out.Warnings)
	return out
}

// sourcesReason is the reason a patch of n sources gives for its
// probability p being above that of its riskiest source alone (pmax): the
// sources fail independently, so each adds its own chance of failure.
// Its effect is p - pmax; false when there is one source or the effect is
// under a tenth of a point.
func sourcesReason(n int, p float64, riskiest string, pmax float64) (Reason, bool) {
	effect := p - pmax
	if n < 2 || effect < minReasonEffect {
		return Reason{}, false
	}
	return Reason{Feature: ReasonSources, Direction: "raises", Effect: effect,
		Text: fmt.Sprintf("the patch changes %d source packages and each can fail on its own: %s together, %s for the riskiest alone (%s)",
			n, percent(p), percent(pmax), riskiest)}, true
}

// Summary aggregates a patch's assessments over its target hosts.
type Summary struct {
	Hosts int `json:"hosts"`
	// MaxProbability is the riskiest host's; MeanProbability the average,
	// and ExpectedFailures their sum: the hosts expected to break.
	MaxProbability   float64              `json:"max_probability"`
	MeanProbability  float64              `json:"mean_probability"`
	ExpectedFailures float64              `json:"expected_failures"`
	Level            patchpilot.RiskLevel `json:"level"`
	Strategy         Strategy             `json:"strategy"`
	Warnings         int                  `json:"warnings"`
	ModelVersion     string               `json:"model_version"`
}

// Summarize aggregates per-host assessments of one patch: the level is the
// riskiest host's and the strategy the most careful one.
func Summarize(as []Assessment) Summary {
	s := Summary{Hosts: len(as), Level: patchpilot.RiskLow, Strategy: StrategyImmediate}
	for _, a := range as {
		s.MaxProbability = math.Max(s.MaxProbability, a.Probability)
		s.ExpectedFailures += a.Probability
		s.Warnings += len(a.Warnings)
		if a.Level.Rank() > s.Level.Rank() {
			s.Level = a.Level
		}
		if a.Strategy.rank() > s.Strategy.rank() {
			s.Strategy = a.Strategy
		}
		s.ModelVersion = a.ModelVersion
	}
	if len(as) > 0 {
		s.MeanProbability = s.ExpectedFailures / float64(len(as))
	}
	return s
}

func warningsFor(r Record, f Features) []Warning {
	var out []Warning
	if len(r.Removals) > 0 {
		out = append(out, Warning{WarnRemovals, "the dry run removes " + strings.Join(r.Removals, ", ")})
	}
	if r.Conflicts {
		out = append(out, Warning{WarnConflicts, "the dry run reports held or conflicting packages"})
	}
	if f.VersionCount.Failures > 0 {
		out = append(out, Warning{WarnVersionFailed, versionHistoryText(r, f.Source, f.VersionCount) + " in this fleet"})
	}
	out = append(out, modifiedWarnings(r)...)
	if r.Held {
		out = append(out, heldWarning(r))
	}
	if last := f.HostLast; last != nil && last.Outcome == patchpilot.OutcomeRolledBack {
		out = append(out, Warning{WarnHostRolledBack, fmt.Sprintf("%s's last patch (%s, %s) was rolled back",
			r.Host, last.Package, last.Time.Format("2006-01-02"))})
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// explanationGroups are the features explained together: those that
// describe one fact (the version change; the CVEs) give one reason, named
// after the group's first feature.
func explanationGroups() [][]string {
	grouped := map[string]bool{}
	groups := [][]string{
		{FeatureNewUpstream, FeatureJump, FeatureNoVersion},
		{FeatureCVEs, FeatureCVEPrior},
	}
	for _, g := range groups {
		for _, n := range g {
			grouped[n] = true
		}
	}
	for _, n := range FeatureNames() {
		if !grouped[n] {
			groups = append(groups, []string{n})
		}
	}
	return groups
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
