// Command ppbench measures patchpilot against the alternatives an operator
// has, on a lab of real hosts booted on this machine.
//
// ppbench inventory boots (or reuses) a lab of N hosts and times, in the
// same invocation and in alternating order, three ways of gathering the
// same inventory data from every host (and patchpilot once more without
// its collection in depth):
//
//   - patchpilot: the real binary, `patchpilot inventory collect`, which
//     collects in depth (services, connections, modified files);
//   - patchpilot-nodepth: the same with --no-depth, so that the cost of
//     the collection in depth is measured in the same invocation;
//   - ansible: the playbook an operator would write for the same data
//     (gather facts, package_facts, `apt-get -s dist-upgrade`, running
//     services, the reboot-required flag) with forks = N;
//   - openssh: the floor, plain OpenSSH running patchpilot's own remote
//     commands on all hosts in parallel, one connection per host.
//
// It prints the median, the spread (min–max) and the ratios of the medians.
// Run it as root: `make bench-inventory` (HOSTS=20 RUNS=5 by default).
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
		return fmt.Errorf("usage: ppbench inventory [-hosts N] [-runs N] [-dir DIR] [-subnet A.B.C] [-keep]")
	}
	var c config
	fs := flag.NewFlagSet("ppbench inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.hosts, "hosts", 20, "lab hosts")
	fs.IntVar(&c.runs, "runs", 5, "runs of each side (at least 5 for a meaningful median)")
	fs.StringVar(&c.dir, "dir", "/var/lib/patchpilot/bench-lab", "lab directory")
	fs.StringVar(&c.subnet, "subnet", "127.0.2", "lab subnet (first three octets)")
	fs.BoolVar(&c.keep, "keep", false, "leave the lab running afterwards")
	fs.StringVar(&c.binary, "patchpilot", "", "patchpilot binary (default: built from this checkout)")
	fs.StringVar(&c.skip, "skip", "", "comma-separated sides not to run: patchpilot, patchpilot-nodepth, ansible, openssh")
	fs.BoolVar(&c.verbose, "v", false, "log lab progress")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if c.runs < 1 || c.hosts < 1 {
		return fmt.Errorf("-runs and -hosts must be at least 1")
	}
	logger := slog.New(slog.DiscardHandler)
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	work, err := os.MkdirTemp("", "ppbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if c.binary == "" {
		c.binary = filepath.Join(work, "patchpilot")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", c.binary, "./cmd/patchpilot").CombinedOutput(); err != nil {
			return fmt.Errorf("build patchpilot: %v\n%s", err, out)
		}
	}

	fmt.Fprintf(stderr, "booting a lab of %d hosts in %s ...\n", c.hosts, c.dir)
	l, err := lab.Up(ctx, lab.Options{Dir: c.dir, Hosts: c.hosts, Subnet: c.subnet, Logger: logger})
	if err != nil {
		return err
	}
	if !c.keep {
		defer l.Down(context.WithoutCancel(ctx))
	}

	sides := []side{
		{name: "patchpilot", run: patchpilotSide(c, l, work)},
		{name: "patchpilot-nodepth", run: patchpilotSide(c, l, work, "--no-depth")},
		{name: "ansible", run: ansibleSide(c, l, work)},
		{name: "openssh", run: opensshSide(l)},
	}
	skip := map[string]bool{}
	for _, s := range strings.Split(c.skip, ",") {
		skip[strings.TrimSpace(s)] = true
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

func patchpilotSide(c config, l *lab.Lab, work string, extra ...string) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		db := filepath.Join(work, "bench.db")
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

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func spread(ds []time.Duration) (lo, hi time.Duration) {
	lo, hi = ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func report(w io.Writer, c config, sides []side, times map[string][]time.Duration) {
	fmt.Fprintf(w, "inventory of %d lab hosts, %d runs each (after one warm-up)\n\n", c.hosts, c.runs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "side\tmedian\tmin\tmax\tpatchpilot vs side")
	pp := median(times["patchpilot"])
	for _, s := range sides {
		m := median(times[s.name])
		lo, hi := spread(times[s.name])
		ratio := "-"
		if pp > 0 && s.name != "patchpilot" {
			switch s.name {
			case "patchpilot-nodepth":
				ratio = fmt.Sprintf("%.2fx (cost of depth)", float64(pp)/float64(m))
			case "openssh":
				ratio = fmt.Sprintf("%.2fx the floor", float64(pp)/float64(m))
			default:
				ratio = fmt.Sprintf("%.1fx faster", float64(m)/float64(pp))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.name, m.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond), ratio)
	}
	tw.Flush()
}
