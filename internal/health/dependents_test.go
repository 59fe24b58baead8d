package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/local"
)

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func dependentsChecker(t *testing.T) *health.Checker {
	t.Helper()
	c, err := health.New(crits(t, patchpilot.CriterionDependentsReachable), patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func onlyResult(t *testing.T, rep patchpilot.HealthReport) patchpilot.GateResult {
	t.Helper()
	if len(rep.Results) != 1 {
		t.Fatalf("results = %+v, want one", rep.Results)
	}
	return rep.Results[0]
}

// TestDependentsReachableLocal runs the probe for real through bash on
// this machine: a dependent that reaches the provider's port passes, one
// whose port is closed breaches naming the dependent and the port, a
// dependent being patched is skipped with a note, and one that cannot be
// reached over its own connection fails closed naming it.
func TestDependentsReachableLocal(t *testing.T) {
	for _, tool := range []string{"bash", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	listen := func() (net.Listener, int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return ln, ln.Addr().(*net.TCPAddr).Port
	}
	ln, open := listen()
	defer ln.Close()
	stops, stopping := listen() // answers before the change, not after
	closed := freePort(t)       // answers neither before nor after
	dialed := map[string]int{}
	dial := func(_ context.Context, host string) (patchpilot.Runner, error) {
		dialed[host]++
		if host == "web4" {
			return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "ssh web4: connection timed out")
		}
		return local.New(), nil
	}
	target := func(deps ...patchpilot.HealthDependent) patchpilot.HealthTarget {
		return patchpilot.HealthTarget{Host: patchpilot.Host{Name: "db1", Address: "127.0.0.1"}, Runner: local.New(),
			Since: time.Now(), Dependents: deps, Dial: dial}
	}
	c := dependentsChecker(t)
	ctx := context.Background()

	rep := mustCheck(t, c, target(
		patchpilot.HealthDependent{Host: "web1", Ports: []int{open}, Services: []string{"nginx.service"}},
		patchpilot.HealthDependent{Host: "web3", Ports: []int{closed}, Skip: "being patched in this rollout (apply)"},
	))
	r := onlyResult(t, rep)
	if r.Outcome != patchpilot.GatePass || rep.Verdict != patchpilot.Healthy {
		t.Fatalf("reachable port: %s %q (verdict %s), want pass", r.Outcome, r.Reason, rep.Verdict)
	}
	if !strings.Contains(r.Reason, "web3 (being patched in this rollout (apply))") {
		t.Errorf("reason %q does not note the skipped dependent", r.Reason)
	}
	if dialed["web3"] != 0 {
		t.Errorf("the skipped dependent was dialled")
	}
	var ev struct {
		Dependents []struct {
			Host      string `json:"host"`
			Reachable []int  `json:"reachable"`
			Skipped   string `json:"skipped"`
		} `json:"dependents"`
	}
	if err := json.Unmarshal(r.Evidence, &ev); err != nil || len(ev.Dependents) != 2 ||
		len(ev.Dependents[0].Reachable) != 1 || ev.Dependents[0].Reachable[0] != open || ev.Dependents[1].Skipped == "" {
		t.Errorf("evidence = %s (%v)", r.Evidence, err)
	}

	// The baseline is taken while every port but closed answers; then
	// stopping stops answering.
	tg := target(patchpilot.HealthDependent{Host: "web2", Ports: []int{open, stopping, closed}})
	base, err := c.Baseline(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	stops.Close()
	rep, err = c.Check(ctx, tg, base)
	if err != nil {
		t.Fatal(err)
	}
	r = onlyResult(t, rep)
	if r.Outcome != patchpilot.GateBreach {
		t.Fatalf("closed port: %s %q, want breach", r.Outcome, r.Reason)
	}
	if want := "web2 cannot reach 127.0.0.1:" + strconv.Itoa(stopping) + ": connection refused"; !strings.Contains(r.Reason, want) {
		t.Errorf("reason %q, want it to contain %q", r.Reason, want)
	}
	if want := "unreachable before the change as well, not counted: 127.0.0.1:" + strconv.Itoa(closed) + " from web2"; !strings.Contains(r.Reason, want) {
		t.Errorf("reason %q, want it to contain %q", r.Reason, want)
	}
	if strings.Contains(r.Reason, strconv.Itoa(open)) {
		t.Errorf("reason %q names the open port", r.Reason)
	}

	rep = mustCheck(t, c, target(
		patchpilot.HealthDependent{Host: "web1", Ports: []int{open}},
		patchpilot.HealthDependent{Host: "web4", Ports: []int{open}},
	))
	r = onlyResult(t, rep)
	if r.Outcome != patchpilot.GateError || rep.Verdict != patchpilot.Unhealthy {
		t.Fatalf("unreachable dependent: %s %q (verdict %s), want error and rollback", r.Outcome, r.Reason, rep.Verdict)
	}
	if !strings.Contains(r.Reason, "web4: cannot connect to the dependent") || !strings.Contains(r.Reason, "connection timed out") {
		t.Errorf("reason %q does not say which dependent and why", r.Reason)
	}
}

// TestDependentsReachableCommand checks what runs on the dependent: a
// constant script with the address and the port as positional arguments,
// bounded by timeout; an address that is no host name or IP runs nothing.
func TestDependentsReachableCommand(t *testing.T) {
	c := dependentsChecker(t)
	run := &scriptedRunner{}
	dial := func(context.Context, string) (patchpilot.Runner, error) { return run, nil }
	dep := patchpilot.HealthDependent{Host: "web1", Ports: []int{5432}}
	t1 := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "db1", Address: "10.0.0.7"}, Dependents: []patchpilot.HealthDependent{dep}, Dial: dial}
	base, err := c.Baseline(context.Background(), t1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), t1, base)
	if err != nil {
		t.Fatal(err)
	}
	if r := onlyResult(t, rep); r.Outcome != patchpilot.GatePass {
		t.Fatalf("exit 0: %s %q", r.Outcome, r.Reason)
	}
	want := []string{"timeout", "5", "bash", "-c", `exec 3<>/dev/tcp/"$1"/"$2"`, "patchpilot-dependents-probe", "10.0.0.7", "5432"}
	if len(run.cmds) != 2 || strings.Join(run.cmds[0].Args, "\x00") != strings.Join(want, "\x00") || run.cmds[0].Privileged {
		t.Fatalf("commands = %+v, want %q", run.cmds, want)
	}

	for code, outcome := range map[int]patchpilot.GateOutcome{124: patchpilot.GateBreach, 1: patchpilot.GateBreach, 127: patchpilot.GateError} {
		*run = scriptedRunner{res: patchpilot.Result{ExitCode: code, Stderr: []byte("bash: line 1: connect: No route to host\n")}}
		rep, err := c.Check(context.Background(), t1, base)
		if err != nil {
			t.Fatal(err)
		}
		if r := onlyResult(t, rep); r.Outcome != outcome {
			t.Errorf("exit %d: %s %q, want %s", code, r.Outcome, r.Reason, outcome)
		}
	}
	*run = scriptedRunner{err: errors.New("ssh: session closed")}
	rep, _ = c.Check(context.Background(), t1, base)
	if r := onlyResult(t, rep); r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, "web1") {
		t.Errorf("transport failure: %s %q, want an error naming web1", r.Outcome, r.Reason)
	}

	*run = scriptedRunner{}
	for _, bad := range []string{"10.0.0.7; reboot", "-oProxyCommand=x", "db1/../x", "a b"} {
		t2 := t1
		t2.Host.Address = bad
		if r := onlyResult(t, mustCheck(t, c, t2)); r.Outcome != patchpilot.GateError {
			t.Errorf("address %q: %s %q, want error", bad, r.Outcome, r.Reason)
		}
	}
	if len(run.cmds) != 0 {
		t.Errorf("commands ran for bad addresses: %+v", run.cmds)
	}
	t3 := t1
	t3.Dependents[0].Ports = []int{70000}
	if r := onlyResult(t, mustCheck(t, c, t3)); r.Outcome != patchpilot.GateError {
		t.Errorf("port 70000: %s %q, want error", r.Outcome, r.Reason)
	}
}

// TestDependentsReachableEdges: a host nothing depends on passes; a host
// with dependents but no way to reach them fails closed.
func TestDependentsReachableEdges(t *testing.T) {
	c := dependentsChecker(t)
	h := patchpilot.Host{Name: "db1", Address: "10.0.0.7"}
	if r := onlyResult(t, mustCheck(t, c, patchpilot.HealthTarget{Host: h})); r.Outcome != patchpilot.GatePass ||
		!strings.Contains(r.Reason, "no host depends on db1") {
		t.Errorf("no dependents: %s %q, want pass", r.Outcome, r.Reason)
	}
	nodial := patchpilot.HealthTarget{Host: h, Dependents: []patchpilot.HealthDependent{{Host: "web1", Ports: []int{5432}}}}
	if r := onlyResult(t, mustCheck(t, c, nodial)); r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, "web1") {
		t.Errorf("no dialer: %s %q, want error naming web1", r.Outcome, r.Reason)
	}
}

// mustCheck takes the gate's baseline and checks right after.
func mustCheck(t *testing.T, c *health.Checker, tg patchpilot.HealthTarget) patchpilot.HealthReport {
	t.Helper()
	base, err := c.Baseline(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), tg, base)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
