package osv

import (
	"strings"
	"testing"
)

func TestCVSS3Score(t *testing.T) {
	// Scores as published by NVD and the FIRST calculator for these vectors.
	tests := []struct {
		vector string
		want   float64
	}{
		{"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 5.5},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0},
		// Temporal metrics do not change the base score.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 9.8},
	}
	for _, tt := range tests {
		got, err := cvss3Score(tt.vector)
		if err != nil {
			t.Errorf("cvss3Score(%q): %v", tt.vector, err)
			continue
		}
		if got != tt.want {
			t.Errorf("cvss3Score(%q) = %v, want %v", tt.vector, got, tt.want)
		}
	}
}

func TestCVSS2Score(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
	}{
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0},
		{"AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3},
		{"AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0},
		{"CVSS:2.0/AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:N", 0},
	}
	for _, tt := range tests {
		got, err := cvss2Score(tt.vector)
		if err != nil {
			t.Errorf("cvss2Score(%q): %v", tt.vector, err)
			continue
		}
		if got != tt.want {
			t.Errorf("cvss2Score(%q) = %v, want %v", tt.vector, got, tt.want)
		}
	}
}

func TestCVSSErrors(t *testing.T) {
	tests := []struct {
		name  string
		score func(string) (float64, error)
		in    string
		want  string
	}{
		{"v3 prefix", cvss3Score, "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "must start with CVSS:3.0/ or CVSS:3.1/"},
		{"v3 missing", cvss3Score, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "base metric A is not defined"},
		{"v3 twice", cvss3Score, "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV metric abbreviation defined multiple times"},
		{"v3 value", cvss3Score, "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", `AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": invalid metric value`},
		{"v3 unknown", cvss3Score, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", `invalid metric abbreviation : ZZ`},
		{"v3 malformed", cvss3Score, "CVSS:3.1/AV:N//AC:L", `CVSS v3 vector "CVSS:3.1/AV:N//AC:L": invalid metric`},
		{"v2 missing", cvss2Score, "AV:N/AC:L/Au:N", `CVSS v2 vector "AV:N/AC:L/Au:N": too short vector`},
		{"v4 garbage", cvss4Score, "CVSS:4.0/AV:N", "CVSS v4 vector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.score(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestScoreWord(t *testing.T) {
	tests := []struct {
		score float64
		want  string
	}{
		{10, "critical"}, {9.0, "critical"}, {8.9, "high"}, {7.0, "high"}, {6.9, "medium"},
		{4.0, "medium"}, {3.9, "low"}, {0.1, "low"}, {0, ""},
	}
	for _, tt := range tests {
		if got := ScoreWord(tt.score); got != tt.want {
			t.Errorf("ScoreWord(%v) = %q, want %q", tt.score, got, tt.want)
		}
	}
}

func TestNormaliseWord(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Critical", "critical"}, {"Important", "high"}, {"Moderate", "medium"}, {"Low", "low"},
		{"high", "high"}, {"medium", "medium"}, {"negligible", "low"}, {"unimportant", "low"},
		{" Untriaged ", "untriaged"}, {"", ""}, {"urgent", "critical"},
	}
	for _, tt := range tests {
		if got := NormaliseWord(tt.in); got != tt.want {
			t.Errorf("NormaliseWord(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
