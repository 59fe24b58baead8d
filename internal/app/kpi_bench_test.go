package app

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/storetest/seed"
)

// The benchmarks read the seeded store that the server's benchmarks read
// (internal/storetest/seed, cached under seed.CacheDir): 10,000 hosts,
// 1,000 rollouts with their outcomes, SLA exposures and 1,000,000 events,
// or the size PATCHPILOT_BENCH_SCALE names. They work on a copy, which the
// app migrates, so that the cached file stays as seeded.
var (
	benchOnce sync.Once
	benchDB   string
	benchTemp string // removed when the tests end
	benchSum  seed.Summary
	benchErr  error
)

func benchApp(b *testing.B) (context.Context, *App) {
	b.Helper()
	ctx := context.Background()
	benchOnce.Do(func() {
		c, err := seed.FromEnv()
		if err != nil {
			benchErr = err
			return
		}
		path, sum, err := seed.Cached(ctx, c)
		if err != nil {
			benchErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pp-app-bench-")
		if err != nil {
			benchErr = err
			return
		}
		benchTemp, benchSum, benchDB = dir, sum, filepath.Join(dir, "pp.db")
		benchErr = seed.Copy(path, benchDB)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	end := benchSum.Config.End
	a, err := New(ctx, Options{DBPath: benchDB, Env: []string{"HOME=" + benchTemp, "USER=ann"},
		Now: func() time.Time { return end }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return ctx, a
}

// BenchmarkCompliance measures every host against its SLA over the fleet
// while the data is unchanged: the kept compliance base measured against
// the clock. One read before the timed ones derives the base.
func BenchmarkCompliance(b *testing.B) {
	ctx, a := benchApp(b)
	if _, err := a.Compliance(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rep, err := a.Compliance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Totals.Hosts != benchSum.Hosts {
			b.Fatalf("%d hosts, want %d", rep.Totals.Hosts, benchSum.Hosts)
		}
	}
}

// BenchmarkComplianceDerive measures what the first read after a change
// of the inventory costs: deriving the compliance base from the store and
// measuring it.
func BenchmarkComplianceDerive(b *testing.B) {
	ctx, a := benchApp(b)
	now := benchSum.Config.End
	for b.Loop() {
		base, err := a.complianceBase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rep := base.at(now); rep.Totals.Hosts != benchSum.Hosts {
			b.Fatalf("%d hosts, want %d", rep.Totals.Hosts, benchSum.Hosts)
		}
	}
}

// BenchmarkKPIs30Days measures the KPIs of the last 30 days. One query
// before the timed ones builds the event log's index, which later queries
// only extend.
func BenchmarkKPIs30Days(b *testing.B) {
	ctx, a := benchApp(b)
	from := benchSum.Config.End.Add(-30 * 24 * time.Hour)
	if _, err := a.KPIs(ctx, KPIQuery{From: from}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rep, err := a.KPIs(ctx, KPIQuery{From: from})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Patches.Total == 0 || len(rep.Compliance) != 31 {
			b.Fatalf("patches %d, days %d", rep.Patches.Total, len(rep.Compliance))
		}
	}
}

// TestMain removes the benchmarks' copy of the seeded store when they are
// done.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchTemp != "" {
		os.RemoveAll(benchTemp)
	}
	os.Exit(code)
}
