package inventory

import (
	"fmt"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Variable precedence is documented in the package comment (load.go);
// resolve applies it.

// Variables that map to fields of patchpilot.Host, each with its older
// alias, which Ansible still honours when the new name is unset.
var (
	varHost    = []string{"ansible_host", "ansible_ssh_host"}
	varPort    = []string{"ansible_port", "ansible_ssh_port"}
	varUser    = []string{"ansible_user", "ansible_ssh_user", "ansible_remote_user"}
	varKeyFile = []string{"ansible_ssh_private_key_file", "ansible_private_key_file"}
	varBecome  = []string{"ansible_become", "ansible_sudo"}
	varSSHArgs = []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"}
)

// secretVars are the password variables Ansible knows. patchpilot never
// reads them: it logs in with keys or an agent and uses passwordless sudo.
var secretVars = []string{
	"ansible_password", "ansible_ssh_pass", "ansible_ssh_password",
	"ansible_become_password", "ansible_become_pass",
	"ansible_sudo_pass", "ansible_sudo_password",
}

// labelVars are the plain inventory variables that become labels.
var labelVars = []string{patchpilot.LabelRole, patchpilot.LabelEnv, patchpilot.LabelCriticality, patchpilot.LabelGroup}

// Label variables with a namespace of their own: patchpilot_label_X sets
// label X, and patchpilot_labels is a mapping of labels.
const (
	labelPrefixVar = "patchpilot_label_"
	labelMapVar    = "patchpilot_labels"
)

// dependsOnVar declares what a host depends on (the depends_on label): a
// comma-separated string or a list of HOST, HOST:PORT or HOST:SERVICE.
const dependsOnVar = "patchpilot_depends_on"

// resolver turns a parsed inventory into patchpilot hosts.
type resolver struct {
	in        *inv
	home      string
	source    string
	groupVars map[string][]vars // group name -> group_vars files, in load order
	hostVars  map[string][]vars // host name -> host_vars files
	warnings  []string
	warned    map[string]bool
}

func (r *resolver) warn(key string, format string, args ...any) {
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// depths returns each group's depth below "all": the length of the longest
// path of parents up to it, as Ansible counts it.
func (r *resolver) depths() map[string]int {
	memo := map[string]int{}
	var depth func(name string, guard int) int
	depth = func(name string, guard int) int {
		if d, ok := memo[name]; ok {
			return d
		}
		if name == groupAll || guard > len(r.in.groups) {
			return 0
		}
		d := 1
		for p := range r.in.groups[name].parents {
			if pd := depth(p, guard+1) + 1; pd > d {
				d = pd
			}
		}
		memo[name] = d
		return d
	}
	for name := range r.in.groups {
		depth(name, 0)
	}
	return memo
}

// priority reads ansible_group_priority from a group's variables (default 1).
func (r *resolver) priority(name string) int {
	vs := vars{}
	vs.merge(r.in.groups[name].vars)
	for _, f := range r.groupVars[name] {
		vs.merge(f)
	}
	if v, ok := vs["ansible_group_priority"]; ok {
		if n, err := portField(v, "ansible_group_priority"); err == nil {
			return n
		}
	}
	return 1
}

// hostGroups returns every group a host belongs to, directly or through a
// parent, except "all"; a host in no other group is in "ungrouped".
func (r *resolver) hostGroups(h *hostDef) []string {
	set := map[string]bool{}
	stack := append([]string{}, h.groups...)
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if set[g] || g == groupAll {
			continue
		}
		set[g] = true
		for p := range r.in.groups[g].parents {
			stack = append(stack, p)
		}
	}
	if len(set) > 1 {
		delete(set, groupUngrouped)
	}
	if len(set) == 0 {
		set[groupUngrouped] = true
	}
	return sortedKeys(set)
}

// resolve builds the hosts in order of first appearance.
func (r *resolver) resolve() ([]patchpilot.Host, error) {
	depth := r.depths()
	prio := map[string]int{}
	for name := range r.in.groups {
		prio[name] = r.priority(name)
	}
	var out []patchpilot.Host
	for _, name := range r.in.order {
		h := r.in.hosts[name]
		if err := checkText(h.at, "host name", name); err != nil {
			return nil, err
		}
		groups := r.hostGroups(h)
		for _, g := range groups {
			if err := checkText(r.in.groups[g].at, "group name", g); err != nil {
				return nil, err
			}
		}
		ordered := append([]string{}, groups...)
		sort.SliceStable(ordered, func(i, j int) bool {
			a, b := ordered[i], ordered[j]
			if depth[a] != depth[b] {
				return depth[a] < depth[b]
			}
			if prio[a] != prio[b] {
				return prio[a] < prio[b]
			}
			return a < b
		})
		vs := vars{}
		vs.merge(r.in.groups[groupAll].vars)
		for _, g := range ordered {
			vs.merge(r.in.groups[g].vars)
		}
		for _, f := range r.groupVars[groupAll] {
			vs.merge(f)
		}
		for _, g := range ordered {
			for _, f := range r.groupVars[g] {
				vs.merge(f)
			}
		}
		vs.merge(h.vars)
		for _, f := range r.hostVars[name] {
			vs.merge(f)
		}
		host, err := r.build(name, vs, groups)
		if h.at.file != "" {
			host.Source = h.at.file // the file that first names the host
		}
		if err != nil {
			return nil, err
		}
		out = append(out, host)
	}
	return out, nil
}

// first returns the first of names that vs sets.
func first(vs vars, names []string) (string, value, bool) {
	for _, n := range names {
		if v, ok := vs[n]; ok {
			return n, v, true
		}
	}
	return "", value{}, false
}

// build maps one host's merged variables to a patchpilot.Host.
func (r *resolver) build(name string, vs vars, groups []string) (patchpilot.Host, error) {
	h := patchpilot.Host{Name: name, Address: name, Groups: groups, Source: r.source}
	for _, k := range secretVars {
		if v, ok := vs[k]; ok {
			r.warn(v.at.String()+"\x00"+k,
				"%s: %s (for host %s) is ignored: patchpilot logs in with SSH keys or an SSH agent and never uses passwords",
				v.at, k, name)
		}
	}
	str := func(names []string) (string, error) {
		k, v, ok := first(vs, names)
		if !ok {
			return "", nil
		}
		s, err := stringField(v, fmt.Sprintf("%s of host %s", k, name))
		if err != nil {
			return "", err
		}
		return expandTemplate(s, name, k, v.at)
	}
	var err error
	if addr, err := str(varHost); err != nil {
		return h, err
	} else if addr != "" {
		h.Address = addr
	}
	if h.User, err = str(varUser); err != nil {
		return h, err
	}
	key, err := str(varKeyFile)
	if err != nil {
		return h, err
	}
	h.KeyFile = expandHome(key, r.home)
	if _, v, ok := first(vs, varPort); ok {
		if h.Port, err = portField(v, "host "+name); err != nil {
			return h, err
		}
	}
	if k, v, ok := first(vs, varBecome); ok {
		if h.Become, err = boolField(v, k+" of host "+name); err != nil {
			return h, err
		}
	}
	for _, k := range varSSHArgs {
		v, ok := vs[k]
		if !ok {
			continue
		}
		args, err := stringField(v, k+" of host "+name)
		if err != nil {
			return h, err
		}
		j, err := jumpHostFromArgs(args)
		if err != nil {
			return h, errAt(v.at, "%s of host %s: %v", k, name, err)
		}
		if j != "" {
			if h.JumpHost, err = expandTemplate(j, name, k, v.at); err != nil {
				return h, err
			}
			break
		}
	}
	h.Labels, err = r.labels(name, vs)
	return h, err
}

// labels collects a host's labels. Sources, lowest precedence first: the
// patchpilot_labels mapping, the plain variables role, env, criticality and
// group and patchpilot_depends_on, then patchpilot_label_X variables. The most specific spelling wins.
func (r *resolver) labels(name string, vs vars) (map[string]string, error) {
	labels := map[string]string{}
	if v, ok := vs[labelMapVar]; ok {
		m, err := labelMapField(v, labelMapVar+" of host "+name)
		if err != nil {
			return nil, err
		}
		for k, s := range m {
			labels[k] = s
		}
	}
	set := func(label, varName string, v value) error {
		s, err := stringField(v, varName+" of host "+name)
		if err != nil {
			return err
		}
		if err := checkLabels(map[string]string{label: s}, v.at, varName+" of host "+name); err != nil {
			return err
		}
		labels[label] = s
		return nil
	}
	for _, k := range labelVars {
		if v, ok := vs[k]; ok {
			if err := set(k, k, v); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := vs[dependsOnVar]; ok {
		if list, isList := v.v.([]any); isList {
			items := make([]string, 0, len(list))
			for i, e := range list {
				s, err := stringField(value{v: e, at: v.at}, fmt.Sprintf("%s[%d] of host %s", dependsOnVar, i, name))
				if err != nil {
					return nil, err
				}
				items = append(items, s)
			}
			v = value{v: strings.Join(items, ", "), at: v.at}
		}
		if err := set(patchpilot.LabelDependsOn, dependsOnVar, v); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(vs) {
		if label, ok := strings.CutPrefix(k, labelPrefixVar); ok && label != "" {
			if err := checkText(vs[k].at, "label variable", k); err != nil {
				return nil, err
			}
			if err := set(label, k, vs[k]); err != nil {
				return nil, err
			}
		}
	}
	if len(labels) == 0 {
		return nil, nil
	}
	return labels, nil
}

// expandTemplate evaluates the one Jinja expression that inventories use
// for connection variables, {{ inventory_hostname }} (and _short); any other
// template is an error, since patchpilot does not run Jinja and a literal
// "{{ ... }}" address would fail later and more confusingly.
func expandTemplate(s, host, varName string, at pos) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	short, _, _ := strings.Cut(host, ".")
	for _, sp := range []string{"", " "} {
		s = strings.ReplaceAll(s, "{{"+sp+"inventory_hostname_short"+sp+"}}", short)
		s = strings.ReplaceAll(s, "{{"+sp+"inventory_hostname"+sp+"}}", host)
	}
	if strings.Contains(s, "{{") {
		return "", errAt(at, "%s of host %s is a Jinja template (%q), which patchpilot does not evaluate", varName, host, s).
			WithHint("write the value out literally, or use {{ inventory_hostname }} only")
	}
	return s, nil
}
