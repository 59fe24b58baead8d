package risk

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// The rule-based baseline, restated here so that the
// planner can import this package: kernel +5, past failure rate over 5% +3,
// conflicts or removals +5, critical CVE +2. internal/planner.BaselineRisk
// applies the same rules to a patch; a test keeps the two in step.
const (
	BaselineKernelPoints   = 5
	BaselinePastFailPoints = 3
	BaselineConflictPoints = 5
	BaselineCriticalPoints = 2
	BaselinePastFailRate   = 0.05
)

// kernelNamePrefixes are the package-name prefixes the baseline treats as
// kernels, as internal/planner does.
func kernelNamePrefixes() []string {
	return []string{"linux-image", "linux-modules", "linux-signed-image", "kernel"}
}

// baselineScore scores one update with the rules. A reboot-requiring
// update counts as a kernel update, as the planner counts packages the host
// reports as needing a reboot; the past failure rate is the raw rate of
// the source package in this fleet.
func baselineScore(r Record, f Features) int {
	score := 0
	kernel := r.RebootRequired || f.Category == CategoryKernel
	for _, p := range kernelNamePrefixes() {
		kernel = kernel || strings.HasPrefix(r.Package, p)
	}
	if kernel {
		score += BaselineKernelPoints
	}
	if f.PackageCount.Rate() > BaselinePastFailRate {
		score += BaselinePastFailPoints
	}
	if r.Conflicts || len(r.Removals) > 0 {
		score += BaselineConflictPoints
	}
	if patchpilot.Severity(r.Severity).Rank() >= patchpilot.SeverityCritical.Rank() {
		score += BaselineCriticalPoints
	}
	return score
}

// BaselineScore scores an update with the rule-based baseline against the
// model's history.
func (m *Model) BaselineScore(r Record) int {
	return baselineScore(r, computeFeatures(r, m.History, m.Priors, m.Strengths))
}

// baselineProbability maps a baseline score to the failure rate that score
// had in training, shrunk toward the training rate; scores never seen in
// training get the training rate.
func (m *Model) baselineProbability(score int) float64 {
	global := m.Priors.Global.Rate
	if m.History != nil && m.History.Global.Total > 0 {
		global = m.History.Global.Rate()
	}
	return shrink(m.Baseline[score], clampProb(global), baselineStrength)
}

// baselineStrength is the pseudo-count of the baseline's score-to-rate map.
const baselineStrength = 10
