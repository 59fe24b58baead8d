package app

import (
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

// The SLA exposures a collection records are read a chunk of hosts at a
// time; they must be exactly those read for the whole fleet at once.
func TestExposuresInChunksAsAllAtOnce(t *testing.T) {
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	exposures := func(chunk int) []patchpilot.SLAExposure {
		saved := exposureChunkHosts
		exposureChunkHosts = chunk
		t.Cleanup(func() { exposureChunkHosts = saved })
		ctx, a, _ := openTestApp(t)
		a.Options.Now = func() time.Time { return at }
		fl, err := fleet.New(fleet.Config{Hosts: 60, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		inv := fl.Inventory()
		// Two collections: the second finds earlier sightings.
		for i, hosts := range [][]patchpilot.Host{inv[:25], inv} {
			a.Options.Now = func() time.Time { return at.Add(time.Duration(i) * 24 * time.Hour) }
			if _, err := a.Collect(ctx, fl, hosts, CollectOptions{NoDepth: true}, "simulated", nil); err != nil {
				t.Fatal(err)
			}
		}
		out, err := a.Store.SLAExposures(ctx, time.Time{}, at.Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole, chunked := exposures(1<<30), exposures(7)
	if len(whole) < 60 {
		t.Fatalf("%d exposures recorded for 60 hosts", len(whole))
	}
	if !reflect.DeepEqual(chunked, whole) {
		t.Errorf("exposures read in chunks of 7 hosts differ:\n chunks %v\n whole  %v", chunked, whole)
	}
}
