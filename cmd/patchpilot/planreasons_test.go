package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// budgetFleet stores lab01 to lab03, lab02 and lab03 serving pp-demo-web
// on 8080 and lab01 depending on lab02, and returns the database.
func budgetFleet(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(e.home, "fleet.db")
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	port := closedPort(t)
	hosts := []patchpilot.Host{
		{Name: "lab01", Address: "127.0.0.1", Port: port, Labels: map[string]string{"env": "lab", patchpilot.LabelDependsOn: "lab02:8080"}},
		{Name: "lab02", Address: "127.0.0.1", Port: port, Labels: map[string]string{"env": "lab"}},
		{Name: "lab03", Address: "127.0.0.1", Port: port, Labels: map[string]string{"env": "lab"}},
	}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}},
			Updates:  []patchpilot.Update{{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}},
			Depth:    &patchpilot.HostDepth{}}
		if h.Name != "lab01" {
			f.Depth.Services = []patchpilot.ServiceDetail{{Unit: "pp-demo-web.service", Listens: []patchpilot.Socket{{Port: 8080}}}}
		}
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// A hand-written plan is explained as 'plan' explains its own: policy
// check and rollout start --dry-run print each stage's reasons (the
// dependency order, the budgets that hold its hosts), and a budget whose
// service covers none of the targets is a warning.
func TestHandWrittenPlanReasonsAndBudgetWarnings(t *testing.T) {
	e := newEnv(t)
	db := budgetFleet(t, e)
	plan := filepath.Join(e.home, "plan.yaml")
	writeFile(t, plan, `rollout:
  patch: {packages: ["pp-demo-web=1.1.0"]}
  targets: {selector: "env=lab"}
  stages:
    - {name: validation, targets: 1}
    - {name: final, targets: rest}
  budgets:
    - {service: nosuchunit, max_unavailable: 1}
    - {service: "pp-demo-web:8080", max_unavailable: 1}
`)
	const (
		warning = "budget 1 (service: nosuchunit, max_unavailable: 1) covers none of the 3 target hosts: none runs unit nosuchunit"
		order   = "lab02 after lab01: lab01 depends on lab02:pp-demo-web:8080"
		budget  = "budget 2 (service: pp-demo-web:8080, max_unavailable: 1) holds lab02, lab03 (of 2 target hosts it covers: at most 1 unavailable at a time)"
	)
	check := e.runIn("policy", "check", plan, "--db", db)
	t.Logf("policy check:\n%s", check.stdout)
	if check.code != 0 {
		t.Fatalf("policy check: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}
	for _, want := range []string{"WARNING     " + warning, order, budget} {
		if !strings.Contains(check.stdout, want) {
			t.Errorf("policy check does not say %q:\n%s", want, check.stdout)
		}
	}
	var rep struct {
		Stages []struct {
			Name    string   `json:"name"`
			Reasons []string `json:"reasons"`
		} `json:"stages"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("policy", "check", plan, "--db", db, "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Stages) != 2 || !strings.Contains(strings.Join(rep.Stages[1].Reasons, "\n"), budget) ||
		len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], warning) {
		t.Errorf("policy check -o json: stages %+v, warnings %q", rep.Stages, rep.Warnings)
	}

	knownHosts := filepath.Join(e.home, "known_hosts")
	writeFile(t, knownHosts, "")
	dry := e.runIn("rollout", "start", plan, "--dry-run", "--db", db, "--known-hosts", knownHosts, "--connect-timeout", "2s")
	for _, want := range []string{"stage final: lab02,lab03\n", order, budget, "warning: " + warning} {
		if !strings.Contains(dry.stderr, want) {
			t.Errorf("rollout start --dry-run does not say %q (exit %d):\n%s", want, dry.code, dry.stderr)
		}
	}
}

// A budget's service that is a bare number is refused with the line and
// the port as it should be written.
func TestBudgetServiceBareNumberRefused(t *testing.T) {
	e := newEnv(t)
	db := budgetFleet(t, e)
	plan := filepath.Join(e.home, "plan.yaml")
	writeFile(t, plan, "rollout:\n  patch: {packages: [\"pp-demo-web=1.1.0\"]}\n  targets: {selector: \"env=lab\"}\n"+
		"  stages:\n    - {name: all, targets: rest}\n  budgets:\n    - {service: 8080, max_unavailable: 1}\n")
	for _, args := range [][]string{{"policy", "check", plan}, {"rollout", "start", plan, "--dry-run"}} {
		r := e.runIn(append(args, "--db", db)...)
		if r.code != 2 || !strings.Contains(r.stderr, "plan.yaml:7:17: budget 1: service: service 8080 is a bare number") || !strings.Contains(r.stderr, `":8080"`) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

// assess names the host that holds a pinned package, and its error for
// that host alone says the package is held there.
func TestAssessNamesHeldHost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := filepath.Join(e.home, "fleet.db")
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []patchpilot.Host{{Name: "lab01"}, {Name: "lab02"}}
	if err := st.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-libdemo", Version: "1.0.0"}}, Depth: &patchpilot.HostDepth{}}
		if h.Name == "lab01" {
			f.Updates = []patchpilot.Update{{Package: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}
		} else {
			f.Depth.Held = []string{"pp-libdemo"}
		}
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out := e.runIn("assess", "--patch", "pp-libdemo=1.1.0", "--db", db)
	if out.code != 0 || !strings.Contains(out.stdout, "note: left out lab02: pp-libdemo is held there") ||
		!strings.Contains(out.stdout, "'apt-mark unhold pp-libdemo' releases it") {
		t.Errorf("assess: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	var res struct {
		Held []struct{ Host, Package, Release string } `json:"held"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("assess", "--patch", "pp-libdemo=1.1.0", "--db", db, "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Held) != 1 || res.Held[0].Host != "lab02" || res.Held[0].Release != "apt-mark unhold pp-libdemo" {
		t.Errorf("assess -o json: held %+v", res.Held)
	}
	one := e.runIn("assess", "--patch", "pp-libdemo=1.1.0", "--host", "lab02", "--db", db)
	if one.code != 4 || !strings.Contains(one.stderr, "no pending update matches") || !strings.Contains(one.stderr, "pp-libdemo is held on lab02 ('apt-mark unhold pp-libdemo' releases it)") {
		t.Errorf("assess --host lab02: exit %d\n%s", one.code, one.stderr)
	}
}
