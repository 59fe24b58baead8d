package patchpilot

import "strings"

// RiskLevel is the coarse class of a risk score or probability. The
// rule-based baseline, the learned model and the planner all speak it.
type RiskLevel string

// Risk levels, from least to most risky.
const (
	RiskLow    RiskLevel = "low"
	RiskMedium RiskLevel = "medium"
	RiskHigh   RiskLevel = "high"
)

// RiskLevels lists the levels in increasing order of risk.
func RiskLevels() []RiskLevel { return []RiskLevel{RiskLow, RiskMedium, RiskHigh} }

// ParseRiskLevel reads a level as written in flags and files ("low",
// "medium", "high", in any case).
func ParseRiskLevel(s string) (RiskLevel, error) {
	switch l := RiskLevel(strings.ToLower(strings.TrimSpace(s))); l {
	case RiskLow, RiskMedium, RiskHigh:
		return l, nil
	}
	return "", Errorf(EINVALID, "invalid risk level %q", s).WithHint("use low, medium or high")
}

// Rank orders levels: 0 for low, 1 for medium, 2 for high. An unknown level
// ranks as high, so that code comparing levels fails closed.
func (l RiskLevel) Rank() int {
	switch l {
	case RiskLow:
		return 0
	case RiskMedium:
		return 1
	}
	return 2
}
