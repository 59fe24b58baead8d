package main

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// module is this module's path, as go.mod names it.
const module = "github.com/patchpilot/patchpilot"

// allowedImports are the packages of this module the CLI may import:
// internal/app is the one way into the use cases, so that every front end
// (this CLI, an HTTP server standing on internal/app) shares one wiring;
// the root package is the vocabulary the use cases speak; internal/lab
// runs the 'lab' commands, which are test tooling, not use cases.
var allowedImports = map[string]bool{
	module:                      true,
	module + "/internal/app":    true,
	module + "/internal/lab":    true,
	module + "/internal/server": true,
}

// TestImportsOnlyTheApp fails when a non-test file of the CLI imports a
// package of this module other than the app, the root package and the
// lab. Tests may import what they need to set up labs and fixtures.
func TestImportsOnlyTheApp(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
			}
			if (path == module || strings.HasPrefix(path, module+"/")) && !allowedImports[path] {
				t.Errorf("%s imports %s: the CLI reaches the use cases through internal/app only (add what it needs there)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Go files found: the test must run in the package's directory")
	}
}

// seedTrial stores lab01 with labels whose values hold commas, and facts
// whose depth was read an hour before the snapshot (a collection without
// depth carried it forward) listing 25 foreign packages.
func seedTrial(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := patchpilot.Host{Name: "lab01", Address: "127.0.88.1", Labels: map[string]string{
		patchpilot.LabelCompliance: "pci,hipaa", patchpilot.LabelDependsOn: "lab02, lab03"}}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{h, {Name: "lab02"}, {Name: "lab03"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	d := &patchpilot.HostDepth{CollectedAt: now.Add(-time.Hour), Held: []string{"openssl"}}
	for i := range 25 {
		d.Foreign = append(d.Foreign, patchpilot.ForeignPackage{Name: fmt.Sprintf("pkg%02d", i), Version: "1.0",
			Relation: patchpilot.ForeignNoCandidate})
	}
	if err := st.SaveFacts(ctx, patchpilot.Facts{Host: "lab01", CollectedAt: now, OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true, Depth: d}); err != nil {
		t.Fatal(err)
	}
}

func TestHostsShowTrialFindings(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedTrial(t, db)

	show := e.mustRun("hosts", "show", "lab01", "--db", db)
	if !strings.Contains(show, "compliance=pci,hipaa; depends_on=lab02, lab03") {
		t.Errorf("hosts show labels are not separated unambiguously:\n%s", show)
	}
	if !regexp.MustCompile(`In depth:\s+collected \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, before the latest collection`).MatchString(show) {
		t.Errorf("hosts show does not say when depth was collected:\n%s", show)
	}
	if !regexp.MustCompile(`Held:\s+openssl`).MatchString(show) {
		t.Errorf("hosts show lost the carried depth's held packages:\n%s", show)
	}
	if n := strings.Count(show, " no candidate\n"); n != 10 {
		t.Errorf("hosts show lists %d foreign packages, want the first 10:\n%s", n, show)
	}
	if !strings.Contains(show, "… and 15 more of 25 foreign packages (25 no candidate): use -o json for all") {
		t.Errorf("hosts show does not summarise the foreign packages:\n%s", show)
	}
	j := decodeJSON[map[string]any](t, e.mustRun("hosts", "show", "lab01", "--db", db, "-o", "json"))
	if fs := j["facts"].(map[string]any)["depth"].(map[string]any)["foreign"].([]any); len(fs) != 25 {
		t.Errorf("hosts show -o json lists %d foreign packages, want all 25", len(fs))
	}
	if deps, ok := j["dependencies"].(map[string]any); !ok || deps["notes"] == nil || deps["depended_on_by"] == nil {
		t.Errorf("hosts show -o json dependencies = %v, want notes and depended_on_by always present", j["dependencies"])
	}

	list := e.mustRun("hosts", "--db", db)
	if !strings.Contains(list, "compliance=pci,hipaa; depends_on=lab02, lab03") {
		t.Errorf("hosts labels are not separated unambiguously:\n%s", list)
	}
}

func TestDepsTrialFindings(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedTrial(t, db)

	r := e.runIn("deps", "--db", db, "-o", "xml")
	if r.code == 0 || !strings.Contains(r.stderr, "expected table, json, yaml or dot") {
		t.Errorf("deps -o xml: exit %d, stderr %q; want the formats with dot", r.code, r.stderr)
	}
	if help := e.mustRun("deps", "--help"); !strings.Contains(help, "table, json, yaml or dot") || strings.Contains(help, "table, json or yaml") {
		t.Errorf("deps --help does not list dot among the formats:\n%s", help)
	}
	for arg, want := range map[string]string{
		"":          "--max-age is empty",
		"99999999d": "is too large: the maximum is 3650d",
	} {
		r := e.runIn("deps", "--db", db, "--max-age", arg)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("deps --max-age %q: exit %d, stderr %q; want %q", arg, r.code, r.stderr, want)
		}
	}
	e.mustRun("deps", "--db", db, "--max-age", "3d12h")

	// lab01 declares lab02 and lab03; the map has no notes.
	out := e.mustRun("deps", "--db", db, "-o", "json")
	g := decodeJSON[map[string]any](t, out)
	if notes, ok := g["notes"].([]any); !ok || len(notes) != 0 {
		t.Errorf("deps -o json notes = %#v, want []:\n%s", g["notes"], out)
	}
	out = e.mustRun("deps", "lab02", "--db", db, "-o", "json")
	if g := decodeJSON[map[string]any](t, out); g["edges"] == nil || g["notes"] == nil {
		t.Errorf("deps lab02 -o json: %s; want edges and notes always present", out)
	}
}
