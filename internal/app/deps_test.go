package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// seedDeps stores web1 (nginx) and db1 (postgresql on 5432), collected at
// at, web1 having seen its connection to db1 at at and one to an outside
// address long ago.
func seedDeps(t *testing.T, ctx context.Context, a *App, at time.Time) {
	t.Helper()
	hosts := []patchpilot.Host{{Name: "web1", Address: "10.1.0.1"}, {Name: "db1", Address: "10.1.0.2"},
		{Name: "lone", Address: "10.1.0.3", Labels: map[string]string{patchpilot.LabelDependsOn: "db1:postgresql"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	old := patchpilot.Facts{Host: "web1", CollectedAt: at.Add(-30 * 24 * time.Hour), Depth: &patchpilot.HostDepth{
		Connections: []patchpilot.Connection{{Direction: patchpilot.DirectionOut, Service: "nginx.service", Peer: "192.0.2.9", Port: 443}},
	}}
	web := patchpilot.Facts{Host: "web1", CollectedAt: at, Depth: &patchpilot.HostDepth{
		Services:    []patchpilot.ServiceDetail{{Unit: "nginx.service", Package: "nginx-core", Version: "1.22.1-9"}},
		Connections: []patchpilot.Connection{{Direction: patchpilot.DirectionOut, Service: "nginx.service", Peer: "10.1.0.2", Port: 5432}},
	}}
	db := patchpilot.Facts{Host: "db1", CollectedAt: at, Depth: &patchpilot.HostDepth{
		Services: []patchpilot.ServiceDetail{{Unit: "postgresql.service", Package: "postgresql-15", Version: "15.6",
			Listens: []patchpilot.Socket{{Port: 5432}}}},
	}}
	for _, f := range []patchpilot.Facts{old, web, db} {
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDependencyGraph(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	now := at.Add(time.Minute)
	a.Options.Now = func() time.Time { return now }
	seedDeps(t, ctx, a, at)

	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxAge != patchpilot.DefaultDependencyMaxAge || !g.At.Equal(now) {
		t.Errorf("graph max age %s at %s, want the default at %s", g.MaxAge, g.At, now)
	}
	var lines []string
	for _, e := range g.Edges {
		lines = append(lines, e.From.Host+":"+ServiceName(e.From.Service)+"->"+e.To.Host+":"+ServiceName(e.To.Service)+
			" "+strings.Join(e.Sources, "+")+" "+e.State)
	}
	want := "lone:->db1:postgresql declared live|web1:nginx->db1:postgresql observed live"
	if got := strings.Join(lines, "|"); got != want {
		t.Errorf("edges:\n got %s\nwant %s", got, want)
	}
	if d := Dependents(g, "db1"); strings.Join(d.Hosts, ",") != "lone,web1" || strings.Join(d.Services, ",") != "web1:nginx" {
		t.Errorf("Dependents(db1) = %+v", d)
	}

	// A longer max age brings back the old outside connection, stale.
	g, err = a.DependencyGraph(ctx, DepsOptions{Host: "web1", MaxAge: 60 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 2 || g.Edges[0].To.Address != "192.0.2.9" || g.Edges[0].State != patchpilot.EdgeStale {
		t.Errorf("web1's neighbourhood over 60 days = %+v, want the stale outside edge and db1", g.Edges)
	}
	// So does the configured one.
	a.Options.DependencyMaxAge = 60 * 24 * time.Hour
	if g, err := a.DependencyGraph(ctx, DepsOptions{Host: "web1"}); err != nil || g.MaxAge != a.Options.DependencyMaxAge {
		t.Errorf("configured max age: graph max age %s, %v", g.MaxAge, err)
	}

	_, err = a.DependencyGraph(ctx, DepsOptions{Host: "nosuch"})
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown host: %v, want %s naming it", err, patchpilot.ENOTFOUND)
	}
	_, err = a.DependencyGraph(ctx, DepsOptions{MaxAge: -time.Hour})
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("negative max age: %v, want %s", err, patchpilot.EINVALID)
	}
}

func TestPruneConnectionsKeepsMaxAge(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	a.Options.Now = func() time.Time { return at }
	seedDeps(t, ctx, a, at)
	if err := a.pruneConnections(ctx); err != nil {
		t.Fatal(err)
	}
	obs, err := a.Store.Connections(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || obs[0].Peer != "10.1.0.2" {
		t.Errorf("after pruning, connections = %+v, want only the one seen within 7 days", obs)
	}
}

func TestConfigDependencies(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, "dependencies:\n  max_age: 3d\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Apply(Options{})
	if err != nil || o.DependencyMaxAge != 72*time.Hour {
		t.Errorf("dependencies.max_age 3d: options max age %s, %v", o.DependencyMaxAge, err)
	}
	for body, want := range map[string]string{
		"dependencies:\n  max_age: soon\n":   `:2: dependencies.max_age "soon": expected a positive duration such as 7d, 3d12h, 36h or 90m`,
		"dependencies:\n  max_age: 0\n":      `:2: dependencies.max_age`,
		"dependencies:\n  maxage: 7d\n":      `:2: dependencies: unknown key "maxage"`,
		"dependencies: [7d]\n":               `:1: dependencies: expected a mapping`,
		"dependencies:\n  max_age: [1, 2]\n": `:2: dependencies.max_age`,
	} {
		_, err := LoadConfig(writeConfig(t, body), false)
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: %v, want %s containing %q", body, err, patchpilot.EINVALID, want)
		}
	}
}

// replayDialer answers each command with the output a transcript recorded
// for it, and "command not found" for any other.
type replayDialer struct{ byCmd map[string]patchpilot.Result }

func newReplayDialer(t *testing.T, dir string) replayDialer {
	t.Helper()
	tr, err := osfamily.ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := os.ReadFile(filepath.Join(dir, "commands.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d := replayDialer{byCmd: map[string]patchpilot.Result{}}
	for line := range strings.Lines(string(cmds)) {
		name, cmd, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		d.byCmd[cmd] = tr[name]
	}
	return d
}

func (d replayDialer) Dial(context.Context, patchpilot.Host) (patchpilot.Runner, error) {
	return d, nil
}

func (d replayDialer) Run(_ context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	if res, ok := d.byCmd[cmd.String()]; ok {
		return res, nil
	}
	return patchpilot.Result{ExitCode: 127, Stderr: []byte(cmd.Args[0] + ": command not found")}, nil
}

func (d replayDialer) Close() error { return nil }

// A collection deletes the observed connections older than the maximum
// age once it has saved what it collected.
func TestCollectPrunesOldConnections(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	a.Options.Now = func() time.Time { return at }
	a.Options.DependencyMaxAge = 24 * time.Hour
	seedDeps(t, ctx, a, at.Add(-2*time.Hour))
	before, err := a.Store.Connections(ctx, time.Time{})
	if err != nil || len(before) != 2 {
		t.Fatalf("seeded connections = %+v, %v; want 2", before, err)
	}
	d := newReplayDialer(t, "../osfamily/debian/testdata/ubuntu2204-crafted")
	rep, err := a.Collect(ctx, d, []patchpilot.Host{{Name: "web1", Address: "10.1.0.1"}}, CollectOptions{}, "ssh", nil)
	if err != nil || rep.Failed != 0 {
		t.Fatalf("Collect = %+v, %v", rep, err)
	}
	after, err := a.Store.Connections(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Peer != "10.1.0.2" {
		t.Errorf("after a collection, connections = %+v; want only the one seen within a day", after)
	}
}

// A collection without depth carries the host's depth forward with when it
// was read: its connections are not merged again and its edges stay live.
func TestCollectWithoutDepthCarriesDepthForward(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	at := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	a.Options.Now = func() time.Time { return later }
	seedDeps(t, ctx, a, at)
	d := newReplayDialer(t, "../osfamily/debian/testdata/ubuntu2204-crafted")
	rep, err := a.Collect(ctx, d, []patchpilot.Host{{Name: "web1", Address: "10.1.0.1"}}, CollectOptions{NoDepth: true}, "ssh", nil)
	if err != nil || rep.Failed != 0 {
		t.Fatalf("Collect = %+v, %v", rep, err)
	}
	f, err := a.Store.LatestFacts(ctx, "web1")
	if err != nil {
		t.Fatal(err)
	}
	if !f.CollectedAt.Equal(later) || f.Depth == nil || !f.Depth.CollectedAt.Equal(at) ||
		len(f.Depth.Services) != 1 || f.Depth.Services[0].Unit != "nginx.service" {
		t.Fatalf("latest facts at %s with depth %+v; want the depth read at %s carried forward", f.CollectedAt, f.Depth, at)
	}
	conns, err := a.Store.Connections(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.Peer == "10.1.0.2" && (c.Seen != 1 || !c.LastSeen.Equal(at)) {
			t.Errorf("connection %+v merged again; want seen once, last at %s", c, at)
		}
	}
	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range g.Edges {
		if e.From.Host == "web1" && e.To.Host == "db1" && e.State != patchpilot.EdgeLive {
			t.Errorf("web1 → db1 is %s after a collection without depth, want live", e.State)
		}
	}
}

func TestParseMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "3d12h": 84 * time.Hour, "1h30m": 90 * time.Minute, " 36h ": 36 * time.Hour,
		"3650d": MaxDependencyMaxAge, "1d30m": 24*time.Hour + 30*time.Minute,
	} {
		if got, err := ParseMaxAge("--max-age", in); err != nil || got != want {
			t.Errorf("ParseMaxAge(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                    "--max-age is empty",
		"  ":                  "--max-age is empty",
		"99999999d":           `--max-age "99999999d" is too large: the maximum is 3650d`,
		"3651d":               "is too large: the maximum is 3650d",
		"3650d1h":             "is too large",
		"999999999999999999h": "is too large",
		"0":                   "expected a positive duration",
		"0d":                  "expected a positive duration",
		"-3h":                 "expected a positive duration",
		"3d-1h":               "expected a positive duration",
		"soon":                "expected a positive duration such as 7d, 3d12h, 36h or 90m",
		"d":                   "expected a positive duration",
		"3dd":                 "expected a positive duration",
	} {
		_, err := ParseMaxAge("--max-age", in)
		if err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMaxAge(%q) = %v; want EINVALID containing %q", in, err, want)
		}
	}
	c, err := LoadConfig(writeConfig(t, "dependencies:\n  max_age: 3d12h\n"), false)
	if err != nil || c.Dependencies == nil || c.Dependencies.MaxAge != 84*time.Hour {
		t.Errorf("dependencies.max_age 3d12h: %+v, %v; want 84h", c.Dependencies, err)
	}
}
