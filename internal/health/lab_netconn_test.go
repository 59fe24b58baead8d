package health_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// TestLabNetworkConnectivity runs network_connectivity on a lab host that
// depends on another host's demo service, with the built-in node_exporter
// queries of the lab's Prometheus: it passes while the provider answers,
// and breaches, from the host itself, with "connection refused" once the
// provider's service is stopped and with no answer once the lab's
// net-drop fault drops the traffic to the provider. The interfaces are the
// machine's (the lab's hosts share its network namespace): the test sees
// them up, and cannot take one down for one host.
func TestLabNetworkConnectivity(t *testing.T) {
	l := sharedLab(t)
	host, provider := l.Hosts()[0], l.Hosts()[1]
	hr := dialLab(t, l, host)
	pr := dialLab(t, l, provider)
	cfg := patchpilot.HealthConfig{
		Prometheus: patchpilot.PrometheusConfig{URL: l.PrometheusURL(), Window: 30 * time.Second, Step: 5 * time.Second},
		Providers: map[string][]patchpilot.HealthProvider{
			host.Name: {{Host: provider.Name, Address: provider.Address, Ports: []int{lab.DemoWebPort}}},
		},
	}
	c, err := health.New([]patchpilot.Criterion{{Name: patchpilot.CriterionNetworkConnectivity}}, cfg, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: host, Runner: hr}
	// The baseline is taken once Prometheus has the host's interfaces and
	// the provider's service answers.
	var base patchpilot.HealthBaseline
	for deadline := time.Now().Add(3 * time.Minute); ; {
		if base, err = c.Baseline(context.Background(), target); err != nil {
			t.Fatal(err)
		}
		raw := string(base[patchpilot.CriterionNetworkConnectivity])
		if !strings.Contains(raw, "baseline_error") && strings.Contains(raw, `"reachable":[8080]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable baseline: %s", raw)
		}
		time.Sleep(2 * time.Second)
	}
	var st struct {
		Up []string `json:"up"`
	}
	if err := json.Unmarshal(base[patchpilot.CriterionNetworkConnectivity], &st); err != nil || len(st.Up) == 0 {
		t.Fatalf("the baseline names no interface up: %s (%v)", base[patchpilot.CriterionNetworkConnectivity], err)
	}
	check := func() patchpilot.GateResult {
		t.Helper()
		rep, err := c.Check(context.Background(), target, base)
		if err != nil {
			t.Fatal(err)
		}
		return result(t, rep, patchpilot.CriterionNetworkConnectivity)
	}
	if r := check(); r.Outcome != patchpilot.GatePass || !strings.Contains(r.Reason, "interfaces up") {
		t.Fatalf("provider answering: %s %q", r.Outcome, r.Reason)
	}

	sh(t, pr, "systemctl", "stop", "pp-demo-web")
	r := check()
	sh(t, pr, "systemctl", "start", "pp-demo-web")
	want := host.Name + " cannot reach its provider " + provider.Name + ": " + provider.Address + ":8080: connection refused"
	if r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, want) {
		t.Errorf("provider stopped: %s %q, want a breach saying %q", r.Outcome, r.Reason, want)
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
	want = host.Name + " cannot reach its provider " + provider.Name + ": " + provider.Address + ":8080: no answer within 5s"
	if r.Outcome != patchpilot.GateBreach || !strings.Contains(r.Reason, want) {
		t.Errorf("traffic dropped: %s %q, want a breach saying %q", r.Outcome, r.Reason, want)
	}
}
