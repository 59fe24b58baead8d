package orchestrator

import (
	"context"
	"reflect"
	"testing"

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
