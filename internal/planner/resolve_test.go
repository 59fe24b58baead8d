package planner

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// stagesOf builds stages from "name:targets" strings.
func stagesOf(t *testing.T, specs ...string) []patchpilot.Stage {
	t.Helper()
	var out []patchpilot.Stage
	for _, s := range specs {
		name, size, _ := strings.Cut(s, ":")
		tc, err := ParseTargetCount(size)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, patchpilot.Stage{Name: name, Targets: tc})
	}
	return out
}

func eightHosts() []HostView {
	return []HostView{
		view("web1", "debian:12", "role=web", "criticality=low"),
		view("web2", "debian:12", "role=web"),
		view("web3", "debian:12", "role=web"),
		view("web4", "ubuntu:22.04", "role=web"),
		view("app1", "debian:12", "role=app"),
		view("app2", "debian:12", "role=app", "criticality=high"),
		view("db1", "debian:12", "role=db", "criticality=critical"),
		view("cache1", "debian:12", "role=cache"),
	}
}

func TestResolveEightHosts(t *testing.T) {
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true},
		Stages: stagesOf(t, "validation:1", "canary:3", "wave_1:20%", "final:rest")}
	rp, err := Resolve(p, eightHosts())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		hosts    []string
		canary   bool
		approval bool
	}{
		// The least critical host of the most common configuration
		// validates; the canaries then cover every other non-critical
		// configuration.
		{[]string{"web1"}, true, false},
		{[]string{"app1", "cache1", "web4"}, true, false},
		// 20% of 8 is 1.6, rounded up.
		{[]string{"web2", "web3"}, false, false},
		// Critical and high-criticality hosts go last, and the critical
		// one makes the stage need approval.
		{[]string{"app2", "db1"}, false, true},
	}
	if len(rp.Stages) != len(want) {
		t.Fatalf("got %d stages, want %d", len(rp.Stages), len(want))
	}
	for i, w := range want {
		got := rp.Stages[i]
		if !reflect.DeepEqual(got.Hosts, w.hosts) || got.Canary != w.canary || got.RequiresApproval != w.approval {
			t.Errorf("stage %s: hosts %v canary %v approval %v; want %v %v %v",
				got.Stage.Name, got.Hosts, got.Canary, got.RequiresApproval, w.hosts, w.canary, w.approval)
		}
	}
	if r := strings.Join(rp.Stages[3].Reasons, "; "); !strings.Contains(r, "critical hosts db1") {
		t.Errorf("final reasons = %q, want them to name db1", r)
	}
	if n := strings.Join(rp.Notes, "; "); !strings.Contains(n, "not covered: debian:12/db") {
		t.Errorf("notes = %q, want the uncovered db configuration", n)
	}
	if rp.Stages[0].Stage.Parallel != patchpilot.DefaultParallel {
		t.Errorf("resolved stages should carry defaults, got parallel %d", rp.Stages[0].Stage.Parallel)
	}

	// The same hosts in any order resolve to the same plan.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		hosts := eightHosts()
		rng.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
		again, err := Resolve(p, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, rp) {
			t.Fatalf("order-dependent result:\n%+v\n%+v", again.Stages, rp.Stages)
		}
	}
}

func TestResolveSmallCanary(t *testing.T) {
	// With fewer canary slots than configurations, the canaries cover as
	// many as they can, in order, and the rest is noted.
	p := patchpilot.Plan{Stages: stagesOf(t, "validation:1", "canary:2", "wave_1:20%", "final:rest")}
	rp, err := Resolve(p, eightHosts())
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{rp.Stages[0].Hosts, rp.Stages[1].Hosts, rp.Stages[2].Hosts, rp.Stages[3].Hosts}
	want := [][]string{{"web1"}, {"app1", "cache1"}, {"web2", "web3"}, {"web4", "app2", "db1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := strings.Join(rp.Notes, "; "); !strings.Contains(n, "cover 3 of 5 configurations") {
		t.Errorf("notes = %q", n)
	}
}

func TestStageSizes(t *testing.T) {
	tests := []struct {
		stages []string
		total  int
		want   []int
	}{
		{[]string{"a:1", "b:25%", "c:20%", "d:rest"}, 10, []int{1, 3, 2, 4}}, // 2.5 rounds up, 2.0 stays
		{[]string{"a:33.3%", "b:rest"}, 3, []int{1, 2}},
		{[]string{"a:1%", "b:rest"}, 5, []int{1, 4}}, // at least one host
		{[]string{"a:rest"}, 1, []int{1}},
		{[]string{"a:10%", "b:10%", "c:80%"}, 10, []int{1, 1, 8}},
		{[]string{"a:1", "b:5", "c:20%", "d:rest"}, 100, []int{1, 5, 20, 74}},
	}
	for _, tt := range tests {
		got, err := StageSizes(stagesOf(t, tt.stages...), tt.total)
		if err != nil {
			t.Errorf("%v of %d: %v", tt.stages, tt.total, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v of %d = %v, want %v", tt.stages, tt.total, got, tt.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	hosts := func(n int, labels ...string) []HostView {
		var out []HostView
		for i := range n {
			out = append(out, view(fmt.Sprintf("h%02d", i), "debian:12", labels...))
		}
		return out
	}
	tests := []struct {
		name   string
		stages []string
		hosts  []HostView
		policy patchpilot.Policy
		want   string
	}{
		{"stage too big", []string{"validation:1", "canary:5", "final:rest"}, hosts(3), patchpilot.Policy{},
			`stage "canary" needs 5 hosts (targets 5) but only 2 of 3 target hosts remain`},
		{"percent too big", []string{"validation:1", "wave:90%", "final:rest"}, hosts(3), patchpilot.Policy{},
			`stage "wave" needs 3 hosts (targets 90%) but only 2 of 3 target hosts remain`},
		{"rest empty", []string{"validation:1", "canary:1", "final:rest"}, hosts(2), patchpilot.Policy{},
			`stage "final" would be empty: the stages before it take all 2 target hosts`},
		{"hosts left over", []string{"validation:1", "wave:2"}, hosts(5), patchpilot.Policy{},
			`the stages cover 3 of 5 target hosts`},
		{"no hosts", []string{"final:rest"}, nil, patchpilot.Policy{}, `no target hosts`},
		{"all critical", []string{"validation:1", "final:rest"}, hosts(3, "criticality=critical"), patchpilot.Policy{},
			`the canary stages (from "validation") need 1 hosts but only 0 of 3 target hosts are not critical`},
		{"duplicate host", []string{"final:rest"}, append(hosts(2), view("h00", "debian:12")), patchpilot.Policy{},
			`target host "h00" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := patchpilot.Plan{Stages: stagesOf(t, tt.stages...), Policy: tt.policy}
			_, err := Resolve(p, tt.hosts)
			if err == nil {
				t.Fatalf("Resolve succeeded, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Errorf("error = %q (%s), want it to contain %q", err, patchpilot.ErrorCode(err), tt.want)
			}
		})
	}
}

func TestResolveCriticalApproval(t *testing.T) {
	hosts := []HostView{view("db1", "debian:12", "role=db", "criticality=critical")}
	p := patchpilot.Plan{Stages: stagesOf(t, "single:rest")}
	rp, err := Resolve(p, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Stages[0].RequiresApproval || rp.Stages[0].Canary {
		t.Errorf("single stage with a critical host: approval %v canary %v, want true false",
			rp.Stages[0].RequiresApproval, rp.Stages[0].Canary)
	}
	// A plan stored by an older version with the waiver still resolves,
	// but the waiver is not honoured: critical hosts always need a person.
	p.Policy.CriticalWithoutApproval = true
	rp, err = Resolve(p, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Stages[0].RequiresApproval {
		t.Error("a stored plan's waiver let a stage with a critical host start without approval")
	}
}

func TestResolveFleet(t *testing.T) {
	fleet := append(eightHosts(), view("stage1", "debian:12", "role=web", "env=staging"))
	p := patchpilot.Plan{Targets: patchpilot.TargetSelector{Selector: "role=web,env!=staging"},
		Stages: stagesOf(t, "validation:1", "final:rest")}
	rp, err := ResolveFleet(p, fleet)
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{rp.Stages[0].Hosts, rp.Stages[1].Hosts}
	want := [][]string{{"web1"}, {"web2", "web3", "web4"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	p.Targets.Selector = "role=nothing"
	if _, err := ResolveFleet(p, fleet); err == nil || !strings.Contains(err.Error(), "no target hosts") {
		t.Errorf("empty selection: err = %v, want no target hosts", err)
	}
}

// A plan without canary stages says nothing of canary coverage.
func TestResolveWithoutCanariesNotesNoCoverage(t *testing.T) {
	p := patchpilot.Plan{Stages: stagesOf(t, "all:rest")}
	rp, err := Resolve(p, eightHosts())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Join(rp.Notes, "; "); strings.Contains(n, "canary stages cover") {
		t.Errorf("notes = %q, want no canary coverage for a plan without canary stages", n)
	}
}
