package health_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
)

// scriptedRunner answers every command with one result and records what
// it was asked to run.
type scriptedRunner struct {
	res  patchpilot.Result
	err  error
	cmds []patchpilot.Command
}

func (r *scriptedRunner) Run(_ context.Context, c patchpilot.Command) (patchpilot.Result, error) {
	r.cmds = append(r.cmds, c)
	return r.res, r.err
}

func (r *scriptedRunner) Close() error { return nil }

func TestPuppetCommand(t *testing.T) {
	cmd, err := health.PuppetCommand(patchpilot.PuppetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cmd.Args, " "), "puppet agent --test --noop --detailed-exitcodes --color=false"; got != want {
		t.Errorf("agent command = %q, want %q", got, want)
	}
	if !cmd.Privileged || cmd.Timeout != patchpilot.DefaultPuppetTimeout {
		t.Errorf("agent command: privileged %v timeout %s", cmd.Privileged, cmd.Timeout)
	}
	cmd, err = health.PuppetCommand(patchpilot.PuppetConfig{Manifest: "/etc/puppet/code/site.pp", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"puppet", "apply", "--noop", "--detailed-exitcodes", "--color=false", "--", "/etc/puppet/code/site.pp"}
	if strings.Join(cmd.Args, "\x00") != strings.Join(want, "\x00") || cmd.Timeout != time.Minute {
		t.Errorf("apply command = %q (timeout %s), want %q", cmd.Args, cmd.Timeout, want)
	}
	for _, bad := range []string{"site.pp", "/etc/../site.pp", "/etc/site.pp\n--noop", "-e"} {
		if _, err := health.PuppetCommand(patchpilot.PuppetConfig{Manifest: bad}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("manifest %q: err = %v, want EINVALID", bad, err)
		}
		if err := health.ValidateConfig(patchpilot.HealthConfig{Puppet: patchpilot.PuppetConfig{Manifest: bad}}); err == nil {
			t.Errorf("ValidateConfig accepted manifest %q", bad)
		}
	}
}

const puppetDrift = `Notice: Compiled catalog for lab01 in environment production in 0.02 seconds
Notice: /Stage[main]/Main/Package[pp-demo-web]/ensure: current_value '1.1.0', should be '1.0.0' (noop)
Notice: /Stage[main]/Main/File[/etc/pp-demo/limits.conf]/content: current_value '{md5}aa', should be '{md5}bb' (noop)
Notice: Class[Main]: Would have triggered 'refresh' from 2 events
Notice: Stage[main]: Would have triggered 'refresh' from 1 event
Notice: Applied catalog in 0.05 seconds
`

func TestPuppetNoopExitCodes(t *testing.T) {
	cases := []struct {
		name    string
		code    int
		stdout  string
		stderr  string
		outcome patchpilot.GateOutcome
		reason  string
		drifted []string
	}{
		{"in sync", 0, "Notice: Applied catalog in 0.01 seconds\n", "", patchpilot.GatePass, "declared state", nil},
		{"drift", 2, puppetDrift, "", patchpilot.GateCritical, "out of its declared state: Puppet would change the host: Package[pp-demo-web]/ensure",
			[]string{"Package[pp-demo-web]/ensure: current_value '1.1.0', should be '1.0.0'", "File[/etc/pp-demo/limits.conf]/content: current_value '{md5}aa', should be '{md5}bb'"}},
		{"drift reported with status 0", 0, puppetDrift, "", patchpilot.GateCritical, "out of its declared state: Puppet would change the host: Package[pp-demo-web]/ensure", nil},
		{"drift and failures", 6, puppetDrift, "Error: /Stage[main]/Main/Service[x]: Could not evaluate", patchpilot.GateCritical, "some resources failed", nil},
		{"drift with failures, status 4", 4, puppetDrift, "Error: x", patchpilot.GateCritical, "some resources failed", nil},
		{"failures", 4, "", "Error: Could not find dependency File[/x]\n", patchpilot.GateError, "had failures: Error: Could not find dependency File[/x]", nil},
		{"run failed", 1, "", "Error: Could not parse for environment production: Syntax error at '}'\n", patchpilot.GateError, "the Puppet run failed: Error: Could not parse", nil},
		{"not installed", 127, "", "sh: 1: puppet: not found\n", patchpilot.GateError, "exited with status 127: sh: 1: puppet: not found", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &scriptedRunner{res: patchpilot.Result{ExitCode: tc.code, Stdout: []byte(tc.stdout), Stderr: []byte(tc.stderr)}}
			c, err := health.New([]patchpilot.Criterion{{Name: patchpilot.CriterionPuppetNoop}},
				patchpilot.HealthConfig{Puppet: patchpilot.PuppetConfig{Manifest: "/etc/puppet/code/site.pp"}}, health.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := c.Check(context.Background(), patchpilot.HealthTarget{Host: patchpilot.Host{Name: "lab01"}, Runner: r}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.cmds) != 1 || r.cmds[0].Args[1] != "apply" || !r.cmds[0].Privileged {
				t.Fatalf("commands run: %+v", r.cmds)
			}
			g := rep.Results[0]
			if g.Gate != "puppet_noop" || g.Outcome != tc.outcome || !strings.Contains(g.Reason, tc.reason) {
				t.Errorf("result = %s %q, want %s containing %q", g.Outcome, g.Reason, tc.outcome, tc.reason)
			}
			if want := tc.outcome == patchpilot.GatePass; (rep.Verdict == patchpilot.Healthy) != want {
				t.Errorf("verdict %s for exit status %d", rep.Verdict, tc.code)
			}
			var ev struct {
				ExitCode int      `json:"exit_code"`
				Drifted  []string `json:"drifted"`
				Output   string   `json:"output"`
			}
			if err := json.Unmarshal(g.Evidence, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ExitCode != tc.code || !strings.Contains(ev.Output, strings.TrimSpace(tc.stderr)) {
				t.Errorf("evidence = %+v", ev)
			}
			if tc.drifted != nil && strings.Join(ev.Drifted, "\n") != strings.Join(tc.drifted, "\n") {
				t.Errorf("drifted = %q, want %q", ev.Drifted, tc.drifted)
			}
		})
	}
}

func TestPuppetNoopOutputCapped(t *testing.T) {
	long := strings.Repeat("Notice: /Stage[main]/Main/File[/tmp/f]/content: current_value 'a', should be 'b' (noop)\n", 500)
	r := &scriptedRunner{res: patchpilot.Result{ExitCode: 2, Stdout: []byte(long + "Notice: Applied catalog in 1 seconds\n")}}
	c, err := health.New([]patchpilot.Criterion{{Name: patchpilot.CriterionPuppetNoop}}, patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), patchpilot.HealthTarget{Host: patchpilot.Host{Name: "h"}, Runner: r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.cmds[0].Args[1] != "agent" {
		t.Errorf("without a manifest the gate runs %q, want the agent", r.cmds[0].Args)
	}
	var ev struct {
		Drifted []string `json:"drifted"`
		Output  string   `json:"output"`
	}
	if err := json.Unmarshal(rep.Results[0].Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Output) > 4100 || !strings.HasSuffix(ev.Output, "Applied catalog in 1 seconds") || !strings.HasPrefix(ev.Output, "...") {
		t.Errorf("output not capped to its end: %d bytes", len(ev.Output))
	}
	if len(ev.Drifted) != 21 || ev.Drifted[20] != "..." {
		t.Errorf("drifted list has %d entries, want 20 and a marker", len(ev.Drifted))
	}
}
