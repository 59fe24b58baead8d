package orchestrator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// fakePlaybooks runs "playbooks" on the fleet: the apply playbook installs
// the patchpilot_packages it is given, as a real one would.
type fakePlaybooks struct {
	f    *fleet
	mu   sync.Mutex
	runs []patchpilot.PlaybookRun
	// exit maps "phase host" to the exit status of that run; changes
	// says whether a failing apply installed the packages first.
	exit    map[string]int
	changes bool
}

func (p *fakePlaybooks) RunPlaybook(_ context.Context, run patchpilot.PlaybookRun) (patchpilot.Result, error) {
	p.mu.Lock()
	p.runs = append(p.runs, run)
	p.mu.Unlock()
	phase, host := run.Vars["patchpilot_phase"].(string), run.Host.Name
	p.f.record("playbook " + phase + " " + host + " " + filepath.Base(run.Playbook.Playbook))
	code := p.exit[phase+" "+host]
	if phase == phaseApply && (code == 0 || p.changes) {
		p.f.mu.Lock()
		for _, pkg := range run.Vars["patchpilot_packages"].([]map[string]string) {
			p.f.installed[host][pkg["name"]] = pkg["version"]
		}
		p.f.mu.Unlock()
	}
	out := "PLAY RECAP\n" + host + " : ok=2 changed=1 failed=0\n"
	if code != 0 {
		out = "TASK [install] fatal: [" + host + "]: FAILED!\n"
	}
	return patchpilot.Result{ExitCode: code, Stdout: []byte(out)}, nil
}

// playbookFiles writes two playbooks and returns their paths.
func playbookFiles(t *testing.T) (patch, drain string) {
	dir := t.TempDir()
	patch, drain = filepath.Join(dir, "patch.yml"), filepath.Join(dir, "drain.yml")
	for _, p := range []string{patch, drain} {
		if err := os.WriteFile(p, []byte("- hosts: all\n  tasks: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return patch, drain
}

func hookPlan(patch, drain string) string {
	return `
name: hooks
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, criteria: [http_ok], bake: 5s, on_failure: rollback_and_alert}
apply:
  ansible: {playbook: ` + patch + `, extra_vars: {tier: web}}
hooks:
  pre:
    - {name: drain, playbook: ` + drain + `}
    - {name: lb-off, command: [/usr/local/bin/lb, "off"], privileged: true}
  post:
    - {name: lb-on, command: [/usr/local/bin/lb, "on"]}
`
}

func hookEvents(t *testing.T, e *env, id string) []patchpilot.HookData {
	t.Helper()
	evs, err := e.db.Events(context.Background(), patchpilot.EventFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []patchpilot.HookData
	for _, ev := range evs {
		if ev.Kind != patchpilot.EventHook {
			continue
		}
		var d patchpilot.HookData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if ev.Host != "h01" {
			t.Errorf("hook event of host %q", ev.Host)
		}
		out = append(out, d)
	}
	return out
}

func TestPlaybookApplyWithHooks(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	pbs := &fakePlaybooks{f: e.f}
	e.e.Playbooks = pbs
	e.f.commands["h01: /usr/local/bin/lb off"] = 0
	e.f.commands["h01: /usr/local/bin/lb on"] = 0
	patch, drain := playbookFiles(t)
	id := e.start(hookPlan(patch, drain))
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout = %s, want succeeded (%v)", got, e.f.log)
	}
	want := []string{"playbook pre h01 drain.yml", "run h01: /usr/local/bin/lb off", "playbook apply h01 patch.yml", "run h01: /usr/local/bin/lb on"}
	if !reflect.DeepEqual(e.f.log, want) {
		t.Errorf("what ran = %q\nwant       %q", e.f.log, want)
	}
	if e.f.applies["h01"] != 0 || e.f.installed["h01"]["web"] != "1.1" {
		t.Errorf("package manager applies %d, web %s: the playbook makes the change", e.f.applies["h01"], e.f.installed["h01"]["web"])
	}
	apply := pbs.runs[1]
	if apply.Host.Name != "h01" || apply.Playbook.ExtraVars["tier"] != "web" || apply.Vars["patchpilot_rollout"] != id ||
		!reflect.DeepEqual(apply.Vars["patchpilot_packages"], []map[string]string{{"name": "web", "version": "1.1"}}) {
		t.Errorf("apply run = %+v", apply)
	}
	evs := hookEvents(t, e, id)
	if len(evs) != 4 {
		t.Fatalf("%d hook events, want 4: %+v", len(evs), evs)
	}
	if d := evs[2]; d.Phase != "apply" || d.Kind != "playbook" || !strings.Contains(d.Output, "PLAY RECAP") || d.ExitCode != 0 {
		t.Errorf("apply event = %+v", d)
	}
	if d := evs[1]; d.Phase != "pre" || d.Name != "lb-off" || d.Command != "/usr/local/bin/lb off" || !strings.Contains(d.Output, "ran /usr/local/bin/lb") {
		t.Errorf("pre hook event = %+v", d)
	}
}

func TestPostHookFailureRollsBack(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	e.e.Playbooks = &fakePlaybooks{f: e.f}
	e.f.commands["h01: /usr/local/bin/lb off"] = 0
	e.f.commands["h01: /usr/local/bin/lb on"] = 3
	patch, drain := playbookFiles(t)
	id := e.start(hookPlan(patch, drain))
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("rollout = %s, want halted", got)
	}
	runs, _ := e.db.HostRuns(context.Background(), id)
	if runs[0].State != patchpilot.HostRolledBack || !strings.Contains(runs[0].Reason, `post hook "lb-on": /usr/local/bin/lb exited with status 3: ran /usr/local/bin/lb | status 3`) {
		t.Errorf("host = %s %q, want rolled back naming the hook", runs[0].State, runs[0].Reason)
	}
	// The rollback goes through the package manager, after a playbook apply.
	if got := e.f.entries("rollback "); !reflect.DeepEqual(got, []string{"h01"}) || e.f.installed["h01"]["web"] != "1.0" {
		t.Errorf("rollbacks %v, web %s", got, e.f.installed["h01"]["web"])
	}
	evs := hookEvents(t, e, id)
	if last := evs[len(evs)-1]; last.Phase != "post" || last.ExitCode != 3 || !strings.Contains(last.Output, "status 3") {
		t.Errorf("post hook event = %+v", last)
	}
}

func TestPreHookFailureChangesNothing(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	pbs := &fakePlaybooks{f: e.f, exit: map[string]int{"pre h01": 2}}
	e.e.Playbooks = pbs
	patch, drain := playbookFiles(t)
	id := e.start(hookPlan(patch, drain))
	e.run(id)
	runs, _ := e.db.HostRuns(context.Background(), id)
	if runs[0].State != patchpilot.HostFailed || !strings.Contains(runs[0].Reason, `pre hook "drain": ansible-playbook exited with status 2: TASK [install] fatal: [h01]: FAILED!`) {
		t.Errorf("host = %s %q", runs[0].State, runs[0].Reason)
	}
	if len(e.f.entries("rollback ")) != 0 || len(pbs.runs) != 1 || e.f.installed["h01"]["web"] != "1.0" {
		t.Errorf("after a failed pre hook: log %v", e.f.log)
	}
}

func TestPlaybookApplyFailure(t *testing.T) {
	for _, changed := range []bool{false, true} {
		e := newEnv(t, hostsNamed(1))
		e.e.Playbooks = &fakePlaybooks{f: e.f, exit: map[string]int{"apply h01": 2}, changes: changed}
		e.f.commands["h01: /usr/local/bin/lb off"] = 0
		patch, drain := playbookFiles(t)
		id := e.start(hookPlan(patch, drain))
		e.run(id)
		runs, _ := e.db.HostRuns(context.Background(), id)
		back := e.f.entries("rollback ")
		if changed {
			if runs[0].State != patchpilot.HostRolledBack || len(back) != 1 || e.f.installed["h01"]["web"] != "1.0" {
				t.Errorf("a playbook that failed after installing: host %s %q, rollbacks %v", runs[0].State, runs[0].Reason, back)
			}
			continue
		}
		if runs[0].State != patchpilot.HostFailed || !strings.Contains(runs[0].Reason, "apply playbook: ansible-playbook exited with status 2") ||
			!strings.Contains(runs[0].Reason, "nothing was changed") || len(back) != 0 {
			t.Errorf("a playbook that changed nothing: host %s %q, rollbacks %v", runs[0].State, runs[0].Reason, back)
		}
	}
}

func TestPlaybookPlanWithoutAnsibleRunner(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	patch, drain := playbookFiles(t)
	id := e.start(hookPlan(patch, drain))
	e.run(id)
	runs, _ := e.db.HostRuns(context.Background(), id)
	if runs[0].State != patchpilot.HostFailed || !strings.Contains(runs[0].Reason, "no Ansible runner") || len(e.f.log) != 0 {
		t.Errorf("host = %s %q, log %v", runs[0].State, runs[0].Reason, e.f.log)
	}
}

func TestPlaybookPathsCheckedAtPreflight(t *testing.T) {
	e := newEnv(t, hostsNamed(1))
	e.e.Playbooks = &fakePlaybooks{f: e.f}
	patch, _ := playbookFiles(t)
	// A plan parsed from text keeps a relative path as written; a
	// playbook removed since the plan was read is found missing too.
	id := e.start(hookPlan("site/drain.yml", patch+".gone"))
	e.run(id)
	runs, _ := e.db.HostRuns(context.Background(), id)
	if runs[0].State != patchpilot.HostFailed || !strings.Contains(runs[0].Reason, `preflight: playbook "site/drain.yml" is relative`) ||
		!strings.Contains(runs[0].Reason, "patch.yml.gone cannot be read on this controller") || len(e.f.log) != 0 {
		t.Errorf("host = %s %q, log %v", runs[0].State, runs[0].Reason, e.f.log)
	}
}
