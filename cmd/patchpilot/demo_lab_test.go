package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// The demo's end-to-end test has its own subnet, Prometheus port and
// dashboard port.
const (
	demoTestSubnet     = "127.0.51"
	demoTestPrometheus = "127.0.0.1:9251"
	demoTestListen     = "127.0.0.1:8451"
)

// demoArgs are the flags every run of the demo in these tests takes.
func demoArgs(dir string, extra ...string) []string {
	return append([]string{"demo", "--dir", dir, "--subnet", demoTestSubnet, "--prometheus-address", demoTestPrometheus,
		"--listen", demoTestListen}, extra...)
}

// TestDemoWithoutRoot runs the demo as the unprivileged user nobody: it
// says what it needs and exits 6 before it touches anything.
func TestDemoWithoutRoot(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	e := newEnv(t)
	// nobody must reach the binary.
	top, err := os.MkdirTemp("", "patchpilot-demo-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	bin := filepath.Join(top, "patchpilot")
	if err := copyFile(binary, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	e.vars = []string{"HOME=" + top, "PATH=" + os.Getenv("PATH")}
	dir := filepath.Join(top, "demo")
	r := e.runAsNobody(bin, demoArgs(dir)...)
	if r.code != patchpilot.ExitDenied {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitDenied, r.stdout, r.stderr)
	}
	for _, want := range []string{"the demo needs root", "systemd-nspawn", "sudo go run ./cmd/patchpilot demo"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the demo made %s without root", dir)
	}
}

// demoSteps are the headers of the demo's narrated steps, in order.
var demoSteps = []string{
	"== Lab: real Debian hosts on this machine",
	"== Dashboard",
	"== Inventory",
	"== Pending updates and the advisories they fix",
	"== Risk of each update, with reasons",
	"== A plan",
	"== Rollout of a good update: pp-demo-web 1.1.0",
	"== Rollout of a bad update: pp-demo-web 1.1.3",
	"== The model learned from those outcomes",
	"== KPIs",
}

// TestDemoOnTheLab runs 'patchpilot demo --keep' through the real binary
// on a lab of its own and checks what it claims: every step narrated, the
// dashboard answering with the printed token while the rollouts run,
// pp-demo-web 1.1.0 installed on the good rollout's hosts and 1.1.3
// rolled back on the bad one's canaries (on the hosts themselves, over
// SSH, and in the stored rollouts), 1.1.3 quarantined; then the printed
// commands stop everything and nothing of the demo is left: no process of
// its lab, no mount, no directory, no database, nothing listening.
func TestDemoOnTheLab(t *testing.T) {
	needRoot(t)
	labtest.Require(t, func() error { return lab.CheckHost(true) })
	labtest.Lock(t)
	began := time.Now()
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "demo")
	b := e.background(demoArgs(dir, "--keep")...)
	out := b.cmd.Stdout.(*syncWriter)
	t.Cleanup(func() {
		// Whatever happened, leave nothing running.
		stopKeptDemo(dir)
		if t.Failed() {
			t.Logf("demo output:\n%s\nstderr:\n%s", out.String(), b.cmd.Stderr.(*syncWriter).String())
		}
	})

	// The dashboard answers with the printed token while the rollouts run.
	token := ""
	labtest.WaitFor(t, "the dashboard's token", 10*time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		m := regexp.MustCompile(`token \(admin[^)]*\): (ppt_[a-z0-9]+)`).FindStringSubmatch(out.String())
		if m != nil {
			token = m[1]
		}
		select {
		case <-b.done:
			t.Fatalf("the demo exited %d before it printed a token:\n%s\n%s", b.code, out.String(), b.cmd.Stderr.(*syncWriter).String())
		default:
		}
		return m != nil, "no token printed yet"
	})
	if !strings.Contains(out.String(), "http://"+demoTestListen+"/ui/") {
		t.Errorf("no dashboard URL printed:\n%s", out.String())
	}
	labtest.WaitFor(t, "the dashboard listing the rollouts", 5*time.Minute, time.Second, func(ctx context.Context) (bool, string) {
		code, body := demoGet(ctx, "http://"+demoTestListen+"/api/v1/rollouts", token)
		return code == http.StatusOK && strings.Contains(body, "demo-pp-demo-web-1.1.0"), "status " + http.StatusText(code)
	})
	if code, _ := demoGet(context.Background(), "http://"+demoTestListen+"/ui/", ""); code != http.StatusOK {
		t.Errorf("GET /ui/: %d", code)
	}

	select {
	case <-b.done:
	case <-time.After(15 * time.Minute):
		t.Fatalf("the demo did not end in 15 minutes:\n%s", out.String())
	}
	text := out.String()
	if b.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", b.code, text, b.cmd.Stderr.(*syncWriter).String())
	}
	t.Logf("the demo took %s", time.Since(began).Round(time.Second))
	at := 0
	for _, s := range demoSteps {
		i := strings.Index(text[at:], s)
		if i < 0 {
			t.Errorf("step %q missing or out of order", s)
			continue
		}
		at += i
	}
	for _, want := range []string{
		"PP-LAB-2026-0001 (high)",                       // the advisories
		"canary:latency_mean fail (critical)",           // the judge caught 1.1.3
		"quarantined: pp-demo-web 1.1.3 rolled back on", // the model learned
		"change failure rate",                           // the KPIs
		"/ui/ (kept running)",                           // --keep keeps the dashboard
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`pp-demo-web=1.1.3: max [0-9.]+% (\w+)`).FindAllStringSubmatch(text, -1); len(m) != 2 || m[1][1] != "high" {
		t.Errorf("1.1.3 after the rollouts: %v, want rated high the second time", m)
	}

	// The hosts themselves, over SSH with the lab's files.
	l, err := lab.Open(filepath.Join(dir, "lab"))
	if err != nil {
		t.Fatal(err)
	}
	rl := labFromOpen(t, l)
	pp := func(args ...string) string {
		return e.mustRun(append([]string{"--config", filepath.Join(dir, "patchpilot.yaml")}, args...)...)
	}
	ids := regexp.MustCompile(`rollout (r-[0-9a-f-]+) started; beside it, pp-demo-web 1.1.3 on \S+ is rollout (r-[0-9a-f-]+)`).FindStringSubmatch(text)
	if ids == nil {
		t.Fatalf("no rollout ids in the output")
	}
	good, bad := e.statusWith(pp, ids[1]), e.statusWith(pp, ids[2])
	if good.State != "succeeded" || bad.State != "halted" {
		t.Errorf("good rollout %s, bad rollout %s; want succeeded and halted", good.State, bad.State)
	}
	for _, s := range good.Stages {
		for _, h := range s.Hosts {
			if v := rl.version(h.Name, "pp-demo-web"); h.State != "succeeded" || v != "1.1.0" {
				t.Errorf("good rollout, %s: %s, pp-demo-web %s", h.Name, h.State, v)
			}
		}
	}
	rolledBack := 0
	for _, h := range bad.Stages[0].Hosts {
		rolledBack++
		if v := rl.version(h.Name, "pp-demo-web"); h.State != "rolled_back" || v != "1.0.0" || !rl.healthy(h.Name) {
			t.Errorf("bad rollout's canary %s: %s, pp-demo-web %s", h.Name, h.State, v)
		}
	}
	if rolledBack == 0 || len(bad.Incidents) != 1 {
		t.Errorf("bad rollout: %d canaries rolled back, %d incidents", rolledBack, len(bad.Incidents))
	}
	if q := pp("quarantine", "list"); !strings.Contains(q, "1.1.3") {
		t.Errorf("quarantine list:\n%s", q)
	}

	// The printed commands stop everything.
	m := regexp.MustCompile(`(?m)^\s+(kill \d+; .* lab down --dir .*; rm -rf .*)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no stop command printed")
	}
	if res, err := exec.Command("sh", "-c", m[1]).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, res)
	}
	checkNothingLeft(t, dir)
}

// TestDemoInterruptedOnTheLab interrupts the demo (SIGINT, as Ctrl-C
// does) while its rollouts run: it exits 130 and leaves nothing behind.
func TestDemoInterruptedOnTheLab(t *testing.T) {
	needRoot(t)
	labtest.Require(t, func() error { return lab.CheckHost(true) })
	labtest.Lock(t)
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "demo")
	b := e.background(demoArgs(dir)...)
	out := b.cmd.Stdout.(*syncWriter)
	t.Cleanup(func() { stopKeptDemo(dir) })
	labtest.WaitFor(t, "the first host's apply", 10*time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		select {
		case <-b.done:
			t.Fatalf("the demo exited %d:\n%s\n%s", b.code, out.String(), b.cmd.Stderr.(*syncWriter).String())
		default:
		}
		return strings.Contains(out.String(), " apply\n"), "no apply yet"
	})
	if _, err := os.Stat(filepath.Join(dir, "lab", "state.json")); err != nil {
		t.Fatalf("the demo's lab is not in %s: %v", dir, err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the interrupted demo did not end in 3 minutes:\n%s", out.String())
	}
	if b.code != patchpilot.ExitCanceled {
		t.Errorf("exit %d, want %d\n%s\n%s", b.code, patchpilot.ExitCanceled, out.String(), b.cmd.Stderr.(*syncWriter).String())
	}
	checkNothingLeft(t, dir)
}

// checkNothingLeft checks that nothing of the demo in dir is left: the
// directory (lab, database), mounts under it, processes of its lab,
// listeners on its addresses.
func checkNothingLeft(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s is left", dir)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("mount left: %s", line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), dir) {
			t.Errorf("process left: %s: %s", p, strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	for _, addr := range []string{demoTestPrometheus, demoTestListen, demoTestSubnet + ".1:22"} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening", addr)
		}
	}
}

// demoGet GETs url, with token when not empty.
func demoGet(ctx context.Context, url, token string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// labFromOpen is a rolloutLab over a lab that runs already (the demo's),
// with an SSH dialer that checks the hosts' real keys.
func labFromOpen(t *testing.T, l *lab.Lab) *rolloutLab {
	t.Helper()
	d, err := ssh.NewDialer(ssh.Options{HomeDir: t.TempDir(), KnownHostsFile: l.KnownHostsFile(), User: "root",
		KeyFiles: []string{l.KeyFile()}, ConnectTimeout: 5 * time.Second, CommandTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rl := &rolloutLab{t: t, lab: l, dialer: d, hosts: map[string]patchpilot.Host{}}
	for _, h := range l.Hosts() {
		rl.hosts[h.Name] = h
	}
	return rl
}

// statusWith reads a rollout's status through pp (the binary with the
// demo's configuration).
func (e *env) statusWith(pp func(args ...string) string, id string) rolloutStatus {
	e.t.Helper()
	return decodeJSON[rolloutStatus](e.t, pp("rollout", "status", id, "-o", "json"))
}
