package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seedHosts stores hosts with facts, and one outcome of web-1, in the
// database file.
func seedHosts(t *testing.T, path string, names ...string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, n := range names {
		if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: n, Address: "127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveFacts(ctx, patchpilot.Facts{Host: n, CollectedAt: time.Now().UTC(), OSFamily: patchpilot.FamilyDebian,
			OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordOutcome(ctx, patchpilot.Outcome{Rollout: "r-old", Host: "web-1", Time: time.Now().UTC(),
		Outcome: patchpilot.OutcomeSucceeded, Packages: []patchpilot.PackageChange{{Name: "openssl", From: "1", To: "2"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestHostsRemove(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedHosts(t, db, "web-1", "web-2", "db-1")
	hosts := func() []string {
		t.Helper()
		var names []string
		for _, h := range decodeJSON[[]patchpilot.HostSummary](t, e.mustRun("hosts", "--db", db, "-o", "json")) {
			names = append(names, h.Name)
		}
		return names
	}

	// All or nothing: one unknown name removes nothing.
	r := e.runIn("hosts", "rm", "web-1", "nosuch", "--db", db)
	if r.code != 4 || !strings.Contains(r.stderr, `"nosuch"`) || !strings.Contains(r.stderr, "no host was removed") {
		t.Errorf("hosts rm with an unknown name: exit %d, stderr %q; want 4 naming it", r.code, r.stderr)
	}
	if got := hosts(); len(got) != 3 {
		t.Errorf("after a failed hosts rm: %v, want all 3", got)
	}
	if r := e.runIn("hosts", "rm", "--db", db); r.code != 2 {
		t.Errorf("hosts rm without a name: exit %d, want 2", r.code)
	}

	r = e.runIn("hosts", "rm", "web-1", "db-1", "--db", db, "-o", "json")
	if r.code != 0 {
		t.Fatalf("hosts rm: exit %d\n%s", r.code, r.stderr)
	}
	if res := decodeJSON[hostsRemoved](t, r.stdout); strings.Join(res.Removed, ",") != "web-1,db-1" {
		t.Errorf("hosts rm -o json: %+v", res)
	}
	if got := hosts(); strings.Join(got, ",") != "web-2" {
		t.Errorf("after hosts rm web-1 db-1: %v, want [web-2]", got)
	}
	if r := e.runIn("hosts", "show", "web-1", "--db", db); r.code != 4 {
		t.Errorf("hosts show of a removed host: exit %d, want 4", r.code)
	}
	// The history stays, and names the removed host.
	hist := decodeJSON[[]struct {
		Host string `json:"host"`
	}](t, e.mustRun("history", "--host", "web-1", "--db", db, "-o", "json"))
	if len(hist) != 1 || hist[0].Host != "web-1" {
		t.Errorf("history of the removed host: %+v, want its one outcome", hist)
	}

	// A host that a running rollout targets is refused.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateRollout(ctx, patchpilot.Rollout{ID: "r-live", State: patchpilot.RolloutRunning,
		Plan:   patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}},
		Stages: []patchpilot.StageRun{{Name: "all", Hosts: []string{"web-2"}}}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r = e.runIn("hosts", "rm", "web-2", "--db", db)
	if r.code != 1 || !strings.Contains(r.stderr, "r-live") {
		t.Errorf("hosts rm of a running rollout's target: exit %d, stderr %q; want 1 naming the rollout", r.code, r.stderr)
	}
	if got := hosts(); strings.Join(got, ",") != "web-2" {
		t.Errorf("after a refused hosts rm: %v, want [web-2]", got)
	}
}

// hosts show gives an SSH host's address with its port, and the machine
// collected with --local as this machine: it is never reached over SSH, so
// a port 22 there would send a person looking for an SSH server it does
// not need.
func TestHostsShowAddress(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpsertHosts(ctx, []patchpilot.Host{app.LocalHost("box"), {Name: "web-1", Address: "10.0.0.5", Port: 2222}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out := e.mustRun("hosts", "show", "box", "--db", db); !strings.Contains(out, "localhost (this machine, without SSH)") || strings.Contains(out, ":22") {
		t.Errorf("hosts show of the local host:\n%s\nwant its address as this machine, without a port", out)
	}
	if out := e.mustRun("hosts", "show", "web-1", "--db", db); !strings.Contains(out, "10.0.0.5:2222") {
		t.Errorf("hosts show of an SSH host:\n%s\nwant 10.0.0.5:2222", out)
	}
}

// 'hosts rm' counts what it removed in words that agree with the number.
func TestHostsRemoveCountsInWords(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedHosts(t, db, "web-1", "web-2", "db-1")
	if out := e.mustRun("hosts", "rm", "web-1", "--db", db); !strings.Contains(out, "removed 1 host: web-1; its history is kept") {
		t.Errorf("hosts rm of one host: %q", out)
	}
	if out := e.mustRun("hosts", "rm", "web-2", "db-1", "--db", db); !strings.Contains(out, "removed 2 hosts: web-2, db-1; their history is kept") {
		t.Errorf("hosts rm of two hosts: %q", out)
	}
}
