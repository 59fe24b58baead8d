package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// testRestartsNeeded: only each host's latest snapshot counts, hosts
// without services to restart (or never collected) are left out, and
// the list is ordered by host.
func (s suite) testRestartsNeeded(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.RestartsNeeded(ctx); err != nil || len(got) != 0 {
		t.Fatalf("RestartsNeeded of an empty store = %v, %v; want none", got, err)
	}
	mustUpsert(t, st, patchpilot.Host{Name: "c-db"}, patchpilot.Host{Name: "a-web"}, patchpilot.Host{Name: "b-fixed"},
		patchpilot.Host{Name: "d-new"}, patchpilot.Host{Name: "e-none"})
	save := func(host string, at time.Time, services ...string) {
		f := Facts(host, at, 2, 1)
		f.NeedsRestart = services
		mustSave(t, st, f)
	}
	save("c-db", baseTime, "cron.service")
	save("c-db", baseTime.Add(time.Hour), "postgresql.service", "cron.service")
	save("a-web", baseTime, "nginx.service")
	// b-fixed needed a restart, and no longer does.
	save("b-fixed", baseTime, "ssh.service")
	save("b-fixed", baseTime.Add(time.Hour))
	save("e-none", baseTime)
	got, err := st.RestartsNeeded(ctx)
	if err != nil {
		t.Fatalf("RestartsNeeded: %v", err)
	}
	want := []patchpilot.HostRestarts{
		{Host: "a-web", Services: []string{"nginx.service"}},
		{Host: "c-db", Services: []string{"postgresql.service", "cron.service"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RestartsNeeded:\n got %s\nwant %s", jsonString(t, got), jsonString(t, want))
	}
}
