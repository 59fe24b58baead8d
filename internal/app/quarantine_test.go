package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// quarantineFleet stores web1..web3 (debian 12, role web, tier a), db1
// (debian 12, role db) and old1 (debian 11, role web), each with
// pp-demo-web 1.0.0 installed and 1.1.4 pending.
func quarantineFleet(t *testing.T) (context.Context, *App) {
	t.Helper()
	ctx, a, _ := openTestApp(t)
	type spec struct{ name, role, version, tier string }
	fleet := []spec{{"web1", "web", "12", "a"}, {"web2", "web", "12", "a"}, {"web3", "web", "12", "a"},
		{"db1", "db", "12", "b"}, {"old1", "web", "11", "b"}}
	for _, s := range fleet {
		h := patchpilot.Host{Name: s.name, Labels: map[string]string{"role": s.role, "tier": s.tier}}
		if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{h}); err != nil {
			t.Fatal(err)
		}
		f := patchpilot.Facts{Host: s.name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: s.version, PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}},
			Updates:  []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.4"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, a
}

// webOutcome is an outcome of pp-demo-web 1.0.0 → version on a debian 12
// web host.
func webOutcome(rollout, host, version string, kind patchpilot.OutcomeKind, at time.Time) patchpilot.Outcome {
	return patchpilot.Outcome{Time: at, Rollout: rollout, Host: host, OS: "debian:12", Labels: map[string]string{"role": "web"},
		Packages: []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: version}},
		Outcome:  kind, Reason: "canary:latency_mean fail", GateResults: []patchpilot.GateResult{}}
}

func pinPatch(name, version string) patchpilot.PatchSpec {
	return patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: name, Version: version}}}
}

func quarantinedHosts(t *testing.T, ctx context.Context, a *App, patch string) []string {
	t.Helper()
	res, err := a.Assess(ctx, AssessQuery{Patch: patch})
	if err != nil {
		t.Fatalf("assess %s: %v", patch, err)
	}
	if len(res.Patches) != 1 {
		t.Fatalf("assess %s: %d patches, want 1", patch, len(res.Patches))
	}
	var out []string
	for _, q := range res.Patches[0].Quarantined {
		out = append(out, q.Host)
	}
	slices.Sort(out)
	return out
}

// TestQuarantine: a version rolled back on a debian 12 web host is
// quarantined for that class only: assess marks the class's hosts and no
// other, a newer version and a version whose rollback was unrelated to
// the patch are not quarantined, plan leaves the class's hosts out (and
// refuses when they are all the targets, unless told to keep them), and a
// person's clearance lifts it, recorded with who, until the next failure.
func TestQuarantine(t *testing.T) {
	ctx, a := quarantineFleet(t)
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, o := range []patchpilot.Outcome{
		webOutcome("r-1", "web1", "1.1.3", patchpilot.OutcomeRolledBack, t0),
		webOutcome("r-1", "web2", "1.1.3", patchpilot.OutcomeSucceeded, t0),
		func() patchpilot.Outcome {
			o := webOutcome("r-2", "web2", "1.1.2", patchpilot.OutcomeRolledBack, t0)
			o.Unrelated = "fault injected in the lab"
			return o
		}(),
	} {
		if err := a.Store.RecordOutcome(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	qs, err := a.Quarantines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 {
		t.Fatalf("quarantines %+v, want pp-demo-web 1.1.3 on debian:12/web only", qs)
	}
	q := qs[0]
	if q.Package != "pp-demo-web" || q.Version != "1.1.3" || q.Class != "debian:12/web" || q.Rollout != "r-1" ||
		q.Host != "web1" || q.Failures != 1 || q.Outcome != patchpilot.OutcomeRolledBack {
		t.Fatalf("quarantine %+v", q)
	}
	text := q.Text()
	for _, want := range []string{"quarantined: pp-demo-web 1.1.3 rolled back on debian:12/web (rollout r-1, host web1, " + t0.Format(time.DateOnly) + ")",
		"clear with patchpilot quarantine clear pp-demo-web=1.1.3 --class debian:12/web"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	// The command shown is one that runs: 'quarantine clear' needs --reason.
	if !strings.Contains(q.Clear, " --reason ") {
		t.Errorf("clear command %q lacks the --reason that 'quarantine clear' requires", q.Clear)
	}

	// assess: the class's hosts, not db1 (another role) nor old1 (another
	// release); neither the newer version nor the unrelated rollback.
	if got, want := quarantinedHosts(t, ctx, a, "pp-demo-web=1.1.3"), []string{"web1", "web2", "web3"}; !slices.Equal(got, want) {
		t.Errorf("1.1.3 quarantined on %v, want %v", got, want)
	}
	if got := quarantinedHosts(t, ctx, a, "pp-demo-web=1.1.4"); len(got) != 0 {
		t.Errorf("the newer 1.1.4 is quarantined on %v", got)
	}
	if got := quarantinedHosts(t, ctx, a, "pp-demo-web=1.1.2"); len(got) != 0 {
		t.Errorf("1.1.2, rolled back for a reason unrelated to the patch, is quarantined on %v", got)
	}
	// The assessment of every pending update (cached) is marked too.
	all, err := a.Assess(ctx, AssessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Patches {
		if len(p.Quarantined) != 0 {
			t.Errorf("%s: quarantined %+v; 1.1.4 is pending, not 1.1.3", p.Patch, p.Quarantined)
		}
	}

	// plan: the class's hosts are left out with a warning.
	prop, err := a.ProposePlan(ctx, pinPatch("pp-demo-web", "1.1.3"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(prop.Targets)); !slices.Equal(got, []string{"db1", "old1"}) {
		t.Errorf("plan targets %v, want db1 and old1", got)
	}
	if got := slices.Sorted(slices.Values(prop.Plan.Targets.Hosts)); !slices.Equal(got, []string{"db1", "old1"}) {
		t.Errorf("the plan's targets name %v, want db1 and old1", got)
	}
	warnings := strings.Join(prop.Warnings, "\n")
	if !strings.Contains(warnings, "left out web1: quarantined: pp-demo-web 1.1.3 rolled back on debian:12/web") ||
		!strings.Contains(strings.Join(prop.Header, "\n"), "warning: left out web3: quarantined") {
		t.Errorf("warnings:\n%s\nheader:\n%s", warnings, strings.Join(prop.Header, "\n"))
	}
	_, err = a.ProposePlan(ctx, pinPatch("pp-demo-web", "1.1.3"), "tier=a")
	if patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN || !strings.Contains(err.Error(), "quarantined") ||
		!strings.Contains(patchpilot.ErrorHint(err), "--allow-quarantined") {
		t.Errorf("a plan whose every target is quarantined: %v (hint %q), want forbidden", err, patchpilot.ErrorHint(err))
	}
	kept, err := a.ProposePlanWith(ctx, pinPatch("pp-demo-web", "1.1.3"), "tier=a", ProposeOptions{AllowQuarantined: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Targets) != 3 || len(kept.Plan.Targets.Hosts) != 0 || !strings.Contains(strings.Join(kept.Warnings, "\n"), "kept web2 (--allow-quarantined)") {
		t.Errorf("--allow-quarantined: targets %v, plan hosts %v, warnings %v", kept.Targets, kept.Plan.Targets.Hosts, kept.Warnings)
	}
	if newer, err := a.ProposePlan(ctx, pinPatch("pp-demo-web", "1.1.4"), "tier=a"); err != nil || len(newer.Targets) != 3 {
		t.Errorf("the newer version's plan: %v targets, %v", newer.Targets, err)
	}

	// clear: the wrong class is not found and names the right one.
	_, err = a.ClearQuarantine(ctx, QuarantineClear{Package: "pp-demo-web", Version: "1.1.3", Class: "debian:12/db", Reason: "fixed", Actor: "user:ann"})
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(patchpilot.ErrorHint(err), "debian:12/web") {
		t.Errorf("clear on another class: %v (hint %q), want not found naming debian:12/web", err, patchpilot.ErrorHint(err))
	}
	if _, err := a.ClearQuarantine(ctx, QuarantineClear{Package: "pp-demo-web", Version: "1.1.3", Class: "debian:12/web"}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("clear without an actor: %v, want invalid", err)
	}
	res, err := a.ClearQuarantine(ctx, QuarantineClear{Package: "pp-demo-web", Version: "1.1.3", Class: "debian:12/web",
		Reason: "latency fixed by config", Actor: "user:ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lifted) != 1 || res.Clearance.ClearedBy != "user:ann" || res.Clearance.Reason != "latency fixed by config" {
		t.Errorf("clearance %+v", res)
	}
	if qs, _ := a.Quarantines(ctx); len(qs) != 0 {
		t.Errorf("after the clearance: %+v", qs)
	}
	if got := quarantinedHosts(t, ctx, a, "pp-demo-web=1.1.3"); len(got) != 0 {
		t.Errorf("cleared 1.1.3 still quarantined on %v", got)
	}
	clears, err := a.QuarantineClearances(ctx)
	if err != nil || len(clears) != 1 || clears[0].ClearedBy != "user:ann" || clears[0].Class != "debian:12/web" {
		t.Errorf("stored clearances %+v, %v", clears, err)
	}
	audit, err := a.Store.Audit(ctx, patchpilot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var okClears int
	for _, e := range audit {
		if e.Action == "quarantine.clear" && e.Actor == "user:ann" && e.Outcome == "ok" && strings.Contains(e.Target, "pp-demo-web=1.1.3") {
			okClears++
		}
	}
	if okClears != 1 {
		t.Errorf("audit log %+v, want one quarantine.clear by user:ann", audit)
	}

	// A failure after the clearance quarantines the version again.
	if err := a.Store.RecordOutcome(ctx, webOutcome("r-3", "web3", "1.1.3", patchpilot.OutcomeFailed, time.Now().UTC().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if qs, _ := a.Quarantines(ctx); len(qs) != 1 || qs[0].Host != "web3" || qs[0].Failures != 1 {
		t.Errorf("after a new failure: %+v, want 1.1.3 quarantined again by web3's failure", qs)
	}
}

// TestParseClass reads OS/ROLE and refuses anything else, naming the flag.
func TestParseClass(t *testing.T) {
	if c, err := ParseClass("debian:12/web"); err != nil || c != "debian:12/web" {
		t.Errorf("debian:12/web: %q, %v", c, err)
	}
	for _, bad := range []string{"", "debian:12", "/web", "debian:12/", "debian 12/web"} {
		if _, err := ParseClass(bad); patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "--class") {
			t.Errorf("%q: %v, want invalid naming --class", bad, err)
		}
	}
	if got := patchpilot.ClassOf("", nil); got != "-/-" {
		t.Errorf("class of nothing known: %q", got)
	}
}

// TestPredictionsReachOutcomesAndCalibration: a rollout stores the
// model's probability for each target host's patch when it starts, the
// outcome of each host it reaches carries it with the model's version,
// and the calibration of 'model status' counts the stored predictions
// against the outcomes, leaving out those unrelated to the patch.
func TestPredictionsReachOutcomesAndCalibration(t *testing.T) {
	ctx, a := quarantineFleet(t)
	prop, err := a.ProposePlan(ctx, pinPatch("pp-demo-web", "1.1.4"), "tier=a")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := a.Model(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eng := a.Engine(EngineOptions{Dialer: &remoteDialer{}})
	id, err := a.StartRollout(ctx, eng, prop.Plan, nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Predictions) != 3 {
		t.Fatalf("rollout predictions %+v, want one per target", r.Predictions)
	}
	for _, h := range prop.Targets {
		p, ok := r.Predictions[h]
		if !ok || !(p.Probability > 0 && p.Probability < 1) || p.ModelVersion != m.Version {
			t.Errorf("prediction of %s: %+v (found %v), want a probability by model %s", h, p, ok, m.Version)
		}
	}
	// The hosts cannot be reached: the rollout ends with their outcomes.
	if _, err := eng.Run(ctx, id); err != nil {
		t.Logf("run: %v", err)
	}
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) == 0 {
		t.Fatal("the rollout recorded no outcome")
	}
	for _, o := range outs {
		want := r.Predictions[o.Host]
		if o.Predicted == nil || *o.Predicted != want.Probability || o.PredictedBy != want.ModelVersion {
			t.Errorf("outcome of %s: predicted %v by %q, want %v by %q", o.Host, o.Predicted, o.PredictedBy, want.Probability, want.ModelVersion)
		}
	}

	// Calibration on outcomes with a stored prediction: two related ones
	// in a low bucket (one failed), one unrelated left out, and the
	// rollout's own (unrelated or not, as the engine labelled them).
	p := func(v float64) *float64 { return &v }
	base := time.Now().UTC()
	extra := []patchpilot.Outcome{
		webOutcome("r-a", "web1", "1.1.0", patchpilot.OutcomeSucceeded, base),
		webOutcome("r-a", "web2", "1.1.0", patchpilot.OutcomeRolledBack, base),
		webOutcome("r-a", "web3", "1.1.0", patchpilot.OutcomeRolledBack, base),
		webOutcome("r-b", "web1", "1.1.1", patchpilot.OutcomeSucceeded, base), // no prediction: not counted
	}
	extra[0].Predicted, extra[0].PredictedBy = p(0.02), "m-test"
	extra[1].Predicted, extra[1].PredictedBy = p(0.03), "m-test"
	extra[2].Predicted, extra[2].PredictedBy, extra[2].Unrelated = p(0.03), "m-test", "manual abort"
	if _, err := a.Store.ImportOutcomes(ctx, extra); err != nil {
		t.Fatal(err)
	}
	// The models listed are those of the outcomes counted: the rollout's
	// model only when one of its outcomes is the patch's (an unreachable
	// host is labelled unrelated).
	related, unrelated := 2, 1
	rolloutCounted := false
	for _, o := range outs {
		if o.Unrelated != "" {
			unrelated++
		} else {
			related++
			rolloutCounted = true
		}
	}
	st, err := a.ModelStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fc := st.Fleet
	if fc == nil || fc.Outcomes != related+unrelated || fc.Unrelated != unrelated || fc.Metrics.N != related ||
		!slices.Contains(fc.Models, "m-test") || slices.Contains(fc.Models, m.Version) != rolloutCounted {
		t.Fatalf("fleet calibration %+v, want %d outcomes (%d unrelated) by m-test and %s", fc, related+unrelated, unrelated, m.Version)
	}
	n := 0
	for _, b := range fc.Metrics.Calibration {
		n += b.N
		if b.Lo <= 0.02 && 0.03 < b.Hi && (b.N < 2 || b.Observed <= 0) {
			t.Errorf("the bucket of 2-3%% %+v lacks the two related outcomes, one failed", b)
		}
	}
	if n != related {
		t.Errorf("calibration buckets hold %d outcomes, want %d", n, related)
	}
}
