package patchpilot

import "testing"

func TestVerdictOf(t *testing.T) {
	for _, c := range []struct {
		data string
		want HealthVerdict
	}{
		{`{"verdict":"rollback","results":[{"gate":"http_ok"}],"reason":"x"}`, Unhealthy},
		{`{"results":[{"gate":"http_ok","evidence":{"series":[1,2,{"verdict":"healthy"}]}}],"verdict":"under_review"}`, UnderReview},
		{`{"results":[]}`, ""},
		{`{"verdict":3}`, ""},
		{`[1,2]`, ""},
		{`{"verdict":`, ""},
		{``, ""},
	} {
		if got := VerdictOf([]byte(c.data)); got != c.want {
			t.Errorf("VerdictOf(%s) = %q, want %q", c.data, got, c.want)
		}
	}
}
