package planner

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// budgetHosts are four web hosts; lab02 and lab03 serve pp-demo-web on
// 8080 (in depth), lab04 runs it as its unit list tells (no depth).
func budgetHosts() []HostView {
	hosts := labHosts()
	for _, i := range []int{1, 2} {
		hosts[i].Depth = &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{
			{Unit: "pp-demo-web.service", Listens: []patchpilot.Socket{{Port: 8080}}}}}
	}
	hosts[3].Services = []string{"pp-demo-web.service"}
	hosts[3].Host.Labels["zone"] = "b"
	return hosts
}

func TestResolveExplainsBudgets(t *testing.T) {
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true},
		Stages: stagesOf(t, "validation:1", "final:rest"),
		Budgets: []patchpilot.DisruptionBudget{
			{Service: "pp-demo-web:8080", MaxUnavailable: patchpilot.LimitCount(1)},
			{Group: "zone", MaxUnavailable: patchpilot.LimitPercent(50)},
		}}
	rp, err := Resolve(p, budgetHosts())
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Warnings) != 0 {
		t.Errorf("warnings %q for budgets that cover targets", rp.Warnings)
	}
	final := rp.Stages[1]
	// lab04, collected without depth, runs the unit: the budget holds it too.
	want := "budget 1 (service: pp-demo-web:8080, max_unavailable: 1) holds lab02, lab03, lab04 (of 3 target hosts it covers: at most 1 unavailable at a time)"
	if !slices.Contains(final.Reasons, want) {
		t.Errorf("final stage %v reasons %q, want %q", final.Hosts, final.Reasons, want)
	}
	want = "budget 2 (group: zone, max_unavailable: 50%) holds no zone label: lab02, lab03 (of 3 target hosts it covers: at most 1 unavailable at a time); zone=b: lab04 (of 1 target host it covers: at most 1 unavailable at a time)"
	if !slices.Contains(final.Reasons, want) {
		t.Errorf("final stage reasons %q, want %q", final.Reasons, want)
	}
	if r := strings.Join(rp.Stages[0].Reasons, "\n"); strings.Contains(r, "budget 1") {
		t.Errorf("the validation stage (lab01, serving nothing) names the service budget: %s", r)
	}
}

// A budget whose service or selector covers no target is a warning: a
// mistyped unit would otherwise disable the budget without a word.
func TestResolveWarnsOfBudgetsCoveringNoTarget(t *testing.T) {
	for _, tt := range []struct {
		budget patchpilot.DisruptionBudget
		want   string
	}{
		{patchpilot.DisruptionBudget{Service: "nosuchunit", MaxUnavailable: patchpilot.LimitCount(1)},
			"budget 1 (service: nosuchunit, max_unavailable: 1) covers none of the 4 target hosts: none runs unit nosuchunit as their latest facts tell, so it limits nothing"},
		{patchpilot.DisruptionBudget{Service: ":5432", MaxUnavailable: patchpilot.LimitCount(1)},
			"none listens on port 5432"},
		{patchpilot.DisruptionBudget{Selector: "role=db", MaxUnavailable: patchpilot.LimitCount(1)},
			`its selector "role=db" matches none`},
		{patchpilot.DisruptionBudget{Service: ":8080", Selector: "zone=b", MaxUnavailable: patchpilot.LimitCount(1)},
			"none matches all of its terms at once"},
	} {
		p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true},
			Stages: stagesOf(t, "validation:1", "final:rest"), Budgets: []patchpilot.DisruptionBudget{tt.budget}}
		rp, err := Resolve(p, budgetHosts())
		if err != nil {
			t.Fatal(err)
		}
		if len(rp.Warnings) != 1 || !strings.Contains(rp.Warnings[0], tt.want) {
			t.Errorf("%+v: warnings %q, want one saying %q", tt.budget, rp.Warnings, tt.want)
		}
	}
	// Hosts in depth only: the unit runs, not on that port.
	hosts := budgetHosts()[:3]
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}, Stages: stagesOf(t, "validation:1", "final:rest"),
		Budgets: []patchpilot.DisruptionBudget{{Service: "pp-demo-web:5432", MaxUnavailable: patchpilot.LimitCount(1)}}}
	rp, err := Resolve(p, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "none runs unit pp-demo-web listening on port 5432"; len(rp.Warnings) != 1 || !strings.Contains(rp.Warnings[0], want) {
		t.Errorf("warnings %q, want one saying %q", rp.Warnings, want)
	}
}
