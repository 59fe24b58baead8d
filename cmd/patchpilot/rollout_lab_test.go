package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// The rollout tests run the real binary against a lab of eight Debian
// hosts on their own subnet and Prometheus port, so that they can run
// beside the other packages' labs.
const (
	rolloutLabSubnet     = "127.0.3"
	rolloutLabPrometheus = "127.0.0.1:9193"
	rolloutLabHosts      = 8
)

// rolloutLab is the lab and an SSH dialer to check and reset its hosts.
type rolloutLab struct {
	t      *testing.T
	lab    *lab.Lab
	dialer *ssh.Dialer
	hosts  map[string]patchpilot.Host
}

// needRoot skips a lab test under -short and for a non-root user, or
// fails it with CI=true, where lab tests must run.
func needRoot(t *testing.T) {
	t.Helper()
	labtest.Require(t, nil)
}

func upRolloutLab(t *testing.T) *rolloutLab {
	return bootLab(t, lab.Options{Hosts: rolloutLabHosts, Subnet: rolloutLabSubnet,
		Prometheus: true, PrometheusAddress: rolloutLabPrometheus})
}

// bootLab boots a lab for one test (in its temporary directory, torn down
// when it ends) with an SSH dialer that checks the hosts' real keys. The
// test holds the machine-wide lab lock from before the lab boots until
// after it is down.
func bootLab(t *testing.T, o lab.Options) *rolloutLab {
	t.Helper()
	labtest.Require(t, func() error { return lab.CheckHost(o.Prometheus) })
	labtest.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o.Dir = filepath.Join(t.TempDir(), "lab")
	l, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
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

// sh runs a command on a lab host and returns its standard output.
func (rl *rolloutLab) sh(host string, args ...string) string {
	rl.t.Helper()
	ctx := context.Background()
	r, err := rl.dialer.Dial(ctx, rl.hosts[host])
	if err != nil {
		rl.t.Fatalf("dial %s: %v", host, err)
	}
	defer r.Close()
	res, err := r.Run(ctx, patchpilot.Command{Args: args})
	if err != nil {
		rl.t.Fatalf("%s: %v: %v", host, args, err)
	}
	return string(res.Stdout)
}

func (rl *rolloutLab) version(host, pkg string) string {
	return strings.TrimSpace(rl.sh(host, "dpkg-query", "-W", "-f", "${Version}", pkg))
}

// reset puts hosts back at the lab's first versions.
func (rl *rolloutLab) reset(hosts ...string) {
	rl.t.Helper()
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rl.sh(h, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--allow-downgrades",
				"-o", "Dpkg::Options::=--force-confold", "pp-demo-web=1.0.0", "pp-kernel-demo=1.0.0")
			rl.sh(h, "rm", "-f", "/run/reboot-required", "/run/reboot-required.pkgs")
		}()
	}
	wg.Wait()
	for _, h := range hosts {
		if v := rl.version(h, "pp-demo-web"); v != "1.0.0" {
			rl.t.Fatalf("reset %s: pp-demo-web is %s", h, v)
		}
	}
}

// upgrades counts dpkg.log's upgrade lines of a package to a version.
func (rl *rolloutLab) upgrades(host, pkg, to string) int {
	log := rl.sh(host, "cat", "/var/log/dpkg.log")
	re := regexp.MustCompile(`(?m) upgrade ` + regexp.QuoteMeta(pkg) + `:\S+ \S+ ` + regexp.QuoteMeta(to) + `$`)
	return len(re.FindAllString(log, -1))
}

// healthy asks the demo service's /health on the host itself.
func (rl *rolloutLab) healthy(host string) bool {
	out := rl.sh(host, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+rl.hosts[host].Address+":8080/health")
	return strings.TrimSpace(out) == "200"
}

func hostList(names ...string) string { return "[" + strings.Join(names, ", ") + "]" }

// labPlan writes a plan over the named hosts. stages are the plan's stage
// lines; every stage watches the demo service's health over HTTP and the
// units that ran before.
func labPlan(t *testing.T, pkg string, hosts []string, policy string, stages ...string) string {
	t.Helper()
	return writeLabPlan(t, strings.ReplaceAll(pkg, "=", "-"), pkg, hosts, policy, "", stages...)
}

// writeLabPlan writes a plan named name; extra is YAML that goes after the
// HTTP health check (more health sources, a canary section).
func writeLabPlan(t *testing.T, name, pkg string, hosts []string, policy, extra string, stages ...string) string {
	t.Helper()
	if policy == "" {
		policy = "{allow_reboot: true, require_rollback: true}"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rollout:\n  name: %s\n  patch: {packages: [%q]}\n  targets: {hosts: %s}\n  policy: %s\n", name, pkg, hostList(hosts...), policy)
	b.WriteString("  health:\n    http: [{name: demo, url: \"http://{{.Address}}:8080/health\", max_latency: 2s}]\n")
	b.WriteString(extra)
	b.WriteString("  stages:\n")
	for _, s := range stages {
		b.WriteString("    - " + s + "\n")
	}
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const labCriteria = "criteria: [services_running, no_failed_units, http_ok]"

// labEnv is a private environment that has collected the named hosts.
// These tests drive rollouts without a person, and critical hosts always
// need one, so the lab's critical host is collected as high.
func (rl *rolloutLab) env(t *testing.T, hosts ...string) *env {
	t.Helper()
	e := newEnv(t)
	inv, err := os.ReadFile(rl.lab.InventoryFile())
	if err != nil {
		t.Fatal(err)
	}
	invFile := filepath.Join(t.TempDir(), "inventory.ini")
	if err := os.WriteFile(invFile, []byte(strings.ReplaceAll(string(inv), "criticality=critical", "criticality=high")), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun("inventory", "collect", "-i", invFile, "--known-hosts", rl.lab.KnownHostsFile(),
		"--limit", strings.Join(hosts, ":"), "-o", "json")
	return e
}

// rolloutFlags are the flags of every driving command in these tests.
func (rl *rolloutLab) rolloutFlags() []string {
	return []string{"--known-hosts", rl.lab.KnownHostsFile(), "--check-interval", "1s", "--connect-timeout", "3s", "--lease-ttl", "4s"}
}

// startRollout runs 'rollout start' to its end and returns the id and the
// result.
func (rl *rolloutLab) startRollout(e *env, plan string, extra ...string) (string, result) {
	rl.t.Helper()
	r := e.run(append(append([]string{"rollout", "start", plan}, rl.rolloutFlags()...), extra...)...)
	first, _, _ := strings.Cut(r.stdout, "\n")
	id, ok := strings.CutPrefix(first, "rollout ")
	if !ok {
		rl.t.Fatalf("rollout start did not print the id first:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return id, r
}

// approveHighRisk approves a rollout that waits for a person because the
// risk model, having learned from the lab's earlier rollouts, rates its
// update high risk on a host (the default policy's rule), and drives it on
// to its end; any other state is left as it is. It returns the result of
// the approval's run, or res when nothing was approved.
func (rl *rolloutLab) approveHighRisk(e *env, id string, res result) result {
	rl.t.Helper()
	if st := e.status(id); st.State != "waiting_approval" || !strings.Contains(st.Reason, "high_risk: ") {
		return res
	}
	return e.run(append([]string{"rollout", "approve", id}, rl.rolloutFlags()...)...)
}

// rolloutStatus is the JSON of 'rollout status'.
type rolloutStatus struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Plan   string `json:"plan"`
	Stages []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Hosts []struct {
			Name         string            `json:"name"`
			State        string            `json:"state"`
			Order        int               `json:"order"`
			FromVersions map[string]string `json:"from_versions"`
			ToVersions   map[string]string `json:"to_versions"`
			StartedAt    *time.Time        `json:"started_at"`
			FinishedAt   *time.Time        `json:"finished_at"`
			Reason       string            `json:"reason"`
			BootIDBefore string            `json:"boot_id_before"`
			BootIDAfter  string            `json:"boot_id_after"`
			Gates        []json.RawMessage `json:"gate_results"`
		} `json:"hosts"`
	} `json:"stages"`
	Incidents []struct {
		Reason   string          `json:"reason"`
		Hosts    []string        `json:"hosts"`
		Evidence json.RawMessage `json:"evidence"`
	} `json:"incidents"`
}

func (e *env) status(id string) rolloutStatus {
	e.t.Helper()
	return decodeJSON[rolloutStatus](e.t, e.mustRun("rollout", "status", id, "-o", "json"))
}

// hostStates returns each host's state, and its stage.
func (s rolloutStatus) hostStates() map[string]string {
	out := map[string]string{}
	for _, st := range s.Stages {
		for _, h := range st.Hosts {
			out[h.Name] = h.State
		}
	}
	return out
}

func (s rolloutStatus) stageHosts(stage string) []string {
	for _, st := range s.Stages {
		if st.Name == stage {
			var out []string
			for _, h := range st.Hosts {
				out = append(out, h.Name)
			}
			return out
		}
	}
	return nil
}

// background runs the binary without waiting for it.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

func (e *env) background(args ...string) *background {
	e.t.Helper()
	b := &background{done: make(chan struct{})}
	b.cmd = exec.Command(binary, args...)
	b.cmd.Env = e.vars
	b.cmd.Stdout, b.cmd.Stderr = &syncWriter{w: &b.stdout}, &syncWriter{w: &b.stderr}
	if err := b.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		err := b.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			b.code = ee.ExitCode()
		}
		close(b.done)
	}()
	e.t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// rolloutID waits for the background 'rollout start' to print its id.
func (b *background) rolloutID(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out := b.cmd.Stdout.(*syncWriter).String()
		if first, _, ok := strings.Cut(out, "\n"); ok {
			if id, ok := strings.CutPrefix(first, "rollout "); ok {
				return id
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no rollout id printed; stderr:\n%s", b.cmd.Stderr.(*syncWriter).String())
	return ""
}

// waitFor polls the rollout's status until cond holds.
func (e *env) waitFor(id string, what string, timeout time.Duration, cond func(rolloutStatus) bool) rolloutStatus {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := e.status(id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; rollout %s is %s: %v", what, id, st.State, st.hostStates())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func signalKill(b *background) { _ = b.cmd.Process.Signal(syscall.SIGKILL) }
