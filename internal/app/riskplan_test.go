package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// TestProposePlanFollowsTheModel trains a model on a history in which one
// version of a package failed, then proposes plans: the failed version
// gets the manual-review plan (approval before the first stage), a package
// with a clean history a lighter one, and both plans name the model, the
// probability and the reasons in their header.
func TestProposePlanFollowsTheModel(t *testing.T) {
	ctx, a, dir := openTestApp(t)
	var hosts []patchpilot.Host
	for i := 1; i <= 8; i++ {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("web%d", i), Labels: map[string]string{"role": "web", "env": "prod"}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}, {Name: "pp-libdemo", Version: "1.0.0"}},
			Updates: []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.4"},
				{Package: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var hist strings.Builder
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&hist, `{"time":%q,"host":"web%d","labels":{"role":"web"},"package":"pp-libdemo","from_version":"0.9.0","to_version":"1.0.0","outcome":"succeeded"}`+"\n",
			at.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), i%8+1)
	}
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&hist, `{"time":%q,"host":"web%d","labels":{"role":"web"},"package":"pp-demo-web","from_version":"1.0.0","to_version":"1.1.4","outcome":"rolled_back"}`+"\n",
			at.Add(time.Duration(50+i)*time.Hour).Format(time.RFC3339), i+1)
	}
	path := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(path, []byte(hist.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportHistory(ctx, path); err != nil {
		t.Fatal(err)
	}
	st, err := a.TrainModel(ctx)
	if err != nil {
		t.Fatal(err)
	}

	pin := func(name, version string) patchpilot.PatchSpec {
		return patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: name, Version: version}}}
	}
	bad, err := a.ProposePlan(ctx, pin("pp-demo-web", "1.1.4"), "role=web")
	if err != nil {
		t.Fatal(err)
	}
	good, err := a.ProposePlan(ctx, pin("pp-libdemo", "1.1.0"), "role=web")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bad.Risk.Strategy, risk.StrategyManualReview; got != want {
		t.Errorf("failed version: strategy %s, want %s", got, want)
	}
	if bad.Level != patchpilot.RiskHigh || bad.Plan.Stages[0].Approval != patchpilot.ApprovalRequired ||
		bad.Plan.Stages[len(bad.Plan.Stages)-1].Approval != patchpilot.ApprovalRequired {
		t.Errorf("failed version: plan %s with first stage approval %s; want the high-risk plan approved first and last",
			bad.Level, bad.Plan.Stages[0].Approval)
	}
	if good.Risk.Summary.MeanProbability >= bad.Risk.Summary.MeanProbability || good.Level == patchpilot.RiskHigh ||
		good.Plan.Stages[0].Approval == patchpilot.ApprovalRequired {
		t.Errorf("clean package: p %.3f (failed version %.3f), plan %s, first approval %s; want lower, not high, no approval",
			good.Risk.Summary.MeanProbability, bad.Risk.Summary.MeanProbability, good.Level, good.Plan.Stages[0].Approval)
	}
	header := strings.Join(bad.Header, "\n")
	for _, want := range []string{"risk model " + st.ModelVersion, "probability of failure per host", "strategy manual_review_required",
		"reason: ", "warning: pp-demo-web 1.1.4 already failed in 4 of 4 host patches", "rule-based baseline"} {
		if !strings.Contains(header, want) {
			t.Errorf("header does not say %q:\n%s", want, header)
		}
	}
	// The engine's prior for an adaptive rollout is the same assessment.
	prior, err := a.Prior(ctx, bad.Plan, bad.Targets)
	if err != nil {
		t.Fatal(err)
	}
	if prior.ModelVersion != st.ModelVersion || prior.Probability != bad.Risk.Summary.MeanProbability {
		t.Errorf("prior %+v, want model %s, p %.4f", prior, st.ModelVersion, bad.Risk.Summary.MeanProbability)
	}
}
