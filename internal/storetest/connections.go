package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// conn is an outgoing or incoming connection of a fixture.
func conn(dir, service, process, peer string, port int) patchpilot.Connection {
	return patchpilot.Connection{Direction: dir, Service: service, Process: process, Peer: peer, Port: port}
}

// withConns is a small snapshot of host at at whose depth lists conns.
func withConns(host string, at time.Time, conns ...patchpilot.Connection) patchpilot.Facts {
	f := Facts(host, at, 1, 0)
	f.Depth = &patchpilot.HostDepth{Connections: conns}
	return f
}

// testConnections states how SaveFacts aggregates the connections of
// snapshots and how they are read, pruned and removed with their host.
func (s suite) testConnections(t *testing.T) {
	ctx := context.Background()
	out, in := patchpilot.DirectionOut, patchpilot.DirectionIn
	t0, t1, t2 := baseTime, baseTime.Add(time.Hour), baseTime.Add(2*time.Hour)

	t.Run("DepthRoundTrip", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		f := Facts("web-1", t0, 1, 0)
		f.Depth = depthFixture()
		mustSave(t, st, f)
		got, err := st.LatestFacts(ctx, "web-1")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if !reflect.DeepEqual(got.Depth, f.Depth) {
			t.Errorf("Depth does not round trip:\n got %+v\nwant %+v", got.Depth, f.Depth)
		}
		fleet, err := st.FleetFacts(ctx)
		if err != nil || len(fleet) != 1 || !reflect.DeepEqual(fleet[0].Depth, f.Depth) {
			t.Errorf("FleetFacts depth = %+v, %v; want the saved depth", fleet, err)
		}
		// A later snapshot without depth is the current one: no depth.
		mustSave(t, st, Facts("web-1", t1, 1, 0))
		got, err = st.LatestFacts(ctx, "web-1")
		if err != nil || got.Depth != nil {
			t.Errorf("latest snapshot saved without depth has Depth %+v, %v; want nil", got.Depth, err)
		}
		// An empty depth is a depth: it looked and found nothing.
		empty := Facts("web-1", t2, 1, 0)
		empty.Depth = &patchpilot.HostDepth{}
		mustSave(t, st, empty)
		got, err = st.LatestFacts(ctx, "web-1")
		if err != nil || got.Depth == nil {
			t.Errorf("empty depth read back as %+v, %v; want a non-nil empty depth", got.Depth, err)
		}
	})

	t.Run("Aggregate", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"}, patchpilot.Host{Name: "db-1"})
		pg := conn(out, "nginx.service", "nginx", "10.0.0.9", 5432)
		// Listed twice in one snapshot: seen once.
		mustSave(t, st, withConns("web-1", t1, pg, pg, conn(out, "nginx.service", "", "10.0.0.8", 6379)))
		pg2 := pg
		pg2.Process = "nginx: worker"
		mustSave(t, st, withConns("web-1", t2, pg2))
		// An older snapshot saved later: first seen moves earlier, last
		// seen and the process name stay those of the newest.
		old := pg
		old.Process = "nginx-old"
		mustSave(t, st, withConns("web-1", t0, old))
		mustSave(t, st, withConns("db-1", t2, conn(in, "postgresql.service", "postgres", "10.0.0.5", 5432)))
		// A snapshot without depth changes nothing.
		mustSave(t, st, Facts("db-1", t2.Add(time.Hour), 1, 0))

		got, err := st.Connections(ctx, time.Time{})
		if err != nil {
			t.Fatalf("Connections: %v", err)
		}
		want := []patchpilot.ObservedConnection{
			{Host: "db-1", Direction: in, Service: "postgresql.service", Process: "postgres", Peer: "10.0.0.5",
				Port: 5432, FirstSeen: t2, LastSeen: t2, Seen: 1},
			{Host: "web-1", Direction: out, Service: "nginx.service", Peer: "10.0.0.8",
				Port: 6379, FirstSeen: t1, LastSeen: t1, Seen: 1},
			{Host: "web-1", Direction: out, Service: "nginx.service", Process: "nginx: worker", Peer: "10.0.0.9",
				Port: 5432, FirstSeen: t0, LastSeen: t2, Seen: 3},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Connections:\n got %+v\nwant %+v", got, want)
		}

		got, err = st.Connections(ctx, t2)
		if err != nil {
			t.Fatalf("Connections(since): %v", err)
		}
		if len(got) != 2 || got[0].Host != "db-1" || got[1].Peer != "10.0.0.9" {
			t.Errorf("Connections since %s = %+v; want the two last seen then", t2, got)
		}
	})

	t.Run("LocalAddress", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "lab03"})
		a := conn(in, "", "", "127.0.0.1", 8080)
		a.Local = "127.0.88.3"
		b := a
		b.Local = "127.0.88.2"
		mustSave(t, st, withConns("lab03", t1, a, b))
		got, err := st.Connections(ctx, time.Time{})
		if err != nil {
			t.Fatalf("Connections: %v", err)
		}
		want := []patchpilot.ObservedConnection{
			{Host: "lab03", Direction: in, Local: "127.0.88.2", Peer: "127.0.0.1", Port: 8080, FirstSeen: t1, LastSeen: t1, Seen: 1},
			{Host: "lab03", Direction: in, Local: "127.0.88.3", Peer: "127.0.0.1", Port: 8080, FirstSeen: t1, LastSeen: t1, Seen: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("connections differing by local address:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("CarriedDepthIsNotMerged", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		f := withConns("web-1", t1, conn(out, "nginx.service", "nginx", "10.0.0.9", 5432))
		f.Depth.CollectedAt = t1
		mustSave(t, st, f)
		carried := Facts("web-1", t2, 1, 0)
		carried.Depth = f.Depth // read at t1, carried forward by a collection without depth
		mustSave(t, st, carried)
		got, err := st.Connections(ctx, time.Time{})
		if err != nil || len(got) != 1 || got[0].Seen != 1 || !got[0].LastSeen.Equal(t1) {
			t.Errorf("connections after a carried depth = %+v, %v; want seen once, last at %s", got, err, t1)
		}
		latest, err := st.LatestFacts(ctx, "web-1")
		if err != nil || latest.Depth == nil || !latest.Depth.CollectedAt.Equal(t1) {
			t.Errorf("latest depth %+v, %v; want the carried depth read at %s", latest.Depth, err, t1)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		mustSave(t, st, withConns("web-1", t0, conn(out, "", "", "10.0.0.1", 22)))
		mustSave(t, st, withConns("web-1", t1, conn(out, "", "", "10.0.0.2", 22)))
		mustSave(t, st, withConns("web-1", t2, conn(out, "", "", "10.0.0.3", 22)))
		n, err := st.PruneConnections(ctx, t1)
		if err != nil || n != 1 {
			t.Fatalf("PruneConnections(%s) = %d, %v; want 1 deleted", t1, n, err)
		}
		got, err := st.Connections(ctx, time.Time{})
		if err != nil || len(got) != 2 || got[0].Peer != "10.0.0.2" || got[1].Peer != "10.0.0.3" {
			t.Errorf("after pruning, Connections = %+v, %v; want 10.0.0.2 and 10.0.0.3", got, err)
		}
		if n, err := st.PruneConnections(ctx, t1); err != nil || n != 0 {
			t.Errorf("pruning again = %d, %v; want 0", n, err)
		}
		_, err = st.PruneConnections(ctx, time.Time{})
		wantCode(t, err, patchpilot.EINVALID, "")
	})

	t.Run("RemoveHostDropsConnections", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"}, patchpilot.Host{Name: "web-2"})
		mustSave(t, st, withConns("web-1", t0, conn(out, "", "", "10.0.0.1", 22)))
		mustSave(t, st, withConns("web-2", t0, conn(out, "", "", "10.0.0.1", 22)))
		if err := st.RemoveHosts(ctx, []string{"web-1"}); err != nil {
			t.Fatalf("RemoveHosts: %v", err)
		}
		got, err := st.Connections(ctx, time.Time{})
		if err != nil || len(got) != 1 || got[0].Host != "web-2" {
			t.Errorf("after removing web-1, Connections = %+v, %v; want web-2's only", got, err)
		}
		// Added again, the host starts without connections.
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		mustSave(t, st, withConns("web-1", t1, conn(out, "", "", "10.0.0.1", 22)))
		got, err = st.Connections(ctx, time.Time{})
		if err != nil || len(got) != 2 || got[0].Seen != 1 || !got[0].FirstSeen.Equal(t1) {
			t.Errorf("web-1 added again: Connections = %+v, %v; want a fresh observation", got, err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "h"})
		for name, c := range map[string]patchpilot.Connection{
			"direction": conn("sideways", "", "", "10.0.0.1", 22),
			"peer":      conn(out, "", "", "", 22),
			"port":      conn(out, "", "", "10.0.0.1", 0),
			"big port":  conn(in, "", "", "10.0.0.1", 70000),
		} {
			t.Run(name, func(t *testing.T) {
				wantCode(t, st.SaveFacts(ctx, withConns("h", t0, conn(out, "", "", "10.0.0.2", 22), c)),
					patchpilot.EINVALID, "connections[1]")
			})
		}
		hist, err := st.FactHistory(ctx, "h", 0)
		if err != nil || len(hist) != 0 {
			t.Errorf("FactHistory after invalid saves = %v, %v; want nothing stored", hist, err)
		}
		got, err := st.Connections(ctx, time.Time{})
		if err != nil || len(got) != 0 {
			t.Errorf("Connections after invalid saves = %+v, %v; want none", got, err)
		}
	})
}
