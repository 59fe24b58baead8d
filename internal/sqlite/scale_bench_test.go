package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
	"github.com/patchpilot/patchpilot/internal/storetest/seed"
)

// BenchmarkReadsAtScale measures the store's reads that the API and the
// dashboard make, over a copy of the seeded store of 10,000 hosts, 1,000
// rollouts and 1,000,000 events (seed.Scale, cached in seed.CacheDir).
func BenchmarkReadsAtScale(b *testing.B) {
	ctx := context.Background()
	path, sum, err := seed.Cached(ctx, seed.Scale)
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "patchpilot-reads-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "pp.db")
	if err := seed.Copy(path, copyPath); err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Open(ctx, copyPath)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := sum.Config.End
	month := end.Add(-30 * 24 * time.Hour)
	events, err := db.Events(ctx, patchpilot.EventFilter{Since: month, Limit: 1})
	if err != nil || len(events) == 0 {
		b.Fatalf("no event in the last month: %v", err)
	}
	recentID := events[0].ID
	reads := []struct {
		name string
		read func() (int, error)
	}{
		{"HostSummaries", func() (int, error) { r, err := db.HostSummaries(ctx); return len(r), err }},
		{"PendingUpdates", func() (int, error) { r, err := db.PendingUpdates(ctx, patchpilot.UpdateFilter{}); return len(r), err }},
		{"PendingUpdates/security", func() (int, error) {
			r, err := db.PendingUpdates(ctx, patchpilot.UpdateFilter{SecurityOnly: true})
			return len(r), err
		}},
		{"PendingUpdates/host", func() (int, error) {
			r, err := db.PendingUpdates(ctx, patchpilot.UpdateFilter{Host: sum.Host})
			return len(r), err
		}},
		{"PendingUpdates/package", func() (int, error) {
			r, err := db.PendingUpdates(ctx, patchpilot.UpdateFilter{Package: sum.Package})
			return len(r), err
		}},
		{"LatestFacts", func() (int, error) { f, err := db.LatestFacts(ctx, sum.Host); return len(f.Packages), err }},
		{"FactHistory", func() (int, error) { r, err := db.FactHistory(ctx, sum.Host, 10); return len(r), err }},
		{"Rollouts", func() (int, error) { r, err := db.Rollouts(ctx, patchpilot.RolloutFilter{}); return len(r), err }},
		{"Rollouts/limit", func() (int, error) {
			r, err := db.Rollouts(ctx, patchpilot.RolloutFilter{Limit: 20})
			return len(r), err
		}},
		{"Rollouts/state", func() (int, error) {
			r, err := db.Rollouts(ctx, patchpilot.RolloutFilter{State: patchpilot.RolloutRunning})
			return len(r), err
		}},
		{"Rollouts/succeeded_limit", func() (int, error) {
			r, err := db.Rollouts(ctx, patchpilot.RolloutFilter{State: patchpilot.RolloutSucceeded, Limit: 20})
			return len(r), err
		}},
		{"Rollout", func() (int, error) { r, err := db.Rollout(ctx, sum.BusyRollout); return len(r.Stages), err }},
		{"HostRuns", func() (int, error) { r, err := db.HostRuns(ctx, sum.BusyRollout); return len(r), err }},
		{"Events/rollout", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Rollout: sum.BusyRollout})
			return len(r), err
		}},
		{"Events/rollout_after", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Rollout: sum.LiveRollout, AfterID: recentID})
			return len(r), err
		}},
		{"Events/kind_limit", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict, Limit: 100})
			return len(r), err
		}},
		{"Events/kind_after_limit", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict, AfterID: recentID, Limit: 100})
			return len(r), err
		}},
		{"Events/after_limit", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{AfterID: recentID, Limit: 100})
			return len(r), err
		}},
		{"Events/since_limit", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Since: month, Limit: 100})
			return len(r), err
		}},
		{"Events/host_since", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Host: sum.Host, Since: month})
			return len(r), err
		}},
		{"Events/kind_since_limit", func() (int, error) {
			r, err := db.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventApproval, Since: month, Limit: 50})
			return len(r), err
		}},
		{"Incidents", func() (int, error) { r, err := db.Incidents(ctx, ""); return len(r), err }},
		{"Incidents/rollout", func() (int, error) { r, err := db.Incidents(ctx, sum.BusyRollout); return len(r), err }},
		{"Outcomes", func() (int, error) { r, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{}); return len(r), err }},
		{"Outcomes/host", func() (int, error) {
			r, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{Host: sum.Host})
			return len(r), err
		}},
		{"Outcomes/package", func() (int, error) {
			r, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{Package: sum.Package})
			return len(r), err
		}},
		{"Outcomes/since", func() (int, error) {
			r, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{Since: month})
			return len(r), err
		}},
		{"Outcomes/rollout", func() (int, error) {
			r, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{Rollout: sum.BusyRollout})
			return len(r), err
		}},
		{"FirstSeen", func() (int, error) {
			r, err := db.FirstSeen(ctx, []string{sum.Package, "openssl", "curl"})
			return len(r), err
		}},
		{"Models", func() (int, error) { r, err := db.Models(ctx); return len(r), err }},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				var err error
				if n, err = r.read(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(n), "rows")
		})
	}
}
