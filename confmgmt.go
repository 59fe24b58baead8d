package patchpilot

import (
	"context"
	"time"
)

// ApplyConfig is the plan's "apply:" section: how each host's change is
// made. The zero value is the package manager's own install. Snapshot and
// rollback always go through the package manager, whatever made the change.
type ApplyConfig struct {
	// Ansible, when set, makes the change with this playbook, run on the
	// controller against the one host (--limit HOST), with the target
	// versions as the extra variable patchpilot_packages.
	Ansible *AnsiblePlaybook `json:"ansible,omitempty"`
}

// AnsiblePlaybook is one ansible-playbook run on the controller.
type AnsiblePlaybook struct {
	// Playbook is the playbook file; the planner makes it absolute
	// (relative to the plan file) and checks that it is a file.
	Playbook string `json:"playbook"`
	// Inventory, when set, is read before the inventory patchpilot
	// writes for the host (group and host variables); the connection
	// variables patchpilot writes win over it.
	Inventory string `json:"inventory,omitempty"`
	// ExtraVars are passed with -e; names are Ansible variable names and
	// may not start with "ansible_" or "patchpilot_".
	ExtraVars map[string]any `json:"extra_vars,omitempty"`
	// Timeout bounds the run; 0 means the stage's timeout (apply) or
	// DefaultHookTimeout (a hook).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// HookConfig is the plan's "hooks:" section: what runs on each host before
// its change (Pre, after the snapshot) and after it (Post, once the host
// runs the target versions and before its bake), such as draining it from
// a load balancer and putting it back. A failing hook fails the host like
// any other step; a host that fails after its change is rolled back.
type HookConfig struct {
	Pre  []Hook `json:"pre,omitempty"`
	Post []Hook `json:"post,omitempty"`
}

// Hook is one command run on the host through its runner, or one playbook
// run on the controller against the host. Exactly one of Command and
// Playbook is set.
type Hook struct {
	Name string `json:"name"`
	// Command is an argument list run on the host, never through a shell.
	Command []string `json:"command,omitempty"`
	// Privileged runs Command as root (sudo -n when the host needs it).
	Privileged bool             `json:"privileged,omitempty"`
	Playbook   *AnsiblePlaybook `json:"playbook,omitempty"`
	// Timeout bounds the hook; 0 means DefaultHookTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DefaultHookTimeout bounds a hook that names no timeout.
const DefaultHookTimeout = 5 * time.Minute

// Enabled reports whether the hook list has any hook.
func (h HookConfig) Enabled() bool { return len(h.Pre)+len(h.Post) > 0 }

// PlaybookRun is one playbook run against one host: the host as patchpilot
// reaches it (address, port, user, key, jump host, become), the playbook
// and the variables patchpilot adds to the playbook's own extra variables.
type PlaybookRun struct {
	Host     Host
	Playbook AnsiblePlaybook
	Vars     map[string]any
	Timeout  time.Duration
}

// PlaybookRunner runs playbooks on the controller. A playbook that ran and
// failed is a Result with its exit status; an error means it could not be
// run at all (the playbook or ansible-playbook is missing, a bad argument,
// the context ended).
type PlaybookRunner interface {
	RunPlaybook(ctx context.Context, run PlaybookRun) (Result, error)
}

// HookData is the payload of EventHook: one hook or playbook apply on a
// host, with the end of its output.
type HookData struct {
	Phase    string  `json:"phase"` // "pre", "post" or "apply"
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // "command" or "playbook"
	Command  string  `json:"command"`
	ExitCode int     `json:"exit_code"`
	Seconds  float64 `json:"seconds"`
	Output   string  `json:"output"`
	// Truncated says that Output holds only the end of a longer output.
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// PuppetConfig is the "puppet:" key of a plan's health section: how the
// puppet_noop criterion runs Puppet on the host. The zero value runs the
// agent against its server (puppet agent --test --noop).
type PuppetConfig struct {
	// Manifest, when set, is a manifest on the host that
	// "puppet apply --noop" checks instead of asking the server.
	Manifest string `json:"manifest,omitempty"`
	// Timeout bounds the Puppet run; 0 means DefaultPuppetTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DefaultPuppetTimeout bounds a Puppet no-op run that names no timeout.
const DefaultPuppetTimeout = 5 * time.Minute
