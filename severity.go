package patchpilot

import "strings"

// Severity is an advisory's severity: one of the normalised words below,
// or a distribution's own word where it has no equivalent.
type Severity string

// The normalised severity words, from most to least severe.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

// Rank orders severities so that the most severe can be chosen: 4 critical,
// 3 high, 2 medium, 1 low, 0 none or unknown. The distributions' words map
// to the nearest (Red Hat's Important and Moderate, Ubuntu's negligible,
// Debian's unimportant, urgent); case and surrounding spaces are ignored.
// It is the one ranking of severities; every package uses it.
func (s Severity) Rank() int {
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "critical", "urgent":
		return 4
	case "high", "important":
		return 3
	case "medium", "moderate":
		return 2
	case "low", "negligible", "unimportant":
		return 1
	}
	return 0
}

// Normalised returns the normalised word of a severity Rank knows, and
// any other word lowercased and trimmed.
func (s Severity) Normalised() Severity {
	if w := SeverityOfRank(s.Rank()); w != "" {
		return w
	}
	return Severity(strings.ToLower(strings.TrimSpace(string(s))))
}

// SeverityOfRank is the normalised word of a rank from 1 to 4, and ""
// for any other rank.
func SeverityOfRank(rank int) Severity {
	switch rank {
	case 4:
		return SeverityCritical
	case 3:
		return SeverityHigh
	case 2:
		return SeverityMedium
	case 1:
		return SeverityLow
	}
	return ""
}

// SeverityOfScore is the normalised word of a CVSS base score, by the
// qualitative bands of CVSS v3 (9.0 critical, 7.0 high, 4.0 medium, above 0
// low); a score of 0 or less has none.
func SeverityOfScore(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return ""
}

// Level is the normalised severity of an advisory as it applies to an
// update: its word when Rank knows it, else the band of its CVSS score,
// else "". It is the one reading of an advisory's severity; every package
// uses it.
func (r AdvisoryRef) Level() Severity {
	if w := SeverityOfRank(Severity(r.Severity).Rank()); w != "" {
		return w
	}
	return SeverityOfScore(r.CVSS)
}

// MaxSeverity is the highest Level of the advisories, "" when none has one:
// the severity of an update that fixes them.
func MaxSeverity(refs []AdvisoryRef) Severity {
	rank := 0
	for _, r := range refs {
		rank = max(rank, r.Level().Rank())
	}
	return SeverityOfRank(rank)
}
