package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// The fleet of the benchmarks: 10,000 hosts with 20 pending security
// updates each in two snapshots, 1,000 rollouts of 10 hosts with their
// outcomes, a month of SLA exposures and 1,000,000 events over a year.
const (
	benchHosts    = 10000
	benchUpdates  = 20
	benchRollouts = 1000
	benchEvents   = 1000000
)

var (
	benchOnce sync.Once
	benchDir  string
	benchTemp string // removed when the tests end
	benchErr  error
	benchNow  = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
)

func benchApp(b *testing.B) (context.Context, *App) {
	b.Helper()
	benchOnce.Do(func() {
		// PP_KPI_BENCH_DIR keeps the seeded database between runs.
		if dir := os.Getenv("PP_KPI_BENCH_DIR"); dir != "" {
			benchDir = dir
			if _, err := os.Stat(filepath.Join(dir, "pp.db")); err == nil {
				return
			}
			benchErr = seedBench(filepath.Join(dir, "pp.db"))
			return
		}
		dir, err := tempDirOutsideTest()
		if err != nil {
			benchErr = err
			return
		}
		benchDir, benchTemp = dir, dir
		benchErr = seedBench(filepath.Join(dir, "pp.db"))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	ctx := context.Background()
	a, err := New(ctx, Options{DBPath: filepath.Join(benchDir, "pp.db"), Env: []string{"HOME=" + benchDir, "USER=ann"},
		Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return ctx, a
}

func seedBench(path string) error {
	ctx := context.Background()
	a, err := New(ctx, Options{DBPath: path, Now: func() time.Time { return benchNow }})
	if err != nil {
		return err
	}
	defer a.Close()
	st := a.Store
	sevs := []string{"critical", "high", "medium", "low"}
	hosts := make([]patchpilot.Host, benchHosts)
	for i := range hosts {
		env := "test"
		if i%2 == 0 {
			env = "prod"
		}
		hosts[i] = patchpilot.Host{Name: fmt.Sprintf("h%05d", i), Labels: map[string]string{"env": env}}
	}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		return err
	}
	for snap, at := range []time.Time{benchNow.Add(-40 * 24 * time.Hour), benchNow.Add(-24 * time.Hour)} {
		for i, h := range hosts {
			f := patchpilot.Facts{Host: h.Name, CollectedAt: at.Add(time.Duration(i) * time.Millisecond), Source: "ssh",
				OSFamily: patchpilot.FamilyRedHat, OSName: "rocky", OSVersion: "9.4", PackagesKnown: true, UpdatesKnown: true}
			for j := range benchUpdates {
				p := (i + j*7) % 500
				f.Updates = append(f.Updates, patchpilot.Update{Package: fmt.Sprintf("pkg-%03d", p), InstalledVersion: "1.0",
					CandidateVersion: fmt.Sprintf("2.%d", snap), Security: true,
					Advisories: []patchpilot.AdvisoryRef{{ID: fmt.Sprintf("RHSA-%03d", p), Severity: sevs[p%4]}}})
			}
			if err := st.SaveFacts(ctx, f); err != nil {
				return err
			}
		}
	}
	for d := range 31 {
		day := benchNow.Add(-time.Duration(30-d) * 24 * time.Hour)
		var exps []patchpilot.SLAExposure
		for i, h := range hosts {
			if (i+d)%3 != 0 {
				continue
			}
			exps = append(exps, patchpilot.SLAExposure{Host: h.Name, CollectedAt: day, Oldest: map[patchpilot.Severity]time.Time{
				patchpilot.Severity(sevs[i%4]): day.Add(-time.Duration(i%40) * 24 * time.Hour)}})
		}
		if err := st.SaveSLAExposures(ctx, exps); err != nil {
			return err
		}
	}
	var outcomes []patchpilot.Outcome
	for r := range benchRollouts {
		id := fmt.Sprintf("r-%04d", r)
		at := benchNow.Add(-time.Duration(r%60) * 24 * time.Hour)
		by := "schedule:nightly"
		if r%3 == 0 {
			by = "user:ann"
		}
		var names []string
		for k := range 10 {
			names = append(names, hosts[(r*10+k)%benchHosts].Name)
		}
		if err := st.CreateRollout(ctx, patchpilot.Rollout{ID: id, Plan: storetest.FullPlan(), PlanSource: "name: x\n",
			State: patchpilot.RolloutSucceeded, CreatedBy: by, CreatedAt: at.Add(-time.Hour), UpdatedAt: at,
			Stages: []patchpilot.StageRun{{Index: 0, Name: "all", State: patchpilot.StageSucceeded, Hosts: names}}}); err != nil {
			return err
		}
		for k, n := range names {
			kind := patchpilot.OutcomeSucceeded
			if k == 9 && r%4 == 0 {
				kind = patchpilot.OutcomeRolledBack
			}
			p := (r*10 + k) % 500
			outcomes = append(outcomes, patchpilot.Outcome{Time: at, Rollout: id, Host: n, OS: "rocky:9.4", Outcome: kind,
				Packages: []patchpilot.PackageChange{{Name: fmt.Sprintf("pkg-%03d", p), From: "1.0", To: "2.0"}}})
		}
	}
	if _, err := st.ImportOutcomes(ctx, outcomes); err != nil {
		return err
	}
	// The events, in one transaction of the database's own driver.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (time, actor, kind, host, rollout, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	unhealthy, _ := json.Marshal(patchpilot.HealthReport{Verdict: patchpilot.Unhealthy})
	healthy, _ := json.Marshal(patchpilot.HealthReport{Verdict: patchpilot.Healthy})
	states := []string{"preflight", "snapshot", "apply", "reboot", "verify", "succeeded"}
	start := benchNow.Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / benchEvents
	for i := range benchEvents {
		at := start.Add(time.Duration(i) * step).UTC().Format("2006-01-02T15:04:05.000000000Z")
		r := fmt.Sprintf("r-%04d", (i/60)%benchRollouts)
		h := hosts[(i/6)%benchHosts].Name
		var kind, msg string
		var data any
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			kind, msg = patchpilot.EventHostState, h+" "+states[i%6]
		case 6, 7:
			kind, msg, data = patchpilot.EventGateVerdict, "gate", string(healthy)
			if i%1000 == 7 {
				data = string(unhealthy)
			}
		case 8:
			kind, msg, r = patchpilot.EventFactsCollected, "collected", ""
		default:
			kind, msg, h = patchpilot.EventApproval, "stage all approved by token:bob", ""
		}
		if _, err := ins.ExecContext(ctx, at, "controller", kind, h, r, msg, data); err != nil {
			return err
		}
	}
	if err := ins.Close(); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkCompliance measures every host against its SLA over the fleet.
func BenchmarkCompliance(b *testing.B) {
	ctx, a := benchApp(b)
	b.ResetTimer()
	for b.Loop() {
		rep, err := a.Compliance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Totals.Hosts != benchHosts {
			b.Fatalf("%d hosts", rep.Totals.Hosts)
		}
	}
}

// BenchmarkKPIs30Days measures the KPIs of the last 30 days.
func BenchmarkKPIs30Days(b *testing.B) {
	ctx, a := benchApp(b)
	b.ResetTimer()
	for b.Loop() {
		rep, err := a.KPIs(ctx, KPIQuery{From: benchNow.Add(-30 * 24 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Patches.Total == 0 || len(rep.Compliance) != 31 {
			b.Fatalf("patches %d, days %d", rep.Patches.Total, len(rep.Compliance))
		}
	}
}

// tempDirOutsideTest is a folder for the benchmarks' shared database,
// which outlives each benchmark's b.TempDir; the OS's temporary folder
// cleans it.
func tempDirOutsideTest() (string, error) { return os.MkdirTemp("", "pp-kpi-bench-") }

// TestMain removes the benchmarks' temporary database when they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchTemp != "" {
		os.RemoveAll(benchTemp)
	}
	os.Exit(code)
}
