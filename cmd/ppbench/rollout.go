package main

// ppbench rollout boots (or reuses) a lab of N hosts and times, in the same
// invocation and in rotating order, three ways of rolling a good update
// (pp-demo-web 1.0.0 -> 1.1.0 of the lab repository) out to every host in
// waves of 1, 2, 5 and the rest, with an HTTP check after each host:
//
//   - patchpilot: the real binary, `patchpilot rollout start` of a plan
//     with those stages (bake zero), its usual preflight, snapshot and
//     gates (services running, no failed units, the demo service's
//     /health over HTTP);
//   - ansible: the playbook an operator would write for it (`serial:
//     [1, 2, 5, 12]`, `apt`, `uri` until the new version answers);
//   - openssh: the floor, plain OpenSSH running the same apt command and
//     HTTP check on each host, waves one after another, the hosts of a
//     wave in parallel.
//
// Between runs, outside the timing, every host is put back at 1.0.0 and
// patchpilot's inventory is collected again. It prints the medians, the
// spread (min–max), the ratios, and patchpilot's time per phase of the
// biggest wave from its events. Run it as root: `make bench-rollout`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/pkgmgr/systemdrun"
)

// The update the benchmark rolls out, and the version it starts from.
const (
	rolloutPkg  = "pp-demo-web"
	rolloutFrom = "1.0.0"
	rolloutTo   = "1.1.0"
)

// rolloutSides are the sides of ppbench rollout.
var rolloutSides = []string{"patchpilot", "ansible", "openssh"}

// rolloutWaves are the waves' sizes; the last takes the rest.
var rolloutWaves = []int{1, 2, 5, 12}

const ansibleMissing = "ansible-playbook is not installed: install it with `apt-get install -y ansible` (or skip the side with -skip ansible)"

func runRollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := labFlags("ppbench rollout", &c, "lab hosts (at least 9: waves of 1, 2, 5 and the rest)", "/var/lib/patchpilot/bench-rollout-lab", "127.0.60", rolloutSides, stderr)
	warmup := fs.Bool("warmup", true, "run each side once, untimed, before the timed runs (a lab kept from an earlier invocation is warm already)")
	baseline := fs.String("baseline", "", "a second patchpilot binary (an earlier build, say) timed as the side \"baseline\" in the same invocation, on its own database")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if c.runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	if c.hosts < 9 {
		return fmt.Errorf("-hosts must be at least 9 (waves of 1, 2, 5 and the rest)")
	}
	skip, err := parseSkip(c.skip, rolloutSides)
	if err != nil {
		return err
	}
	if !skip["ansible"] {
		if _, err := exec.LookPath("ansible-playbook"); err != nil {
			return errors.New(ansibleMissing)
		}
	}
	logger, work, err := prepare(ctx, &c, "ppbench-rollout-", stderr)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(stderr, "booting a lab of %d hosts in %s ...\n", c.hosts, c.dir)
	l, err := lab.Up(ctx, lab.Options{Dir: c.dir, Hosts: c.hosts, Subnet: c.subnet, Logger: logger})
	if err != nil {
		return err
	}
	if !c.keep {
		defer l.Down(context.WithoutCancel(ctx))
	}
	b, err := newRolloutBench(c, l, work)
	if err != nil {
		return err
	}
	b.baseline = *baseline
	all := []side{
		{name: "patchpilot", run: func(ctx context.Context) (time.Duration, error) { return b.patchpilot(ctx, "patchpilot", c.binary) }},
		{name: "ansible", run: b.ansible},
		{name: "openssh", run: b.openssh},
	}
	if *baseline != "" {
		all = append(all, side{name: "baseline", run: func(ctx context.Context) (time.Duration, error) { return b.patchpilot(ctx, "baseline", *baseline) }})
	}
	var active []side
	for _, s := range all {
		if !skip[s.name] {
			active = append(active, s)
		}
	}
	if len(active) == 0 {
		return fmt.Errorf("-skip leaves no side to run")
	}
	// One warm-up round so that every side starts from warm host caches.
	for _, s := range active {
		if !*warmup {
			break
		}
		if err := b.reset(ctx); err != nil {
			return fmt.Errorf("reset before %s (warm-up): %w", s.name, err)
		}
		if _, err := s.run(ctx); err != nil {
			return fmt.Errorf("%s (warm-up): %w", s.name, err)
		}
	}
	b.phases, b.floorWaves = map[string][]wavePhases{}, nil
	times := map[string][]time.Duration{}
	for i := 0; i < c.runs; i++ {
		for j := range active {
			s := active[(i+j)%len(active)]
			if err := b.reset(ctx); err != nil {
				return fmt.Errorf("reset before %s (run %d): %w", s.name, i+1, err)
			}
			d, err := s.run(ctx)
			if err != nil {
				return fmt.Errorf("%s (run %d): %w", s.name, i+1, err)
			}
			if err := b.checkAll(ctx, rolloutTo); err != nil {
				return fmt.Errorf("%s (run %d) left the fleet wrong: %w", s.name, i+1, err)
			}
			times[s.name] = append(times[s.name], d)
			fmt.Fprintf(stderr, "run %d %-10s %s\n", i+1, s.name, d.Round(time.Millisecond))
		}
	}
	if err := b.reset(ctx); err != nil {
		return fmt.Errorf("final reset: %w", err)
	}
	reportRollout(stdout, c, active, times, b.phases, b.floorWaves)
	return nil
}

// rolloutBench holds what the sides share: the lab, the work directory
// and patchpilot's per-phase times of each run.
type rolloutBench struct {
	c     config
	l     *lab.Lab
	work  string
	hosts []patchpilot.Host
	db    string
	// baseline is -baseline's binary, if any; its database is db+".baseline".
	baseline string
	inv      string
	plan     string
	pb       string
	// phases holds each patchpilot side's per-phase times of each run;
	// floorWaves the floor's time of each wave, per run.
	phases     map[string][]wavePhases
	floorWaves [][]time.Duration
}

func newRolloutBench(c config, l *lab.Lab, work string) (*rolloutBench, error) {
	b := &rolloutBench{c: c, l: l, work: work, hosts: l.Hosts(), db: filepath.Join(work, "rollout.db"), phases: map[string][]wavePhases{},
		inv: filepath.Join(work, "inventory.ini"), plan: filepath.Join(work, "plan.yaml"), pb: filepath.Join(work, "rollout.yml")}
	// A critical host always waits for a person's approval; the
	// benchmark drives the rollout without one, so its critical host
	// counts as high.
	inv, err := os.ReadFile(l.InventoryFile())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.inv, []byte(strings.ReplaceAll(string(inv), "criticality=critical", "criticality=high")), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.plan, []byte(rolloutPlan(b.hosts)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.pb, []byte(rolloutPlaybook()), 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// rolloutPlan is the plan patchpilot rolls out: the waves with bake zero,
// the usual gates (the lab tests' criteria) and rollback on failure.
func rolloutPlan(hosts []patchpilot.Host) string {
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "rollout:\n  name: bench-rollout\n  patch: {packages: [\"%s=%s\"]}\n", rolloutPkg, rolloutTo)
	fmt.Fprintf(&s, "  targets: {hosts: [%s]}\n", strings.Join(names, ", "))
	s.WriteString("  policy: {require_rollback: true}\n")
	s.WriteString("  health:\n    http: [{name: demo, url: \"http://{{.Address}}:8080/health\", max_latency: 2s}]\n")
	s.WriteString("  stages:\n")
	for i, n := range rolloutWaves {
		count := fmt.Sprint(n)
		if i == len(rolloutWaves)-1 {
			count, n = "rest", len(hosts)-(1+2+5)
		}
		fmt.Fprintf(&s, "    - {name: wave_%d, targets: %s, parallel: %d, criteria: [services_running, no_failed_units, http_ok], bake: 0s, timeout: 5m, on_failure: rollback_and_alert}\n",
			i+1, count, n)
	}
	return s.String()
}

// rolloutPlaybook is the playbook an operator would write: the waves as
// serial batches, apt to the version, and the service's own version
// asked over HTTP until the new one answers.
func rolloutPlaybook() string {
	var serial []string
	for _, n := range rolloutWaves {
		serial = append(serial, fmt.Sprint(n))
	}
	return fmt.Sprintf(`- hosts: all
  gather_facts: false
  serial: [%s]
  tasks:
    - name: update %[2]s
      apt:
        name: %[2]s=%[3]s
    - name: wait for the new version to answer
      uri:
        url: "http://{{ ansible_host }}:8080/metrics"
        return_content: true
      register: metrics
      until: metrics.content is search('pp_demo_build_info{version="%[3]s"')
      retries: 60
      delay: 1
`, strings.Join(serial, ", "), rolloutPkg, rolloutTo)
}

// ssh runs a shell command line on a lab host with plain OpenSSH, checking
// its host key.
func (b *rolloutBench) ssh(ctx context.Context, h patchpilot.Host, script string) *exec.Cmd {
	return exec.CommandContext(ctx, "ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+b.l.KnownHostsFile(), "-o", "ControlMaster=no", "-i", b.l.KeyFile(),
		"-p", fmt.Sprint(h.SSHPort()), "root@"+h.Target(), script)
}

// installScript runs patchpilot's own apt transaction for a version of
// the package (downgrades allowed for the reset) and waits until the
// service answers with it over HTTP, as the floor does on each host.
func installScript(h patchpilot.Host, version string, downgrade bool) string {
	var q []string
	for _, a := range debian.ApplyArgs([]patchpilot.PackagePin{{Name: rolloutPkg, Version: version}},
		debian.InstallOptions{LockWait: debian.DefaultLockWait, AllowDowngrade: downgrade}) {
		q = append(q, shellQuote(a))
	}
	url := fmt.Sprintf("http://%s:8080/metrics", h.Target())
	want := fmt.Sprintf(`pp_demo_build_info{version="%s"`, version)
	return fmt.Sprintf("%s >/dev/null 2>&1 && "+
		"i=0; until curl -sf %s | grep -qF %s; do i=$((i+1)); [ $i -lt 300 ] || { echo %s did not answer %s; exit 1; }; sleep 0.2; done",
		strings.Join(q, " "), shellQuote(url), shellQuote(want), rolloutPkg, version)
}

// eachHost runs f on hosts in parallel and returns the first error.
func eachHost(hosts []patchpilot.Host, f func(patchpilot.Host) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// reset puts every host back at the first version with an empty apt cache
// and collects patchpilot's inventory again: outside the timing.
func (b *rolloutBench) reset(ctx context.Context) error {
	err := eachHost(b.hosts, func(h patchpilot.Host) error {
		_, err := timed(ctx, b.ssh(ctx, h, installScript(h, rolloutFrom, true)+" && apt-get clean"))
		return err
	})
	if err != nil {
		return err
	}
	if err := b.checkAll(ctx, rolloutFrom); err != nil {
		return err
	}
	for _, bin := range b.binaries() {
		if _, err := timed(ctx, b.ppWith(ctx, bin.path, bin.db, "inventory", "collect", "-i", b.inv, "--known-hosts", b.l.KnownHostsFile(), "-o", "json")); err != nil {
			return err
		}
	}
	return nil
}

type ppBinary struct{ path, db string }

// binaries are the patchpilot binaries timed, each with its own database.
func (b *rolloutBench) binaries() []ppBinary {
	bins := []ppBinary{{b.c.binary, b.db}}
	if b.baseline != "" {
		bins = append(bins, ppBinary{b.baseline, b.db + ".baseline"})
	}
	return bins
}

// checkAll checks that dpkg has the version installed on every host.
func (b *rolloutBench) checkAll(ctx context.Context, version string) error {
	return eachHost(b.hosts, func(h patchpilot.Host) error {
		out, err := b.ssh(ctx, h, "dpkg-query -W -f '${Version}' "+rolloutPkg).Output()
		if err != nil {
			return fmt.Errorf("%s: dpkg-query: %v", h.Name, err)
		}
		if got := strings.TrimSpace(string(out)); got != version {
			return fmt.Errorf("%s runs %s %s, want %s", h.Name, rolloutPkg, got, version)
		}
		return nil
	})
}

// pp is a patchpilot command on the benchmark's own database, with a
// private home so that no user configuration applies.
func (b *rolloutBench) pp(ctx context.Context, args ...string) *exec.Cmd {
	return b.ppWith(ctx, b.c.binary, b.db, args...)
}

// ppWith is pp with another binary and database.
func (b *rolloutBench) ppWith(ctx context.Context, binary, db string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, append([]string{"--db", db}, args...)...)
	home := filepath.Join(b.work, "home")
	cmd.Env = []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "PATH=" + os.Getenv("PATH"), "USER=root"}
	return cmd
}

func (b *rolloutBench) patchpilot(ctx context.Context, name, binary string) (time.Duration, error) {
	db := b.db
	if name == "baseline" {
		db += ".baseline"
	}
	pp := func(ctx context.Context, args ...string) *exec.Cmd { return b.ppWith(ctx, binary, db, args...) }
	cmd := pp(ctx, "rollout", "start", b.plan, "--known-hosts", b.l.KnownHostsFile())
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("patchpilot rollout start: %v\n%s\n%s", err, tail(out.String(), 1000), tail(errOut.String(), 2000))
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	id, ok := strings.CutPrefix(first, "rollout ")
	if !ok {
		return d, fmt.Errorf("patchpilot rollout start did not print the rollout id first:\n%s", tail(out.String(), 1000))
	}
	ph, err := b.wavePhases(ctx, pp, strings.TrimSpace(id))
	if err != nil {
		return d, err
	}
	ph.timeline(start, start.Add(d))
	b.phases[name] = append(b.phases[name], ph)
	return d, nil
}

func (b *rolloutBench) ansible(ctx context.Context) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", b.l.InventoryFile(), "--forks", fmt.Sprint(len(b.hosts)), b.pb)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(b.l.Dir(), "ansible.cfg"),
		"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_STDOUT_CALLBACK=null")
	return timed(ctx, cmd)
}

// openssh is the floor: each wave's hosts in parallel, one connection each
// running apt and the HTTP check, the waves one after another.
func (b *rolloutBench) openssh(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	rest := b.hosts
	var waves []time.Duration
	for i, n := range rolloutWaves {
		if i == len(rolloutWaves)-1 || n > len(rest) {
			n = len(rest)
		}
		wave := rest[:n]
		rest = rest[n:]
		began := time.Now()
		err := eachHost(wave, func(h patchpilot.Host) error {
			_, err := timed(ctx, b.ssh(ctx, h, installScript(h, rolloutTo, false)))
			return err
		})
		if err != nil {
			return time.Since(start), err
		}
		waves = append(waves, time.Since(began))
	}
	b.floorWaves = append(b.floorWaves, waves)
	return time.Since(start), nil
}

// wavePhases is patchpilot's time in each phase on the hosts of one
// rollout's biggest wave (the median over its hosts), and the wave's wall
// time from its first host's preflight to its last host's end.
type wavePhases struct {
	phase map[string]time.Duration
	wall  time.Duration
	hosts int
	// The whole run: from the command's start to the rollout's first
	// event, each stage from its running event to its end, and from the
	// rollout's last state event to the command's exit.
	first, last time.Time
	stages      []stageSpan
	startup     time.Duration
	finish      time.Duration
	// The apply on the biggest wave's hosts (medians over its hosts),
	// from the transient unit's files on each host: from the apply's
	// state event to the job's start (its command line written), the
	// job's own run (to its exit status written), and from its end to
	// the host's next state event (when the controller learnt of it).
	applyStart, applyRun, applySeen time.Duration
}

type stageSpan struct {
	name       string
	start, end time.Time
}

// timeline completes the whole run's spans from the command's start and end.
func (w *wavePhases) timeline(start, end time.Time) {
	if !w.first.IsZero() {
		w.startup = w.first.Sub(start)
	}
	if !w.last.IsZero() {
		w.finish = end.Sub(w.last)
	}
}

var phaseNames = []string{"preflight", "snapshot", "apply", "verify"}

// wavePhases reads a rollout's status and events and times the phases of
// its biggest wave's hosts from their state events.
func (b *rolloutBench) wavePhases(ctx context.Context, pp func(context.Context, ...string) *exec.Cmd, id string) (wavePhases, error) {
	var st struct {
		State  string `json:"state"`
		Stages []struct {
			Name  string `json:"name"`
			Hosts []struct {
				Name string `json:"name"`
			} `json:"hosts"`
		} `json:"stages"`
	}
	out, err := pp(ctx, "rollout", "status", id, "-o", "json").Output()
	if err != nil {
		return wavePhases{}, fmt.Errorf("rollout status %s: %v", id, err)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return wavePhases{}, fmt.Errorf("rollout status %s: %v", id, err)
	}
	if st.State != "succeeded" {
		return wavePhases{}, fmt.Errorf("rollout %s ended %s, want succeeded", id, st.State)
	}
	wave := map[string]bool{}
	big := 0
	for i, s := range st.Stages {
		if len(s.Hosts) > len(st.Stages[big].Hosts) {
			big = i
		}
	}
	for _, h := range st.Stages[big].Hosts {
		wave[h.Name] = true
	}
	out, err = pp(ctx, "rollout", "events", id, "-o", "json").Output()
	if err != nil {
		return wavePhases{}, fmt.Errorf("rollout events %s: %v", id, err)
	}
	var evs []patchpilot.Event
	if err := json.Unmarshal(out, &evs); err != nil {
		return wavePhases{}, fmt.Errorf("rollout events %s: %v", id, err)
	}
	w := phasesOf(evs, wave)
	if err := b.applyOnHost(ctx, id, st.Stages[big].Hosts, evs, &w); err != nil {
		return wavePhases{}, err
	}
	for _, e := range evs {
		if w.first.IsZero() || e.Time.Before(w.first) {
			w.first = e.Time
		}
		if e.Kind == patchpilot.EventRolloutState && e.Time.After(w.last) {
			w.last = e.Time
		}
		if e.Kind != patchpilot.EventStageState {
			continue
		}
		var d patchpilot.StageStateData
		if json.Unmarshal(e.Data, &d) != nil || d.Stage == "" {
			continue
		}
		k := slices.IndexFunc(w.stages, func(s stageSpan) bool { return s.name == d.Stage })
		if k < 0 {
			w.stages = append(w.stages, stageSpan{name: d.Stage, start: e.Time})
			k = len(w.stages) - 1
		}
		w.stages[k].end = e.Time
	}
	return w, nil
}

// applyOnHost reads, on each host of the biggest wave, when the apply's
// transient job wrote its command line (its start) and its exit status
// (its end), and times them against the host's state events.
func (b *rolloutBench) applyOnHost(ctx context.Context, id string, hosts []struct {
	Name string `json:"name"`
}, evs []patchpilot.Event, w *wavePhases) error {
	byName := map[string]patchpilot.Host{}
	for _, h := range b.hosts {
		byName[h.Name] = h
	}
	var mu sync.Mutex
	var starts, runs, seen []time.Duration
	var wave []patchpilot.Host
	for _, h := range hosts {
		wave = append(wave, byName[h.Name])
	}
	err := eachHost(wave, func(h patchpilot.Host) error {
		unit := systemdrun.LogDir + "/" + orchestrator.UnitName(id, h.Name, "apply")
		out, err := b.ssh(ctx, h, fmt.Sprintf("date -r %s +%%s.%%N && date -r %s +%%s.%%N", shellQuote(unit+".cmd"), shellQuote(unit+".rc"))).Output()
		if err != nil {
			return fmt.Errorf("%s: the apply job's files: %v", h.Name, err)
		}
		var at [2]time.Time
		for i, line := range strings.Fields(string(out)) {
			if i > 1 {
				break
			}
			var sec, nsec int64
			if _, err := fmt.Sscanf(line, "%d.%d", &sec, &nsec); err != nil {
				return fmt.Errorf("%s: the apply job's files: %q: %v", h.Name, line, err)
			}
			at[i] = time.Unix(sec, nsec)
		}
		var applied, next time.Time
		for _, e := range evs {
			if e.Kind != patchpilot.EventHostState || e.Host != h.Name {
				continue
			}
			if strings.HasPrefix(e.Message, h.Name+" "+string(patchpilot.HostApply)) {
				applied = e.Time
			} else if !applied.IsZero() && next.IsZero() && e.Time.After(applied) {
				next = e.Time
			}
		}
		if applied.IsZero() || next.IsZero() || at[1].IsZero() {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, at[0].Sub(applied))
		runs = append(runs, at[1].Sub(at[0]))
		seen = append(seen, next.Sub(at[1]))
		return nil
	})
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		w.applyStart, w.applyRun, w.applySeen = median(starts), median(runs), median(seen)
	}
	return nil
}

// phasesOf times each host's phases from its state events: a phase lasts
// from its event to the host's next state event.
func phasesOf(evs []patchpilot.Event, wave map[string]bool) wavePhases {
	type mark struct {
		state string
		at    time.Time
	}
	marks := map[string][]mark{}
	for _, e := range evs {
		if e.Kind != patchpilot.EventHostState || !wave[e.Host] {
			continue
		}
		state, _, _ := strings.Cut(strings.TrimPrefix(e.Message, e.Host+" "), ":")
		marks[e.Host] = append(marks[e.Host], mark{state, e.Time})
	}
	per := map[string][]time.Duration{}
	var first, last time.Time
	for _, ms := range marks {
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].at.Before(ms[j].at) })
		for i, m := range ms {
			if first.IsZero() || m.at.Before(first) {
				first = m.at
			}
			if m.at.After(last) {
				last = m.at
			}
			if i+1 < len(ms) {
				per[m.state] = append(per[m.state], ms[i+1].at.Sub(m.at))
			}
		}
	}
	w := wavePhases{phase: map[string]time.Duration{}, wall: last.Sub(first), hosts: len(marks)}
	for _, p := range phaseNames {
		if len(per[p]) > 0 {
			w.phase[p] = median(per[p])
		}
	}
	return w
}

func reportRollout(w io.Writer, c config, sides []side, times map[string][]time.Duration, phases map[string][]wavePhases, floorWaves [][]time.Duration) {
	fmt.Fprintf(w, "rollout of %s %s -> %s to %d lab hosts in waves %v (bake 0, HTTP check after each host), %d runs each\n\n",
		rolloutPkg, rolloutFrom, rolloutTo, c.hosts, rolloutWaves, c.runs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "side\tmedian\tmin\tmax\tpatchpilot vs side")
	pp := median(times["patchpilot"])
	for _, s := range sides {
		m := median(times[s.name])
		lo, hi := spread(times[s.name])
		ratio := "-"
		if len(times["patchpilot"]) > 0 && s.name != "patchpilot" {
			switch s.name {
			case "openssh":
				ratio = fmt.Sprintf("%.2fx the floor", float64(pp)/float64(m))
			default:
				ratio = fmt.Sprintf("%.2fx faster", float64(m)/float64(pp))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.name, m.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond), ratio)
	}
	tw.Flush()
	if len(times["baseline"]) > 0 {
		fmt.Fprintf(w, "\nbaseline: %.2fx the floor", float64(median(times["baseline"]))/float64(median(times["openssh"])))
		if len(times["ansible"]) > 0 {
			fmt.Fprintf(w, ", %.2fx faster than ansible", float64(median(times["ansible"]))/float64(median(times["baseline"])))
		}
		fmt.Fprintln(w)
	}
	for _, name := range []string{"patchpilot", "baseline"} {
		if len(phases[name]) > 0 {
			reportPhases(w, name, phases[name], floorWaves)
		}
	}
}

// reportPhases prints a patchpilot side's phases: its biggest wave per
// host, the apply on the host, and its whole run next to the floor's
// waves.
func reportPhases(w io.Writer, name string, phases []wavePhases, floorWaves [][]time.Duration) {
	fmt.Fprintf(w, "\n%s's biggest wave (%d hosts), per host (median over hosts, then over runs):\n\n", name, phases[0].hosts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tmedian\tmin\tmax")
	row := func(name string, get func(wavePhases) time.Duration) {
		var ds []time.Duration
		for _, p := range phases {
			ds = append(ds, get(p))
		}
		lo, hi := spread(ds)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, median(ds).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
	}
	for _, p := range phaseNames {
		row(p, func(w wavePhases) time.Duration { return w.phase[p] })
	}
	row("  apply event to job start", func(w wavePhases) time.Duration { return w.applyStart })
	row("  job run (apt on the host)", func(w wavePhases) time.Duration { return w.applyRun })
	row("  job end to next event", func(w wavePhases) time.Duration { return w.applySeen })
	row("wave (wall)", func(w wavePhases) time.Duration { return w.wall })
	tw.Flush()
	fmt.Fprintf(w, "\n%s's whole run, from its events (median over runs), and the floor's waves:\n\n", name)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "span\tmedian\tmin\tmax")
	row("start to first event", func(w wavePhases) time.Duration { return w.startup })
	for k, st := range phases[0].stages {
		row(st.name, func(w wavePhases) time.Duration {
			if k < len(w.stages) {
				return w.stages[k].end.Sub(w.stages[k].start)
			}
			return 0
		})
		if len(floorWaves) > 0 && k < len(floorWaves[0]) {
			var ds []time.Duration
			for _, f := range floorWaves {
				ds = append(ds, f[k])
			}
			lo, hi := spread(ds)
			fmt.Fprintf(tw, "  floor %s\t%s\t%s\t%s\n", st.name, median(ds).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
		}
	}
	row("last state event to exit", func(w wavePhases) time.Duration { return w.finish })
	tw.Flush()
}
