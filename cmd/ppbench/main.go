// Command ppbench measures patchpilot against the alternatives an operator
// has, on a lab of real hosts booted on this machine.
//
// ppbench inventory boots (or reuses) a lab of N hosts and times, in the
// same invocation and in alternating order, three ways of gathering the
// same inventory data from every host (and patchpilot once more without
// its collection in depth):
//
//   - patchpilot: the real binary, `patchpilot inventory collect`, which
//     collects in depth (services, connections, modified files), into a
//     new database every run: a first collection;
//   - patchpilot-repeat: the same into the database of its previous run:
//     a repeated collection of an unchanged fleet, which reuses the
//     pending updates of hosts whose package state did not change;
//   - patchpilot-nodepth: a first collection with --no-depth, so that the
//     cost of the collection in depth is measured in the same invocation;
//   - ansible: the playbook an operator would write for the same data
//     (gather facts, package_facts, `apt-get -s dist-upgrade`, running
//     services, the reboot-required flag) with forks = N;
//   - openssh: the floor, plain OpenSSH running patchpilot's own remote
//     commands on all hosts in parallel, one connection per host.
//
// It prints the median, the spread (min–max) and the ratios of the medians.
// -profile realistic boots hosts that look like real servers (Debian's full
// indexes and standard packages; see internal/lab/profile.go).
// Run it as root: `make bench-inventory` (HOSTS=20 RUNS=5 PROFILE=default).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ppbench:", err)
		os.Exit(1)
	}
}

type config struct {
	hosts   int
	runs    int
	dir     string
	subnet  string
	keep    bool
	binary  string
	skip    string
	profile string
	verbose bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "scale" {
		return runScale(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rollout" {
		return runRollout(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "inventory" {
		return fmt.Errorf("usage: ppbench inventory [-hosts N] [-runs N] [-profile default|realistic] [-dir DIR] [-subnet A.B.C] [-keep]")
	}
	var c config
	fs := labFlags("ppbench inventory", &c, "lab hosts", "/var/lib/patchpilot/bench-lab", "127.0.2", inventorySides, stderr)
	fs.StringVar(&c.profile, "profile", lab.ProfileDefault, "lab profile: "+strings.Join(lab.Profiles, " or "))
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if c.runs < 1 || c.hosts < 1 {
		return fmt.Errorf("-runs and -hosts must be at least 1")
	}
	skip, err := parseSkip(c.skip, inventorySides)
	if err != nil {
		return err
	}
	logger, work, err := prepare(ctx, &c, "ppbench-", stderr)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(stderr, "booting a lab of %d hosts (%s profile) in %s ...\n", c.hosts, c.profile, c.dir)
	l, err := lab.Up(ctx, lab.Options{Dir: c.dir, Hosts: c.hosts, Subnet: c.subnet, Profile: c.profile, Logger: logger})
	if err != nil {
		return err
	}
	if !c.keep {
		defer l.Down(context.WithoutCancel(ctx))
	}

	sides := []side{
		{name: "patchpilot", run: patchpilotSide(c, l, work, "first.db", true)},
		{name: "patchpilot-repeat", run: patchpilotSide(c, l, work, "repeat.db", false)},
		{name: "patchpilot-nodepth", run: patchpilotSide(c, l, work, "nodepth.db", true, "--no-depth")},
		{name: "ansible", run: ansibleSide(c, l, work)},
		{name: "openssh", run: opensshSide(l)},
	}
	active := sides[:0]
	for _, s := range sides {
		if !skip[s.name] {
			active = append(active, s)
		}
	}
	// One warm-up round so that every side starts from warm host caches.
	for _, s := range active {
		if _, err := s.run(ctx); err != nil {
			return fmt.Errorf("%s (warm-up): %w", s.name, err)
		}
	}
	times := map[string][]time.Duration{}
	for i := 0; i < c.runs; i++ {
		// Rotate the order so no side always runs right after another.
		for j := range active {
			s := active[(i+j)%len(active)]
			d, err := s.run(ctx)
			if err != nil {
				return fmt.Errorf("%s (run %d): %w", s.name, i+1, err)
			}
			times[s.name] = append(times[s.name], d)
			fmt.Fprintf(stderr, "run %d %-10s %s\n", i+1, s.name, d.Round(time.Millisecond))
		}
	}
	report(stdout, c, active, times)
	return nil
}

type side struct {
	name string
	run  func(ctx context.Context) (time.Duration, error)
}

// inventorySides are the sides of ppbench inventory, in their first order.
var inventorySides = []string{"patchpilot", "patchpilot-repeat", "patchpilot-nodepth", "ansible", "openssh"}

// labFlags returns the flags every lab benchmark takes, bound to c: the
// lab's size, directory and subnet, the runs, the binary, the sides to
// skip (of sides) and -v.
func labFlags(name string, c *config, hostsUsage, dir, subnet string, sides []string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.hosts, "hosts", 20, hostsUsage)
	fs.IntVar(&c.runs, "runs", 5, "runs of each side (at least 5 for a meaningful median)")
	fs.StringVar(&c.dir, "dir", dir, "lab directory")
	fs.StringVar(&c.subnet, "subnet", subnet, "lab subnet (first three octets)")
	fs.BoolVar(&c.keep, "keep", false, "leave the lab running afterwards")
	fs.StringVar(&c.binary, "patchpilot", "", "patchpilot binary (default: built from this checkout)")
	fs.StringVar(&c.skip, "skip", "", "comma-separated sides not to run: "+strings.Join(sides, ", "))
	fs.BoolVar(&c.verbose, "v", false, "log lab progress")
	return fs
}

// parseSkip reads -skip's comma-separated sides, refusing a name that is
// not one of sides.
func parseSkip(value string, sides []string) (map[string]bool, error) {
	skip := map[string]bool{}
	for _, s := range strings.Split(value, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(sides, s) {
			return nil, fmt.Errorf("-skip: unknown side %q (%s)", s, strings.Join(sides, ", "))
		}
		skip[s] = true
	}
	return skip, nil
}

// prepare returns the logger of a lab benchmark (lab progress with -v),
// makes its work directory (the caller removes it) and, without
// -patchpilot, builds the patchpilot binary of this checkout into it.
func prepare(ctx context.Context, c *config, prefix string, stderr io.Writer) (*slog.Logger, string, error) {
	logger := slog.New(slog.DiscardHandler)
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, "", err
	}
	if c.binary == "" {
		c.binary = filepath.Join(work, "patchpilot")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", c.binary, "./cmd/patchpilot").CombinedOutput(); err != nil {
			os.RemoveAll(work)
			return nil, "", fmt.Errorf("build patchpilot: %v\n%s", err, out)
		}
	}
	return logger, work, nil
}

func timed(ctx context.Context, cmd *exec.Cmd) (time.Duration, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, tail(out.String(), 2000))
	}
	return d, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// patchpilotSide runs `patchpilot inventory collect` into the database
// named db in work; fresh removes it first, so that every run is a first
// collection.
func patchpilotSide(c config, l *lab.Lab, work, db string, fresh bool, extra ...string) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		db := filepath.Join(work, db)
		if fresh {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(db + suffix); err != nil && !os.IsNotExist(err) {
					return 0, err
				}
			}
		}
		args := append([]string{"inventory", "collect", "-i", l.InventoryFile(),
			"--known-hosts", l.KnownHostsFile(), "--db", db, "-o", "json"}, extra...)
		cmd := exec.CommandContext(ctx, c.binary, args...)
		return timed(ctx, cmd)
	}
}

// playbook gathers what `patchpilot inventory collect` gathers.
const playbook = `- hosts: all
  gather_facts: true
  tasks:
    - name: installed packages
      package_facts: {manager: apt}
    - name: pending updates
      command: apt-get -s -o Debug::NoLocking=1 dist-upgrade
      changed_when: false
    - name: running services
      service_facts:
    - name: reboot required
      stat: {path: /var/run/reboot-required}
`

func ansibleSide(c config, l *lab.Lab, work string) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		pb := filepath.Join(work, "inventory.yml")
		if err := os.WriteFile(pb, []byte(playbook), 0o600); err != nil {
			return 0, err
		}
		cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", l.InventoryFile(), "--forks", fmt.Sprint(c.hosts), pb)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(l.Dir(), "ansible.cfg"),
			"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_STDOUT_CALLBACK=null")
		return timed(ctx, cmd)
	}
}

// floorScript runs patchpilot's own remote commands for a Debian host (the
// probe and the collector's steps, in depth) concurrently in one shell, as
// one connection would carry them at best.
func floorScript() string {
	steps := append(osfamily.ProbeSteps(), debian.Steps(osfamily.Options{Depth: true})...)
	var parts []string
	for _, s := range steps {
		q := []string{"env", "LC_ALL=C", "LANG=C"}
		for _, a := range s.Cmd.Args {
			q = append(q, shellQuote(a))
		}
		parts = append(parts, strings.Join(q, " ")+" &")
	}
	return strings.Join(parts, " ") + " wait"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func opensshSide(l *lab.Lab) func(context.Context) (time.Duration, error) {
	script := floorScript()
	return func(ctx context.Context) (time.Duration, error) {
		hosts := l.Hosts()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(hosts))
		for i, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.CommandContext(ctx, "ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
					"-o", "UserKnownHostsFile="+l.KnownHostsFile(), "-o", "ControlMaster=no", "-i", l.KeyFile(),
					"-p", fmt.Sprint(h.SSHPort()), "root@"+h.Target(), script)
				_, errs[i] = timed(ctx, cmd)
			}()
		}
		wg.Wait()
		d := time.Since(start)
		for _, err := range errs {
			if err != nil {
				return d, err
			}
		}
		return d, nil
	}
}

// median is the median of ds, 0 for none (a side that was skipped).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is the least and greatest of ds, 0 and 0 for none.
func spread(ds []time.Duration) (lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	lo, hi = ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func report(w io.Writer, c config, sides []side, times map[string][]time.Duration) {
	fmt.Fprintf(w, "inventory of %d lab hosts (%s profile), %d runs each (after one warm-up)\n\n", c.hosts, c.profile, c.runs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "side\tmedian\tmin\tmax\tansible / side\tside / floor\tnote")
	pp := median(times["patchpilot"])
	ansible, floor := median(times["ansible"]), median(times["openssh"])
	for _, s := range sides {
		m := median(times[s.name])
		lo, hi := spread(times[s.name])
		vsAnsible, vsFloor := "-", "-"
		if ansible > 0 && m > 0 && s.name != "ansible" {
			vsAnsible = fmt.Sprintf("%.1fx faster", float64(ansible)/float64(m))
		}
		if floor > 0 && s.name != "openssh" {
			vsFloor = fmt.Sprintf("%.2fx", float64(m)/float64(floor))
		}
		note := ""
		switch s.name {
		case "patchpilot":
			note = "first collection (new database)"
		case "patchpilot-repeat":
			note = "repeated collection of an unchanged fleet"
			if pp > 0 && m > 0 {
				note += fmt.Sprintf(", %.1fx faster than the first", float64(pp)/float64(m))
			}
		case "patchpilot-nodepth":
			note = "first collection without depth"
			if pp > 0 && m > 0 {
				note += fmt.Sprintf("; depth costs %.2fx", float64(pp)/float64(m))
			}
		case "openssh":
			note = "the floor: patchpilot's remote commands, no reuse"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.name, m.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond), vsAnsible, vsFloor, note)
	}
	tw.Flush()
}
