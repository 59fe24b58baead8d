package patchpilot

import "testing"

func TestParseCanaryMargin(t *testing.T) {
	tests := []struct {
		in       string
		margin   float64
		relative bool
		ok       bool
	}{
		{"5%", 0.05, true, true},
		{"12.5%", 0.125, true, true},
		{"0.7%", percent(0.7), true, true},
		{"0.5", 0.5, false, true},
		{"0", 0, false, true},
		{"-1", 0, false, false},
		{"%", 0, false, false},
		{"five", 0, false, false},
		{"NaN", 0, false, false},
		{"Inf%", 0, false, false},
		{"0x10", 0, false, false},
	}
	for _, tt := range tests {
		m, rel, err := ParseCanaryMargin(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (m != tt.margin || rel != tt.relative)) {
			t.Errorf("ParseCanaryMargin(%q) = %v, %v, %v; want %v, %v, ok %v", tt.in, m, rel, err, tt.margin, tt.relative, tt.ok)
			continue
		}
		if tt.ok && (CanaryMetric{Margin: m, Relative: rel}).MarginString() != tt.in {
			t.Errorf("MarginString of %q = %q", tt.in, (CanaryMetric{Margin: m, Relative: rel}).MarginString())
		}
	}
}

// percent divides at run time, as parsing does, rather than with the
// exact constant arithmetic of the compiler.
func percent(p float64) float64 { return p / 100 }
