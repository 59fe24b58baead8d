package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Roles cycle over the hosts so that a lab of any size has a mix.
var labRoles = []string{"web", "worker", "db"}

// hostLabels returns the labels of host i (from 1) of n: roles cycle
// web, worker, db; env is lab; the last db host (the last host when there is
// none) is critical and the others medium.
func hostLabels(i, n int) map[string]string {
	role := labRoles[(i-1)%len(labRoles)]
	critical := n
	for j := n; j >= 1; j-- {
		if labRoles[(j-1)%len(labRoles)] == "db" {
			critical = j
			break
		}
	}
	crit := "medium"
	if i == critical {
		crit = "critical"
	}
	return map[string]string{patchpilot.LabelRole: role, patchpilot.LabelEnv: "lab", patchpilot.LabelCriticality: crit}
}

// writeClientFiles writes inventory.ini, known_hosts and ansible.cfg, which
// let patchpilot and Ansible reach every host with strict host key checking
// and no other set-up.
func writeClientFiles(s *State, hostKeys map[string]string) error {
	key := filepath.Join(s.Dir, keyFile)
	known := filepath.Join(s.Dir, knownHostsFile)
	var inv strings.Builder
	fmt.Fprintf(&inv, "# The patchpilot lab in %s, written by 'patchpilot lab up'.\n", s.Dir)
	fmt.Fprintf(&inv, "# Host keys: %s. Stop the lab with 'patchpilot lab down --dir %s'.\n\n", known, s.Dir)
	fmt.Fprintln(&inv, "[lab]")
	for _, h := range s.Hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=22 ansible_user=root ansible_ssh_private_key_file=%s role=%s env=%s criticality=%s\n",
			h.Name, h.Address, key, h.Labels[patchpilot.LabelRole], h.Labels[patchpilot.LabelEnv], h.Labels[patchpilot.LabelCriticality])
	}
	for _, role := range labRoles {
		fmt.Fprintf(&inv, "\n[%s]\n", role)
		for _, h := range s.Hosts {
			if h.Labels[patchpilot.LabelRole] == role {
				fmt.Fprintln(&inv, h.Name)
			}
		}
	}
	fmt.Fprintln(&inv, "\n[all:vars]")
	fmt.Fprintln(&inv, "ansible_python_interpreter=/usr/bin/python3")
	fmt.Fprintf(&inv, "ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", known)

	var kh strings.Builder
	for _, h := range s.Hosts {
		fmt.Fprintf(&kh, "%s,%s %s\n", h.Address, h.Name, hostKeys[h.Name])
	}
	cfg := fmt.Sprintf(`# Ansible configuration for the patchpilot lab: run ansible from %[1]s,
# or point ANSIBLE_CONFIG at this file.
[defaults]
inventory = %[2]s
host_key_checking = True
interpreter_python = /usr/bin/python3

[ssh_connection]
ssh_args = -o UserKnownHostsFile=%[3]s -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s
`, s.Dir, filepath.Join(s.Dir, inventoryFile), known)
	for name, content := range map[string]string{inventoryFile: inv.String(), knownHostsFile: kh.String(), ansibleCfgFile: cfg} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(content), 0o644); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "write %s: %w", name, err)
		}
	}
	return nil
}
