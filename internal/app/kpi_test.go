package app

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

const day = 24 * time.Hour

// t0 is a Sunday: its week starts on Monday 2026-02-23.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// kpiHistory generates a month of a small fleet's history whose KPIs are
// known by hand:
//
//   - h1: critical openssl 3.0.2 pending from day 1, patched by r1 on day 4
//     (time to patch 3d; a 5-minute reboot); a failed r3 on day 15.
//   - h2: the same openssl, never patched (out of SLA from day 8, the
//     critical deadline of 7d); unreachable in r3.
//   - h3: high zlib 1.3 pending from day 2, patched by r2 on day 12 (10d),
//     collected clean on day 13; a failure before the period (day -5).
//   - h4: the same zlib, rolled back in r2 on day 12 after 20 minutes
//     unhealthy; still pending, its deadline (day 32) after the period.
//   - h5: never collected.
//
// r1 was started by a schedule and approved by the policy: no person. r2
// was started by user:ann; r3 by a schedule, approved by token:bob.
func kpiHistory(t *testing.T) (context.Context, *App) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	now := t0.Add(30*day + 12*time.Hour)
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	st := a.Store
	var hosts []patchpilot.Host
	for _, h := range []string{"h1", "h2", "h3", "h4", "h5"} {
		hosts = append(hosts, patchpilot.Host{Name: h})
	}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	openssl := patchpilot.Update{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: "3.0.2", Security: true,
		Advisories: []patchpilot.AdvisoryRef{{ID: "RHSA-1", Severity: "Critical"}}}
	zlib := patchpilot.Update{Package: "zlib", InstalledVersion: "1.2", CandidateVersion: "1.3", Security: true,
		Advisories: []patchpilot.AdvisoryRef{{ID: "RHSA-2", Severity: "Important"}}}
	other := patchpilot.Update{Package: "vim", InstalledVersion: "9.0", CandidateVersion: "9.1"} // not security: no deadline
	collect := func(host string, at time.Time, ups ...patchpilot.Update) {
		t.Helper()
		f := patchpilot.Facts{Host: host, CollectedAt: at, Source: "ssh", OSFamily: patchpilot.FamilyRedHat,
			OSName: "rocky", OSVersion: "9.4", Kernel: "5.14", Arch: "x86_64", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.1"}}, Updates: ups}
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := a.recordExposures(ctx, map[string]time.Time{host: at}); err != nil {
			t.Fatal(err)
		}
	}
	collect("h1", t0.Add(day), openssl, other)
	collect("h2", t0.Add(day), openssl)
	collect("h3", t0.Add(2*day), zlib)
	collect("h4", t0.Add(2*day), zlib)
	collect("h1", t0.Add(5*day), other)
	collect("h3", t0.Add(13*day))
	collect("h4", t0.Add(13*day), zlib)
	collect("h2", t0.Add(20*day), openssl)

	rollout := func(id, by string, at time.Time, hosts ...string) {
		t.Helper()
		r := patchpilot.Rollout{ID: id, Plan: storetest.FullPlan(), PlanSource: "name: x\n", State: patchpilot.RolloutSucceeded,
			CreatedBy: by, CreatedAt: at, UpdatedAt: at,
			Stages: []patchpilot.StageRun{{Index: 0, Name: "all", State: patchpilot.StageSucceeded, Hosts: hosts}}}
		if err := st.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rollout("r1", "schedule:nightly", t0.Add(4*day-2*time.Hour), "h1")
	rollout("r2", "user:ann", t0.Add(12*day-2*time.Hour), "h3", "h4")
	rollout("r3", "schedule:nightly", t0.Add(15*day-2*time.Hour), "h1", "h2")
	outcome := func(id, host string, at time.Time, kind patchpilot.OutcomeKind, sev string, pcs ...patchpilot.PackageChange) {
		t.Helper()
		feat, _ := json.Marshal(map[string]string{"severity": sev})
		if err := st.RecordOutcome(ctx, patchpilot.Outcome{Time: at, Rollout: id, Host: host, OS: "rocky:9.4", Packages: pcs,
			Outcome: kind, Features: feat}); err != nil {
			t.Fatal(err)
		}
	}
	sslChange := patchpilot.PackageChange{Name: "openssl", From: "3.0.1", To: "3.0.2"}
	zlibChange := patchpilot.PackageChange{Name: "zlib", From: "1.2", To: "1.3"}
	outcome("r0", "h3", t0.Add(-5*day), patchpilot.OutcomeFailed, "high", zlibChange)
	outcome("r1", "h1", t0.Add(4*day), patchpilot.OutcomeSucceeded, "critical", sslChange,
		patchpilot.PackageChange{Name: "libnew", To: "1.0"}) // a dependency never seen pending: not timed
	outcome("r2", "h3", t0.Add(12*day), patchpilot.OutcomeSucceeded, "high", zlibChange)
	outcome("r2", "h4", t0.Add(12*day), patchpilot.OutcomeRolledBack, "high", zlibChange)
	outcome("r3", "h1", t0.Add(15*day), patchpilot.OutcomeFailed, "", patchpilot.PackageChange{Name: "vim", From: "9.0", To: "9.1"})
	outcome("r3", "h2", t0.Add(15*day), patchpilot.OutcomeUnreachable, "critical", sslChange)

	event := func(e patchpilot.Event) {
		t.Helper()
		if e.Actor == "" {
			e.Actor = "controller"
		}
		if _, err := st.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	hostEv := func(r, h, state string, at time.Time) {
		event(patchpilot.Event{Time: at, Kind: patchpilot.EventHostState, Rollout: r, Host: h, Message: h + " " + state})
	}
	// A reboot before the period does not count.
	hostEv("r0", "h3", "reboot", t0.Add(-5*day))
	hostEv("r0", "h3", "verify", t0.Add(-5*day+time.Hour))
	d4 := t0.Add(4 * day)
	hostEv("r1", "h1", "apply", d4.Add(-time.Hour))
	hostEv("r1", "h1", "reboot", d4.Add(-50*time.Minute))
	hostEv("r1", "h1", "verify", d4.Add(-45*time.Minute))
	hostEv("r1", "h1", "succeeded", d4.Add(-10*time.Minute))
	event(patchpilot.Event{Time: d4.Add(-3 * time.Hour), Kind: patchpilot.EventApproval, Rollout: "r1",
		Actor: "controller", Message: "stage all approved by " + "policy:auto-approval"})
	d12 := t0.Add(12 * day)
	unhealthy, _ := json.Marshal(patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "p99 up"})
	healthy, _ := json.Marshal(patchpilot.HealthReport{Verdict: patchpilot.Healthy})
	hostEv("r2", "h4", "verify", d12.Add(-40*time.Minute))
	event(patchpilot.Event{Time: d12.Add(-35 * time.Minute), Kind: patchpilot.EventGateVerdict, Rollout: "r2", Host: "h4", Data: healthy})
	event(patchpilot.Event{Time: d12.Add(-30 * time.Minute), Kind: patchpilot.EventGateVerdict, Rollout: "r2", Host: "h4", Data: unhealthy})
	event(patchpilot.Event{Time: d12.Add(-25 * time.Minute), Kind: patchpilot.EventGateVerdict, Rollout: "r2", Host: "h4", Data: unhealthy})
	hostEv("r2", "h4", "rolling_back: unhealthy", d12.Add(-20*time.Minute))
	hostEv("r2", "h4", "rolled_back", d12.Add(-10*time.Minute))
	data, _ := json.Marshal(patchpilot.ApprovalData{Stage: "all", Approver: "token:bob", Required: 1})
	event(patchpilot.Event{Time: t0.Add(15*day - time.Hour), Kind: patchpilot.EventApproval, Rollout: "r3",
		Actor: "controller", Message: "stage all approved by token:bob", Data: data})
	return ctx, a
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestComplianceAgainstSLAs(t *testing.T) {
	ctx, a := kpiHistory(t)
	rep, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SLAState{"h1": SLACompliant, "h2": SLAOut, "h3": SLACompliant, "h4": SLAWithin, "h5": SLAUnknown}
	for h, s := range want {
		got, ok := rep.Host(h)
		if !ok || got.State != s {
			t.Errorf("%s: state %q, want %q", h, got.State, s)
		}
		if got.Group != "default" {
			t.Errorf("%s: group %q", h, got.Group)
		}
	}
	if rep.Totals != (ComplianceTotals{Hosts: 5, Compliant: 2, WithinSLA: 1, OutOfSLA: 1, Unknown: 1, OverdueUpdates: 1}) {
		t.Errorf("totals %+v", rep.Totals)
	}
	h2, _ := rep.Host("h2")
	// Available day 1, critical deadline 7d: day 8; now is day 30.5.
	if len(h2.Overdue) != 1 || h2.Overdue[0].Package != "openssl" || h2.Overdue[0].Severity != "critical" ||
		!h2.Overdue[0].Deadline.Equal(t0.Add(8*day)) || h2.Overdue[0].Overdue() != 22*day+12*time.Hour {
		t.Errorf("h2 overdue %+v", h2.Overdue)
	}
	h4, _ := rep.Host("h4")
	if h4.EarliestDeadline == nil || !h4.EarliestDeadline.Equal(t0.Add(32*day)) || h4.Pending != 1 {
		t.Errorf("h4 %+v", h4)
	}
	if out := rep.OutOfSLA(); len(out) != 1 || out[0].Host != "h2" {
		t.Errorf("out of SLA %+v", out)
	}
	if !near(rep.Totals.InSLAShare(), 0.75) {
		t.Errorf("in-SLA share %v", rep.Totals.InSLAShare())
	}

	// A group's tighter SLA makes h4 (high, available day 2) overdue
	// after 10 days.
	a.Options.Policy = Policy{Groups: []PolicyGroup{{Name: "tight", Selector: "name=h4", SLA: SLA{High: 10 * day}}}}
	rep, err = a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h4, _ := rep.Host("h4"); h4.State != SLAOut || h4.Group != "tight" || h4.Overdue[0].Overdue() != 18*day+12*time.Hour {
		t.Errorf("h4 under a 10d high SLA: %+v", h4)
	}
}

func TestKPIsOnGeneratedHistory(t *testing.T) {
	ctx, a := kpiHistory(t)
	rep, err := a.KPIs(ctx, KPIQuery{From: t0})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.To.Equal(t0.Add(30*day + 12*time.Hour)) {
		t.Errorf("To = %v, want now", rep.To)
	}
	ttp := map[string]TimeToPatch{}
	for _, x := range rep.TimeToPatch {
		ttp[x.Severity] = x
	}
	if c := ttp["critical"]; c.Count != 1 || c.Mean() != 3*day || c.P90() != 3*day {
		t.Errorf("critical time to patch %+v", c)
	}
	if h := ttp["high"]; h.Count != 1 || h.Mean() != 10*day {
		t.Errorf("high time to patch %+v", h)
	}
	if al := ttp["all"]; al.Count != 2 || al.Mean() != 6*day+12*time.Hour || al.P90() != 10*day {
		t.Errorf("all time to patch %+v", al)
	}
	if m := ttp["medium"]; m.Count != 0 || m.MeanSeconds != 0 {
		t.Errorf("medium %+v", m)
	}

	if rep.Patches != (PatchCounts{Total: 5, Succeeded: 2, Failed: 1, RolledBack: 1, Unreachable: 1}) {
		t.Errorf("patches %+v", rep.Patches)
	}
	// Failed and rolled back, of the four that reached their host.
	if !near(rep.ChangeFailureRate, 0.5) || rep.Rollbacks != 1 || rep.RolledBackRollouts != 1 {
		t.Errorf("change failure rate %v, rollbacks %d/%d", rep.ChangeFailureRate, rep.Rollbacks, rep.RolledBackRollouts)
	}
	if rep.Downtime != (Downtime{Reboots: 1, RebootSeconds: 300, Unhealthy: 1, UnhealthySeconds: 20 * 60}) {
		t.Errorf("downtime %+v", rep.Downtime)
	}
	// Only r1's one host patch needed no person.
	if rep.Unattended != 1 || !near(rep.UnattendedShare, 0.2) {
		t.Errorf("unattended %d (%v)", rep.Unattended, rep.UnattendedShare)
	}

	wantWeeks := []int{0, 1, 1, 0, 0, 0}
	if len(rep.Weekly) != len(wantWeeks) || !rep.Weekly[0].Week.Equal(time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("weeks %+v", rep.Weekly)
	}
	for i, w := range wantWeeks {
		if rep.Weekly[i].Hosts != w || rep.Weekly[i].Patches != w {
			t.Errorf("week %s: %+v, want %d", rep.Weekly[i].Week.Format("2006-01-02"), rep.Weekly[i], w)
		}
	}

	if len(rep.Compliance) != 31 {
		t.Fatalf("%d compliance days, want 31", len(rep.Compliance))
	}
	for i, d := range rep.Compliance {
		var want ComplianceDay
		share := func(v float64) *float64 { return &v }
		switch {
		case i == 0:
			want = ComplianceDay{Unknown: 5}
		case i == 1:
			want = ComplianceDay{Hosts: 2, InSLA: 2, Unknown: 3, Share: share(1)}
		case i < 8:
			want = ComplianceDay{Hosts: 4, InSLA: 4, Unknown: 1, Share: share(1)}
		default:
			want = ComplianceDay{Hosts: 4, InSLA: 3, OutOfSLA: 1, Unknown: 1, Share: share(0.75)}
		}
		sameShare := (d.Share == nil) == (want.Share == nil) && (d.Share == nil || near(*d.Share, *want.Share))
		if d.Hosts != want.Hosts || d.InSLA != want.InSLA || d.OutOfSLA != want.OutOfSLA || d.Unknown != want.Unknown || !sameShare {
			t.Errorf("day %d (%s): %+v, want %+v", i, d.Day.Format("2006-01-02"), d, want)
		}
	}
	ch := rep.Charts()
	if len(ch.Weekly.Categories) != 6 || ch.Weekly.Series[0].Values[1] != 1 {
		t.Errorf("weekly chart %+v", ch.Weekly)
	}
	// Day 0 knew no host: a gap, so the line starts on day 1.
	if pts := ch.Compliance.Series[0].Points; len(pts) != 31 || !math.IsNaN(pts[0].Y) || pts[30].Y != 0.75 {
		t.Errorf("compliance chart points %+v", pts)
	}
	if svg := string(ch.Outcomes.SVG()); !strings.Contains(svg, ">rolled back<") || strings.Contains(svg, "no data") {
		t.Errorf("outcomes chart:\n%s", svg)
	}
	if last := rep.Compliance[30]; !last.At.Equal(rep.To) {
		t.Errorf("last day measured at %v, want To", last.At)
	}
}

func TestKPIsEmptyPeriodAndBadQuery(t *testing.T) {
	ctx, a := kpiHistory(t)
	rep, err := a.KPIs(ctx, KPIQuery{From: t0.Add(-60 * day), To: t0.Add(-50 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Patches.Total != 0 || rep.ChangeFailureRate != 0 || rep.UnattendedShare != 0 || rep.Downtime != (Downtime{}) {
		t.Errorf("empty period: %+v", rep)
	}
	for _, x := range rep.TimeToPatch {
		if x.Count != 0 {
			t.Errorf("empty period time to patch %+v", x)
		}
	}
	for _, d := range rep.Compliance {
		if d.Hosts != 0 || d.Unknown != 5 || d.Share != nil {
			t.Errorf("empty period compliance %+v", d)
		}
	}
	if len(rep.Compliance) != 11 {
		t.Errorf("%d days in a 10-day period starting at midnight, want 11", len(rep.Compliance))
	}
	if _, err := a.KPIs(ctx, KPIQuery{From: t0, To: t0.Add(-day)}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("a period ending before it starts: %v", err)
	}
	// A period of no time ("--since 0d") measures nothing: refused, not
	// a report whose shares of nothing read as measured.
	if _, err := a.KPIs(ctx, KPIQuery{From: t0, To: t0}); patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "shorter than a minute") {
		t.Errorf("a period of no time: %v", err)
	}
	if _, err := a.KPIs(ctx, KPIQuery{From: t0, To: t0.Add(time.Minute)}); err != nil {
		t.Errorf("a period of a minute: %v", err)
	}
	// The clock of kpiHistory is t0+30d12h: a period ending in the future
	// is refused, and one given by its end alone is the 30 days before it.
	if _, err := a.KPIs(ctx, KPIQuery{To: t0.Add(40 * day)}); patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "after now") {
		t.Errorf("a period ending in the future: %v", err)
	}
	if rep, err := a.KPIs(ctx, KPIQuery{To: t0.Add(20 * day)}); err != nil || !rep.From.Equal(t0.Add(-10*day)) {
		t.Errorf("a period given by its end: from %v, %v; want 30 days before it", rep.From, err)
	}
}

// Importing advisories rates and dates pending updates: compliance over
// time measures every collected host again as of the import, so that its
// last day agrees with compliance now.
func TestAdvisoryImportRemeasuresExposures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "web-1"}}); err != nil {
		t.Fatal(err)
	}
	f := patchpilot.Facts{Host: "web-1", CollectedAt: now.Add(-time.Hour), Source: "ssh", OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12", Kernel: "6.1", Arch: "amd64", PackagesKnown: true, UpdatesKnown: true,
		Packages: []patchpilot.Package{{Name: "expat", Version: "2.5.0-1", SourceName: "expat"}},
		Updates: []patchpilot.Update{{Package: "expat", SourcePackage: "expat", InstalledVersion: "2.5.0-1",
			CandidateVersion: "2.5.0-1+deb12u1", Security: true}}}
	if err := a.Store.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := a.recordExposures(ctx, map[string]time.Time{"web-1": f.CollectedAt}); err != nil {
		t.Fatal(err)
	}
	lastDay := func() ComplianceDay {
		t.Helper()
		rep, err := a.KPIs(ctx, KPIQuery{From: now.Add(-2 * day), To: now})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Compliance[len(rep.Compliance)-1]
	}
	// Unrated, the update has no deadline.
	if d := lastDay(); d.InSLA != 1 || d.OutOfSLA != 0 {
		t.Fatalf("before the import: %+v; want the host within its SLA", d)
	}
	osvFile := filepath.Join(dir, "DSA-1.json")
	if err := os.WriteFile(osvFile, []byte(`{"id": "DSA-1", "published": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
		"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		"affected": [{"package": {"ecosystem": "Debian:12", "name": "expat"},
			"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.5.0-1+deb12u1"}]}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, written, err := a.ImportAdvisories(ctx, osvFile); err != nil || written != 1 {
		t.Fatalf("import: %d written, %v", written, err)
	}
	now2, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now2.Totals.OutOfSLA != 1 {
		t.Fatalf("compliance now after the import: %+v; want the host out of its SLA (a critical fix published in January)", now2.Totals)
	}
	if d := lastDay(); d.OutOfSLA != 1 || d.InSLA != 0 {
		t.Errorf("compliance over time after the import, last day: %+v; want it to agree with compliance now (out of SLA)", d)
	}
}

// The KPIs of a period are kept while the data they read is unchanged,
// and measured again when an outcome of the period is recorded.
func TestKPIsKeptUntilOutcomesChange(t *testing.T) {
	ctx, a := kpiHistory(t)
	q := KPIQuery{From: t0, To: t0.Add(20 * day)}
	first, err := a.KPIs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.KPIs(ctx, q)
	if err != nil || again.Patches.Total != first.Patches.Total {
		t.Fatalf("the same period again: %+v, %v", again.Patches, err)
	}
	if err := a.Store.RecordOutcome(ctx, patchpilot.Outcome{Time: t0.Add(10 * day), Rollout: "r9", Host: "h5",
		Outcome: patchpilot.OutcomeFailed, Packages: []patchpilot.PackageChange{{Name: "vim", From: "9.0", To: "9.1"}}}); err != nil {
		t.Fatal(err)
	}
	after, err := a.KPIs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if after.Patches.Total != first.Patches.Total+1 || after.Patches.Failed != first.Patches.Failed+1 {
		t.Errorf("after an outcome in the period: %+v; want one more failed patch than %+v", after.Patches, first.Patches)
	}
}

// TestChangeFailureRateLeavesOutFailuresBeforeAnyChange: a host patch
// that failed before anything changed on its host (a preflight that
// failed, a host never collected) is counted among the failed host
// patches, and said to be one that failed before any change, but it made
// no change, so the change failure rate leaves it out as it leaves out
// the unreachable.
func TestChangeFailureRateLeavesOutFailuresBeforeAnyChange(t *testing.T) {
	ctx, a := kpiHistory(t)
	if err := a.Store.RecordOutcome(ctx, patchpilot.Outcome{Time: t0.Add(15 * day), Rollout: "r3", Host: "h3", OS: "rocky:9.4",
		Outcome: patchpilot.OutcomeFailed, Reason: "preflight: dnf is locked",
		Unrelated: patchpilot.UnrelatedBeforeChange + ": preflight: dnf is locked"}); err != nil {
		t.Fatal(err)
	}
	rep, err := a.KPIs(ctx, KPIQuery{From: t0})
	if err != nil {
		t.Fatal(err)
	}
	if want := (PatchCounts{Total: 6, Succeeded: 2, Failed: 2, RolledBack: 1, Unreachable: 1, FailedBeforeChange: 1}); rep.Patches != want {
		t.Errorf("patches %+v, want %+v", rep.Patches, want)
	}
	// Still one failed and one rolled back of the four that changed
	// their host.
	if !near(rep.ChangeFailureRate, 0.5) {
		t.Errorf("change failure rate %v, want 0.5", rep.ChangeFailureRate)
	}
	if got, want := FormatPatchCounts(rep.Patches), "6: 2 succeeded, 2 failed (1 before any change), 1 rolled back, 0 rollback failed, 1 unreachable"; got != want {
		t.Errorf("the reports' host patches read %q, want %q", got, want)
	}
}
