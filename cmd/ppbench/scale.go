package main

// ppbench scale measures patchpilot at 1,000, 10,000 and 100,000 hosts of
// a simulated fleet (internal/sim/fleet: hosts behind the runner interface
// answering the real collectors' and package manager's commands from a
// recording of a real Debian host), in one invocation:
//
//   - ingest: the app's inventory collection through the simulated
//     dialer into a new SQLite store (without the collection in depth,
//     which the simulation does not answer);
//   - assess: the app's assessment of every pending update of the fleet
//     (50 per host), by a new App each run so that no cache answers;
//   - plan: the app's plan proposal for the fleet's most common pending
//     update over every host, cold (a new App each run) and warm (one App
//     proposing another patch each run, reusing only the fleet-wide reads
//     it keeps while the inventory is unchanged: the plan-warm row);
//   - rollout: host transitions per second of the real orchestrator on
//     SQLite, a rollout of one update to -rollout-hosts hosts of the
//     fleet (bake zero, the pipeline's own checks, snapshot and rollback
//     artifacts as usual) over the simulated runner;
//   - the store's size, and each phase's peak memory (VmHWM), each phase
//     of each size in a process of its own.
//
// It prints medians, spreads (min–max) and how each figure grows per 10x
// hosts. Run it with `make bench-scale`.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/sim/fleet"
)

type scaleConfig struct {
	sizes        string
	runs         int
	ingestRuns   int
	cheapIngest  int
	largeRuns    int
	rolloutHosts int
	dir          string
	profiles     string
	seed         uint64
	reuse        bool
	phases       string
	// A child process: one phase at one size.
	phase string
	hosts int
	db    string
}

// phaseResult is what a child reports on its standard output, as JSON.
type phaseResult struct {
	Phase   string             `json:"phase"`
	Hosts   int                `json:"hosts"`
	Seconds []float64          `json:"seconds"`
	Counts  map[string]float64 `json:"counts,omitempty"`
	PeakRSS int64              `json:"peak_rss"` // VmHWM, bytes
	// Warm are the plan phase's proposals by one App after a first one,
	// each of another patch (phasePlanWarm), beside its cold Seconds.
	Warm       []float64          `json:"warm,omitempty"`
	WarmCounts map[string]float64 `json:"warm_counts,omitempty"`
}

var scalePhases = []string{"ingest", "assess", "plan", "rollout"}

func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c scaleConfig
	fs := flag.NewFlagSet("ppbench scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.sizes, "sizes", "1000,10000,100000", "fleet sizes, comma-separated")
	fs.IntVar(&c.runs, "runs", 5, "runs of assess, plan and rollout at each size")
	fs.IntVar(&c.ingestRuns, "ingest-runs", 1, "runs of the ingest at sizes above -cheap-ingest")
	fs.IntVar(&c.cheapIngest, "cheap-ingest", 10000, "largest size whose ingest runs -runs times")
	fs.IntVar(&c.largeRuns, "large-runs", 0, "runs of assess and rollout at sizes above -cheap-ingest (default -runs)")
	fs.IntVar(&c.rolloutHosts, "rollout-hosts", 500, "hosts in each measured rollout")
	fs.StringVar(&c.dir, "dir", "", "work directory for the stores (default: a temporary one, removed)")
	fs.StringVar(&c.profiles, "profiles", "", "write a CPU profile of each phase at each size into this directory")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the simulated fleet")
	fs.StringVar(&c.phases, "phases", strings.Join(scalePhases, ","), "phases to run, comma-separated (the ingest always runs or is reused)")
	fs.BoolVar(&c.reuse, "reuse", false, "reuse the stores and ingest figures an earlier run left in -dir")
	fs.StringVar(&c.phase, "phase", "", "internal: run one phase in this process")
	fs.IntVar(&c.hosts, "hosts", 0, "internal: the fleet size of -phase")
	fs.StringVar(&c.db, "db", "", "internal: the store of -phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.runs < 1 || c.ingestRuns < 1 || c.rolloutHosts < 1 {
		return fmt.Errorf("-runs, -ingest-runs and -rollout-hosts must be at least 1")
	}
	if c.phase != "" {
		res, err := runPhase(ctx, c)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	}
	var sizes []int
	for _, s := range strings.Split(c.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: want positive host counts, got %q", s)
		}
		sizes = append(sizes, n)
	}
	if c.dir == "" {
		if c.reuse {
			return fmt.Errorf("-reuse needs -dir")
		}
		dir, err := os.MkdirTemp("", "ppbench-scale-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.dir = dir
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	results := map[string]map[int]phaseResult{}
	for _, n := range sizes {
		// The ingest fills a store that the other phases start from, each
		// size's from a copy: a rollout changes the store.
		pristine := filepath.Join(c.dir, fmt.Sprintf("ingested-%d.db", n))
		saved := filepath.Join(c.dir, fmt.Sprintf("ingested-%d.json", n))
		db := filepath.Join(c.dir, fmt.Sprintf("scale-%d.db", n))
		for _, phase := range scalePhases {
			if phase != "ingest" && !slices.Contains(strings.Split(c.phases, ","), phase) {
				continue
			}
			if phase == "ingest" && c.reuse {
				if r, when, ok := readSaved(saved, pristine); ok {
					fmt.Fprintf(stderr, "ingest at %d hosts: reusing the store and figures of %s (-reuse)\n", n, when.Format(time.RFC3339))
					results[phase] = ensure(results[phase])
					results[phase][n] = r
					if err := copyStore(pristine, db); err != nil {
						return err
					}
					continue
				}
			}
			fmt.Fprintf(stderr, "%s: %s at %d hosts ...\n", time.Now().Format("15:04:05"), phase, n)
			target := db
			if phase == "ingest" {
				target = pristine
			}
			args := []string{"scale", "-phase", phase, "-hosts", strconv.Itoa(n), "-db", target,
				"-seed", strconv.FormatUint(c.seed, 10), "-rollout-hosts", strconv.Itoa(c.rolloutHosts),
				"-runs", strconv.Itoa(phaseRuns(c, phase, n)), "-ingest-runs", "1"}
			if c.profiles != "" {
				args = append(args, "-profiles", c.profiles)
			}
			cmd := exec.CommandContext(ctx, self, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s at %d hosts: %w", phase, n, err)
			}
			var r phaseResult
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				return fmt.Errorf("%s at %d hosts: read its result: %w", phase, n, err)
			}
			results[phase] = ensure(results[phase])
			results[phase][n] = r
			if len(r.Warm) > 0 {
				results[phase+"-warm"] = ensure(results[phase+"-warm"])
				results[phase+"-warm"][n] = phaseResult{Phase: phase + "-warm", Hosts: n, Seconds: r.Warm,
					Counts: r.WarmCounts, PeakRSS: r.PeakRSS}
			}
			if phase == "ingest" {
				if err := saveResult(saved, r); err != nil {
					return err
				}
				if err := copyStore(pristine, db); err != nil {
					return err
				}
			}
		}
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			os.Remove(f)
		}
	}
	printScale(stdout, sizes, results)
	return nil
}

func phaseRuns(c scaleConfig, phase string, n int) int {
	if phase == "ingest" && n > c.cheapIngest {
		return c.ingestRuns
	}
	if (phase == "assess" || phase == "rollout") && n > c.cheapIngest && c.largeRuns > 0 {
		return c.largeRuns
	}
	return c.runs
}

func newScaleFleet(c scaleConfig) (*fleet.Fleet, error) {
	return fleet.New(fleet.Config{Hosts: c.hosts, Seed: c.seed})
}

func openApp(ctx context.Context, db string) (*app.App, error) {
	return app.New(ctx, app.Options{DBPath: db, Logger: slog.New(slog.DiscardHandler)})
}

// runPhase runs one phase -runs times in this process.
func runPhase(ctx context.Context, c scaleConfig) (phaseResult, error) {
	res := phaseResult{Phase: c.phase, Hosts: c.hosts, Counts: map[string]float64{}}
	if c.profiles != "" {
		if err := os.MkdirAll(c.profiles, 0o755); err != nil {
			return res, err
		}
		f, err := os.Create(filepath.Join(c.profiles, fmt.Sprintf("%s-%d.pprof", c.phase, c.hosts)))
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch c.phase {
	case "ingest":
		err = phaseIngest(ctx, c, &res)
	case "assess":
		err = phaseAssess(ctx, c, &res)
	case "plan":
		err = phasePlan(ctx, c, &res)
	case "rollout":
		err = phaseRollout(ctx, c, &res)
	default:
		err = fmt.Errorf("-phase: want one of %s, got %q", strings.Join(scalePhases, ", "), c.phase)
	}
	res.PeakRSS = peakRSS()
	return res, err
}

// phaseIngest collects the fleet into a new store, -runs times; the last
// store stays at -db for the other phases.
func phaseIngest(ctx context.Context, c scaleConfig, res *phaseResult) error {
	for i := 0; i < c.runs; i++ {
		for _, f := range []string{c.db, c.db + "-wal", c.db + "-shm"} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		fl, err := newScaleFleet(c)
		if err != nil {
			return err
		}
		a, err := openApp(ctx, c.db)
		if err != nil {
			return err
		}
		start := time.Now()
		rep, err := a.Collect(ctx, fl, fl.Inventory(), app.CollectOptions{NoDepth: true, Actor: "ppbench"}, "simulated", nil)
		d := time.Since(start)
		a.Close()
		if err == nil {
			err = rep.Err()
		}
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		if len(rep.Hosts) != c.hosts {
			return fmt.Errorf("ingest: collected %d hosts, want %d", len(rep.Hosts), c.hosts)
		}
		res.Seconds = append(res.Seconds, d.Seconds())
	}
	var size int64
	for _, f := range []string{c.db, c.db + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	res.Counts["store_bytes"] = float64(size)
	return nil
}

// phaseAssess assesses every pending update of the fleet with a new App
// each run (no cache).
func phaseAssess(ctx context.Context, c scaleConfig, res *phaseResult) error {
	for i := 0; i < c.runs; i++ {
		a, err := openApp(ctx, c.db)
		if err != nil {
			return err
		}
		start := time.Now()
		r, err := a.Assess(ctx, app.AssessQuery{})
		d := time.Since(start)
		a.Close()
		if err != nil {
			return fmt.Errorf("assess: %w", err)
		}
		n := 0
		for _, p := range r.Patches {
			n += len(p.Hosts)
		}
		if n < c.hosts {
			return fmt.Errorf("assess: %d host assessments for %d hosts", n, c.hosts)
		}
		res.Seconds = append(res.Seconds, d.Seconds())
		res.Counts["patches"] = float64(len(r.Patches))
		res.Counts["host_assessments"] = float64(n)
		runtime.GC()
	}
	return nil
}

// commonPending returns the catalog's upgrades by how many hosts of the
// (unchanged) fleet have them pending, most first.
func commonPending(fl *fleet.Fleet) []fleet.Upgrade {
	count := map[string]int{}
	for _, h := range fl.Inventory() {
		for _, u := range fl.Host(h.Name).Pending() {
			count[u.Package]++
		}
	}
	cat := fl.Recording().Catalog()
	sort.SliceStable(cat, func(i, j int) bool { return count[cat[i].Package] > count[cat[j].Package] })
	return cat
}

// phasePlan proposes a plan for the most common pending update over every
// host, with a new App each run.
func phasePlan(ctx context.Context, c scaleConfig, res *phaseResult) error {
	fl, err := newScaleFleet(c)
	if err != nil {
		return err
	}
	common := commonPending(fl)
	u := common[0]
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: u.Package, Version: u.New}}}
	var cpus []float64
	for i := 0; i < c.runs; i++ {
		a, err := openApp(ctx, c.db)
		if err != nil {
			return err
		}
		start, cpu0 := time.Now(), processCPU()
		prop, err := a.ProposePlan(ctx, patch, "")
		d, cpu := time.Since(start), processCPU()-cpu0
		a.Close()
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		cpus = append(cpus, cpu.Seconds())
		if len(prop.Targets) != c.hosts {
			return fmt.Errorf("plan: %d targets, want %d", len(prop.Targets), c.hosts)
		}
		res.Seconds = append(res.Seconds, d.Seconds())
		res.Counts["stages"] = float64(len(prop.Plan.Stages))
		res.Counts["assessed_hosts"] = float64(len(prop.Risk.Hosts))
	}
	res.Counts["cpu_s"] = math.Round(medianf(cpus)*1000) / 1000
	return phasePlanWarm(ctx, c, res, common)
}

// phasePlanWarm proposes plans with one App, as a server does: after a
// first proposal (not timed) of the most common update, each run proposes
// the next most common one, a different patch each run, so that only the
// fleet-wide reads the App keeps while the inventory is unchanged are
// reused; each plan is worked out afresh. The second and later common
// updates are pending on fewer hosts than the first.
func phasePlanWarm(ctx context.Context, c scaleConfig, res *phaseResult, common []fleet.Upgrade) error {
	if len(common) < 2 {
		return fmt.Errorf("plan, warm: the catalog has %d updates, want at least 2", len(common))
	}
	a, err := openApp(ctx, c.db)
	if err != nil {
		return err
	}
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	res.WarmCounts = map[string]float64{}
	assessed := 0.0
	var cpus []float64
	var warmed []patchpilot.PatchSpec
	for i := 0; i <= c.runs; i++ {
		u := common[i%len(common)]
		if i > 0 && i%len(common) == 0 {
			return fmt.Errorf("plan, warm: %d runs need more than the catalog's %d updates", c.runs, len(common))
		}
		patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: u.Package, Version: u.New}}}
		start, cpu0 := time.Now(), processCPU()
		prop, err := a.ProposePlan(ctx, patch, "")
		d, cpu := time.Since(start), processCPU()-cpu0
		if err != nil {
			return fmt.Errorf("plan, warm, %s: %w", u.Package, err)
		}
		if len(prop.Targets) != c.hosts {
			return fmt.Errorf("plan, warm, %s: %d targets, want %d", u.Package, len(prop.Targets), c.hosts)
		}
		if i == 0 {
			continue // the first proposal reads the fleet and keeps it
		}
		res.Warm = append(res.Warm, d.Seconds())
		cpus = append(cpus, cpu.Seconds())
		assessed += float64(len(prop.Risk.Hosts))
		warmed = append(warmed, patch)
	}
	res.WarmCounts["cpu_s"] = math.Round(medianf(cpus)*1000) / 1000
	res.WarmCounts["patches"] = float64(c.runs)
	a.Close() // and what it kept
	a = nil
	runtime.GC()
	// The same patches proposed cold, each by a new App: the warm runs'
	// patches concern other packages than the cold runs' one (more of
	// them on each host, for some), so that only these compare with them.
	var coldSecs, coldCPUs []float64
	for _, patch := range warmed {
		b, err := openApp(ctx, c.db)
		if err != nil {
			return err
		}
		start, cpu0 := time.Now(), processCPU()
		_, err = b.ProposePlan(ctx, patch, "")
		d, cpu := time.Since(start), processCPU()-cpu0
		b.Close()
		if err != nil {
			return fmt.Errorf("plan, cold, %s: %w", patch.Packages[0].Name, err)
		}
		coldSecs, coldCPUs = append(coldSecs, d.Seconds()), append(coldCPUs, cpu.Seconds())
	}
	res.WarmCounts["same_patches_cold_s"] = math.Round(medianf(coldSecs)*1000) / 1000
	res.WarmCounts["same_patches_cold_cpu_s"] = math.Round(medianf(coldCPUs)*1000) / 1000
	res.WarmCounts["mean_assessed_hosts"] = math.Round(assessed / float64(c.runs))
	return nil
}

// phaseRollout rolls a different update out to -rollout-hosts hosts each
// run, through the real orchestrator over the simulated runner, and
// counts the hosts' state transitions.
func phaseRollout(ctx context.Context, c scaleConfig, res *phaseResult) error {
	fl, err := newScaleFleet(c)
	if err != nil {
		return err
	}
	common := commonPending(fl)
	a, err := openApp(ctx, c.db)
	if err != nil {
		return err
	}
	defer a.Close()
	var transitions atomic.Int64
	eng := a.Engine(app.EngineOptions{Dialer: fl, Actor: "ppbench", OnEvent: func(e patchpilot.Event) {
		if e.Kind == patchpilot.EventHostState {
			transitions.Add(1)
		}
	}})
	var rates, hostsDone []float64
	for i := 0; i < c.runs; i++ {
		u := common[i%len(common)]
		var targets []string
		for _, h := range fl.Inventory() {
			if fl.Host(h.Name).Installed(u.Package) == u.Old {
				targets = append(targets, h.Name)
				if len(targets) == c.rolloutHosts {
					break
				}
			}
		}
		patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: u.Package, Version: u.New}}}
		p := planner.Default(patch, len(targets), patchpilot.RiskLow)
		p.Name = fmt.Sprintf("scale-%d", i+1)
		p.Targets = patchpilot.TargetSelector{Hosts: targets}
		for s := range p.Stages {
			// Bake zero and the pipeline's own checks (reachable, the
			// target versions installed): no metrics source is needed.
			p.Stages[s].Bake, p.Stages[s].Criteria, p.Stages[s].Approval = 0, nil, patchpilot.ApprovalNone
		}
		src, err := app.MarshalPlan(p)
		if err != nil {
			return err
		}
		id, err := a.StartRollout(ctx, eng, p, src, app.StartOptions{Actor: "ppbench"})
		if err != nil {
			return fmt.Errorf("rollout %d: start: %w", i+1, err)
		}
		before := transitions.Load()
		start := time.Now()
		state, err := eng.Run(ctx, id)
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("rollout %d: %w", i+1, err)
		}
		if state != patchpilot.RolloutSucceeded {
			return fmt.Errorf("rollout %d ended %s, want %s", i+1, state, patchpilot.RolloutSucceeded)
		}
		for _, t := range targets {
			if v := fl.Host(t).Installed(u.Package); v != u.New {
				return fmt.Errorf("rollout %d: %s has %s %s, want %s", i+1, t, u.Package, v, u.New)
			}
		}
		n := transitions.Load() - before
		res.Seconds = append(res.Seconds, d.Seconds())
		rates = append(rates, float64(n)/d.Seconds())
		hostsDone = append(hostsDone, float64(len(targets)))
	}
	res.Counts["transitions_per_second"] = medianf(rates)
	res.Counts["transitions_per_second_min"] = slices.Min(rates)
	res.Counts["transitions_per_second_max"] = slices.Max(rates)
	res.Counts["hosts_per_rollout"] = medianf(hostsDone)
	return nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
// processCPU is the CPU time the process has used so far, user and
// system, of every thread (the garbage collector's included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func medianf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printScale prints, per phase and size, the median time with its
// spread, the cost per host, the peak memory and the growth per 10x.
func printScale(w io.Writer, sizes []int, results map[string]map[int]phaseResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\thosts\truns\tmedian\tmin–max\tper host\tgrowth per 10x\tpeak RSS\tmemory growth per 10x\tnotes")
	// plan-warm: the plan phase's warm proposals (phasePlanWarm), in the
	// same process as its cold ones, whose peak RSS it shares.
	for _, phase := range slices.Insert(slices.Clone(scalePhases), slices.Index(scalePhases, "plan")+1, "plan-warm") {
		var prev *phaseResult
		for _, n := range sizes {
			r, ok := results[phase][n]
			if !ok {
				continue
			}
			med := medianf(r.Seconds)
			growth, memGrowth := "", ""
			if prev != nil {
				tenX := float64(n) / float64(prev.Hosts) / 10
				growth = fmt.Sprintf("%.1fx", pow10(med/medianf(prev.Seconds), tenX))
				memGrowth = fmt.Sprintf("%.1fx", pow10(float64(r.PeakRSS)/float64(prev.PeakRSS), tenX))
			}
			var notes []string
			keys := make([]string, 0, len(r.Counts))
			for k := range r.Counts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				notes = append(notes, fmt.Sprintf("%s=%.6g", k, r.Counts[k]))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.3fs\t%.3f–%.3fs\t%.1fµs\t%s\t%.0f MiB\t%s\t%s\n", phase, n, len(r.Seconds), med,
				slices.Min(r.Seconds), slices.Max(r.Seconds), med/float64(n)*1e6, growth,
				float64(r.PeakRSS)/(1<<20), memGrowth, strings.Join(notes, " "))
			rr := r
			prev = &rr
		}
	}
	tw.Flush()
}

// pow10 scales a ratio between two sizes to a ratio per 10x: the sizes
// are tenX decades apart (1 when 10x).
func pow10(ratio, tenX float64) float64 {
	if tenX <= 0 || ratio <= 0 {
		return ratio
	}
	return math.Pow(ratio, 1/math.Log10(tenX*10))
}

func ensure(m map[int]phaseResult) map[int]phaseResult {
	if m == nil {
		m = map[int]phaseResult{}
	}
	return m
}

// savedIngest is an ingest's figures kept beside its store for -reuse.
type savedIngest struct {
	Result phaseResult `json:"result"`
	At     time.Time   `json:"at"`
}

func saveResult(path string, r phaseResult) error {
	b, err := json.Marshal(savedIngest{Result: r, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readSaved(path, store string) (phaseResult, time.Time, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return phaseResult{}, time.Time{}, false
	}
	var s savedIngest
	if json.Unmarshal(b, &s) != nil || s.Result.Phase != "ingest" {
		return phaseResult{}, time.Time{}, false
	}
	if _, err := os.Stat(store); err != nil {
		return phaseResult{}, time.Time{}, false
	}
	return s.Result, s.At, true
}

// copyStore copies a closed store (and its write-ahead log, if any).
func copyStore(from, to string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(to + suffix)
	}
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(from + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			return err
		}
		out, err := os.Create(to + suffix)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
