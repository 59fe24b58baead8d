package planner

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestPolicyMaxBrokenHosts(t *testing.T) {
	plan := func(policy string) string {
		return "rollout:\n  patch: {packages: [\"a=1\"]}\n  targets: {selector: \"env=x\"}\n  stages:\n    - {name: all, targets: rest}\n  policy: " + policy + "\n"
	}
	tests := []struct {
		policy  string
		want    patchpilot.Limit
		wantErr string
	}{
		{"{adaptive: true, max_broken_hosts: 3}", patchpilot.LimitCount(3), ""},
		{"{adaptive: true, max_broken_hosts: 5%}", patchpilot.LimitPercent(5), ""},
		{"{adaptive: true}", patchpilot.Limit{}, ""},
		{"{allow_downgrade: true, max_broken_hosts: 2}", patchpilot.LimitCount(2), ""},
		{"{max_broken_hosts: 0}", patchpilot.Limit{}, "plan.yaml:6"},
		{"{max_broken_hosts: many}", patchpilot.Limit{}, "max_broken_hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			p, err := Parse([]byte(plan(tt.policy)), "plan.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse: %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Policy.MaxBrokenHosts; got != tt.want {
				t.Errorf("max_broken_hosts = %+v, want %+v", got, tt.want)
			}
			// Marshal writes it back and the result parses to the same.
			src, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(src, "marshalled")
			if err != nil || back.Policy != p.Policy {
				t.Errorf("round trip: %+v (%v), want %+v\n%s", back.Policy, err, p.Policy, src)
			}
		})
	}
}
