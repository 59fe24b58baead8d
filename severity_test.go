package patchpilot_test

import (
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestSeverityRankAndNormalised(t *testing.T) {
	tests := []struct {
		in   patchpilot.Severity
		rank int
		norm patchpilot.Severity
	}{
		{"Critical", 4, "critical"}, {"urgent", 4, "critical"},
		{"High", 3, "high"}, {"Important", 3, "high"},
		{"medium", 2, "medium"}, {"Moderate", 2, "medium"},
		{" low ", 1, "low"}, {"negligible", 1, "low"}, {"unimportant", 1, "low"},
		{"", 0, ""}, {" Untriaged ", 0, "untriaged"},
	}
	for _, tt := range tests {
		if got := tt.in.Rank(); got != tt.rank {
			t.Errorf("Severity(%q).Rank() = %d, want %d", tt.in, got, tt.rank)
		}
		if got := tt.in.Normalised(); got != tt.norm {
			t.Errorf("Severity(%q).Normalised() = %q, want %q", tt.in, got, tt.norm)
		}
	}
	for r := 1; r <= 4; r++ {
		if got := patchpilot.SeverityOfRank(r).Rank(); got != r {
			t.Errorf("SeverityOfRank(%d) ranks %d", r, got)
		}
	}
	if patchpilot.SeverityOfRank(0) != "" || patchpilot.SeverityOfRank(5) != "" {
		t.Error("SeverityOfRank outside 1..4 is not empty")
	}
}

func TestAdvisoryLevelWordElseCVSS(t *testing.T) {
	cases := []struct {
		ref  patchpilot.AdvisoryRef
		want patchpilot.Severity
	}{
		{patchpilot.AdvisoryRef{Severity: "Important", CVSS: 9.8}, patchpilot.SeverityHigh}, // the word wins
		{patchpilot.AdvisoryRef{Severity: "", CVSS: 9.8}, patchpilot.SeverityCritical},
		{patchpilot.AdvisoryRef{Severity: "unknown-word", CVSS: 5}, patchpilot.SeverityMedium},
		{patchpilot.AdvisoryRef{Severity: "unimportant"}, patchpilot.SeverityLow},
		{patchpilot.AdvisoryRef{}, ""},
	}
	for _, c := range cases {
		if got := c.ref.Level(); got != c.want {
			t.Errorf("%+v.Level() = %q, want %q", c.ref, got, c.want)
		}
	}
	if got := patchpilot.MaxSeverity([]patchpilot.AdvisoryRef{{Severity: "low"}, {CVSS: 7.5}, {Severity: "moderate"}}); got != patchpilot.SeverityHigh {
		t.Errorf("MaxSeverity = %q, want high", got)
	}
	if got := patchpilot.MaxSeverity(nil); got != "" {
		t.Errorf("MaxSeverity(nil) = %q", got)
	}
}
