package health_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// TestLabDependentsReachable probes a lab host's demo service port from
// another lab host, over that host's own SSH connection: it passes while
// the port answers, breaches with "connection refused" once the service is
// stopped, and with no answer once the lab's net-drop fault drops the
// traffic to the host.
func TestLabDependentsReachable(t *testing.T) {
	l := sharedLab(t)
	provider, dependent := l.Hosts()[1], l.Hosts()[0]
	pr := dialLab(t, l, provider)
	dr := dialLab(t, l, dependent)
	c, err := health.New(crits(t, patchpilot.CriterionDependentsReachable), patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: provider, Runner: pr,
		Dependents: []patchpilot.HealthDependent{{Host: dependent.Name, Ports: []int{8080}}},
		Dial: func(_ context.Context, host string) (patchpilot.Runner, error) {
			if host != dependent.Name {
				t.Errorf("dialled %s, not the dependent", host)
			}
			return dr, nil
		}}
	// The demo service of a freshly booted lab may not listen yet: the
	// baseline is taken once the dependent reaches it.
	var base patchpilot.HealthBaseline
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if base, err = c.Baseline(context.Background(), target); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(base[patchpilot.CriterionDependentsReachable]), `"reachable":[8080]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s:8080: %s", dependent.Name, provider.Address, base[patchpilot.CriterionDependentsReachable])
		}
		time.Sleep(2 * time.Second)
	}
	target.Since = time.Now()
	check := func() patchpilot.GateResult {
		t.Helper()
		rep, err := c.Check(context.Background(), target, base)
		if err != nil {
			t.Fatal(err)
		}
		return result(t, rep, patchpilot.CriterionDependentsReachable)
	}
	if r := check(); r.Outcome != patchpilot.GatePass {
		t.Fatalf("port answering: %s %q", r.Outcome, r.Reason)
	}

	sh(t, pr, "systemctl", "stop", "pp-demo-web")
	r := check()
	sh(t, pr, "systemctl", "start", "pp-demo-web")
	want := dependent.Name + " cannot reach " + provider.Address + ":8080: connection refused"
	if r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, want) {
		t.Errorf("service stopped: %s %q, want a breach saying %q", r.Outcome, r.Reason, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.Fault(ctx, provider.Name, lab.FaultNetDrop); err != nil {
		t.Fatal(err)
	}
	r = check()
	if err := l.Heal(ctx, provider.Name); err != nil {
		t.Fatal(err)
	}
	want = dependent.Name + " cannot reach " + provider.Address + ":8080: no answer within 5s"
	if r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, want) {
		t.Errorf("traffic dropped: %s %q, want a breach saying %q", r.Outcome, r.Reason, want)
	}
}
