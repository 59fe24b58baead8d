package planner

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// edge builds a dependency edge: from "host:service" on "host:service:port".
func edge(from, to string, port int, sources ...string) patchpilot.DependencyEdge {
	fh, fs, _ := strings.Cut(from, ":")
	th, ts, _ := strings.Cut(to, ":")
	if len(sources) == 0 {
		sources = []string{patchpilot.EdgeObserved}
	}
	return patchpilot.DependencyEdge{
		From: patchpilot.DependencyEnd{Host: fh, Service: fs}, To: patchpilot.DependencyEnd{Host: th, Service: ts, Port: port},
		Sources: sources, State: patchpilot.EdgeLive,
	}
}

func labHosts() []HostView {
	return []HostView{
		view("lab01", "debian:12", "role=web"),
		view("lab02", "debian:12", "role=web"),
		view("lab03", "debian:12", "role=web"),
		view("lab04", "debian:12", "role=web"),
	}
}

// stageHosts returns each stage's hosts.
func stageHosts(rp ResolvedPlan) [][]string {
	var out [][]string
	for _, s := range rp.Stages {
		out = append(out, s.Hosts)
	}
	return out
}

func allReasons(rp ResolvedPlan) string {
	var out []string
	for _, s := range rp.Stages {
		out = append(out, s.Reasons...)
	}
	return strings.Join(out, "\n")
}

func TestResolveKeepsProvidersOutOfCanariesAndAfterDependents(t *testing.T) {
	// lab01 and lab03 call lab02's web service; lab02 and lab01 would be
	// the first picks by name.
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{
		edge("lab01:pp-demo-client.service", "lab02:pp-demo-web.service", 8080),
		edge("lab03:pp-demo-client.service", "lab02:pp-demo-web.service", 8080, patchpilot.EdgeDeclared),
		// An external client and a host's own loopback use never make a provider.
		{From: patchpilot.DependencyEnd{Address: "192.0.2.7"}, To: patchpilot.DependencyEnd{Host: "lab04", Port: 22}},
		edge("lab04:cron", "lab04:postgresql", 5432),
	}}
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true},
		Stages: stagesOf(t, "validation:1", "canary:1", "final:rest")}
	hosts := WithDependencies(labHosts(), g)
	if got := hosts[1].DependentHosts(); !reflect.DeepEqual(got, []string{"lab01", "lab03"}) {
		t.Fatalf("lab02's dependents = %v", got)
	}
	if hosts[3].IsProvider() {
		t.Fatalf("lab04 counts as a provider from an external client or itself: %+v", hosts[3].Dependents)
	}
	rp, err := Resolve(p, hosts)
	if err != nil {
		t.Fatal(err)
	}
	got := stageHosts(rp)
	for _, s := range got[:2] {
		if slices.Contains(s, "lab02") {
			t.Fatalf("the provider lab02 is in a canary stage: %v", got)
		}
	}
	final := got[2]
	i2 := slices.Index(final, "lab02")
	for _, dep := range []string{"lab01", "lab03"} {
		at := slices.Index(final, dep)
		for _, s := range got[:2] {
			if slices.Contains(s, dep) {
				at = -1 // in an earlier stage: before lab02 too
			}
		}
		if at > i2 {
			t.Errorf("%s goes after its provider lab02: %v", dep, got)
		}
	}
	reasons := allReasons(rp)
	for _, want := range []string{
		"kept out of the canary stages, as other hosts depend on them: lab02 (lab01:pp-demo-client depends on lab02:pp-demo-web:8080; lab03:pp-demo-client depends on lab02:pp-demo-web:8080)",
	} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons do not say %q:\n%s", want, reasons)
		}
	}
	if want := "lab02 after lab01, lab03: lab01:pp-demo-client depends on lab02:pp-demo-web:8080; lab03:pp-demo-client depends on lab02:pp-demo-web:8080"; !slices.Contains(rp.Stages[2].Reasons, want) {
		t.Errorf("the final stage (%v) does not explain lab02's place: %q, want %q", got, rp.Stages[2].Reasons, want)
	}

	// Without the map, the plan is what it always was.
	old, err := Resolve(p, labHosts())
	if err != nil {
		t.Fatal(err)
	}
	ignored := p
	ignored.Order.Dependencies = patchpilot.OrderIgnore
	ig, err := Resolve(ignored, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stageHosts(ig), stageHosts(old)) || strings.Contains(allReasons(ig), "depend") {
		t.Errorf("order: ignore resolved to %v (%q), want %v as without a map", stageHosts(ig), allReasons(ig), stageHosts(old))
	}
	if !slices.Contains(stageHosts(old)[0], "lab01") {
		t.Fatalf("the test expects lab01 to validate without a map: %v", stageHosts(old))
	}
}

func TestResolveWithinAStageProviderAfterDependents(t *testing.T) {
	// One stage: lab01 (first by name) serves lab04.
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{edge("lab04:app", "lab01:postgresql", 5432)}}
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}, Stages: stagesOf(t, "all:rest")}
	rp, err := Resolve(p, WithDependencies(labHosts(), g))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lab02", "lab03", "lab04", "lab01"}; !reflect.DeepEqual(rp.Stages[0].Hosts, want) {
		t.Errorf("hosts = %v, want %v", rp.Stages[0].Hosts, want)
	}
	if !slices.Contains(rp.Stages[0].Reasons, "lab01 after lab04: lab04:app depends on lab01:postgresql:5432") {
		t.Errorf("reasons = %q", rp.Stages[0].Reasons)
	}

	p.Order.Dependencies = patchpilot.OrderProvidersFirst
	g = patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{edge("lab01:app", "lab04:postgresql", 5432)}}
	rp, err = Resolve(p, WithDependencies(labHosts(), g))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lab02", "lab03", "lab04", "lab01"}; !reflect.DeepEqual(rp.Stages[0].Hosts, want) {
		t.Errorf("providers_first: hosts = %v, want %v", rp.Stages[0].Hosts, want)
	}
	if !slices.Contains(rp.Stages[0].Reasons, "lab01 after lab04: lab01:app depends on lab04:postgresql:5432") {
		t.Errorf("providers_first: reasons = %q", rp.Stages[0].Reasons)
	}
}

func TestResolveProvidersFirstCanaries(t *testing.T) {
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{edge("lab01:app", "lab03:postgresql", 5432)}}
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}, Stages: stagesOf(t, "validation:1", "final:rest"),
		Order: patchpilot.OrderConfig{Dependencies: patchpilot.OrderProvidersFirst}}
	rp, err := Resolve(p, WithDependencies(labHosts(), g))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rp.Stages[0].Hosts, []string{"lab03"}) {
		t.Errorf("validation = %v, want the provider lab03", rp.Stages[0].Hosts)
	}
	if r := strings.Join(rp.Stages[0].Reasons, "\n"); !strings.Contains(r, "lab03 goes first (order: providers_first): lab01:app depends on lab03:postgresql:5432") {
		t.Errorf("reasons = %s", r)
	}
}

func TestResolveProviderCanaryWhenNothingElse(t *testing.T) {
	// Every non-critical host serves another: the canary must still be one.
	hosts := []HostView{
		view("a", "debian:12"), view("b", "debian:12"), view("db", "debian:12", "criticality=critical"),
	}
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{
		edge("a:app", "b:api", 443), edge("b:api", "a:cache", 6379), edge("a:app", "db:postgresql", 5432),
	}}
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true}, Stages: stagesOf(t, "validation:1", "final:rest")}
	rp, err := Resolve(p, WithDependencies(hosts, g))
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Stages[0].Hosts) != 1 || rp.Stages[0].Hosts[0] == "db" {
		t.Fatalf("validation = %v", rp.Stages[0].Hosts)
	}
	r := strings.Join(rp.Stages[0].Reasons, "\n")
	if !strings.Contains(r, "is a canary although 1 host depends on it, as the other targets do not fill the canary stages") {
		t.Errorf("reasons = %s", r)
	}
	// db waits for a, its dependent, in the final stage.
	final := rp.Stages[1].Hosts
	if slices.Index(final, "db") < slices.Index(final, "a") {
		t.Errorf("final = %v: db goes before its dependent a", final)
	}
}

func TestDependencyCycle(t *testing.T) {
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{edge("a:x", "b:y", 1), edge("b:y", "a:x", 2)}}
	hosts := WithDependencies([]HostView{view("a", "debian:12"), view("b", "debian:12")}, g)
	out, why := dependencyOrder(hosts, false)
	if len(out) != 2 {
		t.Fatalf("order lost hosts: %v", names(out))
	}
	if !strings.Contains(why[out[0].Name()], "depend on each other (a dependency cycle)") {
		t.Errorf("why = %q", why)
	}
}

func TestServiceSpec(t *testing.T) {
	depth := &patchpilot.HostDepth{
		Services: []patchpilot.ServiceDetail{
			{Unit: "postgresql@15-main.service", Listens: []patchpilot.Socket{{Port: 5432}}},
			{Unit: "pp-demo-web.service", Listens: []patchpilot.Socket{{Address: "127.0.1.2", Port: 8080}}},
		},
		Listeners: []patchpilot.Socket{{Port: 5432}, {Address: "127.0.1.2", Port: 8080}, {Port: 9100}},
	}
	deep := view("db1", "debian:12")
	deep.Depth = depth
	shallow := view("db2", "debian:12")
	shallow.Services = []string{"postgresql@15-main.service", "ssh.service"}
	tests := []struct {
		spec          string
		unit          string
		port          int
		deep, shallow bool
	}{
		{"postgresql@15-main", "postgresql@15-main", 0, true, true},
		{"postgresql@15-main.service", "postgresql@15-main", 0, true, true},
		{":5432", "", 5432, true, false},
		{"postgresql@15-main:5432", "postgresql@15-main", 5432, true, true},
		{"pp-demo-web:5432", "pp-demo-web", 5432, false, false},
		{":9100", "", 9100, true, false}, // a socket of no known service
		{"ssh", "ssh", 0, false, true},
	}
	for _, tt := range tests {
		sp, err := ParseServiceSpec(tt.spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if sp.Unit != tt.unit || sp.Port != tt.port {
			t.Errorf("%s parsed to %+v", tt.spec, sp)
		}
		if got := sp.Covers(deep); got != tt.deep {
			t.Errorf("%s covers the host in depth: %v, want %v", tt.spec, got, tt.deep)
		}
		if got := sp.Covers(shallow); got != tt.shallow {
			t.Errorf("%s covers the host without depth: %v, want %v", tt.spec, got, tt.shallow)
		}
	}
	for _, bad := range []string{"", ":", "db:0", "db:x", "a b", "db:5432:1"} {
		if _, err := ParseServiceSpec(bad); err == nil {
			t.Errorf("ParseServiceSpec(%q) succeeded", bad)
		}
	}
}

// A service spec that parses writes back as a spec that parses to the
// same; none panics.
func FuzzParseServiceSpec(f *testing.F) {
	for _, s := range []string{"postgresql", "postgresql.service", ":5432", "db:5432", "a@b:1", "", ":", "x:65536", "ü:1", "x.service.service:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseServiceSpec(s)
		if err != nil {
			return
		}
		back, err := ParseServiceSpec(sp.String())
		if err != nil || back != sp {
			t.Fatalf("%q parsed to %+v, which writes as %q and reads back as %+v, %v", s, sp, sp.String(), back, err)
		}
	})
}
