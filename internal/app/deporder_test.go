package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// A proposed plan, and the rollout started from it, put the host others
// depend on after its dependents, and the plan's header says why.
func TestProposePlanOrdersByDependencies(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{
		{Name: "web1", Labels: map[string]string{"role": "web"}},
		{Name: "web2", Labels: map[string]string{"role": "web", patchpilot.LabelDependsOn: "web1"}},
		{Name: "web3", Labels: map[string]string{"role": "web", patchpilot.LabelDependsOn: "web1:8080, nowhere:22"}},
		{Name: "web4", Labels: map[string]string{"role": "web"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}}, Services: []string{"pp-demo-web.service"},
			Updates: []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1.1.0"}}}
	prop, err := a.ProposePlan(ctx, patch, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	if len(prop.Stages) != len(prop.Plan.Stages) || len(prop.Stages) < 2 {
		t.Fatalf("stages %+v for plan stages %d", prop.Stages, len(prop.Plan.Stages))
	}
	order := func(stages [][]string) []string {
		var out []string
		for _, s := range stages {
			out = append(out, s...)
		}
		return out
	}
	var proposed [][]string
	for _, s := range prop.Stages {
		proposed = append(proposed, s.Hosts)
	}
	all := order(proposed)
	t.Logf("header:\n%s", strings.Join(prop.Header, "\n"))
	if slices.Contains(prop.Stages[0].Hosts, "web1") {
		t.Errorf("the provider web1 is in the first stage: %v", proposed)
	}
	if i := slices.Index(all, "web1"); i < slices.Index(all, "web2") || i < slices.Index(all, "web3") {
		t.Errorf("web1 goes before a dependent: %v", proposed)
	}
	header := strings.Join(prop.Header, "\n")
	for _, want := range []string{"stage " + prop.Stages[0].Name + ": ", "  web1 after ", "web2 depends on web1", "web3 depends on web1:8080"} {
		if !strings.Contains(header, want) {
			t.Errorf("the header does not say %q:\n%s", want, header)
		}
	}

	src, err := planner.Marshal(prop.Plan)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.StartRollout(ctx, a.Engine(EngineOptions{}), prop.Plan, src, StartOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.RolloutStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var started [][]string
	for _, s := range st.Stages {
		started = append(started, s.StageRun.Hosts)
	}
	if !slices.Equal(order(started), all) {
		t.Errorf("the rollout's stages %v differ from the proposal's %v", started, proposed)
	}

	// order: ignore gives the old order: web1 first by name.
	prop.Plan.Order.Dependencies = patchpilot.OrderIgnore
	views, err := a.HostViews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := planner.ResolveFleet(prop.Plan, views)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rp.Stages[0].Hosts, "web1") {
		t.Errorf("order: ignore: first stage %v, want web1 as without a map", rp.Stages[0].Hosts)
	}
}

// The assessment of an update on a host others depend on states its blast
// radius, from the dependency map at assess time.
func TestAssessBlastRadius(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{
		{Name: "web1"},
		{Name: "web2", Labels: map[string]string{patchpilot.LabelDependsOn: "web1:pp-demo-web"}},
		{Name: "web3", Labels: map[string]string{patchpilot.LabelDependsOn: "web1"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}}, Services: []string{"pp-demo-web.service"},
			Updates: []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.Assess(ctx, AssessQuery{Patch: "pp-demo-web=1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := "2 hosts depend on services it touches: web2 → pp-demo-web; web3 → web1"
	for _, h := range res.Patches[0].Hosts {
		var blast []string
		for _, r := range h.Reasons {
			if r.Direction == "context" {
				blast = append(blast, r.String())
			}
		}
		switch h.Host {
		case "web1":
			if len(blast) != 1 || blast[0] != want || h.BlastRadius == nil || h.BlastRadius.Hosts != 2 {
				t.Errorf("web1: blast reasons %q (%+v), want %q", blast, h.BlastRadius, want)
			}
		default:
			if len(blast) != 0 || h.BlastRadius != nil {
				t.Errorf("%s, on which nothing depends: %q", h.Host, blast)
			}
		}
	}
	pr, err := a.AssessPatchOn(ctx, patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1.1.0"}}}, []string{"web1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Hosts) != 1 || pr.Hosts[0].BlastRadius == nil || !strings.Contains(strings.Join(riskHeader(pr), "\n"), "reason: "+want) {
		t.Errorf("the plan's risk header does not state the blast radius:\n%s", strings.Join(riskHeader(pr), "\n"))
	}
}
