package planner

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// confDir writes a plan directory with a playbook and an inventory and
// returns it.
func confDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"site/patch.yml", "site/drain.yml", "inventory/hosts.ini"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("- hosts: all\n  tasks: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const confPlan = `rollout:
  patch: {packages: [pp-demo-web=1.1.0]}
  targets: {hosts: [lab01]}
  stages:
    - {name: all, targets: rest, criteria: [puppet_noop]}
  health:
    puppet: {manifest: /etc/puppet/code/site.pp, timeout: 2m}
  apply:
    ansible:
      playbook: site/patch.yml
      inventory: inventory
      extra_vars: {serial_reboot: false, tier: web, limits: {max: 3, names: [a, b]}}
      timeout: 10m
  hooks:
    pre:
      - {name: drain, playbook: site/drain.yml, extra_vars: {lb_state: drain}}
      - {command: [/usr/local/bin/lb-drain, --wait, "30"], privileged: true, timeout: 1m}
    post:
      - {name: put back, command: [/usr/local/bin/lb-undrain]}
`

func TestParseApplyHooksPuppet(t *testing.T) {
	dir := confDir(t)
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(confPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantApply := &patchpilot.AnsiblePlaybook{Playbook: filepath.Join(dir, "site/patch.yml"), Inventory: filepath.Join(dir, "inventory"),
		ExtraVars: map[string]any{"serial_reboot": false, "tier": "web", "limits": map[string]any{"max": float64(3), "names": []any{"a", "b"}}},
		Timeout:   10 * time.Minute}
	if !reflect.DeepEqual(p.Apply.Ansible, wantApply) {
		t.Errorf("apply = %+v\nwant %+v", p.Apply.Ansible, wantApply)
	}
	wantHooks := patchpilot.HookConfig{
		Pre: []patchpilot.Hook{
			{Name: "drain", Playbook: &patchpilot.AnsiblePlaybook{Playbook: filepath.Join(dir, "site/drain.yml"), ExtraVars: map[string]any{"lb_state": "drain"}}},
			{Name: "lb-drain", Command: []string{"/usr/local/bin/lb-drain", "--wait", "30"}, Privileged: true, Timeout: time.Minute},
		},
		Post: []patchpilot.Hook{{Name: "put back", Command: []string{"/usr/local/bin/lb-undrain"}}},
	}
	if !reflect.DeepEqual(p.Hooks, wantHooks) {
		t.Errorf("hooks = %+v\nwant %+v", p.Hooks, wantHooks)
	}
	if p.Health.Puppet != (patchpilot.PuppetConfig{Manifest: "/etc/puppet/code/site.pp", Timeout: 2 * time.Minute}) {
		t.Errorf("puppet = %+v", p.Health.Puppet)
	}
	if got := p.Stages[0].Criteria; len(got) != 1 || got[0].Name != patchpilot.CriterionPuppetNoop {
		t.Errorf("criteria = %v", got)
	}
	// Marshal writes absolute paths, so the stored plan reads back the
	// same from anywhere.
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "marshalled")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip differs:\n%s\ngot  %+v\nwant %+v", out, back, p)
	}
}

func TestParseApplyHooksErrors(t *testing.T) {
	dir := confDir(t)
	head := "rollout:\n  patch: {packages: [a=1]}\n  targets: {hosts: [h]}\n  stages: [{name: s, targets: rest}]\n"
	cases := []struct{ name, yaml, want string }{
		{"missing playbook file", "  apply: {ansible: {playbook: site/nope.yml}}\n", "plan.yaml:5:31: apply: ansible: playbook: " + filepath.Join(dir, "site/nope.yml") + " does not exist"},
		{"playbook is a directory", "  apply: {ansible: {playbook: site}}\n", "apply: ansible: playbook: " + filepath.Join(dir, "site") + " is not a file"},
		{"option-like path", "  apply: {ansible: {playbook: --list-hosts}}\n", `invalid path "--list-hosts"`},
		{"no ansible", "  apply: {}\n", "apply: expected ansible:"},
		{"unknown apply key", "  apply: {ansible: {playbook: site/patch.yml, limit: all}}\n", `unknown field "limit"`},
		{"reserved var", "  apply: {ansible: {playbook: site/patch.yml, extra_vars: {ansible_host: 10.0.0.9}}}\n", `variable "ansible_host" is reserved`},
		{"patchpilot var", "  apply: {ansible: {playbook: site/patch.yml, extra_vars: {patchpilot_packages: []}}}\n", `variable "patchpilot_packages" is reserved`},
		{"bad var name", "  apply: {ansible: {playbook: site/patch.yml, extra_vars: {\"a b\": 1}}}\n", `invalid variable name "a b"`},
		{"vars not mapping", "  apply: {ansible: {playbook: site/patch.yml, extra_vars: [a]}}\n", "expected a mapping of variable names"},
		{"both", "  hooks: {pre: [{command: [true], playbook: site/drain.yml}]}\n", "hooks: pre[0]: give either command"},
		{"neither", "  hooks: {post: [{name: x}]}\n", "hooks: post[0]: expected command"},
		{"empty command", "  hooks: {pre: [{command: []}]}\n", "hooks: pre[0]: command: expected the program"},
		{"privileged playbook", "  hooks: {pre: [{playbook: site/drain.yml, privileged: true}]}\n", "privileged is for command hooks"},
		{"vars on command", "  hooks: {pre: [{command: [x], extra_vars: {a: 1}}]}\n", "extra_vars is for playbook hooks"},
		{"duplicate name", "  hooks: {pre: [{command: [/bin/x]}, {command: [/sbin/x]}]}\n", `hook name "x" is used twice`},
		{"bad timeout", "  hooks: {pre: [{command: [x], timeout: soon}]}\n", "hooks: pre[0]: timeout"},
		{"unknown phase", "  hooks: {during: []}\n", `unknown field "during"`},
		{"relative manifest", "  health: {puppet: {manifest: site.pp}}\n", "health: puppet: manifest: \"site.pp\" is not an absolute path"},
		{"puppet threshold", "  stages: [{name: s, targets: rest, criteria: [puppet_noop<1]}]\n", "takes no threshold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.yaml
			if strings.HasPrefix(tc.yaml, "  stages:") {
				src = "rollout:\n  patch: {packages: [a=1]}\n  targets: {hosts: [h]}\n" + tc.yaml
			}
			path := filepath.Join(dir, "plan.yaml")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Errorf("code = %s", patchpilot.ErrorCode(err))
			}
		})
	}
}

// A plan parsed from text (stored, or sent to the server) keeps its paths
// as written: the controller checks them at preflight.
func TestParseKeepsPathsOfTextPlans(t *testing.T) {
	p, err := Parse([]byte(`rollout:
  patch: {packages: [a=1]}
  targets: {hosts: [h]}
  stages: [{name: s, targets: rest}]
  apply: {ansible: {playbook: site/patch.yml, inventory: /nowhere/inv}}
  hooks: {post: [{playbook: lb/up.yml}]}
`), "plan r-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Apply.Ansible.Playbook != "site/patch.yml" || p.Apply.Ansible.Inventory != "/nowhere/inv" || p.Hooks.Post[0].Playbook.Playbook != "lb/up.yml" || p.Hooks.Post[0].Name != "up.yml" {
		t.Errorf("paths = %+v %+v", p.Apply.Ansible, p.Hooks.Post[0].Playbook)
	}
	if _, err := Parse([]byte("rollout:\n  patch: {packages: [a=1]}\n  targets: {hosts: [h]}\n  stages: [{name: s, targets: rest}]\n  apply: {ansible: {playbook: \"-i/etc/passwd\"}}\n"), "p"); err == nil || !strings.Contains(err.Error(), "invalid path") {
		t.Errorf("option-like path: %v", err)
	}
}
