package orchestrator

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// An outcome recorded by the controller must reach the risk model with its
// features: the model reads them through risk.FromOutcome, and a shape it
// cannot decode would silently drop them all.
func TestOutcomeFeaturesReachRiskRecords(t *testing.T) {
	e := newEnv(t, hostsNamed(3, "db"))
	e.f.removals["h03"] = []string{"web-legacy"}
	for _, h := range []string{"h01", "h02", "h03"} {
		e.f.installed[h]["kernel-demo"] = "1.0"
	}
	id := e.start(`
name: features
patch: {packages: ["web=1.1", "kernel-demo=1.1"]}
targets: {selector: "env=test"}
policy: {allow_reboot: true}
stages:
  - {name: validation, targets: 1, criteria: [http_ok], bake: 5s}
  - {name: final, targets: rest, parallel: 2, criteria: [http_ok], bake: 5s, max_failures: 1}
`)
	e.run(id)
	outs, err := e.db.Outcomes(context.Background(), patchpilot.OutcomeFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string][]risk.Record{}
	for _, o := range outs {
		byHost[o.Host] = risk.FromOutcome(o)
	}
	cases := []struct {
		host     string
		outcome  patchpilot.OutcomeKind
		removals []string
	}{
		{"h01", patchpilot.OutcomeSucceeded, nil},
		{"h02", patchpilot.OutcomeSucceeded, nil},
		// The dry run removes a package: preflight refuses the host.
		{"h03", patchpilot.OutcomeFailed, []string{"web-legacy"}},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			recs := byHost[c.host]
			if len(recs) != 2 {
				t.Fatalf("%d history records, want 2 (kernel-demo, web): %+v", len(recs), recs)
			}
			for _, r := range recs {
				wantCat := risk.Categorize(r.SourcePackage, r.Package)
				got := []any{r.Outcome, r.RebootRequired, r.TransactionSize, r.Role(), r.Removals, r.Category, r.OS, len(r.Services)}
				want := []any{c.outcome, true, 2, "db", c.removals, wantCat, "debian:12", 2}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: [outcome reboot size role removals category os services] = %v, want %v", r.Package, got, want)
				}
			}
			if recs[0].Package != "kernel-demo" || recs[0].Category != risk.CategoryKernel {
				t.Errorf("first record %s category %q, want kernel-demo in %q", recs[0].Package, recs[0].Category, risk.CategoryKernel)
			}
		})
	}
}

// Failures that are not the patch's are labelled where the outcome is
// built, and a failure of the patch is not.
func TestUnrelatedCause(t *testing.T) {
	applied := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	breach := []patchpilot.GateResult{{Gate: "http_error_rate<0.05", Outcome: patchpilot.GateBreach}}
	pass := []patchpilot.GateResult{{Gate: "http_error_rate<0.05", Outcome: patchpilot.GatePass}}
	cases := []struct {
		name   string
		kind   patchpilot.OutcomeKind
		hr     patchpilot.HostRun
		labels map[string]string
		pre    *patchpilot.PreflightReport
		want   string // a part of the label, "" for none
	}{
		{"succeeded", patchpilot.OutcomeSucceeded, patchpilot.HostRun{Order: 1, AppliedAt: &applied}, map[string]string{patchpilot.LabelInjectedFault: "dpkg-lock"}, nil, ""},
		{"gate breach", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Reason: "rolled back: error rate", Gates: breach}, nil, nil, ""},
		{"injected fault", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Gates: breach}, map[string]string{patchpilot.LabelInjectedFault: "net-drop"}, nil, "fault injected: net-drop"},
		{"unreachable before", patchpilot.OutcomeUnreachable, patchpilot.HostRun{Reason: "connect: timeout"}, nil, nil, "unreachable before any change"},
		{"unreachable after", patchpilot.OutcomeUnreachable, patchpilot.HostRun{Order: 2, AppliedAt: &applied, Reason: "reboot: the host no longer answers"}, nil, nil, ""},
		{"preflight lock", patchpilot.OutcomeFailed, patchpilot.HostRun{Reason: "preflight: dpkg lock held"}, nil, &patchpilot.PreflightReport{Problems: []string{"dpkg lock held"}}, "failed before any change: preflight: dpkg lock held"},
		{"preflight removals", patchpilot.OutcomeFailed, patchpilot.HostRun{Reason: "preflight: would remove web-legacy"}, nil, &patchpilot.PreflightReport{Removals: []string{"web-legacy"}}, ""},
		{"interrupted", patchpilot.OutcomeFailed, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Reason: "interrupted: context canceled"}, nil, nil, "interrupted"},
		{"person, checks passed", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Reason: "rolled back: rollback requested by user:ann", Gates: pass}, nil, nil, "a person's request"},
		{"with its stage", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 2, AppliedAt: &applied, Reason: "rolled back: stage final: 2 of 4 hosts failed", Gates: pass}, nil, nil, "with its stage"},
		{"own failure in a stage", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Reason: "rolled back: apply: the package manager exited with status 100"}, nil, nil, ""},
		{"person, checks failed", patchpilot.OutcomeRolledBack, patchpilot.HostRun{Order: 1, AppliedAt: &applied, Reason: "rolled back: rollback requested by user:ann", Gates: breach}, nil, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := unrelatedCause(c.kind, c.hr, c.labels, c.pre)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("unrelatedCause = %q, want %q", got, c.want)
			}
		})
	}
}

// When a stage rolls back, the host whose checks failed keeps its failure
// as the patch's, and the hosts rolled back with it, whose checks passed,
// are labelled unrelated.
func TestStageRollbackLabelsHealthyHosts(t *testing.T) {
	e := newEnv(t, hostsNamed(4))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 4, criteria: [http_ok], bake: 3s, on_failure: rollback_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	bad := hosts[2]
	e.f.verdict = func(h string, n int) patchpilot.HealthVerdict {
		if h == bad {
			return patchpilot.Unhealthy
		}
		return patchpilot.Healthy
	}
	e.run(id)
	outs, err := e.db.Outcomes(context.Background(), patchpilot.OutcomeFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	rolledBack := 0
	for _, o := range outs {
		if o.Outcome != patchpilot.OutcomeRolledBack {
			continue
		}
		rolledBack++
		if got := o.CountsAgainstPatch(); got != (o.Host == bad) {
			t.Errorf("%s (%s): counts against the patch %v, unrelated %q", o.Host, o.Reason, got, o.Unrelated)
		}
	}
	if rolledBack < 2 {
		t.Errorf("%d hosts rolled back, want the stage's: %+v", rolledBack, outs)
	}
}
