package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// testFleetInventory checks that FleetInventory returns what Hosts,
// FleetFacts and HostSummaries return, on a fleet with hosts never
// collected, a host whose last collection failed, several snapshots per
// host (one saved after a newer one), several systems, labels and groups,
// depth, and a quarantine; and that its lists share no map.
func (s suite) testFleetInventory(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)

	empty, err := st.FleetInventory(ctx)
	if err != nil {
		t.Fatalf("FleetInventory of an empty store: %v", err)
	}
	if empty.Hosts == nil || empty.Facts == nil || empty.Summaries == nil ||
		len(empty.Hosts)+len(empty.Facts)+len(empty.Summaries) != 0 {
		t.Errorf("FleetInventory of an empty store = %+v, want three empty lists", empty)
	}

	mustUpsert(t, st,
		patchpilot.Host{Name: "web-2", Address: "10.0.0.2", Port: 2222, User: "ops", Become: true,
			Groups: []string{"web", "eu"}, Labels: map[string]string{"role": "web", "tier": "1"}},
		patchpilot.Host{Name: "web-1", Labels: map[string]string{"role": "web"}},
		patchpilot.Host{Name: "never", Labels: map[string]string{"role": "db"}},
		patchpilot.Host{Name: "failed", JumpHost: "bastion"},
		patchpilot.Host{Name: "alma"},
		patchpilot.Host{Name: "a-bare"},
	)
	// web-1: rich facts, an older snapshot saved after the newer one.
	mustSave(t, st, richFacts("web-1", baseTime.Add(2*time.Hour)))
	older := Facts("web-1", baseTime, 9, 4)
	older.Services = []string{"old"}
	mustSave(t, st, older)
	// web-2: three snapshots, the latest with updates and a removal.
	for i := range 3 {
		f := Facts("web-2", baseTime.Add(time.Duration(i)*time.Hour), 10+i, 3*i)
		if i == 2 {
			f.Removals = []patchpilot.PackageChange{{Name: "pkg0009", From: "1.9.0-1+deb12u1"}}
			f.PackageState = "abc123"
		}
		mustSave(t, st, f)
	}
	// failed: collected once, then its collection failed.
	mustSave(t, st, Facts("failed", baseTime, 2, 1))
	if _, err := st.SaveFactsBatch(ctx, []patchpilot.FactsSave{{Events: []patchpilot.Event{{
		Time: baseTime.Add(time.Hour), Actor: "test", Kind: patchpilot.EventCollectFailed, Host: "failed",
		Message: "ssh: connection refused", Data: []byte(`{"code":"unavailable"}`)}}}}); err != nil {
		t.Fatalf("save a failure event: %v", err)
	}
	// alma: another system, with nothing known of its packages.
	mustSave(t, st, patchpilot.Facts{Host: "alma", CollectedAt: baseTime, Source: "ssh", OSFamily: patchpilot.FamilyRedHat,
		OSName: "almalinux", OSVersion: "9.4", Kernel: "5.14.0-427.el9.x86_64", Arch: "x86_64", UpdatesKnown: true,
		Updates: []patchpilot.Update{{Package: "bash", SourcePackage: "bash", InstalledVersion: "5.1.8-6.el9",
			CandidateVersion: "5.1.8-9.el9"}}})
	if _, err := st.ClearQuarantine(ctx, patchpilot.QuarantineClearance{Package: "pkg0001", Version: "1.1.0-1+deb12u2",
		Class: "debian:12/web", ClearedBy: "user:alice", ClearedAt: baseTime}); err != nil {
		t.Fatalf("ClearQuarantine: %v", err)
	}

	got, err := st.FleetInventory(ctx)
	if err != nil {
		t.Fatalf("FleetInventory: %v", err)
	}
	hosts, err := st.Hosts(ctx)
	if err != nil {
		t.Fatalf("Hosts: %v", err)
	}
	heads, err := st.FleetFacts(ctx)
	if err != nil {
		t.Fatalf("FleetFacts: %v", err)
	}
	sums, err := st.HostSummaries(ctx)
	if err != nil {
		t.Fatalf("HostSummaries: %v", err)
	}
	if !reflect.DeepEqual(got.Hosts, hosts) {
		t.Errorf("FleetInventory's hosts:\n got %s\nwant %s", jsonString(t, got.Hosts), jsonString(t, hosts))
	}
	if !reflect.DeepEqual(got.Facts, heads) {
		t.Errorf("FleetInventory's facts:\n got %s\nwant %s", jsonString(t, got.Facts), jsonString(t, heads))
	}
	if !reflect.DeepEqual(got.Summaries, sums) {
		t.Errorf("FleetInventory's summaries:\n got %s\nwant %s", jsonString(t, got.Summaries), jsonString(t, sums))
	}
	if len(got.Hosts) != 6 || len(got.Facts) != 4 || len(got.Summaries) != 6 {
		t.Fatalf("FleetInventory has %d hosts, %d facts, %d summaries; want 6, 4, 6",
			len(got.Hosts), len(got.Facts), len(got.Summaries))
	}

	// No map is shared between the lists: changing a summary's labels
	// leaves the hosts' alone.
	for i := range got.Summaries {
		got.Summaries[i].Labels["changed"] = "yes"
	}
	for _, h := range got.Hosts {
		if _, ok := h.Labels["changed"]; ok {
			t.Errorf("host %s's labels are shared with its summary", h.Name)
		}
	}
}
