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

// With --security and no security update, the listing says that it is
// the security updates there are none of, and how many others wait,
// instead of telling a fleet with pending updates that it has none.
func TestUpdatesSecurityNoneSaysSo(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web-1", "web-2"} {
		if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: n, Address: "127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
		f := patchpilot.Facts{Host: n, CollectedAt: time.Now().UTC(), OSFamily: patchpilot.FamilyDebian,
			OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}
		if n == "web-1" {
			f.Packages = []patchpilot.Package{{Name: "curl", Version: "7.88.1-10"}}
			f.Updates = []patchpilot.Update{{Package: "curl", InstalledVersion: "7.88.1-10", CandidateVersion: "7.88.1-10+deb12u1"}}
		}
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	out := e.mustRun("updates", "--security", "--db", db)
	if !strings.Contains(out, "No pending security updates") || !strings.Contains(out, "1 other pending update") {
		t.Errorf("updates --security with one other update pending:\n%s\nwant it to say there is no security update and 1 other", out)
	}
	out = e.mustRun("updates", "--security", "--host", "web-2", "--db", db)
	if strings.TrimSpace(out) != "No pending updates." {
		t.Errorf("updates --security on a host with no update at all:\n%s\nwant 'No pending updates.'", out)
	}
	if out := e.mustRun("updates", "--security", "--db", db, "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("updates --security -o json = %s, want []", out)
	}
}

// A host whose facts were never collected has no pending update known:
// 'updates --host' and 'assess --host' say so and how to collect them,
// instead of saying that none is pending; JSON stays an empty list.
func TestUpdatesOfAHostNeverCollected(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "new-1", Address: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{{"updates", "--host", "new-1"}, {"updates", "--security", "--host", "new-1"}, {"assess", "--host", "new-1"}} {
		out := e.mustRun(append(args, "--db", db)...)
		if want := "No facts were ever collected from new-1: its pending updates are unknown; collect them with 'patchpilot inventory collect'."; strings.TrimSpace(out) != want {
			t.Errorf("%s: %q, want %q", strings.Join(args, " "), out, want)
		}
	}
	if out := e.mustRun("updates", "--host", "new-1", "--db", db, "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("updates --host new-1 -o json = %s, want []", out)
	}
}

// hosts --state keeps the hosts in one SLA state, as the dashboard's
// host list does; a state that is none exits 2 naming the states.
func TestHostsByState(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "web-1", Address: "127.0.0.1"}, {Name: "new-1", Address: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveFacts(ctx, patchpilot.Facts{Host: "web-1", CollectedAt: time.Now().UTC(), OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	names := func(out string) []string {
		var rows []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var n []string
		for _, r := range rows {
			n = append(n, r.Name)
		}
		return n
	}
	if got := names(e.mustRun("hosts", "--state", "unknown", "--db", db, "-o", "json")); len(got) != 1 || got[0] != "new-1" {
		t.Errorf("hosts --state unknown = %v, want [new-1]", got)
	}
	if got := names(e.mustRun("hosts", "--state", "compliant", "--db", db, "-o", "json")); len(got) != 1 || got[0] != "web-1" {
		t.Errorf("hosts --state compliant = %v, want [web-1]", got)
	}
	if out := e.mustRun("hosts", "--state", "out_of_sla", "--db", db); strings.TrimSpace(out) != "No host is out_of_sla, of 2 known hosts." {
		t.Errorf("hosts --state out_of_sla: %q", out)
	}
	if r := e.run("hosts", "--state", "late", "--db", db); r.code != 2 || !strings.Contains(r.stderr, `--state "late": expected one of compliant, within_sla, out_of_sla, unknown`) {
		t.Errorf("hosts --state late: exit %d, stderr %q", r.code, r.stderr)
	}
}
