package orchestrator

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// The engine's logic is tested against a real SQLite store and in-memory
// hosts: a fake package manager, health checker and dialer that record
// what the engine asked of them. The end-to-end tests in cmd/patchpilot
// run the same engine against the lab.

// clock is virtual time: waiting advances it at once (with a short real
// pause so that goroutines take turns).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)} // a Monday
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	go func() {
		time.Sleep(200 * time.Microsecond)
		ch <- now
	}()
	return ch
}

// fleet is the in-memory hosts: their installed versions and boot ids,
// and a log of what the engine did to them.
type fleet struct {
	mu          sync.Mutex
	installed   map[string]map[string]string
	boot        map[string]int
	unreachable map[string]bool
	// drops makes a host's next connections and commands fail as
	// unreachable, one count each, then answer again.
	drops map[string]int
	// dialed holds every connection made to each host, in order.
	dialed     map[string][]*fakeRunner
	applyFails map[string]bool // apply installs the new version, then exits non-zero (a failed postinst)
	// applyRefused makes apply exit non-zero before changing anything,
	// as apt does when it refuses a transaction.
	applyRefused map[string]bool
	rbFails      map[string]bool // rollback exits non-zero
	needsReboot  map[string]bool
	verdict      func(host string, check int) patchpilot.HealthVerdict
	checks       map[string]int
	applies      map[string]int
	log          []string // "apply h", "rollback h", "reboot h"
	inflight     map[string]bool
	maxInflight  map[string]int // by role label value
	roles        map[string]string
	removals     map[string][]string // what the dry run would remove, by host
	// promoteAt, when positive, makes a healthy check from that check on
	// say that the bake may end early, as a canary judge's Pass does.
	promoteAt int
	// commands maps other commands ("host: args") to the exit status the
	// fake host answers; each run is logged as "run host: args".
	commands map[string]int
	// The options the engine passed, in call order.
	preflightOpts []patchpilot.PreflightOptions
	applyOpts     []patchpilot.ApplyOptions
}

func newFleet(hosts ...string) *fleet {
	f := &fleet{installed: map[string]map[string]string{}, boot: map[string]int{}, unreachable: map[string]bool{}, drops: map[string]int{}, dialed: map[string][]*fakeRunner{},
		applyFails: map[string]bool{}, applyRefused: map[string]bool{}, rbFails: map[string]bool{}, needsReboot: map[string]bool{},
		checks: map[string]int{}, applies: map[string]int{}, inflight: map[string]bool{}, maxInflight: map[string]int{}, roles: map[string]string{},
		removals: map[string][]string{}, commands: map[string]int{}}
	for _, h := range hosts {
		f.installed[h] = map[string]string{"web": "1.0"}
	}
	return f
}

func (f *fleet) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
}

func (f *fleet) entries(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.log {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimPrefix(l, prefix))
		}
	}
	return out
}

// drop reports whether the host drops this connection or command,
// counting it; f.mu is held.
func (f *fleet) drop(host string) bool {
	if f.drops[host] > 0 {
		f.drops[host]--
		return true
	}
	return false
}

// Dial implements patchpilot.Dialer.
func (f *fleet) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unreachable[h.Name] || f.drop(h.Name) {
		return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: connection timed out", h.Name)
	}
	r := &fakeRunner{f: f, host: h.Name}
	f.dialed[h.Name] = append(f.dialed[h.Name], r)
	return r, nil
}

type fakeRunner struct {
	f    *fleet
	host string
	// lost makes every command on this connection fail as a lost
	// connection; closed records its Close. Both are guarded by f.mu.
	lost, closed bool
}

func (r *fakeRunner) Run(_ context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unreachable[r.host] || r.lost || f.drop(r.host) {
		return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: connection lost", r.host)
	}
	switch strings.Join(cmd.Args, " ") {
	case "cat /proc/sys/kernel/random/boot_id":
		return patchpilot.Result{Stdout: []byte(fmt.Sprintf("boot-%s-%d\n", r.host, f.boot[r.host]))}, nil
	case "systemctl reboot":
		f.boot[r.host]++
		f.needsReboot[r.host] = false
		f.log = append(f.log, "reboot "+r.host)
		return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EUNREACHABLE, "connection closed")
	case "test -e /run/reboot-required":
		if f.needsReboot[r.host] {
			return patchpilot.Result{}, nil
		}
		return patchpilot.Result{ExitCode: 1}, nil
	case "true":
		return patchpilot.Result{}, nil
	}
	key := r.host + ": " + strings.Join(cmd.Args, " ")
	if code, ok := f.commands[key]; ok {
		f.log = append(f.log, "run "+key)
		return patchpilot.Result{ExitCode: code, Stdout: []byte("ran " + cmd.Args[0] + "\n"), Stderr: []byte(fmt.Sprintf("status %d\n", code))}, nil
	}
	return patchpilot.Result{ExitCode: 127}, nil
}

func (r *fakeRunner) Close() error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.closed = true
	return nil
}

// fakePM implements patchpilot.PackageManager on the fleet.
type fakePM struct{ f *fleet }

func hostOf(r patchpilot.Runner) string { return r.(*fakeRunner).host }

func (p fakePM) Installed(_ context.Context, r patchpilot.Runner, names []string) (map[string]string, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	out := map[string]string{}
	for _, n := range names {
		out[n] = p.f.installed[hostOf(r)][n]
	}
	return out, nil
}

func (p fakePM) Preflight(_ context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, o patchpilot.PreflightOptions) (patchpilot.PreflightReport, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.preflightOpts = append(p.f.preflightOpts, o)
	rep := patchpilot.PreflightReport{Pins: pins, Removals: p.f.removals[hostOf(r)]}
	for _, pin := range pins {
		from := p.f.installed[hostOf(r)][pin.Name]
		// The fake's versions order as strings ("1.0" < "1.1").
		if from > pin.Version {
			rep.Downgrades = append(rep.Downgrades, pin.Name)
			if !o.AllowDowngrade {
				rep.Problems = append(rep.Problems, "the transaction downgrades "+pin.Name+" to an older version and downgrades are not allowed")
				continue
			}
		}
		if from == pin.Version {
			continue // installed already: apt has nothing to do for it
		}
		rep.Changes = append(rep.Changes, patchpilot.PackageChange{Name: pin.Name, From: from, To: pin.Version})
		if strings.HasPrefix(pin.Name, "kernel") {
			rep.RebootRequired = true
		}
	}
	return rep, nil
}

func (p fakePM) Snapshot(_ context.Context, r patchpilot.Runner, plan patchpilot.PreflightReport) (patchpilot.PackageSnapshot, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	s := patchpilot.PackageSnapshot{Versions: map[string]string{}, Artifacts: map[string]string{}}
	for _, c := range plan.Changes {
		s.Versions[c.Name] = p.f.installed[hostOf(r)][c.Name]
		s.Artifacts[c.Name] = "/var/lib/patchpilot/" + c.Name + ".deb"
	}
	return s, nil
}

func (p fakePM) Apply(_ context.Context, r patchpilot.Runner, pins []patchpilot.PackagePin, o patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	h := hostOf(r)
	p.f.mu.Lock()
	p.f.log = append(p.f.log, "apply "+h)
	p.f.applyOpts = append(p.f.applyOpts, o)
	p.f.applies[h]++
	p.f.inflight[h] = true
	busy := 0
	for other := range p.f.inflight {
		if p.f.roles[other] == p.f.roles[h] {
			busy++
		}
	}
	p.f.maxInflight[p.f.roles[h]] = max(p.f.maxInflight[p.f.roles[h]], busy)
	fails, refused := p.f.applyFails[h], p.f.applyRefused[h]
	p.f.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // let other pipelines overlap
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	delete(p.f.inflight, h)
	if refused {
		return patchpilot.ApplyReport{ExitCode: 100, Output: "E: Packages were downgraded and -y was used without --allow-downgrades."}, nil
	}
	if fails {
		for _, pin := range pins {
			p.f.installed[h][pin.Name] = pin.Version
		}
		return patchpilot.ApplyReport{ExitCode: 1, Output: "dpkg: error processing package web (--configure)"}, nil
	}
	rep := patchpilot.ApplyReport{}
	for _, pin := range pins {
		rep.Changes = append(rep.Changes, patchpilot.PackageChange{Name: pin.Name, From: p.f.installed[h][pin.Name], To: pin.Version})
		p.f.installed[h][pin.Name] = pin.Version
		if strings.HasPrefix(pin.Name, "kernel") {
			rep.RebootRequired = true
			p.f.needsReboot[h] = true
		}
	}
	return rep, nil
}

func (p fakePM) Rollback(_ context.Context, r patchpilot.Runner, snap patchpilot.PackageSnapshot, _ patchpilot.ApplyOptions) (patchpilot.ApplyReport, error) {
	h := hostOf(r)
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.log = append(p.f.log, "rollback "+h)
	if p.f.rbFails[h] {
		return patchpilot.ApplyReport{ExitCode: 100, Output: "E: Version '1.0' for 'web' was not found"}, nil
	}
	for name, v := range snap.Versions {
		p.f.installed[h][name] = v
	}
	return patchpilot.ApplyReport{}, nil
}

// fakeHealth implements patchpilot.HealthChecker with the fleet's verdict
// function; a host back at its old versions is always healthy.
type fakeHealth struct{ f *fleet }

func (c fakeHealth) Baseline(context.Context, patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	return patchpilot.HealthBaseline{"cpu": []byte(`{"cpu":0.1}`)}, nil
}

func (c fakeHealth) Check(_ context.Context, t patchpilot.HealthTarget, base patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if string(base["cpu"]) != `{"cpu":0.1}` {
		return patchpilot.HealthReport{}, fmt.Errorf("baseline lost: %q", base["cpu"])
	}
	h := t.Host.Name
	c.f.checks[h]++
	v := patchpilot.Healthy
	if c.f.verdict != nil && c.f.installed[h]["web"] != "1.0" {
		v = c.f.verdict(h, c.f.checks[h])
	}
	res := patchpilot.GateResult{Gate: "http_ok", Outcome: patchpilot.GatePass, Reason: "200"}
	if v != patchpilot.Healthy {
		res.Outcome, res.Reason = patchpilot.GateBreach, "500"
	}
	promote := c.f.promoteAt > 0 && c.f.checks[h] >= c.f.promoteAt && v == patchpilot.Healthy
	return patchpilot.HealthReport{Verdict: v, Results: []patchpilot.GateResult{res}, Reason: res.Reason, Promote: promote}, nil
}

// env is one test's engine over a fresh store and fleet.
type env struct {
	t     *testing.T
	db    *sqlite.DB
	f     *fleet
	clock *clock
	e     *Engine
}

func newEnv(t *testing.T, hosts []patchpilot.Host) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	f := newFleet(names...)
	for _, h := range hosts {
		f.roles[h.Name] = h.Labels["role"]
		facts := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true,
			Packages: []patchpilot.Package{{Name: "web", Version: "1.0", SourceName: "web-src"}},
			Services: []string{"ssh.service", "web.service"}}
		if err := db.SaveFacts(ctx, facts); err != nil {
			t.Fatal(err)
		}
	}
	c := newClock()
	e := &Engine{Store: db, Dialer: f, Now: c.Now, After: c.After, Owner: "test-controller",
		PackageManagers: func(patchpilot.OSFamily) (patchpilot.PackageManager, error) { return fakePM{f}, nil },
		Health:          func(patchpilot.Plan, patchpilot.Stage) (patchpilot.HealthChecker, error) { return fakeHealth{f}, nil },
		CheckInterval:   time.Second, PollInterval: 100 * time.Millisecond, RollbackSettle: 5 * time.Second,
	}
	return &env{t: t, db: db, f: f, clock: c, e: e}
}

func hostsNamed(n int, roles ...string) []patchpilot.Host {
	var hs []patchpilot.Host
	for i := 1; i <= n; i++ {
		role := "web"
		if len(roles) > 0 {
			role = roles[(i-1)%len(roles)]
		}
		hs = append(hs, patchpilot.Host{Name: fmt.Sprintf("h%02d", i), Labels: map[string]string{"role": role, "env": "test"}})
	}
	return hs
}

// start parses a plan and starts a rollout on every stored host.
func (e *env) start(planYAML string) string {
	e.t.Helper()
	return e.startRollout(planYAML, false)
}

// startRollout parses a plan and starts a rollout, or a dry run of it, on
// every stored host.
func (e *env) startRollout(planYAML string, dryRun bool) string {
	e.t.Helper()
	ctx := context.Background()
	planYAML = "rollout:\n  " + strings.ReplaceAll(strings.TrimSpace(planYAML), "\n", "\n  ") + "\n"
	p, err := planner.Parse([]byte(planYAML), "plan.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	hosts, err := e.db.Hosts(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var views []planner.HostView
	for _, h := range hosts {
		f, _ := e.db.LatestFacts(ctx, h.Name)
		views = append(views, planner.NewHostView(h, &f))
	}
	id, err := e.e.Start(ctx, p, planYAML, views, StartOptions{CreatedBy: "user:test", DryRun: dryRun})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) run(id string) patchpilot.RolloutState {
	e.t.Helper()
	state, err := e.e.Run(context.Background(), id)
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	return state
}

// states returns each host's state.
func (e *env) states(id string) map[string]patchpilot.HostState {
	e.t.Helper()
	runs, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]patchpilot.HostState{}
	for _, h := range runs {
		out[h.Host] = h.State
	}
	return out
}

// stageHosts returns a stage's hosts in dispatch order.
func (e *env) stageHosts(id, stage string) []string {
	e.t.Helper()
	r, err := e.db.Rollout(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range r.Stages {
		if s.Name == stage {
			return s.Hosts
		}
	}
	e.t.Fatalf("no stage %s", stage)
	return nil
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
