package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

const compliancePolicy = `
groups:
  - name: prod
    hosts: env=prod
    level: autopilot
    sla: {critical: 5d, high: 10d}
compliance:
  pci:
    sla: {critical: 3d, high: 14d, none: 30d}
    approval: required
    max_level: supervised
  hipaa:
    sla: {critical: 2d}
    two_approvers: true
  sox:
    max_level: advisor
`

func TestComplianceDecode(t *testing.T) {
	p, err := decode(t, compliancePolicy)
	if err != nil {
		t.Fatal(err)
	}
	pci, hipaa := p.Compliance["pci"], p.Compliance["hipaa"]
	if pci.SLA.Critical != 3*day || pci.SLA.Unrated != 30*day || !pci.ApprovalRequired || pci.TwoApprovers || pci.MaxLevel != Supervised {
		t.Errorf("pci = %+v", pci)
	}
	if !hipaa.TwoApprovers || !hipaa.ApprovalRequired {
		t.Errorf("hipaa = %+v: two_approvers implies approval", hipaa)
	}
	for _, tt := range []struct{ src, want string }{
		{"compliance:\n  pci:\n    deadline: 3d\n", `pp.yaml:3: policy: compliance: pci: unknown key "deadline"; known keys: sla, approval, two_approvers, max_level`},
		{"compliance:\n  pci: {sla: {urgent: 1d}}\n", `pp.yaml:2: policy: compliance: pci: sla: unknown key "urgent"`},
		{"compliance:\n  pci: {sla: {crit: 1d}}\n", `pp.yaml:2: policy: compliance: pci: sla: unknown key "crit" (did you mean critical?); known keys: critical, high, medium, low, none`},
		{"compliance:\n  pci: {approval: maybe}\n", `pp.yaml:2: policy: compliance: pci: approval: "maybe": expected required or none`},
		{"compliance:\n  pci: {max_level: yolo}\n", `pp.yaml:2: policy: compliance: pci: max_level: "yolo": expected advisor, supervised or autopilot`},
		{"compliance:\n  pci: {two_approvers: yes please}\n", `pp.yaml:2: policy: compliance: pci: two_approvers: "yes please": expected true or false`},
		{"compliance:\n  pci: {approval: none, two_approvers: true}\n", `pp.yaml:2: policy: compliance: pci: two_approvers: true asks for approvals, but approval is none`},
		{"compliance:\n  pci: {}\n", `pp.yaml:2: policy: compliance: pci: the regime sets no rule`},
		{"compliance:\n  PCI DSS: {approval: required}\n", `pp.yaml:2: policy: compliance: regime name "PCI DSS": expected a lower-case word`},
		{"compliance:\n  pci: {approval: required}\n  pci: {approval: none}\n", `pp.yaml:3: policy: compliance: regime "pci" already defined at line 2`},
		{"compliance: [pci]\n", `pp.yaml:1: policy: compliance: expected a mapping of regimes`},
	} {
		_, err := decode(t, tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.want)
		}
	}
	bad := Policy{Compliance: map[string]Regime{"pci": {MaxLevel: "yolo"}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `policy: compliance: pci: max_level "yolo"`) {
		t.Errorf("Validate: %v", err)
	}
}

// TestComplianceSLA: a host under regimes gets, per severity, the shortest
// of its group's and its regimes' deadlines; a regime the policy does not
// define changes nothing and is reported.
func TestComplianceSLA(t *testing.T) {
	p, err := decode(t, compliancePolicy)
	if err != nil {
		t.Fatal(err)
	}
	sla, regimes := p.HostSLA(host("p1", "env=prod", "compliance=PCI, hipaa ,sox2"))
	if !slices.Equal(regimes, []string{"hipaa", "pci"}) {
		t.Errorf("regimes = %v", regimes)
	}
	want := SLA{Critical: 2 * day, High: 10 * day, Medium: 90 * day, Low: 180 * day, Unrated: 30 * day}
	if sla != want {
		t.Errorf("SLA = %v, want %v", sla, want)
	}
	if _, unknown := p.RegimesOf(host("p1", "compliance=PCI, hipaa ,sox2")); !slices.Equal(unknown, []string{"sox2"}) {
		t.Errorf("unknown = %v", unknown)
	}
	if sla, regimes := p.HostSLA(host("p2", "env=prod")); sla != p.SLAOf(p.Groups[0]) || regimes != nil {
		t.Errorf("a host under no regime: %v %v", sla, regimes)
	}
	b, err := json.Marshal(p)
	if err != nil || !strings.Contains(string(b), `"pci":{"sla":{"critical":"3d","high":"14d","none":"30d"},"approval_required":true,"max_level":"supervised"}`) {
		t.Errorf("JSON %s (%v)", b, err)
	}
}

// TestComplianceEvaluate: the report names each regime's rules on its
// hosts; approval required holds the stage; two_approvers asks for two;
// max_level caps the level that decides whether the plan starts itself; an
// undefined regime is a warning.
func TestComplianceEvaluate(t *testing.T) {
	p, err := decode(t, compliancePolicy)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	hosts := []planner.HostView{host("p1", "env=prod"), host("p2", "env=prod", "compliance=pci"),
		host("p3", "env=prod", "compliance=hipaa"), host("p4", "env=prod", "compliance=gdpr")}
	low := map[string]patchpilot.RiskLevel{"p1": patchpilot.RiskLow, "p2": patchpilot.RiskLow, "p3": patchpilot.RiskLow, "p4": patchpilot.RiskLow}
	eval := func(stages ...Stage) Report {
		return Evaluate(p, Input{Stages: stages, Hosts: hosts, Risk: low, Now: now})
	}

	rep := eval(Stage{Name: "plain", Hosts: []string{"p1"}})
	if rep.Stages[0].Decision != Allow || !rep.Unattended || len(rep.Warnings) != 0 {
		t.Errorf("autopilot host under no regime: %+v unattended %v (%s)", rep.Stages[0], rep.Unattended, rep.UnattendedReason)
	}

	rep = eval(Stage{Name: "pci", Hosts: []string{"p1", "p2"}})
	s := rep.Stages[0]
	if s.Decision != Approve || s.Approvers != 1 {
		t.Errorf("stage with a pci host: %+v", s)
	}
	if !slices.ContainsFunc(s.Findings, func(f Finding) bool {
		return f.Rule == RuleCompliance && f.Reason == "compliance pci: holds hosts under pci (p2), which need a person's approval"
	}) {
		t.Errorf("stage findings %+v", s.Findings)
	}
	p2 := rep.Hosts[1]
	if p2.Level != Supervised || p2.Decision != Approve {
		t.Errorf("p2 = %+v, want supervised and approve", p2)
	}
	wantWhy := "compliance pci: approval required; level at most supervised (group prod is autopilot); deadlines critical 3d, high 14d, none 30d (stricter than group prod's where shorter)"
	if !slices.ContainsFunc(p2.Findings, func(f Finding) bool { return f.Rule == RuleCompliance && f.Reason == wantWhy }) {
		t.Errorf("p2 findings %+v, want %q", p2.Findings, wantWhy)
	}
	if rep.Unattended || !strings.Contains(rep.UnattendedReason, "compliance pci caps its hosts at supervised") {
		t.Errorf("unattended %v: %s", rep.Unattended, rep.UnattendedReason)
	}

	// The reason names the hosts the regime caps, and the risk of those,
	// not of the targets no regime covers.
	medium := map[string]patchpilot.RiskLevel{"p1": patchpilot.RiskMedium, "p2": patchpilot.RiskMedium}
	rep = Evaluate(p, Input{Stages: []Stage{{Name: "pci", Hosts: []string{"p1", "p2"}}}, Hosts: hosts, Risk: medium, Now: now})
	if rep.Unattended || !strings.Contains(rep.UnattendedReason, "compliance pci caps its hosts at supervised (p2): only low-risk plans start themselves, and p2 is medium risk") ||
		strings.Contains(rep.UnattendedReason, "p1") {
		t.Errorf("medium risk: unattended %v: %s, want the pci host p2 named and not p1", rep.Unattended, rep.UnattendedReason)
	}

	rep = eval(Stage{Name: "hipaa", Hosts: []string{"p3"}})
	if s := rep.Stages[0]; s.Decision != Approve || s.Approvers != 2 {
		t.Errorf("stage with a hipaa host: %+v, want two approvers", s)
	}

	rep = eval(Stage{Name: "gdpr", Hosts: []string{"p4"}})
	if rep.Stages[0].Decision != Allow || len(rep.Warnings) != 1 ||
		!strings.Contains(rep.Warnings[0], `p4: its compliance label names regime "gdpr", which the policy does not define`) {
		t.Errorf("undefined regime: stage %s, warnings %q", rep.Stages[0].Decision, rep.Warnings)
	}
}
