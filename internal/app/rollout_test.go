package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

func TestRolloutResult(t *testing.T) {
	changed := []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostSucceeded, Order: 1},
		{Host: "web2", State: patchpilot.HostFailed, Order: 2}}
	// Preflight failures: hosts that were never changed (no deployment order).
	untouched := []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostFailed}, {Host: "web2", State: patchpilot.HostFailed}}
	tests := []struct {
		state    patchpilot.RolloutState
		reason   string
		runs     []patchpilot.HostRun
		wantExit int
		wantHint string
		notHint  string
	}{
		{patchpilot.RolloutSucceeded, "", []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostSucceeded, Order: 1}}, patchpilot.ExitOK, "", ""},
		{patchpilot.RolloutSucceeded, "", changed, patchpilot.ExitPartial, "rollout status", ""},
		{patchpilot.RolloutHalted, "2 of 2 hosts failed", changed, patchpilot.ExitHalted, "rollout rollback r-1", ""},
		{patchpilot.RolloutHalted, "2 of 2 hosts failed", untouched, patchpilot.ExitHalted, "rollout start", "rollback"},
		{patchpilot.RolloutHalted, "1 of 1 hosts failed; stage rolled back", []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostRolledBack, Order: 1}},
			patchpilot.ExitHalted, "every changed host was rolled back", "rollout rollback"},
		{patchpilot.RolloutHalted, "held: stage rolled back", changed, patchpilot.ExitHalted, "rollout resume", ""},
		{patchpilot.RolloutHalted, "held: stage rolled back", untouched, patchpilot.ExitHalted, "rollout abort", "rollback"},
		{patchpilot.RolloutAborted, "aborted by user:ann", untouched, patchpilot.ExitHalted, "rollout start", "rollback"},
		{patchpilot.RolloutRolledBack, "rollback_all", []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostRolledBack, Order: 1}},
			patchpilot.ExitRolledBack, "rollout events", "rollback r-1"},
		{patchpilot.RolloutWaitingApproval, "stage final needs approval", changed, patchpilot.ExitWaitingApproval, "rollout approve r-1", ""},
		{patchpilot.RolloutPaused, "paused by user:ann", changed, patchpilot.ExitPaused, "rollout resume r-1", ""},
		{patchpilot.RolloutFailed, "rollback failed on web1", []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostRollbackFailed, Order: 1}},
			patchpilot.ExitRollbackFailed, "rollout rollback r-1", "resume"},
	}
	for _, tt := range tests {
		t.Run(string(tt.state)+"/"+tt.reason, func(t *testing.T) {
			st := RolloutStatus{ID: "r-1", State: tt.state, Reason: tt.reason, Stages: []StageStatus{{Hosts: tt.runs}}}
			err := RolloutResult(st)
			if got := patchpilot.ExitCode(err); got != tt.wantExit {
				t.Errorf("exit code = %d, want %d (err %v)", got, tt.wantExit, err)
			}
			hint := patchpilot.ErrorHint(err)
			if err != nil && !strings.Contains(hint, tt.wantHint) {
				t.Errorf("hint %q, want it to contain %q", hint, tt.wantHint)
			}
			if tt.notHint != "" && strings.Contains(hint, tt.notHint) {
				t.Errorf("hint %q names %q, which does not work in this state", hint, tt.notHint)
			}
		})
	}
}

// TestProposePlanAndStatus sizes a default plan from stored hosts and
// starts a rollout of it, on a real SQLite store.
func TestProposePlanAndStatus(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	var hosts []patchpilot.Host
	for _, n := range []string{"web1", "web2", "web3", "web4", "web5", "db1"} {
		role := "web"
		if strings.HasPrefix(n, "db") {
			role = "db"
		}
		hosts = append(hosts, patchpilot.Host{Name: n, Labels: map[string]string{"role": role, "env": "prod"}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Updates: []patchpilot.Update{{Package: "linux-image-amd64", InstalledVersion: "6.1.1", CandidateVersion: "6.1.2", Security: true}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "linux-image-amd64", Version: "6.1.2"}}}
	prop, err := a.ProposePlan(ctx, patch, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	// The model's strategy picks the plan's shape; the baseline's kernel
	// rule is still reported beside it.
	if len(prop.Targets) != 5 || prop.Level != planLevel(prop.Risk.Strategy) || len(prop.Risk.Hosts) != 5 ||
		len(prop.Reasons) == 0 || prop.Plan.Targets.Selector != "role=web" {
		t.Fatalf("proposal: %d targets, plan %s for strategy %s over %d assessed hosts, baseline %v, selector %q; want 5 web hosts, the strategy's plan and the kernel rule",
			len(prop.Targets), prop.Level, prop.Risk.Strategy, len(prop.Risk.Hosts), prop.Reasons, prop.Plan.Targets.Selector)
	}
	t.Logf("header:\n%s", strings.Join(prop.Header, "\n"))
	src, err := planner.Marshal(prop.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planner.Parse(src, "proposed"); err != nil {
		t.Fatalf("the proposed plan does not parse back: %v\n%s", err, src)
	}
	if _, err := a.ProposePlan(ctx, patch, "role=cache"); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("a selector matching nothing: %v, want invalid", err)
	}
	eng := a.Engine(EngineOptions{})
	id, err := a.StartRollout(ctx, eng, prop.Plan, src, StartOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.RolloutStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range st.Stages {
		for _, h := range s.Hosts {
			n++
			if h.State != patchpilot.HostPending || h.Host == "db1" {
				t.Errorf("host %s in %s", h.Host, h.State)
			}
		}
	}
	if n != 5 || st.State != patchpilot.RolloutPending || !st.DryRun || st.Plan != string(src) || st.CreatedBy != "user:ann" {
		t.Errorf("status %+v, want 5 pending hosts of a pending dry run created by user:ann", st)
	}
	if _, err := a.RolloutStatus(ctx, "r-none"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("unknown rollout: %v", err)
	}
}

// TestProposePlanNamesHostNamesTakenForLabels: a bare word in a
// selector tests a label; when it is a host's name and no host has such a
// label, the error's hint says how to select the host by name.
func TestProposePlanNamesHostNamesTakenForLabels(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{{Name: "web1", Labels: map[string]string{"role": "web"}}, {Name: "web2", Labels: map[string]string{"role": "web"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "curl", Version: "7.88.1-10", SourceName: "curl"}},
			Updates:  []patchpilot.Update{{Package: "curl", InstalledVersion: "7.88.1-10", CandidateVersion: "7.88.1-10+deb12u1"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	patch := patchpilot.PatchSpec{SecurityAll: true}
	for _, tt := range []struct{ selector, hint string }{
		{"web1", "for the host named web1, select name=web1"},
		{"web1,web2", "web1, web2 are host names"},
		{"role=db", "check the selector against 'patchpilot hosts'"},
		{"db1", "check the selector against 'patchpilot hosts'"}, // neither a name nor a label
	} {
		_, err := a.ProposePlan(ctx, patch, tt.selector)
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: %v, want invalid", tt.selector, err)
			continue
		}
		if hint := patchpilot.ErrorHint(err); !strings.Contains(hint, tt.hint) {
			t.Errorf("%q: hint %q, want %q", tt.selector, hint, tt.hint)
		}
	}
	if prop, err := a.ProposePlan(ctx, patch, "name=web1"); err != nil || len(prop.Targets) != 1 {
		t.Errorf("name=web1: %v, %v", prop.Targets, err)
	}
}

// TestProposePlanWarnsWhenNothingIsPending: a plan for a patch pending on
// none of its targets is still written (a schedule may run it later), but
// with a warning that it installs nothing now; a pending patch gets none.
func TestProposePlanWarnsWhenNothingIsPending(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{{Name: "web1", Labels: map[string]string{"role": "web"}}, {Name: "web2", Labels: map[string]string{"role": "web"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "curl", Version: "7.88.1-10", SourceName: "curl"}},
			Updates:  []patchpilot.Update{{Package: "curl", InstalledVersion: "7.88.1-10", CandidateVersion: "7.88.1-10+deb12u1"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	warned := func(prop PlanProposal, want string) bool {
		return slices.ContainsFunc(prop.Warnings, func(w string) bool { return strings.Contains(w, want) })
	}
	for _, tt := range []struct {
		name  string
		patch patchpilot.PatchSpec
		want  string // "" for no warning
	}{
		{"no security update", patchpilot.PatchSpec{SecurityAll: true}, "no security update is pending on any of the 2 targets"},
		{"the version every target runs", patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "curl", Version: "7.88.1-10"}}}, "the patch is pending on none of the 2 targets"},
		{"a pending update", patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "curl", Version: "7.88.1-10+deb12u1"}}}, ""},
	} {
		prop, err := a.ProposePlan(ctx, tt.patch, "role=web")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.want == "" {
			if warned(prop, "installs nothing") {
				t.Errorf("%s: warnings %q, want none saying it installs nothing", tt.name, prop.Warnings)
			}
			continue
		}
		if !slices.ContainsFunc(prop.Header, func(l string) bool { return strings.HasPrefix(l, "warning: ") && strings.Contains(l, tt.want) }) {
			t.Errorf("%s: header %q lacks the warning %q", tt.name, prop.Header, tt.want)
		}
		if !warned(prop, tt.want) || len(prop.Plan.Stages) == 0 {
			t.Errorf("%s: warnings %q over %d stages, want a plan and a warning with %q", tt.name, prop.Warnings, len(prop.Plan.Stages), tt.want)
		}
	}
}
