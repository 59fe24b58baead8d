package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// plan explains in each stage's comments where the dependency map put the
// hosts: the provider lab02 out of the first stage, after its dependents.
func TestPlanExplainsTheDependencyOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.home, "data", "patchpilot", "patchpilot.db"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := []patchpilot.Host{
		{Name: "lab01", Labels: map[string]string{"env": "lab", patchpilot.LabelDependsOn: "lab02:8080"}},
		{Name: "lab02", Labels: map[string]string{"env": "lab"}},
		{Name: "lab03", Labels: map[string]string{"env": "lab"}},
	}
	if err := db.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}},
			Updates:  []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}}
		if err := db.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	out := e.mustRun("plan", "--patch", "pp-demo-web=1.1.0", "--targets", "env=lab")
	t.Logf("plan:\n%s", out)
	for _, want := range []string{
		"# stage validation: lab01\n",
		"kept out of the canary stages, as other hosts depend on them: lab02 (lab01 depends on lab02:8080)",
		"#   lab02 after lab01: lab01 depends on lab02:8080\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not say %q:\n%s", want, out)
		}
	}
	var res struct {
		Stages []struct {
			Name    string   `json:"name"`
			Hosts   []string `json:"hosts"`
			Reasons []string `json:"reasons"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("plan", "--patch", "pp-demo-web=1.1.0", "--targets", "env=lab", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Stages) < 2 || slices.Contains(res.Stages[0].Hosts, "lab02") {
		t.Errorf("stages %+v: want lab02 out of the first stage", res.Stages)
	}
}
