package planner

import (
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Rule weights and thresholds of the rule-based baseline.
const (
	baselineKernelPoints   = 5
	baselinePastFailPoints = 3
	baselineConflictPoints = 5
	baselineCriticalPoints = 2
	baselinePastFailRate   = 0.05 // a past failure rate above this adds points
	baselineMediumFrom     = 2    // scores below are low
	baselineHighFrom       = 5    // scores from here are high
	criticalCVSS           = 9.0  // CVSS base score from which a CVE is critical
)

// kernelPrefixes are the name prefixes of kernel packages.
func kernelPrefixes() []string {
	return []string{"linux-image", "linux-modules", "linux-signed-image", "kernel"}
}

// BaselineInput is what the rule-based baseline looks at for one patch on
// one host (or across a fleet).
type BaselineInput struct {
	// Packages are the names of the packages the patch updates.
	Packages []string
	// IsKernel marks the patch as a kernel update even when no package
	// name says so.
	IsKernel bool
	// RebootPackages are packages the host reports as requiring a reboot
	// (Facts.RebootPackages); an update to one counts as a kernel update.
	RebootPackages []string
	// PastFailureRate is the share (0 to 1) of past updates of these
	// packages in this fleet that failed.
	PastFailureRate float64
	// HasConflicts and HasRemovals come from the dry run of the
	// transaction.
	HasConflicts bool
	HasRemovals  bool
	// MaxSeverity is the highest advisory severity word ("critical",
	// "high", ...) and MaxCVSS the highest CVSS base score, if known.
	MaxSeverity string
	MaxCVSS     float64
}

// IsKernelPackage reports whether a package name is a kernel's: linux-image*,
// linux-modules*, linux-signed-image* (Debian, Ubuntu) or kernel* (RHEL,
// SUSE).
func IsKernelPackage(name string) bool {
	for _, prefix := range kernelPrefixes() {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// BaselineRisk scores a patch with the rule-based baseline:
// kernel +5, past failure rate over 5% +3, conflicts or removals
// +5, critical CVE +2; below 2 is low, below 5 medium, else high. Reasons
// name each rule that fired, in that order.
func BaselineRisk(in BaselineInput) (score int, level patchpilot.RiskLevel, reasons []string) {
	if why := kernelReason(in); why != "" {
		score += baselineKernelPoints
		reasons = append(reasons, fmt.Sprintf("+%d %s", baselineKernelPoints, why))
	}
	if in.PastFailureRate > baselinePastFailRate {
		score += baselinePastFailPoints
		reasons = append(reasons, fmt.Sprintf("+%d past failure rate %.1f%% is over %.0f%%",
			baselinePastFailPoints, in.PastFailureRate*100, baselinePastFailRate*100))
	}
	if in.HasConflicts || in.HasRemovals {
		var what []string
		if in.HasConflicts {
			what = append(what, "conflicts")
		}
		if in.HasRemovals {
			what = append(what, "removes packages")
		}
		score += baselineConflictPoints
		reasons = append(reasons, fmt.Sprintf("+%d the transaction %s", baselineConflictPoints, strings.Join(what, " and ")))
	}
	if patchpilot.Severity(in.MaxSeverity).Rank() >= patchpilot.SeverityCritical.Rank() || in.MaxCVSS >= criticalCVSS {
		score += baselineCriticalPoints
		reasons = append(reasons, fmt.Sprintf("+%d fixes a critical CVE", baselineCriticalPoints))
	}
	switch {
	case score < baselineMediumFrom:
		level = patchpilot.RiskLow
	case score < baselineHighFrom:
		level = patchpilot.RiskMedium
	default:
		level = patchpilot.RiskHigh
	}
	return score, level, reasons
}

func kernelReason(in BaselineInput) string {
	for _, p := range in.Packages {
		if IsKernelPackage(p) {
			return "kernel update (" + p + ")"
		}
	}
	for _, p := range in.Packages {
		if contains(in.RebootPackages, p) {
			return p + " requires a reboot"
		}
	}
	if in.IsKernel {
		return "kernel update"
	}
	return ""
}
