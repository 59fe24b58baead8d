package planner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// Field names of the apply and hooks sections, in the order Marshal
// writes them.
var (
	applyFields    = []string{"ansible"}
	playbookFields = []string{"playbook", "inventory", "extra_vars", "timeout"}
	hooksFields    = []string{"pre", "post"}
	hookFields     = []string{"name", "command", "privileged", "playbook", "inventory", "extra_vars", "timeout"}
	puppetFields   = []string{"manifest", "timeout"}
)

// ansibleVarName is what Ansible accepts as a variable name.
var ansibleVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedVarPrefixes are extra variable prefixes a plan may not set:
// ansible_ would override how Ansible reaches the host (patchpilot sets
// it), patchpilot_ names the variables patchpilot passes.
var reservedVarPrefixes = []string{"ansible_", "patchpilot_"}

// maxHookName bounds a hook's name.
const maxHookName = 64

func (d *decoder) apply(n *yaml.Node) (patchpilot.ApplyConfig, error) {
	var a patchpilot.ApplyConfig
	f, err := d.mapping(n, "apply", applyFields...)
	if err != nil {
		return a, err
	}
	v, ok := f["ansible"]
	if !ok {
		return a, d.errorf(n, "apply", "expected ansible: {playbook: PATH, ...}")
	}
	pf, err := d.mapping(v.value, "apply: ansible", playbookFields...)
	if err != nil {
		return a, err
	}
	pb, err := d.playbook(v.value, pf, "apply: ansible")
	if err != nil {
		return a, err
	}
	if pb.Timeout, err = d.optionalDuration(pf, "timeout", "apply: ansible"); err != nil {
		return a, err
	}
	a.Ansible = &pb
	return a, nil
}

// playbook reads the playbook, inventory and extra_vars keys of f.
func (d *decoder) playbook(n *yaml.Node, f map[string]field, what string) (patchpilot.AnsiblePlaybook, error) {
	var pb patchpilot.AnsiblePlaybook
	v, ok := f["playbook"]
	if !ok {
		return pb, d.errorf(n, what, "missing field \"playbook\"")
	}
	path, err := d.scalar(v.value, what+": playbook")
	if err != nil {
		return pb, err
	}
	if pb.Playbook, err = d.localPath(v.value, what+": playbook", path, false); err != nil {
		return pb, err
	}
	if v, ok := f["inventory"]; ok {
		path, err := d.scalar(v.value, what+": inventory")
		if err != nil {
			return pb, err
		}
		if pb.Inventory, err = d.localPath(v.value, what+": inventory", path, true); err != nil {
			return pb, err
		}
	}
	if v, ok := f["extra_vars"]; ok {
		if pb.ExtraVars, err = d.extraVars(v.value, what+": extra_vars"); err != nil {
			return pb, err
		}
	}
	return pb, nil
}

// localPath checks a playbook or inventory path. In a plan read from a
// file (ReadFile) a relative path is made absolute, relative to the plan
// file's directory, and must name a file (or, when dirOK, a directory, as
// an Ansible inventory may be): the plan's paths are checked when it is
// read. A plan parsed from text alone (a stored plan, one sent to the
// server) keeps its paths as written; the controller checks them at each
// host's preflight, before any change.
func (d *decoder) localPath(n *yaml.Node, what, path string, dirOK bool) (string, error) {
	if path == "" {
		return "", d.errorf(n, what, "the path is empty")
	}
	if strings.ContainsAny(path, "\x00\r\n") || strings.HasPrefix(path, "-") {
		return "", d.errorf(n, what, "invalid path %q", path)
	}
	if d.dir == "" {
		return path, nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", d.errorf(n, what, "cannot resolve %q: %s", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", d.errorf(n, what, "%s does not exist or cannot be read: %s", abs, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() && !(dirOK && st.IsDir()) {
		expected := "a file"
		if dirOK {
			expected = "a file or a directory"
		}
		return "", d.errorf(n, what, "%s is not %s", abs, expected)
	}
	return abs, nil
}

func unwrapPathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// extraVars reads a mapping of Ansible variables to any YAML values that
// JSON can hold; they are stored as JSON.
func (d *decoder) extraVars(n *yaml.Node, what string) (map[string]any, error) {
	if err := d.plain(n, what); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, what, "expected a mapping of variable names to values, got %s", kindName(n))
	}
	out := map[string]any{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := d.noAliases(v, what); err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode || !ansibleVarName.MatchString(k.Value) {
			return nil, d.errorf(k, what, "invalid variable name %q: use letters, digits and '_', not starting with a digit", k.Value)
		}
		for _, p := range reservedVarPrefixes {
			if strings.HasPrefix(strings.ToLower(k.Value), p) {
				return nil, d.errorf(k, what, "variable %q is reserved: names starting with %s are set by patchpilot", k.Value, strings.Join(reservedVarPrefixes, " or "))
			}
		}
		if line, dup := lines[k.Value]; dup {
			return nil, d.errorf(k, what, "variable %q is repeated (first at line %d)", k.Value, line)
		}
		lines[k.Value] = k.Line
		var val any
		if err := v.Decode(&val); err != nil {
			return nil, d.errorf(v, what+": "+k.Value, "%s", err)
		}
		raw, err := json.Marshal(val)
		if err != nil {
			return nil, d.errorf(v, what+": "+k.Value, "the value cannot be passed to Ansible: use strings, numbers, booleans, lists and mappings with string keys")
		}
		var norm any
		if err := json.Unmarshal(raw, &norm); err != nil {
			return nil, d.errorf(v, what+": "+k.Value, "%s", err)
		}
		out[k.Value] = norm
	}
	return out, nil
}

// noAliases refuses anchors and aliases anywhere under n.
func (d *decoder) noAliases(n *yaml.Node, what string) error {
	if err := d.plain(n, what); err != nil {
		return err
	}
	for _, c := range n.Content {
		if err := d.noAliases(c, what); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) hooks(n *yaml.Node) (patchpilot.HookConfig, error) {
	var h patchpilot.HookConfig
	f, err := d.mapping(n, "hooks", hooksFields...)
	if err != nil {
		return h, err
	}
	for _, phase := range hooksFields {
		v, ok := f[phase]
		if !ok {
			continue
		}
		items, err := d.sequence(v.value, "hooks: "+phase)
		if err != nil {
			return h, err
		}
		names := map[string]int{}
		var list []patchpilot.Hook
		for i, item := range items {
			hk, err := d.hook(item, fmt.Sprintf("hooks: %s[%d]", phase, i))
			if err != nil {
				return h, err
			}
			if line, dup := names[hk.Name]; dup {
				return h, d.errorf(item, fmt.Sprintf("hooks: %s[%d]", phase, i), "hook name %q is used twice (first at line %d)", hk.Name, line)
			}
			names[hk.Name] = item.Line
			list = append(list, hk)
		}
		if phase == "pre" {
			h.Pre = list
		} else {
			h.Post = list
		}
	}
	return h, nil
}

func (d *decoder) hook(n *yaml.Node, what string) (patchpilot.Hook, error) {
	var h patchpilot.Hook
	f, err := d.mapping(n, what, hookFields...)
	if err != nil {
		return h, err
	}
	cmd, hasCmd := f["command"]
	pbk, hasPlaybook := f["playbook"]
	switch {
	case hasCmd && hasPlaybook:
		return h, d.errorf(pbk.key, what, "give either command (run on the host) or playbook (run on the controller), not both")
	case !hasCmd && !hasPlaybook:
		return h, d.errorf(n, what, "expected command: [program, arg, ...] or playbook: PATH")
	}
	if hasCmd {
		if h.Command, err = d.strings(cmd.value, what+": command"); err != nil {
			return h, err
		}
		if len(h.Command) == 0 || h.Command[0] == "" {
			return h, d.errorf(cmd.value, what+": command", "expected the program and its arguments, such as [/usr/local/bin/lb-drain, --wait]")
		}
		for i, a := range h.Command {
			if strings.ContainsRune(a, 0) {
				return h, d.errorf(cmd.value.Content[i], what+": command", "argument %d holds a NUL byte", i)
			}
		}
		for _, k := range []string{"inventory", "extra_vars"} {
			if v, ok := f[k]; ok {
				return h, d.errorf(v.key, what, "%s is for playbook hooks; a command hook runs on the host", k)
			}
		}
		if v, ok := f["privileged"]; ok {
			if h.Privileged, err = d.boolean(v.value, what+": privileged"); err != nil {
				return h, err
			}
		}
	} else {
		if v, ok := f["privileged"]; ok {
			return h, d.errorf(v.key, what, "privileged is for command hooks; a playbook says become: itself")
		}
		pb, err := d.playbook(n, f, what)
		if err != nil {
			return h, err
		}
		h.Playbook = &pb
	}
	if h.Timeout, err = d.optionalDuration(f, "timeout", what); err != nil {
		return h, err
	}
	if v, ok := f["name"]; ok {
		if h.Name, err = d.scalar(v.value, what+": name"); err != nil {
			return h, err
		}
		if !validHookName(h.Name) {
			return h, d.errorf(v.value, what+": name", "invalid hook name %q: use up to %d printable characters", h.Name, maxHookName)
		}
	} else {
		h.Name = defaultHookName(h)
	}
	return h, nil
}

func validHookName(s string) bool {
	if s == "" || len(s) > maxHookName {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// defaultHookName names a hook by its program or playbook file.
func defaultHookName(h patchpilot.Hook) string {
	name := ""
	if h.Playbook != nil {
		name = filepath.Base(h.Playbook.Playbook)
	} else {
		name = filepath.Base(h.Command[0])
	}
	if len(name) > maxHookName {
		name = name[:maxHookName]
	}
	return name
}

func (d *decoder) puppet(n *yaml.Node) (patchpilot.PuppetConfig, error) {
	var p patchpilot.PuppetConfig
	what := "health: puppet"
	f, err := d.mapping(n, what, puppetFields...)
	if err != nil {
		return p, err
	}
	if v, ok := f["manifest"]; ok {
		if p.Manifest, err = d.scalar(v.value, what+": manifest"); err != nil {
			return p, err
		}
		if !validHostPath(p.Manifest) {
			return p, d.errorf(v.value, what+": manifest", "%q is not an absolute path on the host, such as /etc/puppet/code/environments/production/manifests/site.pp", p.Manifest)
		}
	}
	if p.Timeout, err = d.optionalDuration(f, "timeout", what); err != nil {
		return p, err
	}
	return p, nil
}

// validHostPath reports whether s is a clean absolute path fit to pass to
// a program as an argument.
func validHostPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.ContainsRune(s, 0) || filepath.Clean(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// marshalApply renders the apply section for Marshal; "" when it is the
// package manager's.
func marshalApply(a patchpilot.ApplyConfig) string {
	if a.Ansible == nil {
		return ""
	}
	pairs := playbookPairs(*a.Ansible)
	if a.Ansible.Timeout != 0 {
		pairs = append(pairs, "timeout: "+FormatDuration(a.Ansible.Timeout))
	}
	return "  apply:\n    ansible: {" + strings.Join(pairs, ", ") + "}\n"
}

func playbookPairs(pb patchpilot.AnsiblePlaybook) []string {
	pairs := []string{"playbook: " + strconv.Quote(pb.Playbook)}
	if pb.Inventory != "" {
		pairs = append(pairs, "inventory: "+strconv.Quote(pb.Inventory))
	}
	if len(pb.ExtraVars) > 0 {
		// JSON is YAML's flow style; keys come out sorted.
		raw, err := json.Marshal(pb.ExtraVars)
		if err == nil {
			pairs = append(pairs, "extra_vars: "+string(raw))
		}
	}
	return pairs
}

// marshalHooks renders the hooks section for Marshal.
func marshalHooks(h patchpilot.HookConfig) string {
	if !h.Enabled() {
		return ""
	}
	var b strings.Builder
	b.WriteString("  hooks:\n")
	for _, phase := range []struct {
		name  string
		hooks []patchpilot.Hook
	}{{"pre", h.Pre}, {"post", h.Post}} {
		if len(phase.hooks) == 0 {
			continue
		}
		b.WriteString("    " + phase.name + ":\n")
		for _, hk := range phase.hooks {
			pairs := []string{"name: " + strconv.Quote(hk.Name)}
			if hk.Playbook != nil {
				pairs = append(pairs, playbookPairs(*hk.Playbook)...)
			} else {
				pairs = append(pairs, "command: "+list(hk.Command, strconv.Quote))
				if hk.Privileged {
					pairs = append(pairs, "privileged: true")
				}
			}
			if hk.Timeout != 0 {
				pairs = append(pairs, "timeout: "+FormatDuration(hk.Timeout))
			}
			b.WriteString("      - {" + strings.Join(pairs, ", ") + "}\n")
		}
	}
	return b.String()
}

// marshalPuppet renders the puppet key of the health section.
func marshalPuppet(p patchpilot.PuppetConfig) string {
	if p == (patchpilot.PuppetConfig{}) {
		return ""
	}
	var pairs []string
	if p.Manifest != "" {
		pairs = append(pairs, "manifest: "+strconv.Quote(p.Manifest))
	}
	if p.Timeout != 0 {
		pairs = append(pairs, "timeout: "+FormatDuration(p.Timeout))
	}
	return "    puppet: {" + strings.Join(pairs, ", ") + "}\n"
}
