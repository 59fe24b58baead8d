package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab"
)

// TestServerScheduleOnTheLab: a server started by the test with a
// schedule due within a minute and an autopilot policy for three of four
// lab hosts collects them, plans with the schedule's plan template and
// starts the rollout by itself. The server is killed (SIGKILL) while a
// wave host is in apply or verify and started again: the rollout finishes
// with every scheduled host upgraded exactly once (dpkg.log), the fourth
// host untouched, and the schedule's one run names the rollout.
func TestServerScheduleOnTheLab(t *testing.T) {
	rl := bootLab(t, lab.Options{Hosts: 4, Subnet: rolloutLabSubnet})
	scheduled := []string{"lab01", "lab02", "lab03"}
	all := append(scheduled, "lab04")
	e := newEnv(t)
	dir := t.TempDir()

	// The lab's inventory, the scheduled hosts labelled fleet=nightly;
	// critical hosts always need a person, and this test has none.
	inv, err := os.ReadFile(rl.lab.InventoryFile())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(strings.ReplaceAll(string(inv), "criticality=critical", "criticality=high"), "\n") {
		for _, h := range scheduled {
			if strings.HasPrefix(line, h+" ansible_host=") {
				line += " patchpilot_label_fleet=nightly"
			}
		}
		lines = append(lines, line)
	}
	invFile := filepath.Join(dir, "inventory.ini")
	writeFile(t, invFile, strings.Join(lines, "\n"))
	// The stages the schedule's plans take: short bakes, no canary
	// analysis.
	writeFile(t, filepath.Join(dir, "short-stages.yaml"), `rollout:
  name: short-stages
  patch: {packages: ["pp-libdemo=1.1.0"]}
  targets: {selector: "fleet=nightly"}
  policy: {allow_reboot: true, require_rollback: true}
  health:
    http: [{name: demo, url: "http://{{.Address}}:8080/health", max_latency: 2s}]
  stages:
    - {name: validation, targets: 1, `+labCriteria+`, bake: 1s, timeout: 3m}
    - {name: wave_1, targets: rest, parallel: 2, `+labCriteria+`, bake: 6s, timeout: 3m}
`)
	// Due at the start of the next minute (UTC) at least 10 seconds away:
	// the server starts before it, and waits for it.
	now := time.Now().UTC()
	due := now.Truncate(time.Minute).Add(time.Minute)
	if due.Sub(now) < 10*time.Second {
		due = due.Add(time.Minute)
	}
	config := fmt.Sprintf(`known_hosts: %s
schedules:
  - name: lab-nightly
    when: "%d %d * * *"
    hosts: fleet=nightly
    inventory: inventory.ini
    updates: {security: false, packages: [pp-libdemo]}
    plan_template: short-stages.yaml
policy:
  groups:
    - {name: lab, hosts: fleet=nightly, level: autopilot}
`, rl.lab.KnownHostsFile(), due.Minute(), due.Hour())
	writeFile(t, filepath.Join(dir, "patchpilot.yaml"), config)
	cfg := filepath.Join(dir, "patchpilot.yaml")

	before := map[string]int{}
	for _, h := range all {
		before[h] = rl.upgrades(h, "pp-libdemo", "1.1.0")
	}
	serve := func() *background {
		return e.background("--config", cfg, "server", "--listen", "127.0.0.1:0",
			"--check-interval", "1s", "--connect-timeout", "3s", "--lease-ttl", "4s", "--drain-timeout", "1m")
	}
	start := time.Now()
	srv := serve()
	// The server serves once its store is open and migrated: a command
	// that only reads refuses a store older than itself.
	serverURL(t, srv)

	// The server collects, plans and starts the rollout by itself.
	var id string
	deadline := due.Add(3 * time.Minute)
	for id == "" {
		views := decodeJSON[[]scheduleView](t, e.mustRun("--config", cfg, "schedule", "list", "-o", "json"))
		if len(views) != 1 {
			t.Fatalf("schedule list: %+v; want one schedule", views)
		}
		if last := views[0].Last; last != nil && last.Outcome != "running" && last.Outcome != "waiting" {
			if last.Outcome != "launched" || last.Rollout == "" {
				t.Fatalf("the scheduled run is %s (%s); want launched with a rollout\nserver:\n%s", last.Outcome, last.Message, srv.stderrText())
			}
			id = last.Rollout
			break
		}
		select {
		case <-srv.done:
			t.Fatalf("the server exited %d:\n%s", srv.code, srv.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled run by %s; schedules: %+v\nserver:\n%s", deadline, views, srv.stderrText())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("rollout %s started by the schedule %s after the server started", id, time.Since(start).Round(time.Second))

	e.waitFor(id, "a wave host in apply or verify", 3*time.Minute, func(st rolloutStatus) bool {
		for _, s := range st.Stages {
			for _, h := range s.Hosts {
				if s.Name == "wave_1" && (h.State == "apply" || h.State == "verify") {
					return true
				}
			}
		}
		return false
	})
	signalKill(srv)
	<-srv.done
	if st := e.status(id); st.State != "running" {
		t.Fatalf("after SIGKILL the rollout is %s, want running", st.State)
	}

	// Started again, the server carries the rollout on to its end.
	srv = serve()
	st := e.waitFor(id, "the rollout to end", 4*time.Minute, func(st rolloutStatus) bool {
		return st.State != "running" && st.State != "pending"
	})
	if st.State != "succeeded" {
		t.Errorf("rollout %s is %s (%s), want succeeded\nserver:\n%s", id, st.State, st.Reason, srv.stderrText())
	}
	for h, s := range st.hostStates() {
		if s != "succeeded" {
			t.Errorf("%s: %s", h, s)
		}
	}
	if len(st.hostStates()) != len(scheduled) {
		t.Errorf("rollout over %v; want %v", st.hostStates(), scheduled)
	}
	for _, h := range scheduled {
		if n := rl.upgrades(h, "pp-libdemo", "1.1.0") - before[h]; n != 1 {
			t.Errorf("%s: dpkg.log shows the upgrade to 1.1.0 %d times, want exactly once", h, n)
		}
	}
	if n := rl.upgrades("lab04", "pp-libdemo", "1.1.0") - before["lab04"]; n != 0 {
		t.Errorf("lab04 is not scheduled, yet dpkg.log shows %d upgrades", n)
	}
	if events := e.mustRun("--config", cfg, "rollout", "events", id); !strings.Contains(events, "took over the lease") ||
		!strings.Contains(events, "schedule:lab-nightly") {
		t.Errorf("rollout events do not say it was started by the schedule and taken over by the restarted server:\n%s", events)
	}
	// The run was not repeated by the restarted server.
	views := decodeJSON[[]scheduleView](t, e.mustRun("--config", cfg, "schedule", "list", "-o", "json"))
	if last := views[0].Last; last == nil || last.Rollout != id || last.Outcome != "launched" || !last.Due.Equal(due) {
		t.Errorf("last run %+v; want the launched run due %s naming %s", last, due, id)
	}
	// The CLI against the server shows the status the API gives.
	compareRemoteStatus(t, e, cfg, srv, id)

	// SIGTERM stops the server cleanly.
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if srv.code != 0 {
		t.Errorf("server exit %d after SIGTERM\n%s", srv.code, srv.stderrText())
	}
	t.Logf("scenario took %s after the lab booted", time.Since(start).Round(time.Second))
}

// scheduleView is the part of 'schedule list -o json' these tests read.
type scheduleView struct {
	Name string `json:"name"`
	Last *struct {
		Due     time.Time `json:"due"`
		Outcome string    `json:"outcome"`
		Message string    `json:"message"`
		Plan    string    `json:"plan"`
		Rollout string    `json:"rollout"`
	} `json:"last"`
}

func (b *background) stderrText() string { return b.cmd.Stderr.(*syncWriter).String() }

// compareRemoteStatus checks that 'rollout status ID -o json' with
// --server shows what GET /api/v1/rollouts/ID answers, and what the same
// command shows locally.
func compareRemoteStatus(t *testing.T, e *env, cfg string, srv *background, id string) {
	t.Helper()
	url := serverURL(t, srv)
	made := decodeJSON[struct {
		Secret string `json:"secret"`
	}](t, e.mustRun("--config", cfg, "token", "create", "e2e-viewer", "--role", "viewer", "-o", "json"))

	req, err := http.NewRequest("GET", url+"/api/v1/rollouts/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+made.Secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/rollouts/%s: %d %s (%v)", id, res.StatusCode, body, err)
	}

	cmd := exec.Command(binary, "rollout", "status", id, "-o", "json")
	cmd.Env = append(slices.Clone(e.vars), "PATCHPILOT_SERVER="+url, "PATCHPILOT_TOKEN="+made.Secret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rollout status --server: %v\n%s", err, stderr.String())
	}
	var api, remote, local any
	for _, d := range []struct {
		src string
		dst *any
	}{{string(body), &api}, {stdout.String(), &remote}, {e.mustRun("--config", cfg, "rollout", "status", id, "-o", "json"), &local}} {
		if err := json.Unmarshal([]byte(d.src), d.dst); err != nil {
			t.Fatalf("%v in %s", err, d.src)
		}
	}
	if !reflect.DeepEqual(api, remote) {
		t.Errorf("rollout status with --server differs from the API:\nCLI: %s\nAPI: %s", stdout.String(), body)
	}
	if !reflect.DeepEqual(local, remote) {
		t.Errorf("rollout status with --server differs from the local command:\nremote: %v\nlocal: %v", remote, local)
	}
}
