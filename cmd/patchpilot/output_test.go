package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// TestOutputFlagIsTheFormat checks that -o is the output format for plan
// and history export as for every other command: no file named "json" is
// written, and files are named with --out.
func TestOutputFlagIsTheFormat(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedFleet(t, db)

	r := e.runIn("plan", "--db", db, "--patch", "pp-libdemo=1.0.1", "-o", "json")
	if r.code != 0 {
		t.Fatalf("plan -o json: exit %d\n%s", r.code, r.stderr)
	}
	res := decodeJSON[planResult](t, r.stdout)
	if len(res.Targets) != 2 || res.Level == "" || len(res.Header) == 0 {
		t.Errorf("plan -o json: %+v, want 2 targets, a level and the header", res)
	}
	if _, err := planner.Parse([]byte(res.Plan), "plan"); err != nil {
		t.Errorf("the plan in plan -o json does not parse: %v\n%s", err, res.Plan)
	}

	out := filepath.Join(dir, "plan.yaml")
	r = e.runIn("plan", "--db", db, "--patch", "pp-libdemo=1.0.1", "--out", out)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "wrote "+out) {
		t.Errorf("plan --out: exit %d, stdout %q, stderr %q; want the plan in the file only", r.code, r.stdout, r.stderr)
	}
	if data, err := os.ReadFile(out); err != nil || !strings.Contains(string(data), "# plan shape: ") {
		t.Errorf("plan --out wrote %q (%v)", data, err)
	}

	r = e.runIn("plan", "--db", db, "--patch", "pp-libdemo=1.0.1", "-o", "plan.yaml")
	if r.code != 2 || !strings.Contains(r.stderr, "--out FILE") {
		t.Errorf("plan -o plan.yaml: exit %d, stderr %q; want exit 2 pointing at --out", r.code, r.stderr)
	}

	if r = e.runIn("history", "export", "--db", db, "-o", "json"); r.code != 0 {
		t.Errorf("history export -o json: exit %d\n%s", r.code, r.stderr)
	}
	if r = e.runIn("history", "export", "--db", db, "-o", "yaml"); r.code != 2 || !strings.Contains(r.stderr, "JSONL") {
		t.Errorf("history export -o yaml: exit %d, stderr %q; want exit 2 saying it writes JSONL", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if en.Name() != "plan.yaml" {
			t.Errorf("-o wrote a file %q", en.Name())
		}
	}
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestRolloutStartJSON starts a rollout over a host that cannot be
// reached: with -o json standard output is one JSON document, the final
// status, and the progress goes to standard error.
func TestRolloutStartJSON(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	h := patchpilot.Host{Name: "gone", Address: "127.0.0.1", Port: closedPort(t)}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{h}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveFacts(ctx, patchpilot.Facts{Host: "gone", CollectedAt: time.Now().UTC(), OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	plan := filepath.Join(e.home, "plan.yaml")
	writeFile(t, plan, "rollout:\n  patch: {packages: [\"pp-libdemo=1.0.1\"]}\n  targets: {hosts: [gone]}\n"+
		"  stages:\n    - {name: all, targets: rest, bake: 1s, on_failure: halt_and_alert}\n")
	knownHosts := filepath.Join(e.home, "known_hosts")
	writeFile(t, knownHosts, "")

	r := e.runIn("rollout", "start", plan, "--db", db, "--known-hosts", knownHosts, "--connect-timeout", "2s", "-o", "json")
	if r.code == 0 || r.code == 2 {
		t.Fatalf("rollout start over an unreachable host: exit %d, want a rollout's failure code\nstderr:\n%s", r.code, r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var status struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := dec.Decode(&status); err != nil || status.ID == "" || status.State == "" {
		t.Fatalf("stdout is not the status as JSON (%v):\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	if !slices.Contains(strings.Split(r.stderr, "\n"), "rollout "+status.ID) || !strings.Contains(r.stderr, "gone") {
		t.Errorf("stderr lacks the id line or the progress:\n%s", r.stderr)
	}
}
