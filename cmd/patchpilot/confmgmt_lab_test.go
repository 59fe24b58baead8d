package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// The configuration management test runs Debian's ansible-playbook on the
// controller as the apply step and as pre and post hooks of a lab host,
// and Debian's Puppet (installed into one host only) as a gate, in one
// two-host lab of its own subnet.
const confLabSubnet = "127.0.21"

// The playbooks a plan names: the apply installs the target versions
// patchpilot passes, the hooks stand for a load balancer's drain and
// put-back (a marker file on the host).
const (
	confApplyPlaybook = `- hosts: all
  gather_facts: false
  tasks:
    - name: install the target versions
      ansible.builtin.apt:
        name: "{{ item.name }}={{ item.version }}"
        allow_downgrade: true
      loop: "{{ patchpilot_packages }}"
    - name: record the plan's extra variable
      ansible.builtin.copy:
        content: "{{ tier }} {{ patchpilot_rollout }}\n"
        dest: /var/tmp/pp-applied-by-ansible
`
	confDrainPlaybook = `- hosts: all
  gather_facts: false
  tasks:
    - name: drain
      ansible.builtin.copy:
        content: "{{ patchpilot_phase }}\n"
        dest: /var/tmp/pp-drained
`
	confPutBackPlaybook = `- hosts: all
  gather_facts: false
  tasks:
    - name: put back
      ansible.builtin.file:
        path: /var/tmp/pp-drained
        state: absent
    - name: record the put-back
      ansible.builtin.copy:
        content: "{{ patchpilot_packages | map(attribute='version') | join(',') }}\n"
        dest: /var/tmp/pp-put-back
`
	// The manifest lab02's Puppet declares: the demo service at its
	// first version, and a file.
	confManifest = `package { 'pp-demo-web': ensure => '1.0.0' }
file { '/etc/pp-compliance': ensure => file, content => "managed\n" }
`
)

func TestConfigManagementOnTheLab(t *testing.T) {
	labtest.Require(t, func() error {
		_, err := exec.LookPath("ansible-playbook")
		return err
	})
	rl := bootLab(t, lab.Options{Hosts: 2, Subnet: confLabSubnet, HostPackages: map[string][]string{"lab02": {"puppet-agent"}}})
	e := rl.env(t, "lab01", "lab02")
	dir := t.TempDir()
	for name, content := range map[string]string{"site/patch.yml": confApplyPlaybook, "site/drain.yml": confDrainPlaybook, "site/put-back.yml": confPutBackPlaybook} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Plans name playbooks relative to themselves.
	confPlan := func(name, host, post string) string {
		plan := `rollout:
  name: ` + name + `
  patch: {packages: ["pp-demo-web=1.1.0"]}
  targets: {hosts: [` + host + `]}
  policy: {require_rollback: true}
  health:
    http: [{name: demo, url: "http://{{.Address}}:8080/health"}]
  stages:
    - {name: all, targets: rest, criteria: [http_ok, services_running], bake: 2s, on_failure: rollback_and_alert}
  apply:
    ansible: {playbook: site/patch.yml, extra_vars: {tier: web}, timeout: 5m}
  hooks:
    pre:
      - {name: drain, playbook: site/drain.yml}
      - {name: mark, command: [touch, /var/tmp/pp-pre-command]}
    post:
` + post
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(plan), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("playbook apply and hooks", func(t *testing.T) {
		plan := confPlan("ansible-apply", "lab01", "      - {name: put back, playbook: site/put-back.yml}\n")
		id, r := rl.startRollout(e, plan)
		if r.code != 0 {
			t.Fatalf("rollout exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if v := rl.version("lab01", "pp-demo-web"); v != "1.1.0" {
			t.Errorf("pp-demo-web on lab01 is %s, want 1.1.0 installed by the playbook", v)
		}
		if got := rl.sh("lab01", "cat", "/var/tmp/pp-applied-by-ansible"); got != "web "+id+"\n" {
			t.Errorf("the apply playbook wrote %q", got)
		}
		if got := rl.sh("lab01", "cat", "/var/tmp/pp-put-back"); got != "1.1.0\n" {
			t.Errorf("the put-back playbook wrote %q", got)
		}
		if out := rl.sh("lab01", "sh", "-c", "ls /var/tmp/pp-drained /var/tmp/pp-pre-command 2>&1; true"); !strings.Contains(out, "No such file") || !strings.Contains(out, "/var/tmp/pp-pre-command\n") {
			t.Errorf("after the hooks: %s (want the drain marker removed by the post hook and the pre command's file present)", out)
		}
		hooks := hookEventsOf(t, e, id)
		var phases []string
		for _, h := range hooks {
			phases = append(phases, h.Phase+":"+h.Name)
			if h.ExitCode != 0 {
				t.Errorf("hook %s exited %d: %s", h.Name, h.ExitCode, h.Output)
			}
		}
		if got := strings.Join(phases, " "); got != "pre:drain pre:mark apply:apply post:put back" {
			t.Errorf("hook events %q", got)
		}
		if len(hooks) == 4 && (!strings.Contains(hooks[2].Output, "PLAY RECAP") || !strings.Contains(hooks[2].Output, "lab01")) {
			t.Errorf("the apply event keeps no recap: %q", hooks[2].Output)
		}
	})

	t.Run("failing post hook rolls back", func(t *testing.T) {
		rl.reset("lab01")
		plan := confPlan("ansible-post-fails", "lab01", "      - {name: backend check, command: [sh, -c, \"echo backend not answering >&2; exit 3\"]}\n")
		id, r := rl.startRollout(e, plan)
		if r.code == 0 {
			t.Fatalf("rollout exit 0 with a failing post hook\n%s", r.stdout)
		}
		st := e.status(id)
		h := st.Stages[0].Hosts[0]
		if h.State != string(patchpilot.HostRolledBack) || !strings.Contains(h.Reason, `post hook "backend check": sh exited with status 3: backend not answering`) {
			t.Errorf("lab01 %s: %q, want rolled back naming the hook", h.State, h.Reason)
		}
		if v := rl.version("lab01", "pp-demo-web"); v != "1.0.0" {
			t.Errorf("pp-demo-web on lab01 is %s after the rollback, want 1.0.0", v)
		}
		hooks := hookEventsOf(t, e, id)
		last := hooks[len(hooks)-1]
		if last.Phase != "post" || last.ExitCode != 3 || !strings.Contains(last.Output, "backend not answering") {
			t.Errorf("post hook event %+v", last)
		}
	})

	t.Run("puppet drift fails the gate", func(t *testing.T) {
		ctx := context.Background()
		r, err := rl.dialer.Dial(ctx, rl.hosts["lab02"])
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		manifest := "/etc/puppet/code/pp-lab.pp"
		for _, c := range []patchpilot.Command{
			{Args: []string{"mkdir", "-p", "/etc/puppet/code"}},
			{Args: []string{"tee", manifest}, Stdin: []byte(confManifest)},
			{Args: []string{"puppet", "apply", "--detailed-exitcodes", "--color=false", manifest}},
		} {
			res, err := r.Run(ctx, c)
			// The first real apply creates the file: status 2 (changes).
			if err != nil || (res.ExitCode != 0 && !(c.Args[0] == "puppet" && res.ExitCode == 2)) {
				t.Fatalf("%s: %v %d %s %s", c, err, res.ExitCode, res.Stdout, res.Stderr)
			}
		}
		// In sync before the patch: the gate's own command says so.
		res, err := r.Run(ctx, patchpilot.Command{Args: []string{"puppet", "apply", "--noop", "--detailed-exitcodes", "--color=false", manifest}})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("puppet noop before the patch: %v %d %s %s", err, res.ExitCode, res.Stdout, res.Stderr)
		}
		plan := filepath.Join(dir, "puppet.yaml")
		if err := os.WriteFile(plan, []byte(`rollout:
  name: puppet-compliance
  patch: {packages: ["pp-demo-web=1.1.0"]}
  targets: {hosts: [lab02]}
  policy: {require_rollback: true}
  health:
    puppet: {manifest: `+manifest+`, timeout: 3m}
  stages:
    - {name: all, targets: rest, criteria: [puppet_noop], bake: 0s, on_failure: rollback_and_alert}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		id, out := rl.startRollout(e, plan)
		// The previous case's rollback of pp-demo-web 1.1.0 taught the
		// risk model: the update may now wait for a person.
		out = rl.approveHighRisk(e, id, out)
		if out.code == 0 {
			t.Fatalf("rollout exit 0 though Puppet declares pp-demo-web 1.0.0\n%s\n%s", out.stdout, e.mustRun("rollout", "status", id, "-o", "json"))
		}
		h := e.status(id).Stages[0].Hosts[0]
		if h.State != string(patchpilot.HostRolledBack) || !strings.Contains(h.Reason, "critical: puppet_noop") {
			t.Errorf("lab02 %s: %q, want rolled back by puppet_noop", h.State, h.Reason)
		}
		// The verdict that failed the host is in its gate events (the
		// status shows the checks after the rollback, in sync again).
		type gateResult struct {
			Gate     string `json:"gate"`
			Outcome  string `json:"outcome"`
			Reason   string `json:"reason"`
			Evidence struct {
				ExitCode int      `json:"exit_code"`
				Drifted  []string `json:"drifted"`
			} `json:"evidence"`
		}
		var evs []struct {
			Kind string `json:"kind"`
			Data struct {
				Verdict string       `json:"verdict"`
				Results []gateResult `json:"results"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(e.mustRun("rollout", "events", id, "-o", "json")), &evs); err != nil {
			t.Fatal(err)
		}
		var gate *gateResult
		for _, ev := range evs {
			for i, g := range ev.Data.Results {
				if ev.Kind == patchpilot.EventGateVerdict && g.Gate == "puppet_noop" && g.Outcome == "critical" && gate == nil {
					gate = &ev.Data.Results[i]
				}
			}
		}
		if gate == nil || (gate.Evidence.ExitCode != 0 && gate.Evidence.ExitCode != 2) || len(gate.Evidence.Drifted) != 1 ||
			!strings.Contains(gate.Evidence.Drifted[0], "Package[pp-demo-web]/ensure: current_value '1.1.0', should be '1.0.0'") {
			t.Errorf("puppet_noop critical result = %+v", gate)
		} else {
			t.Logf("puppet_noop: %s (exit status %d)", gate.Reason, gate.Evidence.ExitCode)
		}
		if v := rl.version("lab02", "pp-demo-web"); v != "1.0.0" {
			t.Errorf("pp-demo-web on lab02 is %s after the rollback, want 1.0.0", v)
		}
	})
}

// hookEventsOf returns the payloads of a rollout's hook events, in order.
func hookEventsOf(t *testing.T, e *env, id string) []patchpilot.HookData {
	t.Helper()
	var evs []struct {
		Kind string          `json:"kind"`
		Data json.RawMessage `json:"data"`
	}
	evs = decodeJSON[[]struct {
		Kind string          `json:"kind"`
		Data json.RawMessage `json:"data"`
	}](t, e.mustRun("rollout", "events", id, "-o", "json"))
	var out []patchpilot.HookData
	for _, ev := range evs {
		if ev.Kind != patchpilot.EventHook {
			continue
		}
		var d patchpilot.HookData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
