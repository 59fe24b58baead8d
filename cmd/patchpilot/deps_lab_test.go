package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// The dependency map's lab test has a subnet of its own, so that its lab
// can boot beside the other packages' labs.
const depsLabSubnet = "127.0.46"

// depsLab is a three-host lab whose demo clients make a chain of real
// dependencies: lab01 calls lab02's pp-demo-web and lab02 calls lab03's.
type depsLab struct {
	*rolloutLab
	e        *env
	invFile  string
	addrs    map[string]string
	modified string // the conffile changed by hand on lab02
}

// collect runs one inventory collection over the lab.
func (d *depsLab) collect() {
	d.t.Helper()
	d.e.mustRun("inventory", "collect", "-i", d.invFile, "--known-hosts", d.lab.KnownHostsFile(), "-o", "json")
}

// connected reports whether from's own pp-demo-client has an established
// connection from its address to to's pp-demo-web, as ss shows it.
func (d *depsLab) connected(ctx context.Context, from, to string) (bool, string) {
	out, err := d.lab.Exec(ctx, from, "ss", "-H", "-t", "-n", "-p", "state", "established",
		"src", d.addrs[from], "dst", fmt.Sprintf("%s:%d", d.addrs[to], lab.DemoWebPort))
	if err != nil {
		return false, err.Error()
	}
	return strings.Contains(string(out), `users:(("pp-demo-client",`), "ss on " + from + ": " + string(out)
}

// deps runs 'deps -o json' with extra arguments.
func (d *depsLab) deps(args ...string) patchpilot.DependencyGraph {
	d.t.Helper()
	return decodeJSON[patchpilot.DependencyGraph](d.t, d.e.mustRun(append([]string{"deps", "-o", "json"}, args...)...))
}

// depsLabEdge finds the edge from one host's service to another host's port.
func depsLabEdge(g patchpilot.DependencyGraph, from, to string, port int) (patchpilot.DependencyEdge, bool) {
	for _, e := range g.Edges {
		if e.From.Host == from && e.To.Host == to && e.To.Port == port {
			return e, true
		}
	}
	return patchpilot.DependencyEdge{}, false
}

// depsLabUnitIs compares a service name with a unit, with or without ".service".
func depsLabUnitIs(got, unit string) bool {
	return strings.TrimSuffix(got, ".service") == strings.TrimSuffix(unit, ".service")
}

// hostDepth is the depth part of 'hosts show HOST -o json'.
func (d *depsLab) hostDepth(host string) *patchpilot.HostDepth {
	d.t.Helper()
	show := decodeJSON[struct {
		Facts struct {
			Depth *patchpilot.HostDepth `json:"depth"`
		} `json:"facts"`
	}](d.t, d.e.mustRun("hosts", "show", host, "-o", "json"))
	if show.Facts.Depth == nil {
		d.t.Fatalf("hosts show %s: no depth in the facts", host)
	}
	return show.Facts.Depth
}

func upDepsLab(t *testing.T) *depsLab {
	rl := bootLab(t, lab.Options{Hosts: 3, Subnet: depsLabSubnet})
	d := &depsLab{rolloutLab: rl, e: newEnv(t), addrs: map[string]string{}, modified: "/etc/pp-demo-web/pp-demo-web.conf"}
	for _, h := range rl.lab.Hosts() {
		d.addrs[h.Name] = h.Address
	}
	// Rollouts here run without a person: the critical host is collected
	// as high, as in the other rollout tests.
	inv, err := os.ReadFile(rl.lab.InventoryFile())
	if err != nil {
		t.Fatal(err)
	}
	d.invFile = filepath.Join(t.TempDir(), "inventory.ini")
	if err := os.WriteFile(d.invFile, []byte(strings.ReplaceAll(string(inv), "criticality=critical", "criticality=high")), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDependencyMapOnTheLab proves the dependency map on real hosts: the
// connections the demo clients keep become edges with both ends' services
// and packages after one collection; a stopped client's edge goes stale
// and ages out; a conffile changed by hand and a held package show in the
// host's facts and the conffile warns on an update of its package; a plan
// puts providers after their dependents, and a per-service disruption
// budget holds during a real rollout.
func TestDependencyMapOnTheLab(t *testing.T) {
	d := upDepsLab(t)
	ctx := context.Background()
	chain := [][2]string{{"lab01", "lab02"}, {"lab02", "lab03"}}
	for _, c := range chain {
		if err := d.lab.StartDemoClient(ctx, c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range chain {
		labtest.WaitFor(t, c[0]+"'s client connected to "+c[1], time.Minute, 200*time.Millisecond,
			func(ctx context.Context) (bool, string) { return d.connected(ctx, c[0], c[1]) })
	}
	// Modifications: lab02's conffile changed by hand, pp-libdemo held.
	d.sh("lab02", "sh", "-c", "echo 'load = 20 # changed by hand' >> "+d.modified)
	d.sh("lab02", "apt-mark", "hold", "pp-libdemo")

	d.collect()

	// One collection shows both edges, both ends resolved to their
	// services and packages.
	g := d.deps()
	for _, c := range chain {
		e, ok := depsLabEdge(g, c[0], c[1], lab.DemoWebPort)
		if !ok {
			t.Fatalf("deps: no edge %s → %s:%d after one collection:\n%+v", c[0], c[1], lab.DemoWebPort, g)
		}
		if !depsLabUnitIs(e.From.Service, "pp-demo-client") || e.From.Package != "pp-demo-client" || e.From.Version != "1.0.0" {
			t.Errorf("edge %s → %s: from %+v; want the service pp-demo-client of package pp-demo-client 1.0.0", c[0], c[1], e.From)
		}
		if !depsLabUnitIs(e.To.Service, "pp-demo-web") || e.To.Package != "pp-demo-web" || e.To.Version != "1.0.0" {
			t.Errorf("edge %s → %s: to %+v; want the service pp-demo-web of package pp-demo-web 1.0.0", c[0], c[1], e.To)
		}
		if !slices.Contains(e.Sources, patchpilot.EdgeObserved) || e.State != patchpilot.EdgeLive || e.LastSeen.IsZero() {
			t.Errorf("edge %s → %s: sources %v, state %q, last seen %v; want observed, live, with a time", c[0], c[1], e.Sources, e.State, e.LastSeen)
		}
	}
	// One host's neighbourhood: lab02 has both edges, as client and provider.
	if n := d.deps("lab02"); len(n.Edges) < 2 {
		t.Errorf("deps lab02: %d edges, want lab01's to it and its own to lab03:\n%+v", len(n.Edges), n)
	}
	// patchpilot's own SSH sessions to the hosts are no dependency.
	for _, e := range g.Edges {
		if e.To.Port == 22 || depsLabUnitIs(e.To.Service, "ssh") || depsLabUnitIs(e.To.Service, "sshd") {
			t.Errorf("deps: edge %+v to an SSH daemon; patchpilot's own sessions are management traffic", e)
		}
	}
	// A collection without depth keeps the depth read before (the facts
	// below, and the warnings of assess and plan, come from it) and the
	// edges live.
	d.e.mustRun("inventory", "collect", "-i", d.invFile, "--known-hosts", d.lab.KnownHostsFile(), "--no-depth", "-o", "json")
	g = d.deps()
	for _, c := range chain {
		if e, ok := depsLabEdge(g, c[0], c[1], lab.DemoWebPort); !ok || e.State != patchpilot.EdgeLive {
			t.Errorf("deps after a collection without depth: edge %s → %s %+v (found %v); want it still live", c[0], c[1], e, ok)
		}
	}
	if show := d.e.mustRun("hosts", "show", "lab02"); !strings.Contains(show, "before the latest collection") {
		t.Errorf("hosts show lab02 after a collection without depth does not say when depth was collected:\n%s", show)
	}
	if dot := d.e.mustRun("deps", "-o", "dot"); !strings.HasPrefix(strings.TrimSpace(dot), "digraph") || !strings.Contains(dot, "lab01") || !strings.Contains(dot, "lab03") {
		t.Errorf("deps -o dot is not a Graphviz digraph of the lab:\n%s", dot)
	}

	// Facts in depth on the hosts.
	d02 := d.hostDepth("lab02")
	found := false
	for _, m := range d02.Modified {
		if m.Path == d.modified {
			found = true
			if m.Package != "pp-demo-web" || !m.Conffile || !strings.Contains(m.Checks, "5") {
				t.Errorf("lab02's changed conffile: %+v; want package pp-demo-web, conffile, checksum flagged", m)
			}
		}
	}
	if !found {
		t.Errorf("hosts show lab02: modified %+v lacks %s, changed by hand", d02.Modified, d.modified)
	}
	if !slices.Contains(d02.Held, "pp-libdemo") {
		t.Errorf("hosts show lab02: held %v, want pp-libdemo (apt-mark hold)", d02.Held)
	}
	web := false
	for _, s := range d02.Services {
		if depsLabUnitIs(s.Unit, "pp-demo-web") {
			web = s.Package == "pp-demo-web" && s.Version == "1.0.0" && s.Exe == "/usr/bin/pp-demo-web" &&
				slices.ContainsFunc(s.Listens, func(l patchpilot.Socket) bool { return l.Port == lab.DemoWebPort })
			if !web {
				t.Errorf("lab02's pp-demo-web service: %+v; want its program, package 1.0.0 and port %d", s, lab.DemoWebPort)
			}
		}
	}
	if !web {
		t.Errorf("hosts show lab02: services %+v lack pp-demo-web", d02.Services)
	}
	d01 := d.hostDepth("lab01")
	if !slices.ContainsFunc(d01.Connections, func(c patchpilot.Connection) bool {
		return c.Direction == patchpilot.DirectionOut && c.Peer == d.addrs["lab02"] && c.Port == lab.DemoWebPort && depsLabUnitIs(c.Service, "pp-demo-client")
	}) {
		t.Errorf("hosts show lab01: connections %+v lack pp-demo-client's to %s:%d", d01.Connections, d.addrs["lab02"], lab.DemoWebPort)
	}
	// The lab itself changes node_exporter's defaults on every host; only
	// lab02's pp-demo-web configuration was changed by hand.
	if slices.ContainsFunc(d01.Modified, func(m patchpilot.ModifiedFile) bool { return m.Path == d.modified }) {
		t.Errorf("hosts show lab01: modified %+v; its %s was not changed", d01.Modified, d.modified)
	}

	// An update of pp-demo-web warns about lab02's changed conffile, and
	// only there.
	a := decodeJSON[assessJSON](t, d.e.mustRun("assess", "--patch", "pp-demo-web=1.1.0", "-o", "json"))
	warned := map[string]bool{}
	for _, p := range a.Patches {
		for _, h := range p.Hosts {
			for _, w := range h.Warnings {
				if strings.Contains(w.Text, d.modified) {
					warned[h.Host] = true
				}
			}
		}
	}
	if !warned["lab02"] || warned["lab01"] || warned["lab03"] {
		t.Errorf("assess pp-demo-web=1.1.0: hosts warned of %s: %v; want lab02 only\n%+v", d.modified, warned, a.Patches)
	}
	planned := decodeJSON[planResult](t, d.e.mustRun("plan", "--patch", "pp-demo-web=1.1.0", "-o", "json"))
	text := strings.Join(planned.Header, "\n") + "\n" + planned.Plan
	if !strings.Contains(text, d.modified) {
		t.Errorf("the plan does not warn that the update touches lab02's changed %s:\n%s", d.modified, text)
	}
	if !strings.Contains(strings.ToLower(text), "depend") {
		t.Errorf("the plan does not explain its order by dependencies:\n%s", text)
	}

	// A real rollout, all three hosts allowed at once by the stage, under
	// a budget of one unavailable host serving pp-demo-web:8080: the
	// providers come after their dependents, and the budget holds.
	plan := writeLabPlan(t, "deps-budget", "pp-demo-web=1.1.0", []string{"lab01", "lab02", "lab03"}, "",
		fmt.Sprintf("  budgets: [{service: \"pp-demo-web:%d\", max_unavailable: 1}]\n", lab.DemoWebPort),
		"{name: all, targets: rest, parallel: 3, "+labCriteria+", bake: 2s, on_failure: rollback_and_alert}")
	id, res := d.startRollout(d.e, plan)
	st := d.e.status(id)
	if st.State != "succeeded" {
		t.Fatalf("rollout %s: %s (%s), want succeeded\nstderr:\n%s", id, st.State, st.Reason, res.stderr)
	}
	type run struct {
		name          string
		order         int
		start, finish time.Time
	}
	runs := map[string]run{}
	for _, s := range st.Stages {
		for _, h := range s.Hosts {
			if h.StartedAt == nil || h.FinishedAt == nil {
				t.Fatalf("rollout %s: %s has no start or finish time", id, h.Name)
			}
			runs[h.Name] = run{h.Name, h.Order, *h.StartedAt, *h.FinishedAt}
		}
	}
	if len(runs) != 3 {
		t.Fatalf("rollout %s ran %d hosts, want 3: %v", id, len(runs), st.hostStates())
	}
	for _, c := range chain {
		if runs[c[1]].order <= runs[c[0]].order || runs[c[1]].start.Before(runs[c[0]].start) {
			t.Errorf("rollout %s: %s (order %d, started %s) went before its dependent %s (order %d, started %s)", id,
				c[1], runs[c[1]].order, runs[c[1]].start, c[0], runs[c[0]].order, runs[c[0]].start)
		}
	}
	// lab02 and lab03 both serve pp-demo-web:8080 to a dependent: never
	// both in flight.
	covered := []run{runs["lab02"], runs["lab03"]}
	sort.Slice(covered, func(i, j int) bool { return covered[i].start.Before(covered[j].start) })
	if covered[1].start.Before(covered[0].finish) {
		t.Errorf("rollout %s: %s started at %s while %s was in flight (until %s); the budget allows one host serving pp-demo-web:%d at a time",
			id, covered[1].name, covered[1].start, covered[0].name, covered[0].finish, lab.DemoWebPort)
	}
	if v := d.version("lab02", "pp-demo-web"); v != "1.1.0" {
		t.Errorf("lab02: pp-demo-web %s after the rollout, want 1.1.0", v)
	}
	if conf := d.sh("lab02", "cat", d.modified); !strings.Contains(conf, "changed by hand") {
		t.Errorf("lab02's changed %s was replaced by the update:\n%s", d.modified, conf)
	}

	// Stopping lab01's client: after the next collection its edge is
	// stale, and with a maximum age shorter than the time since it was
	// last seen it is gone. lab02's edge to lab03 is still live.
	if err := d.lab.StopDemoClient(ctx, "lab01"); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "lab01's connection closed", time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, string) {
		ok, s := d.connected(ctx, "lab01", "lab02")
		return !ok, s
	})
	labtest.WaitFor(t, "lab02's client reconnected to lab03 after the rollout", time.Minute, 200*time.Millisecond,
		func(ctx context.Context) (bool, string) { return d.connected(ctx, "lab02", "lab03") })
	d.collect()
	g = d.deps()
	if e, ok := depsLabEdge(g, "lab01", "lab02", lab.DemoWebPort); !ok || e.State != patchpilot.EdgeStale {
		t.Errorf("deps after lab01's client stopped: edge lab01 → lab02 %+v (found %v); want it stale", e, ok)
	}
	if e, ok := depsLabEdge(g, "lab02", "lab03", lab.DemoWebPort); !ok || e.State != patchpilot.EdgeLive {
		t.Errorf("deps: edge lab02 → lab03 %+v (found %v); want it live", e, ok)
	}
	labtest.WaitFor(t, "lab01's edge aged out of deps --max-age 1s", time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		g := d.deps("--max-age", "1s")
		_, ok := depsLabEdge(g, "lab01", "lab02", lab.DemoWebPort)
		return !ok, fmt.Sprintf("%+v", g.Edges)
	})
}
