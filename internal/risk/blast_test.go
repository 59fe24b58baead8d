package risk_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

func depEdge(fromHost, fromSvc, toHost, toSvc string, port int, source string) patchpilot.DependencyEdge {
	return patchpilot.DependencyEdge{
		From:    patchpilot.DependencyEnd{Host: fromHost, Service: fromSvc},
		To:      patchpilot.DependencyEnd{Host: toHost, Service: toSvc, Port: port},
		Sources: []string{source}, State: patchpilot.EdgeLive,
	}
}

func blastGraph() patchpilot.DependencyGraph {
	return patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{
		depEdge("lab01", "pp-demo-client.service", "lab02", "pp-demo-web.service", 8080, patchpilot.EdgeObserved),
		depEdge("lab03", "", "lab02", "", 8080, patchpilot.EdgeDeclared),
		depEdge("lab04", "", "lab02", "", 0, patchpilot.EdgeDeclared),
		depEdge("lab05", "backup.service", "lab02", "ssh.service", 22, patchpilot.EdgeObserved),
		depEdge("lab02", "cron.service", "lab02", "pp-demo-web.service", 8080, patchpilot.EdgeObserved), // itself
		{From: patchpilot.DependencyEnd{Address: "198.51.100.9"}, To: patchpilot.DependencyEnd{Host: "lab02", Port: 8080}},
		depEdge("lab01", "pp-demo-client.service", "lab03", "api.service", 443, patchpilot.EdgeObserved), // another host
	}}
}

func lab02Facts(depth bool) patchpilot.Facts {
	f := patchpilot.Facts{Host: "lab02", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
		Services: []string{"pp-demo-web.service", "ssh.service"}}
	if depth {
		f.Depth = &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{
			{Unit: "pp-demo-web.service", Package: "pp-demo-web", Libraries: []string{"libc6", "pp-demo-web", "pp-libdemo"},
				Listens: []patchpilot.Socket{{Port: 8080}}},
			{Unit: "ssh.service", Package: "openssh-server", Libraries: []string{"libc6", "libssl3", "openssh-server"},
				Listens: []patchpilot.Socket{{Port: 22}}},
		}}
	}
	return f
}

func TestBlastRadiusOf(t *testing.T) {
	g := blastGraph()
	tests := []struct {
		name       string
		depth      bool
		pkg        string
		reboot     bool
		hosts      int
		services   int
		touched    []string
		edges      []string
		noDepsText string
	}{
		{name: "the service's package", depth: true, pkg: "pp-demo-web", hosts: 3, services: 3, touched: []string{"pp-demo-web"},
			edges: []string{"lab01:pp-demo-client → pp-demo-web:8080", "lab03 → 8080", "lab04 → lab02"}},
		{name: "a library the service maps", depth: true, pkg: "pp-libdemo", hosts: 3, services: 3, touched: []string{"pp-demo-web"},
			edges: []string{"lab01:pp-demo-client → pp-demo-web:8080", "lab03 → 8080", "lab04 → lab02"}},
		{name: "a library of both services", depth: true, pkg: "libc6", hosts: 4, services: 4, touched: []string{"pp-demo-web", "ssh"},
			edges: []string{"lab01:pp-demo-client → pp-demo-web:8080", "lab03 → 8080", "lab04 → lab02", "lab05:backup → ssh:22"}},
		{name: "a package no service uses", depth: true, pkg: "curl"},
		{name: "a reboot touches every dependent", depth: true, pkg: "linux-image-amd64", reboot: true, hosts: 4, services: 4,
			touched: []string{"the host"}, edges: []string{"lab01:pp-demo-client → pp-demo-web:8080", "lab03 → 8080", "lab04 → lab02", "lab05:backup → ssh:22"}},
		// Without depth only the unit named after the package is known;
		// an edge naming only a port cannot be matched to it.
		{name: "no depth: unit by name", pkg: "pp-demo-web", hosts: 2, services: 2, touched: []string{"pp-demo-web"},
			edges: []string{"lab01:pp-demo-client → pp-demo-web:8080", "lab04 → lab02"}},
		{name: "no depth: a library", pkg: "pp-libdemo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := risk.BlastRadiusOf(g, "lab02", lab02Facts(tt.depth), tt.pkg, "", tt.reboot)
			if tt.hosts == 0 {
				if b != nil {
					t.Fatalf("blast radius %+v, want none", b)
				}
				return
			}
			if b == nil {
				t.Fatal("no blast radius")
			}
			if b.Hosts != tt.hosts || b.Services != tt.services || !reflect.DeepEqual(b.Touched, tt.touched) || !reflect.DeepEqual(b.Edges, tt.edges) {
				t.Errorf("blast radius %+v, want %d hosts, %d services, touched %v, edges %q", b, tt.hosts, tt.services, tt.touched, tt.edges)
			}
		})
	}
	if b := risk.BlastRadiusOf(g, "lab04", lab02Facts(true), "pp-demo-web", "", true); b != nil {
		t.Errorf("lab04, on which nothing depends: %+v", b)
	}
}

// The blast radius is shown as a reason and changes no probability: the
// model's vectors are those of the stored models.
func TestBlastRadiusIsAReasonNotAFeature(t *testing.T) {
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	m := risk.NewColdStart(p, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if slices.Contains(m.Features, risk.ReasonBlastRadius) || slices.Contains(risk.FeatureNames(), risk.ReasonBlastRadius) {
		t.Fatal("the blast radius is a model feature")
	}
	u := patchpilot.HostUpdate{Host: "lab02", Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}
	r := risk.RecordOf(u, patchpilot.Host{Name: "lab02"}, lab02Facts(true), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	plain := m.Assess(r)
	r.BlastRadius = risk.BlastRadiusOf(blastGraph(), "lab02", lab02Facts(true), u.Package, "", false)
	got := m.Assess(r)
	if got.Probability != plain.Probability || !reflect.DeepEqual(got.Features, plain.Features) {
		t.Errorf("the blast radius moved the probability: %v, want %v", got.Probability, plain.Probability)
	}
	want := "3 hosts depend on services it touches: lab01:pp-demo-client → pp-demo-web:8080; lab03 → 8080; lab04 → lab02"
	last := got.Reasons[len(got.Reasons)-1]
	if last.Feature != risk.ReasonBlastRadius || last.Direction != risk.DirectionContext || last.Effect != 0 || last.String() != want {
		t.Errorf("last reason %+v (%q), want the blast radius %q", last, last.String(), want)
	}
	if got.BlastRadius == nil || got.BlastRadius.Hosts != 3 {
		t.Errorf("assessment blast radius %+v", got.BlastRadius)
	}
	// A patch of two packages touching the service states it once.
	lib := r
	lib.Package, lib.FromVersion, lib.ToVersion = "pp-libdemo", "1.0", "1.1"
	lib.BlastRadius = risk.BlastRadiusOf(blastGraph(), "lab02", lab02Facts(true), "pp-libdemo", "", false)
	pa := m.AssessPatch([]risk.Record{r, lib})
	n := 0
	for _, x := range pa.Reasons {
		if x.Feature == risk.ReasonBlastRadius {
			n++
			if x.Text != want {
				t.Errorf("patch blast reason %q, want %q", x.Text, want)
			}
		}
	}
	if n != 1 {
		t.Errorf("the patch states its blast radius %d times: %+v", n, pa.Reasons)
	}
	// The JSON of an assessment carries it; a history line may too.
	data, err := json.Marshal(got)
	if err != nil || !strings.Contains(string(data), `"blast_radius":{"hosts":3,"services":3`) {
		t.Errorf("JSON %s, %v", data, err)
	}
	line, _ := json.Marshal(risk.Record{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Package: "x", Outcome: patchpilot.OutcomeSucceeded,
		BlastRadius: &risk.BlastRadius{Hosts: 1, Services: 1, Touched: []string{"x"}, Edges: []string{"a → x:1"}}})
	if _, err := risk.ReadHistory(strings.NewReader(string(line)+"\n"), "h.jsonl"); err != nil {
		t.Errorf("a history line with a blast radius: %v", err)
	}
}

func TestLocalModificationWarnings(t *testing.T) {
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	u := patchpilot.HostUpdate{Host: "lab02", Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}
	f := lab02Facts(true)
	f.Depth.Modified = []patchpilot.ModifiedFile{
		{Package: "pp-demo-web", Path: "/etc/pp-demo-web/pp-demo-web.conf", Conffile: true, Checks: "??5??????"},
		{Package: "pp-demo-web", Path: "/etc/pp-demo-web/extra.conf", Conffile: true, Missing: true},
		{Package: "pp-demo-web", Path: "/usr/bin/pp-demo-web", Checks: "??5??????"},
		{Package: "openssh-server", Path: "/etc/ssh/sshd_config", Conffile: true, Checks: "??5??????"},
	}
	f.Depth.Held = []string{"pp-demo-web", "libc6"}
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	m := risk.NewColdStart(p, now)
	as := m.Assess(risk.RecordOf(u, patchpilot.Host{Name: "lab02"}, f, now))
	var texts []string
	for _, w := range as.Warnings {
		texts = append(texts, w.Kind+": "+w.Text)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		"modified_files: pp-demo-web: /etc/pp-demo-web/pp-demo-web.conf was changed on lab02; the update keeps the local version (apply runs dpkg with --force-confdef --force-confold): if the new package ships a different file, it is left beside as /etc/pp-demo-web/pp-demo-web.conf.dpkg-dist, not merged",
		"modified_files: pp-demo-web: /etc/pp-demo-web/extra.conf was deleted on lab02; dpkg does not bring a deleted configuration file back on upgrade",
		"modified_files: pp-demo-web: /usr/bin/pp-demo-web was changed on lab02; the update replaces it with the package's file",
		"held: pp-demo-web is held on lab02 (apt-mark hold): apply does not pass --allow-change-held-packages",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings do not say %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "sshd_config") {
		t.Errorf("a file of another package is warned about:\n%s", all)
	}
	if as.Strategy == risk.StrategyImmediate {
		t.Errorf("strategy %s despite warnings", as.Strategy)
	}

	// rpm hosts are told what rpm does.
	f.OSFamily = patchpilot.FamilyRedHat
	as = m.Assess(risk.RecordOf(u, patchpilot.Host{Name: "lab02"}, f, now))
	if w := as.Warnings[0].Text; !strings.Contains(w, ".rpmnew") || !strings.Contains(w, ".rpmsave") {
		t.Errorf("rpm warning %q", w)
	}
	// Without depth nothing is known: no such warning.
	f.Depth = nil
	as = m.Assess(risk.RecordOf(u, patchpilot.Host{Name: "lab02"}, f, now))
	for _, w := range as.Warnings {
		if w.Kind == risk.WarnModified || w.Kind == risk.WarnHeld {
			t.Errorf("warning without depth: %+v", w)
		}
	}
}
