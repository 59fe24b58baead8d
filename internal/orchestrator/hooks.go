package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Hook phases, as HookData.Phase and the events name them.
const (
	phasePre   = "pre"
	phasePost  = "post"
	phaseApply = "apply"
)

// maxHookOutput bounds the output a hook's event keeps: its end, where a
// failing command or Ansible's recap says what went wrong.
const maxHookOutput = 8 << 10

// needsPlaybooks reports whether the plan runs any playbook.
func needsPlaybooks(p patchpilot.Plan) bool {
	if p.Apply.Ansible != nil {
		return true
	}
	for _, h := range append(append([]patchpilot.Hook(nil), p.Hooks.Pre...), p.Hooks.Post...) {
		if h.Playbook != nil {
			return true
		}
	}
	return false
}

// playbookProblems checks, before any change, that every playbook and
// inventory the plan names is an absolute path to a file (or an inventory
// directory) on this controller. A plan read from its file has them made
// absolute and checked by the planner; one stored or sent as text keeps
// them as written.
func playbookProblems(p patchpilot.Plan) []string {
	var books []patchpilot.AnsiblePlaybook
	if p.Apply.Ansible != nil {
		books = append(books, *p.Apply.Ansible)
	}
	for _, h := range append(append([]patchpilot.Hook(nil), p.Hooks.Pre...), p.Hooks.Post...) {
		if h.Playbook != nil {
			books = append(books, *h.Playbook)
		}
	}
	var problems []string
	check := func(what, path string, dirOK bool) {
		if !filepath.IsAbs(path) {
			problems = append(problems, fmt.Sprintf("%s %q is relative: start the plan from its file (paths are read relative to it) or name it by its absolute path on the controller", what, path))
			return
		}
		st, err := os.Stat(path)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s %s cannot be read on this controller: %s", what, path, err))
		case !st.Mode().IsRegular() && !(dirOK && st.IsDir()):
			problems = append(problems, fmt.Sprintf("%s %s is not a file", what, path))
		}
	}
	for _, b := range books {
		check("playbook", b.Playbook, false)
		if b.Inventory != "" {
			check("inventory", b.Inventory, true)
		}
	}
	return problems
}

// runHooks runs the hooks of a phase in order; the first that fails ends
// the host's pipeline with a failure naming it.
func (j *job) runHooks(ctx context.Context, phase string, hooks []patchpilot.Hook) error {
	for _, h := range hooks {
		if err := j.runHook(ctx, phase, h); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) runHook(ctx context.Context, phase string, h patchpilot.Hook) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = patchpilot.DefaultHookTimeout
	}
	step := fmt.Sprintf("%s hook %q", phase, h.Name)
	if h.Playbook != nil {
		return j.playbook(ctx, phase, h.Name, *h.Playbook, timeout, step)
	}
	cmd := patchpilot.Command{Args: h.Command, Privileged: h.Privileged, Timeout: timeout}
	res, err := j.runner.Run(ctx, cmd)
	j.hookEvent(ctx, phase, h.Name, "command", cmd.String(), res, err)
	if err != nil {
		return classify(step, err)
	}
	if res.ExitCode != 0 {
		return failed("%s: %s exited with status %d: %s", step, cmd.Args[0], res.ExitCode, tail(hookOutput(res), 300))
	}
	return nil
}

// playbook runs an Ansible playbook against the host on the controller.
func (j *job) playbook(ctx context.Context, phase, name string, pb patchpilot.AnsiblePlaybook, timeout time.Duration, step string) error {
	if j.rn.e.Playbooks == nil {
		return failed("%s: this controller cannot run Ansible playbooks", step)
	}
	run := patchpilot.PlaybookRun{Host: j.host, Playbook: pb, Vars: j.playbookVars(phase), Timeout: timeout}
	res, err := j.rn.e.Playbooks.RunPlaybook(ctx, run)
	j.hookEvent(ctx, phase, name, "playbook", fmt.Sprintf("ansible-playbook --limit %s %s", j.host.Name, pb.Playbook), res, err)
	if err != nil {
		return classify(step, err)
	}
	if res.ExitCode != 0 {
		return failed("%s: ansible-playbook exited with status %d: %s", step, res.ExitCode, tail(hookOutput(res), 300))
	}
	return nil
}

// playbookVars are the variables patchpilot gives every playbook: the
// packages and versions the host is patched to, and where it stands.
func (j *job) playbookVars(phase string) map[string]any {
	if j.pins == nil {
		// A host resumed after its change: its record says what it got.
		j.pins = pinsFromVersions(j.hr.ToVersions, j.rn.r.Plan.Patch, j.facts)
	}
	pkgs := make([]map[string]string, 0, len(j.pins))
	for _, p := range j.pins {
		pkgs = append(pkgs, map[string]string{"name": p.Name, "version": p.Version})
	}
	return map[string]any{
		"patchpilot_packages": pkgs,
		"patchpilot_host":     j.hr.Host,
		"patchpilot_rollout":  j.rn.r.ID,
		"patchpilot_stage":    j.stage.Name,
		"patchpilot_phase":    phase,
	}
}

// applyPlaybook makes the host's change with the plan's playbook instead of
// the package manager. A failing playbook that changed nothing leaves the
// host as it was, as a refused transaction does.
func (j *job) applyPlaybook(ctx context.Context, pb patchpilot.AnsiblePlaybook) error {
	timeout := pb.Timeout
	if timeout <= 0 {
		timeout = j.stage.Timeout
	}
	err := j.playbook(ctx, phaseApply, "apply", pb, timeout, "apply playbook")
	if err != nil {
		var se *stepError
		if ctx.Err() == nil && errors.As(err, &se) && se.state == patchpilot.HostFailed && j.unchanged(ctx) {
			j.hr.Order = 0
			return failed("%s; nothing was changed: the installed versions are those before the apply", se.reason)
		}
		return err
	}
	j.rebootNeed = j.rebootNeed || rebootPending(ctx, j.runner)
	return nil
}

// hookOutput is a run's output, standard error after standard output.
func hookOutput(res patchpilot.Result) string {
	out := strings.TrimRight(string(res.Stdout), "\n")
	if errOut := strings.TrimRight(string(res.Stderr), "\n"); errOut != "" {
		if out != "" {
			out += "\n"
		}
		out += errOut
	}
	return out
}

// hookEvent records a hook's run, with the end of its output, in the
// host's events.
func (j *job) hookEvent(ctx context.Context, phase, name, kind, command string, res patchpilot.Result, runErr error) {
	out := hookOutput(res)
	d := patchpilot.HookData{Phase: phase, Name: name, Kind: kind, Command: command, ExitCode: res.ExitCode,
		Seconds: res.Duration.Seconds(), Output: out}
	if len(out) > maxHookOutput {
		d.Output, d.Truncated = out[len(out)-maxHookOutput:], true
	}
	what := phase + " hook " + name
	if phase == phaseApply {
		what = "apply playbook"
	}
	msg := fmt.Sprintf("%s %s: exit status %d after %s", j.hr.Host, what, res.ExitCode, res.Duration.Round(100*time.Millisecond))
	if runErr != nil {
		d.Error = runErr.Error()
		msg = fmt.Sprintf("%s %s: %s", j.hr.Host, what, runErr)
	}
	data, _ := json.Marshal(d)
	j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventHook, msg, data)
}
