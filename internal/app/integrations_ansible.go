package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/ansible"
)

// Playbooks runs the Ansible playbooks of plans (their apply: playbook and
// playbook hooks) on this controller, reaching each host as the SSH
// dialer does: the same known_hosts file, default user, keys and jump
// host. The controller's own machine is reached with Ansible's local
// connection.
func (a *App) Playbooks() patchpilot.PlaybookRunner {
	o := a.Options
	return &ansible.Runner{KnownHostsFile: o.KnownHostsFile, User: o.SSHUser, KeyFiles: o.SSHKeyFiles, JumpHost: o.JumpHost, Local: IsLocalHost}
}
