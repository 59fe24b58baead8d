package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// demoAdvisories are the lab's demo advisories: OSV records for the lab's
// test packages, which have no real ones. They describe no real software.
//
//go:embed demodata/advisories/*.json
var demoAdvisories embed.FS

// The demo's defaults: a subnet, a Prometheus port and a dashboard port of
// its own, so that it never meets a lab someone runs by hand (127.0.1).
const (
	demoDefaultHosts      = 8
	demoMinHosts          = 8
	demoMaxHosts          = 40
	demoDefaultSubnet     = "127.0.50"
	demoDefaultPrometheus = "127.0.0.1:9250"
	demoDefaultListen     = "127.0.0.1:8450"
	// demoBadHosts is how many of the last hosts take the bad update:
	// two canaries and one host of a later stage, the judge's control.
	demoBadHosts = 3
	// The demo's Prometheus scrapes every 2 s (the lab's default is 5 s),
	// so that the judge's 20 baseline samples take 40 s, not 100 s.
	demoStep     = 2 * time.Second
	demoBaseline = 40 * time.Second
	demoPackage  = "pp-demo-web"
	demoGood     = "1.1.0"
	demoBad      = "1.1.3"
)

// The canary judge's queries: pp-demo-web's mean and p99 latency per
// host, over 10 s (five scrapes).
const (
	demoMeanQuery = `sum(rate(pp_demo_request_duration_seconds_sum{job="pp-demo-web",host="{{.Host}}"}[10s]))` +
		` / sum(rate(pp_demo_request_duration_seconds_count{job="pp-demo-web",host="{{.Host}}"}[10s]))`
	demoP99Query = `histogram_quantile(0.99, sum by (le) (rate(pp_demo_request_duration_seconds_bucket{job="pp-demo-web",host="{{.Host}}"}[10s])))`
)

const demoLong = `Show what patchpilot is for, on real hosts, in about two minutes.

The demo boots a lab of Debian 12 hosts on this machine (systemd-nspawn
containers, as 'patchpilot lab up --prometheus' does, on 127.0.50.N with
Prometheus on 127.0.0.1:9250), and runs the whole loop on them with a
database of its own (never yours), narrating each step:

  inventory over SSH; the pending updates and the advisories they fix (the
  lab's demo advisories, embedded: the lab's packages have no real ones);
  the risk of each update with its reasons; a plan; a good update
  (pp-demo-web 1.1.0) rolled out through a validation host, canaries and
  waves, with health gates and the canary judge on Prometheus; beside it a
  bad one (pp-demo-web 1.1.3, three times slower) caught by the gates and
  the judge and rolled back, with its incident; the model learning from
  those outcomes (1.1.3 now quarantined and rated high); the KPIs.

It also starts the dashboard ('patchpilot server' over the demo's
database, this same binary) and prints its URL and an admin token of
the demo's database, so that the rollouts can be watched live.

Needs root (it mounts file systems and boots containers). Debian packages
the lab needs that are missing (debootstrap, systemd-container, apt-utils,
dpkg-dev, nftables, prometheus, prometheus-node-exporter) are installed
first with apt-get, printing the exact commands; their services are not
started. The first run builds the lab's Debian base (a minute or two,
downloading from this machine's apt mirror) and says so; it stays
cached in /var/cache/patchpilot/lab ($PATCHPILOT_LAB_CACHE) for the next
runs.

Without --keep the demo leaves nothing behind: the lab is taken down, the
dashboard stopped and the demo's directory (database included) removed;
only the cached base stays. Ctrl-C at any point does the same. With
--keep the lab, its Prometheus and the dashboard keep running in --dir
(default /var/lib/patchpilot/demo) and the demo prints the commands to
look around and to stop everything.

Exit codes: 0 when the loop ran as described; 6 without root; 5 when a
tool is missing and cannot be installed; 130 when interrupted; 1 when a
step did not go as it should (the message says which).`

// demoFlags are the demo's flags.
type demoFlags struct {
	hosts      int
	keep       bool
	dir        string
	subnet     string
	prometheus string
	listen     string
}

func (c *cli) demoCommand() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo [--hosts N] [--keep]",
		Short: "Run the whole loop on a lab of real hosts: inventory, risk, a good and a bad rollout, learning, KPIs",
		Long:  demoLong,
		Example: `  sudo go run ./cmd/patchpilot demo
  sudo patchpilot demo --keep`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := demoRootCheck(); err != nil {
				return err
			}
			if f.hosts < demoMinHosts || f.hosts > demoMaxHosts {
				return patchpilot.Errorf(patchpilot.EINVALID, "--hosts %d: expected %d to %d", f.hosts, demoMinHosts, demoMaxHosts).
					WithHint(fmt.Sprintf("the demo needs a validation host, two canaries and two waves for the good update, and %d hosts for the bad one", demoBadHosts))
			}
			// Every address is checked before anything starts: the lab
			// would refuse a bad subnet only once the demo had begun, and
			// a bad Prometheus address only once its hosts had booted.
			if err := checkListen(f.listen); err != nil {
				return err
			}
			if err := checkAddress("--prometheus-address", f.prometheus); err != nil {
				return err
			}
			if err := lab.CheckSubnet("--subnet", f.subnet); err != nil {
				return err
			}
			d := &demo{c: c, f: f, out: c.stdout, start: time.Now()}
			return d.run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.hosts, "hosts", demoDefaultHosts, fmt.Sprintf("number of lab hosts (%d to %d)", demoMinHosts, demoMaxHosts))
	fl.BoolVar(&f.keep, "keep", false, "leave the lab, its Prometheus and the dashboard running, and print how to look around and stop them")
	fl.StringVar(&f.dir, "dir", "", "the demo's directory: its lab, database and logs (default: a new temporary directory, or /var/lib/patchpilot/demo with --keep)")
	fl.StringVar(&f.subnet, "subnet", demoDefaultSubnet, "first three octets of the lab hosts' addresses")
	fl.StringVar(&f.prometheus, "prometheus-address", demoDefaultPrometheus, "address of the lab's Prometheus")
	fl.StringVar(&f.listen, "listen", demoDefaultListen, "address of the dashboard")
	return cmd
}

// demoRootCheck says what the demo needs when it does not run as root.
func demoRootCheck() error {
	if os.Geteuid() == 0 {
		return nil
	}
	return patchpilot.Errorf(patchpilot.EFORBIDDEN,
		"the demo needs root: it boots the lab's hosts as systemd-nspawn containers, mounts their file systems, and installs the Debian packages the lab needs when they are missing").
		WithHint("run it as root: sudo go run ./cmd/patchpilot demo (or sudo patchpilot demo)")
}

// demo is one run of the demo.
type demo struct {
	c     *cli
	f     demoFlags
	out   io.Writer
	start time.Time

	mu      sync.Mutex // serialises the narration
	dir     string
	created bool // the demo made dir (and removes it unless --keep)
	lab     *lab.Lab
	a       *app.App
	server  *exec.Cmd
	token   string
	bin     string // the binary the dashboard runs
	cfgPath string
	actor   string

	good, bad     []string // the hosts of each rollout
	goodID, badID string
	baselineOnce  sync.Once
	baselineErr   error
	// verdicts holds each host's last gate verdict, told when the host
	// ends its bake.
	verdicts map[string]patchpilot.Event
}

// say prints one narration line, with the time since the start.
func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), escapeControls(fmt.Sprintf(format, args...), false))
}

// detail prints an indented line under the last step.
func (d *demo) detail(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "          %s\n", escapeControls(fmt.Sprintf(format, args...), false))
}

// step starts a narrated step.
func (d *demo) step(title string) {
	d.mu.Lock()
	fmt.Fprintln(d.out)
	d.mu.Unlock()
	d.say("== %s", title)
}

func (d *demo) run(ctx context.Context) (err error) {
	d.say("patchpilot demo: the whole loop on %d real Debian hosts booted on this machine", d.f.hosts)
	defer func() {
		if cerr := d.cleanup(err); err == nil {
			err = cerr
		}
	}()
	if err := d.installMissing(ctx); err != nil {
		return err
	}
	if err := d.prepareDir(); err != nil {
		return err
	}
	if err := d.bootLab(ctx); err != nil {
		return err
	}
	if err := d.openApp(ctx); err != nil {
		return err
	}
	if err := d.startDashboard(ctx); err != nil {
		return err
	}
	if err := d.inventory(ctx, "Inventory"); err != nil {
		return err
	}
	if err := d.updates(ctx); err != nil {
		return err
	}
	if err := d.risk(ctx); err != nil {
		return err
	}
	good, bad, err := d.plans(ctx)
	if err != nil {
		return err
	}
	if err := d.rollouts(ctx, good, bad); err != nil {
		return err
	}
	if err := d.learned(ctx); err != nil {
		return err
	}
	if err := d.kpis(ctx); err != nil {
		return err
	}
	return d.checkDashboard(ctx)
}

// installMissing installs the Debian packages the lab needs that are
// missing, printing the exact commands. Their services are kept from
// starting (policy-rc.d), as the test suite's installer does: the lab
// starts its own on addresses of its own.
func (d *demo) installMissing(ctx context.Context) error {
	pkgs := lab.MissingPackages(true)
	if len(pkgs) == 0 {
		return nil
	}
	d.step("Setup: Debian packages the lab needs")
	if _, err := exec.LookPath("apt-get"); err != nil {
		line := "apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ")
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "missing Debian packages %s, and no apt-get to install them", strings.Join(pkgs, ", ")).WithHint(line)
	}
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# written by patchpilot demo while it installs packages\nexit 101\n"), 0o755); err == nil {
			d.detail("%s keeps the packages' services from starting while they install", policy)
			defer os.Remove(policy)
		}
	}
	for _, args := range [][]string{
		{"apt-get", "update", "-q"},
		append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, pkgs...),
	} {
		d.say("$ %s", strings.Join(args, " "))
		// Not killed when the demo is interrupted: a Ctrl-C in the
		// terminal reaches apt-get itself, which stops cleanly, where a
		// SIGKILL could leave dpkg half done.
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if ctx.Err() != nil {
				return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted while installing packages")
			}
			return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s: %v: %s", strings.Join(args, " "), err, lastBytes(string(out), 1500)).
				WithHint("install them yourself: apt-get update && apt-get install -y " + strings.Join(pkgs, " "))
		}
	}
	if left := lab.MissingPackages(true); len(left) > 0 {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "still missing after apt-get install: %s", strings.Join(left, ", "))
	}
	d.detail("installed %s", strings.Join(pkgs, ", "))
	return nil
}

func lastBytes(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// demoMarker marks a directory the demo made, so that a later run may
// reuse (and clean) it.
const demoMarker = ".patchpilot-demo"

// prepareDir makes the demo's directory: a new temporary one, or --dir
// (default /var/lib/patchpilot/demo with --keep), which must be empty or a
// previous demo's, whose dashboard and lab are stopped first.
func (d *demo) prepareDir() error {
	dir := d.f.dir
	if dir == "" && d.f.keep {
		dir = "/var/lib/patchpilot/demo"
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "patchpilot-demo-")
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "create the demo's directory: %w", err)
		}
		d.dir, d.created = tmp, true
		return os.WriteFile(filepath.Join(tmp, demoMarker), nil, 0o600)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "--dir %q: %v", dir, err)
	}
	ents, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return patchpilot.Errorf(patchpilot.EINVALID, "--dir %s: %v", abs, err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(abs, demoMarker)); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "--dir %s is not empty and holds no earlier demo", abs).
				WithHint("name an empty or new directory")
		}
		d.say("stopping the demo left running in %s", abs)
		stopKeptDemo(abs)
		if err := os.RemoveAll(abs); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "remove the earlier demo in %s: %w", abs, err)
		}
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "create the demo's directory: %w", err)
	}
	d.dir, d.created = abs, true
	return os.WriteFile(filepath.Join(abs, demoMarker), nil, 0o600)
}

// stopKeptDemo stops the dashboard and the lab of a demo left running in
// dir with --keep.
func stopKeptDemo(dir string) {
	if data, err := os.ReadFile(filepath.Join(dir, "server.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			if p, err := os.FindProcess(pid); err == nil && demoServerPID(pid, dir) {
				_ = p.Signal(syscall.SIGTERM)
				for i := 0; i < 100 && p.Signal(syscall.Signal(0)) == nil; i++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = lab.Down(ctx, filepath.Join(dir, "lab"), nil)
}

// demoServerPID tells whether pid is the dashboard of the demo in dir
// (its command line names the demo's config), so that a stale pid file
// never makes the demo signal another process.
func demoServerPID(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), filepath.Join(dir, "patchpilot.yaml"))
}

// bootLab boots the lab with Prometheus, narrating the base's build on a
// first run.
func (d *demo) bootLab(ctx context.Context) error {
	d.step("Lab: real Debian hosts on this machine")
	var mu sync.Mutex
	var last time.Time
	building := false
	o := lab.Options{Dir: filepath.Join(d.dir, "lab"), Hosts: d.f.hosts, Subnet: d.f.subnet,
		Prometheus: true, PrometheusAddress: d.f.prometheus, ScrapeInterval: demoStep,
		Logger: slog.New(&demoLabHandler{d: d, building: &building}),
		BaseProgress: func(line string) {
			mu.Lock()
			defer mu.Unlock()
			// One line every few seconds is progress; all of
			// debootstrap's would be hundreds.
			if time.Since(last) < 3*time.Second {
				return
			}
			last = time.Now()
			d.detail("building the base: %s", line)
		}}
	if !d.f.keep {
		// The lab dies with the demo: if the demo is killed before it
		// takes the lab down, the next lab started here does.
		o.Owner = lab.ThisProcess()
	}
	began := time.Now()
	l, err := lab.Up(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted while the lab booted")
		}
		return err
	}
	d.lab = l
	hosts := l.Hosts()
	d.detail("%d hosts up in %s: %s .. %s (%s.1-%d), each with sshd, node_exporter and pp-demo-web",
		len(hosts), time.Since(began).Round(100*time.Millisecond), hosts[0].Name, hosts[len(hosts)-1].Name, d.f.subnet, len(hosts))
	d.detail("Prometheus %s scrapes every host every %s; the lab's apt repository has good and bad updates", l.PrometheusURL(), demoStep)
	if !building {
		d.detail("the lab's Debian base was cached (%s)", lab.DefaultCacheDir())
	}
	n := len(hosts)
	for i, h := range hosts {
		if i < n-demoBadHosts {
			d.good = append(d.good, h.Name)
		} else {
			d.bad = append(d.bad, h.Name)
		}
	}
	return nil
}

// demoLabHandler narrates the lab's progress messages.
type demoLabHandler struct {
	d        *demo
	building *bool
}

func (h *demoLabHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *demoLabHandler) Handle(_ context.Context, r slog.Record) error {
	var parts []string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "dir" && a.Key != "mirror" || strings.HasPrefix(r.Message, "building") {
			parts = append(parts, a.Key+"="+a.Value.String())
		}
		return true
	})
	switch {
	case strings.HasPrefix(r.Message, "building the Debian base"):
		*h.building = true
		h.d.detail("first run: building the lab's Debian base (once, cached for the next runs; a minute or two, more on a busy machine) %s", strings.Join(parts, " "))
	case r.Message == "base built" || strings.HasPrefix(r.Message, "built") || strings.HasPrefix(r.Message, "building") || r.Level >= slog.LevelWarn:
		h.d.detail("lab: %s %s", r.Message, strings.Join(parts, " "))
	}
	return nil
}

func (h *demoLabHandler) WithAttrs([]slog.Attr) slog.Handler {
	return h // the lab logs its attributes with each message
}
func (h *demoLabHandler) WithGroup(string) slog.Handler { return h }

// openApp writes the demo's configuration (its own database, the lab's
// known_hosts and key, the lab's Prometheus) and opens the app on it. The
// environment's PATCHPILOT_* settings are not applied: the demo never
// uses the user's database.
func (d *demo) openApp(ctx context.Context) error {
	d.cfgPath = filepath.Join(d.dir, "patchpilot.yaml")
	cfg := fmt.Sprintf("# Written by patchpilot demo: the demo's own database and its lab.\n"+
		"db: %s\nknown_hosts: %s\nkeys: [%s]\nuser: root\nconnect_timeout: 5s\nmetrics: {prometheus: \"http://%s\", window: 30s, step: 2s}\n",
		filepath.Join(d.dir, "patchpilot.db"), d.lab.KnownHostsFile(), d.lab.KeyFile(), d.f.prometheus)
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write the demo's configuration: %w", err)
	}
	c, err := app.LoadConfig(d.cfgPath, false)
	if err != nil {
		return err
	}
	o, err := c.Apply(app.Options{Env: d.c.env})
	if err != nil {
		return err
	}
	o.Logger = slog.New(slog.NewTextHandler(d.c.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(ctx, o)
	if err != nil {
		return err
	}
	d.a = a
	d.actor = a.LocalActor()
	return nil
}

// startDashboard copies this binary into the demo's directory (a binary
// of 'go run' is removed when it exits), starts 'patchpilot server' on
// the demo's database from it, and creates an admin token.
func (d *demo) startDashboard(ctx context.Context) error {
	d.step("Dashboard")
	self, err := os.Executable()
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "find this binary: %w", err)
	}
	d.bin = filepath.Join(d.dir, "bin", "patchpilot")
	if err := copyFile(self, d.bin, 0o755); err != nil {
		return err
	}
	secret, _, err := d.a.CreateToken(ctx, "demo", patchpilot.RoleAdmin, d.actor)
	if err != nil {
		return err
	}
	d.token = secret
	if err := os.WriteFile(filepath.Join(d.dir, "token"), []byte(secret+"\n"), 0o600); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write the token: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "open the dashboard's log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(d.bin, "server", "--config", d.cfgPath, "--listen", d.f.listen, "--schedules=false", "--check-interval", "1s", "--lease-ttl", "4s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: a Ctrl-C in the terminal reaches the demo, which
	// stops it. Without --keep it also dies with the demo.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !d.f.keep {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := cmd.Start(); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "start the dashboard: %w", err)
	}
	d.server = cmd
	if err := os.WriteFile(filepath.Join(d.dir, "server.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write the dashboard's pid: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, err := d.getDashboard(ctx, "/healthz"); err == nil && status == http.StatusOK {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(d.dir, "server.log"))
			return patchpilot.Errorf(patchpilot.EINTERNAL, "the dashboard exited: %s", lastBytes(string(log), 800))
		case <-ctx.Done():
			return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted while the dashboard started")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return patchpilot.Errorf(patchpilot.ETIMEOUT, "the dashboard did not answer on %s within 30 s", d.f.listen)
		}
	}
	d.detail("http://%s/ui/  (patchpilot server over the demo's database, pid %d)", d.f.listen, cmd.Process.Pid)
	d.detail("token (admin, of the demo's database only): %s", d.token)
	d.detail("open it now to watch the rollouts live")
	return nil
}

// getDashboard asks the dashboard for path with the demo's token and
// returns the status.
func (d *demo) getDashboard(ctx context.Context, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.f.listen+path, nil)
	if err != nil {
		return 0, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// checkDashboard asks the dashboard for the rollouts the demo ran, with
// its token, before the demo ends.
func (d *demo) checkDashboard(ctx context.Context) error {
	for _, id := range []string{d.goodID, d.badID} {
		status, err := d.getDashboard(ctx, "/api/v1/rollouts/"+id)
		if err != nil || status != http.StatusOK {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "the dashboard did not answer for rollout %s: status %d, %v", id, status, err)
		}
	}
	if d.f.keep {
		d.detail("the dashboard shows both rollouts: http://%s/ui/ (kept running)", d.f.listen)
	} else {
		d.detail("the dashboard showed both rollouts at http://%s/ui/; it stops with the demo ('patchpilot demo --keep' keeps it running)", d.f.listen)
	}
	return nil
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "copy %s: %w", from, err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "copy %s: %w", from, err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "copy %s: %w", from, err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return patchpilot.Errorf(patchpilot.EINTERNAL, "copy %s: %w", from, err)
	}
	return dst.Close()
}

// inventory collects every lab host over SSH, checking host keys.
func (d *demo) inventory(ctx context.Context, title string) error {
	d.step(title)
	hosts, _, err := d.a.LoadInventory(d.lab.InventoryFile(), "")
	if err != nil {
		return err
	}
	dialer, err := d.a.SSHDialer()
	if err != nil {
		return err
	}
	began := time.Now()
	rep, err := d.a.Collect(ctx, dialer, hosts, app.CollectOptions{}, "ssh", nil)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	pkgs, upd, roles := 0, 0, map[string]int{}
	osName := ""
	for _, r := range rep.Hosts {
		pkgs += r.Summary.PackageCount
		upd += r.Summary.PendingUpdateCount
		roles[r.Host.Labels[patchpilot.LabelRole]]++
		osName = r.Summary.OSName + " " + r.Summary.OSVersion
	}
	var rl []string
	for r, n := range roles {
		rl = append(rl, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(rl)
	d.detail("%d hosts over SSH (host keys checked against the lab's known_hosts) in %s: %s, roles %s",
		len(rep.Hosts), time.Since(began).Round(10*time.Millisecond), osName, strings.Join(rl, ", "))
	d.detail("%d packages installed and %d pending updates in all, stored with the services, connections and reboot needs of each host",
		pkgs, upd)
	return nil
}

// updates imports the lab's demo advisories and lists the pending updates
// with the advisories they fix.
func (d *demo) updates(ctx context.Context) error {
	d.step("Pending updates and the advisories they fix")
	dir := filepath.Join(d.dir, "advisories")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write the demo advisories: %w", err)
	}
	ents, err := demoAdvisories.ReadDir("demodata/advisories")
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "read the demo advisories: %w", err)
	}
	for _, e := range ents {
		data, err := demoAdvisories.ReadFile("demodata/advisories/" + e.Name())
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "read the demo advisories: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "write the demo advisories: %w", err)
		}
	}
	read, _, err := d.a.ImportAdvisories(ctx, dir)
	if err != nil {
		return err
	}
	d.detail("imported %d OSV records: the lab's demo advisories (embedded; the lab's packages have no real ones, and these describe no real software)", read)
	us, err := d.a.Updates(ctx, patchpilot.UpdateFilter{})
	if err != nil {
		return err
	}
	type row struct {
		from, to string
		hosts    int
		advs     []string
	}
	rows := map[string]*row{}
	var names []string
	for _, u := range us {
		r := rows[u.Package]
		if r == nil {
			r = &row{from: u.InstalledVersion, to: u.CandidateVersion}
			rows[u.Package] = r
			names = append(names, u.Package)
		}
		r.hosts++
		for _, a := range u.Advisories {
			if !slices.Contains(r.advs, a.ID+" ("+a.Severity+")") {
				r.advs = append(r.advs, a.ID+" ("+a.Severity+")")
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		r := rows[n]
		fixes := "no advisory"
		if len(r.advs) > 0 {
			fixes = "fixes " + strings.Join(r.advs, ", ")
		}
		d.detail("%-18s %s -> %s on %d hosts: %s", n, dash(r.from), r.to, r.hosts, fixes)
	}
	d.detail("pp-demo-web's repository also holds 1.1.0 (good) and 1.1.1 to 1.1.4 (each broken in its own way)")
	return nil
}

// risk assesses the good and the bad version with the model's reasons.
func (d *demo) risk(ctx context.Context) error {
	d.step("Risk of each update, with reasons")
	res, err := d.a.Assess(ctx, app.AssessQuery{})
	if err != nil {
		return err
	}
	cold := ""
	if res.ColdStart {
		cold = " (cold start: public priors, no fleet history yet)"
	}
	d.detail("model %s%s", res.ModelVersion, cold)
	for _, p := range res.Patches {
		d.detail("%-40s max %5.1f%%  %-6s %s", p.Patch, 100*p.Summary.MaxProbability, p.Summary.Level, p.Summary.Strategy)
	}
	for _, v := range []string{demoGood, demoBad} {
		if err := d.assessOne(ctx, v, 3); err != nil {
			return err
		}
	}
	return nil
}

// assessOne prints the assessment of pp-demo-web=version on one host with
// up to n reasons, and the quarantine when there is one.
func (d *demo) assessOne(ctx context.Context, version string, n int) error {
	spec := demoPackage + "=" + version
	res, err := d.a.Assess(ctx, app.AssessQuery{Patch: spec})
	if err != nil {
		return err
	}
	if len(res.Patches) == 0 || len(res.Patches[0].Hosts) == 0 {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "assess %s: no pending update", spec)
	}
	p := res.Patches[0]
	d.detail("%s: max %.1f%% %s, %s, over %d hosts", spec, 100*p.Summary.MaxProbability, p.Summary.Level, p.Summary.Strategy, p.Summary.Hosts)
	// The riskiest host's reasons.
	h := p.Hosts[0]
	for _, x := range p.Hosts {
		if x.Probability > h.Probability {
			h = x
		}
	}
	lines := app.AssessmentLines(spec, h)
	for i, l := range lines {
		if i > n {
			break
		}
		d.detail("  %s", strings.TrimSpace(l))
	}
	if len(p.Quarantined) > 0 {
		var hs []string
		for _, q := range p.Quarantined {
			hs = append(hs, q.Host)
		}
		d.detail("  quarantined on %d hosts (%s): %s", len(hs), strings.Join(hs, ", "), p.Quarantined[0].Quarantine.Text())
	}
	return nil
}

// plans shows the plan patchpilot proposes for the good update and writes
// the two plans the demo runs: the same shape with bakes short enough for
// a demo, the canary judge on pp-demo-web's latency, and the canary stage
// held until Prometheus has the judge's baseline.
func (d *demo) plans(ctx context.Context) (good, bad string, err error) {
	d.step("A plan")
	prop, err := d.a.ProposePlanWith(ctx, patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: demoPackage, Version: demoGood}}}, "", app.ProposeOptions{})
	if err != nil {
		return "", "", err
	}
	d.detail("'patchpilot plan --patch %s=%s' proposes a %s-risk plan over %d hosts:", demoPackage, demoGood, prop.Level, len(prop.Targets))
	for _, s := range prop.Stages {
		why := ""
		if len(s.Reasons) > 0 {
			why = ": " + s.Reasons[0]
		}
		d.detail("  %-10s %s%s", s.Name, strings.Join(s.Hosts, ", "), truncate(why, 110))
	}
	dir := filepath.Join(d.dir, "plans")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "write the plans: %w", err)
	}
	good = filepath.Join(dir, "good.yaml")
	bad = filepath.Join(dir, "bad.yaml")
	waves := len(d.good) - 3
	wave1 := max(1, waves/3)
	if err := os.WriteFile(good, []byte(d.planYAML(demoGood, d.good, 30*time.Second,
		"{name: validation, targets: 1, canary: false, criteria: [services_running, no_failed_units, http_ok], bake: 10s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: canary, targets: 2, parallel: 2, approval: required, criteria: [services_running, no_failed_units, http_ok, latency_p99<2x], bake: 30s, timeout: 3m, on_failure: rollback_and_alert}",
		fmt.Sprintf("{name: wave_1, targets: %d, parallel: %d, canary: false, criteria: [services_running, no_failed_units, http_ok], bake: 3s, timeout: 3m, on_failure: rollback_and_alert}", wave1, wave1),
		"{name: wave_2, targets: rest, parallel: 5, criteria: [services_running, no_failed_units, http_ok], bake: 3s, timeout: 3m, on_failure: rollback_and_alert}",
	)), 0o600); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "write the plan: %w", err)
	}
	if err := os.WriteFile(bad, []byte(d.planYAML(demoBad, d.bad, 60*time.Second,
		"{name: canary, targets: 2, parallel: 2, approval: required, criteria: [services_running, no_failed_units, http_ok, latency_p99<2x], bake: 60s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: rest, targets: rest, parallel: 5, criteria: [services_running, no_failed_units, http_ok], bake: 3s, timeout: 3m, on_failure: rollback_and_alert}",
	)), 0o600); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "write the plan: %w", err)
	}
	d.detail("the demo runs that shape with short bakes (%s):", dir)
	d.detail("  %s=%s on %s: validation 1 host, canary 2, wave_1 %d, wave_2 %d", demoPackage, demoGood, hostRange(d.good), wave1, len(d.good)-3-wave1)
	d.detail("  %s=%s on %s at the same time: canary 2, rest %d", demoPackage, demoBad, hostRange(d.bad), len(d.bad)-2)
	d.detail("  gates: services, failed units, HTTP /health, p99 latency from Prometheus against each host's own baseline")
	d.detail("  canary judge: each canary's mean and p99 latency against unchanged hosts of later stages and its own baseline")
	return good, bad, nil
}

func hostRange(hosts []string) string {
	if len(hosts) == 0 {
		return "-"
	}
	return hosts[0] + ".." + hosts[len(hosts)-1]
}

// planYAML writes a plan of pp-demo-web=version over hosts.
//
// maxBake is the canary judge's bake limit. The judge leaves out the 10 s
// after a change that its rate windows mix, and a Pass needs 20 samples
// after that (about 50 s): a demo's bakes end on an inconclusive
// look for a good update, which the plan passes (on_inconclusive: pass).
// The bad update's plan bakes 60 s, time for the few samples after the
// settle with which the judge fails a threefold latency on its own, even
// on a busy machine (it runs beside the good one's later stages).
func (d *demo) planYAML(version string, hosts []string, maxBake time.Duration, stages ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by patchpilot demo.\nrollout:\n  name: demo-%s-%s\n  patch: {packages: [\"%s=%s\"]}\n  targets: {hosts: [%s]}\n",
		demoPackage, version, demoPackage, version, strings.Join(hosts, ", "))
	b.WriteString("  policy: {require_rollback: true}\n")
	b.WriteString("  health:\n    http: [{name: demo, url: \"http://{{.Address}}:8080/health\", max_latency: 2s}]\n")
	fmt.Fprintf(&b, "    prometheus:\n      url: \"http://%s\"\n      step: 2s\n      window: 30s\n      queries:\n        latency_p99: '%s'\n", d.f.prometheus, demoP99Query)
	fmt.Fprintf(&b, `  canary:
    baseline: %s
    interval: 2s
    max_bake: %s
    on_inconclusive: pass
    metrics:
      - {name: latency_mean, query: '%s', direction: higher_is_worse, margin: 10%%, critical: true}
      - {name: latency_p99, query: '%s', direction: higher_is_worse, margin: 25%%}
`, demoBaseline, maxBake, demoMeanQuery, demoP99Query)
	b.WriteString("  stages:\n")
	for _, s := range stages {
		b.WriteString("    - " + s + "\n")
	}
	return b.String()
}

// rollouts starts both rollouts and drives them at once: the good one
// narrated as it goes, the bad one summarised when both have ended.
func (d *demo) rollouts(ctx context.Context, goodPlan, badPlan string) error {
	d.step(fmt.Sprintf("Rollout of a good update: %s %s", demoPackage, demoGood))
	var badEvents []patchpilot.Event
	var bmu sync.Mutex
	start := func(plan string, onEvent func(patchpilot.Event)) (*app.Controller, string, error) {
		p, src, err := app.ReadPlan(plan)
		if err != nil {
			return nil, "", err
		}
		dialer, err := d.a.SSHDialer()
		if err != nil {
			return nil, "", err
		}
		eng := d.a.Controller(app.EngineOptions{Dialer: dialer, Actor: "controller", LeaseTTL: 4 * time.Second,
			CheckInterval: time.Second, OnEvent: onEvent})
		id, err := eng.Start(ctx, p, src, app.StartOptions{Actor: d.actor})
		return eng, id, err
	}
	goodEng, goodID, err := start(goodPlan, d.narrate)
	if err != nil {
		return err
	}
	d.goodID = goodID
	badEng, badID, err := start(badPlan, func(e patchpilot.Event) {
		bmu.Lock()
		badEvents = append(badEvents, e)
		bmu.Unlock()
	})
	if err != nil {
		return err
	}
	d.badID = badID
	d.say("rollout %s started; beside it, %s %s on %s is rollout %s (told below)", goodID, demoPackage, demoBad, hostRange(d.bad), badID)
	var wg sync.WaitGroup
	var goodState, badState patchpilot.RolloutState
	var goodErr, badErr error
	wg.Add(2)
	go func() { defer wg.Done(); goodState, goodErr = d.drive(ctx, goodEng, goodID, true) }()
	go func() { defer wg.Done(); badState, badErr = d.drive(ctx, badEng, badID, false) }()
	wg.Wait()
	if ctx.Err() != nil {
		return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted during the rollouts")
	}
	if goodErr != nil {
		return goodErr
	}
	if badErr != nil {
		return badErr
	}
	st, err := d.a.RolloutStatus(ctx, goodID)
	if err != nil {
		return err
	}
	if goodState != patchpilot.RolloutSucceeded {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "the good update's rollout %s ended %s: %s", goodID, goodState, st.Reason).
			WithHint("see 'patchpilot rollout status " + goodID + "' (with --keep) for each host's gates")
	}
	var done []string
	for _, s := range st.Stages {
		for _, h := range s.Hosts {
			if h.State == patchpilot.HostSucceeded {
				done = append(done, h.Host)
			}
		}
	}
	d.say("%s %s installed on %d hosts (%s): rollout %s succeeded", demoPackage, demoGood, len(done), strings.Join(done, ", "), goodID)

	d.step(fmt.Sprintf("Rollout of a bad update: %s %s (latency x3), run beside it", demoPackage, demoBad))
	bmu.Lock()
	evs := slices.Clone(badEvents)
	bmu.Unlock()
	for _, e := range evs {
		d.narrateEvent(e, true)
	}
	bst, err := d.a.RolloutStatus(ctx, badID)
	if err != nil {
		return err
	}
	var rolledBack []string
	for _, s := range bst.Stages {
		for _, h := range s.Hosts {
			if h.State == patchpilot.HostRolledBack {
				rolledBack = append(rolledBack, h.Host)
			}
		}
	}
	if badState == patchpilot.RolloutSucceeded || len(rolledBack) == 0 {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "the bad update's rollout %s ended %s with no host rolled back: %s", badID, badState, bst.Reason)
	}
	d.say("rollout %s %s: %s back on %s %s; %s", badID, badState, strings.Join(rolledBack, ", "), demoPackage, "1.0.0", bst.Reason)
	for _, inc := range bst.Incidents {
		d.detail("incident %d (stage %s, hosts %s): %s", inc.ID, dash(inc.Stage), strings.Join(inc.Hosts, ", "), truncate(inc.Reason, 160))
	}
	return nil
}

// drive runs a rollout to its end. A stage that waits for an approval is
// approved by the demo as the person running it, once Prometheus holds the
// canary judge's baseline.
func (d *demo) drive(ctx context.Context, eng *app.Controller, id string, narrate bool) (patchpilot.RolloutState, error) {
	for {
		state, err := eng.Run(ctx, id)
		if err != nil || state != patchpilot.RolloutWaitingApproval {
			return state, err
		}
		st, err := d.a.RolloutStatus(ctx, id)
		if err != nil {
			return state, err
		}
		stage := ""
		for _, s := range st.Stages {
			if s.State == patchpilot.StageWaitingApproval {
				stage = s.Name
				break
			}
		}
		if stage == "" {
			return state, patchpilot.Errorf(patchpilot.EINTERNAL, "rollout %s waits for an approval, but no stage does: %s", id, st.Reason)
		}
		if narrate {
			// The engine's event says the stage needs an approval, with
			// the command a person would run: the demo gives it itself.
			d.detail("nothing to type: the demo approves stage %s itself once Prometheus holds the canary judge's %s baseline", stage, demoBaseline)
		}
		if err := d.waitBaseline(ctx); err != nil {
			return state, err
		}
		if narrate {
			d.say("the demo approves stage %s as %s: Prometheus now holds the judge's %s baseline of every host", stage, d.actor, demoBaseline)
		}
		if _, err := eng.Approve(ctx, id, stage, d.actor); err != nil {
			return state, err
		}
	}
}

// waitBaseline waits until Prometheus holds, for every host, the canary
// judge's baseline of both latency queries (patchpilot.CanaryMinBaselineSamples
// samples over the baseline window), the newest fresh.
func (d *demo) waitBaseline(ctx context.Context) error {
	d.baselineOnce.Do(func() {
		if since := time.Since(d.start); since < demoBaseline {
			d.say("waiting for the canary judge's baseline: %d samples of each host's latency (about %s after the lab's Prometheus started)",
				patchpilot.CanaryMinBaselineSamples, demoBaseline)
		}
		var hosts []string
		for _, h := range d.lab.Hosts() {
			hosts = append(hosts, h.Name)
		}
		for {
			ok, err := d.baselineReady(ctx, hosts)
			if err == nil && ok {
				return
			}
			select {
			case <-ctx.Done():
				d.baselineErr = patchpilot.Errorf(patchpilot.ECANCELED, "interrupted while waiting for the canary baseline")
				return
			case <-time.After(time.Second):
			}
			if time.Since(d.start) > 10*time.Minute {
				d.baselineErr = patchpilot.Errorf(patchpilot.ETIMEOUT, "Prometheus %s did not gather the canary baseline in 10 minutes (last: %v)", d.f.prometheus, err)
				return
			}
		}
	})
	return d.baselineErr
}

// baselineReady asks Prometheus for the judge's queries over the baseline
// window and tells whether every host has enough samples, the last at
// most two steps old.
func (d *demo) baselineReady(ctx context.Context, hosts []string) (bool, error) {
	end := time.Now()
	for _, q := range []string{demoMeanQuery, demoP99Query} {
		for _, h := range hosts {
			n, last, err := promSamples(ctx, d.f.prometheus, strings.ReplaceAll(q, "{{.Host}}", h), end.Add(-demoBaseline), end, demoStep)
			if err != nil {
				return false, err
			}
			// The whole window: the judge counts from the change, a
			// moment later, and a scrape may land late.
			if n < int(demoBaseline/demoStep)+1 || end.Sub(last) > 2*demoStep {
				return false, fmt.Errorf("%s: %d samples", h, n)
			}
		}
	}
	return true, nil
}

// narrate prints the good rollout's events as they happen.
func (d *demo) narrate(e patchpilot.Event) { d.narrateEvent(e, false) }

// narrateEvent prints the events a reader of the demo follows: stages,
// hosts applied, succeeded, rolled back or failed, each with the last gate
// verdict before it and the canary judge's lines, approvals and incidents.
func (d *demo) narrateEvent(e patchpilot.Event, replay bool) {
	at := ""
	if replay {
		at = fmt.Sprintf("(at %5.1fs) ", e.Time.Sub(d.start).Seconds())
	}
	switch e.Kind {
	case patchpilot.EventStageState:
		if strings.Contains(e.Message, " approved by ") {
			return // the demo said so
		}
		d.say("%s%s", at, truncate(e.Message, 160))
	case patchpilot.EventHostState:
		f := strings.Fields(e.Message)
		if len(f) < 2 {
			return
		}
		switch patchpilot.HostState(strings.TrimSuffix(f[1], ":")) {
		case patchpilot.HostApply:
			d.say("%s%s", at, truncate(e.Message, 160))
		case patchpilot.HostRollingBack:
			if strings.Contains(e.Message, "rollback started") {
				return // told when the host failed
			}
			fallthrough
		case patchpilot.HostSucceeded, patchpilot.HostRolledBack, patchpilot.HostFailed, patchpilot.HostRollbackFailed:
			d.mu.Lock()
			v, ok := d.verdicts[e.Host]
			delete(d.verdicts, e.Host)
			d.mu.Unlock()
			if ok {
				d.say("%s%s", at, truncate(v.Message, 160))
				for _, l := range canaryLines(v) {
					d.detail("%s", truncate(l, 150))
				}
			}
			d.say("%s%s", at, truncate(e.Message, 160))
		}
	case patchpilot.EventGateVerdict:
		d.mu.Lock()
		if d.verdicts == nil {
			d.verdicts = map[string]patchpilot.Event{}
		}
		d.verdicts[e.Host] = e
		d.mu.Unlock()
	case patchpilot.EventIncident, patchpilot.EventRolloutState:
		// The controller's lease, and what the stage events said.
		if strings.Contains(e.Message, "started by") || strings.Contains(e.Message, "approv") {
			return
		}
		d.say("%s%s", at, truncate(e.Message, 200))
	}
}

// learned collects the hosts again (their facts after the rollbacks) and
// assesses both versions: the outcomes taught the model by themselves.
func (d *demo) learned(ctx context.Context) error {
	if err := d.inventory(ctx, "The model learned from those outcomes"); err != nil {
		return err
	}
	qs, err := d.a.Quarantines(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, q := range qs {
		if q.Package == demoPackage && q.Version == demoBad {
			found = true
			d.detail("%s", q.Text())
		}
	}
	if !found {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "%s %s was rolled back but is not quarantined", demoPackage, demoBad)
	}
	for _, v := range []string{demoBad, demoGood} {
		if err := d.assessOne(ctx, v, 2); err != nil {
			return err
		}
	}
	return nil
}

// kpis prints the KPIs of the demo's run.
func (d *demo) kpis(ctx context.Context) error {
	d.step("KPIs")
	rep, err := d.a.KPIs(ctx, app.KPIQuery{From: d.start.Add(-time.Hour), To: time.Now().Add(time.Minute)})
	if err != nil {
		return err
	}
	p := rep.Patches
	d.detail("host patches %d: %d succeeded, %d rolled back, %d failed", p.Total, p.Succeeded, p.RolledBack, p.Failed)
	d.detail("change failure rate %.0f%%; %d rollbacks in %d rollout(s); downtime from reboots %d",
		100*rep.ChangeFailureRate, rep.Rollbacks, rep.RolledBackRollouts, rep.Downtime.Reboots)
	d.detail("patches with no person involved: %d (%.0f%%): the demo approved the canary stages as you", rep.Unattended, 100*rep.UnattendedShare)
	for _, t := range rep.TimeToPatch {
		if t.Severity == "all" && t.Count > 0 {
			d.detail("time from an update's availability to its installation: mean %s over %d patches (the demo advisories' publication dates count as availability)", app.FormatSeconds(t.MeanSeconds), t.Count)
		}
	}
	if n := len(rep.Compliance); n > 0 && rep.Compliance[n-1].Share != nil {
		d.detail("hosts within their patch SLA today: %.0f%%", 100**rep.Compliance[n-1].Share)
	}
	return nil
}

// cleanup ends the demo: with --keep it prints how to look around and stop
// everything; otherwise it stops the dashboard, takes the lab down and
// removes the demo's directory. It runs after an error or an interrupt
// too.
func (d *demo) cleanup(runErr error) error {
	if d.a != nil {
		d.a.Close()
	}
	ok := runErr == nil
	if d.f.keep && ok {
		d.step("Left running (--keep)")
		d.printKeep()
		d.say("done in %s", time.Since(d.start).Round(100*time.Millisecond))
		return nil
	}
	if d.dir == "" {
		return nil
	}
	var errs []error
	began := time.Now()
	if d.server != nil && d.server.Process != nil {
		_ = d.server.Process.Signal(syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for d.server.Process.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if d.server.Process.Signal(syscall.Signal(0)) == nil {
			_ = d.server.Process.Kill()
		}
	}
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lab.Down(ctx, filepath.Join(d.dir, "lab"), nil); err != nil {
		errs = append(errs, err)
	}
	down := time.Now()
	if d.created {
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, patchpilot.Errorf(patchpilot.EINTERNAL, "remove %s: %w", d.dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(d.c.stderr, "cleanup: %v\n", err)
		return patchpilot.Errorf(patchpilot.EINTERNAL, "the demo could not clean up: %v", err)
	}
	fmt.Fprintln(d.out)
	d.say("cleaned up: dashboard stopped (%s), lab down (%s), %s removed; the lab's cached Debian base stays in %s",
		stopped.Sub(began).Round(100*time.Millisecond), down.Sub(stopped).Round(100*time.Millisecond), d.dir, lab.DefaultCacheDir())
	if ok {
		d.say("done in %s", time.Since(d.start).Round(100*time.Millisecond))
	}
	return nil
}

// printKeep prints the commands to look around the kept demo and to stop
// it.
func (d *demo) printKeep() {
	pp := d.bin + " --config " + d.cfgPath
	d.detail("dashboard:  http://%s/ui/   token (admin): %s   (also in %s)", d.f.listen, d.token, filepath.Join(d.dir, "token"))
	d.detail("Prometheus: %s", d.lab.PrometheusURL())
	d.detail("look around (as root):")
	for _, c := range []string{
		"hosts",
		"updates",
		"assess",
		"rollout list",
		"rollout status " + d.goodID,
		"rollout events " + d.badID,
		"quarantine list",
		"report",
	} {
		d.detail("  %s %s", pp, c)
	}
	d.detail("  ssh -i %s -o UserKnownHostsFile=%s root@%s", d.lab.KeyFile(), d.lab.KnownHostsFile(), d.lab.Hosts()[0].Address)
	d.detail("stop everything:")
	d.detail("  kill %d; %s lab down --dir %s; rm -rf %s", d.server.Process.Pid, d.bin, filepath.Join(d.dir, "lab"), d.dir)
	d.detail("or run the demo again: it stops this one first (sudo patchpilot demo --keep --dir %s)", d.dir)
}

// promSamples asks Prometheus for a range query and returns how many
// samples its series holds (the fewest, when it returns several) and the
// time of the last.
func promSamples(ctx context.Context, addr, query string, start, end time.Time, step time.Duration) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v := url.Values{"query": {query}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
		"step": {strconv.Itoa(int(step.Seconds()))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return 0, time.Time{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&body); err != nil {
		return 0, time.Time{}, fmt.Errorf("prometheus: %w", err)
	}
	if body.Status != "success" {
		return 0, time.Time{}, fmt.Errorf("prometheus: %s", body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, time.Time{}, nil
	}
	n, last := -1, time.Time{}
	for _, r := range body.Data.Result {
		good := 0
		var l time.Time
		for _, p := range r.Values {
			ts, _ := p[0].(float64)
			sv, _ := p[1].(string)
			if f, err := strconv.ParseFloat(sv, 64); err == nil && !math.IsNaN(f) {
				good++
				l = time.Unix(int64(ts), 0)
			}
		}
		if n < 0 || good < n {
			n, last = good, l
		}
	}
	return n, last, nil
}
