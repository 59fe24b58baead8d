package canary

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestStageFleet(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	later := at.Add(3 * time.Minute)
	p := patchpilot.Plan{Stages: []patchpilot.Stage{{Name: "canary"}, {Name: "wave-1"}, {Name: "final"}}}
	runs := []patchpilot.HostRun{
		{Stage: "canary", Host: "web1", State: patchpilot.HostVerify, Order: 1, AppliedAt: &at},
		{Stage: "canary", Host: "web2", State: patchpilot.HostApply, Order: 2, AppliedAt: &at},
		{Stage: "canary", Host: "web3", State: patchpilot.HostRolledBack, Order: 3, AppliedAt: &at},
		{Stage: "wave-1", Host: "web4", State: patchpilot.HostPending},
		{Stage: "wave-1", Host: "web5", State: patchpilot.HostPending, Order: 4}, // was started once
		{Stage: "final", Host: "web6", State: patchpilot.HostPending},
		{Stage: "final", Host: "gone", State: patchpilot.HostPending}, // removed from the inventory
	}
	hosts := map[string]patchpilot.Host{}
	for _, n := range []string{"web1", "web2", "web3", "web4", "web5", "web6"} {
		hosts[n] = patchpilot.Host{Name: n}
	}
	checked := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web2", Address: "10.0.0.2"}, Since: later}
	changed, unchanged := StageFleet(p, "canary", checked, runs, hosts, func(h string) string { return "debian:12" })

	if len(changed) != 2 || changed[0].Host.Name != "web1" || changed[1].Host.Name != "web2" {
		t.Fatalf("changed = %+v, want web1 and web2 (web3 rolled back)", changed)
	}
	if !changed[0].AppliedAt.Equal(at) {
		t.Errorf("web1 applied at %v, want its stored %v", changed[0].AppliedAt, at)
	}
	if !changed[1].AppliedAt.Equal(later) || changed[1].Host.Address != "10.0.0.2" {
		t.Errorf("the checked host = %+v, want its own target's host and time %v", changed[1], later)
	}
	if changed[0].OS != "debian:12" {
		t.Errorf("OS = %q, want osOf's answer", changed[0].OS)
	}
	if len(unchanged) != 2 || unchanged[0].Host.Name != "web4" || unchanged[1].Host.Name != "web6" {
		t.Fatalf("unchanged = %+v, want web4 and web6 (web5 was started, gone is not stored)", unchanged)
	}

	// A stage's own pending hosts are not controls of that stage.
	_, unchanged = StageFleet(p, "wave-1", checked, runs, hosts, func(string) string { return "" })
	if len(unchanged) != 1 || unchanged[0].Host.Name != "web6" {
		t.Errorf("controls of wave-1 = %+v, want only web6", unchanged)
	}
}
