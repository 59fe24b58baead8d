package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/policy"
)

// TestComplianceRegimeDeadlines: a host labelled with a regime is measured
// against the stricter of its group's deadlines and the regime's, in the
// fleet's compliance, one host's, and the KPIs' days; a label naming a
// regime the policy does not define changes nothing.
func TestComplianceRegimeDeadlines(t *testing.T) {
	ctx, a := kpiHistory(t)
	before, err := a.KPIs(ctx, KPIQuery{From: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{
		{Name: "h4", Labels: map[string]string{patchpilot.LabelCompliance: "pci"}},
		{Name: "h3", Labels: map[string]string{patchpilot.LabelCompliance: "sox"}},
	}); err != nil {
		t.Fatal(err)
	}
	a.Options.Policy = Policy{Compliance: map[string]policy.Regime{"pci": {SLA: SLA{High: 10 * day}}}}
	rep, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// h4: high (zlib), available day 2; pci's 10 days instead of 30.
	h4, _ := rep.Host("h4")
	if h4.State != SLAOut || !slices.Equal(h4.Compliance, []string{"pci"}) || h4.Group != "default" ||
		len(h4.Overdue) != 1 || h4.Overdue[0].Overdue() != 18*day+12*time.Hour {
		t.Errorf("h4 under pci: %+v", h4)
	}
	if sla, ok := rep.SLAs["default + compliance pci"]; !ok || sla.High != 10*day || sla.Critical != 7*day {
		t.Errorf("SLAs %+v", rep.SLAs)
	}
	if h3, _ := rep.Host("h3"); h3.State != SLACompliant || h3.Compliance != nil {
		t.Errorf("h3 under an undefined regime: %+v", h3)
	}
	one, err := a.HostCompliance(ctx, "h4")
	if err != nil || one.State != SLAOut || !slices.Equal(one.Compliance, []string{"pci"}) {
		t.Errorf("HostCompliance(h4) = %+v, %v", one, err)
	}
	after, err := a.KPIs(ctx, KPIQuery{From: t0})
	if err != nil {
		t.Fatal(err)
	}
	last := func(r KPIReport) ComplianceDay { return r.Compliance[len(r.Compliance)-1] }
	if b, a := last(before), last(after); a.OutOfSLA != b.OutOfSLA+1 {
		t.Errorf("out of SLA on the last day: %d before the regime, %d under it; want one more", b.OutOfSLA, a.OutOfSLA)
	}
}

// TestCheckPolicyNamesRegimes: policy check names the regime's rules on
// its hosts and warns of a label naming a regime the policy does not define.
func TestCheckPolicyNamesRegimes(t *testing.T) {
	ctx, a := kpiHistory(t)
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{
		{Name: "h3", Labels: map[string]string{patchpilot.LabelCompliance: "sox"}},
		{Name: "h4", Labels: map[string]string{patchpilot.LabelCompliance: "pci"}},
	}); err != nil {
		t.Fatal(err)
	}
	a.Options.Policy = Policy{Default: PolicyGroup{Level: policy.Autopilot},
		Compliance: map[string]policy.Regime{"pci": {ApprovalRequired: true, MaxLevel: policy.Supervised}}}
	p, err := planner.Parse([]byte(`rollout:
  patch: {security: all}
  targets: {hosts: [h3, h4]}
  stages:
    - {name: all, targets: rest}
`), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.CheckPolicy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `h3: its compliance label names regime "sox", which the policy does not define`) {
		t.Errorf("warnings %q", rep.Warnings)
	}
	if s := rep.Stages[0]; s.Decision != PolicyApprove || !slices.ContainsFunc(s.Findings, func(f PolicyFinding) bool {
		return f.Rule == policy.RuleCompliance && strings.HasPrefix(f.Reason, "compliance pci: holds hosts under pci (h4)")
	}) {
		t.Errorf("stage %+v", s)
	}
}
