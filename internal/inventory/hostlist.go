package inventory

import (
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// The host list format is documented in the package comment (load.go).
// Labels from defaults and from the host are merged, the host's winning;
// groups are the union of both.

var (
	hostListTopFields  = []string{"defaults", "hosts"}
	hostListHostFields = []string{"name", "address", "port", "user", "key_file", "become", "jump_host", "groups", "labels"}
	hostListDefFields  = []string{"port", "user", "key_file", "become", "jump_host", "groups", "labels"}
)

// isHostList reports whether a YAML document is a host list: a mapping
// whose "hosts" key holds a list. An Ansible YAML inventory's top-level keys
// are groups whose values are mappings, so the two cannot be confused.
func isHostList(doc *yaml.Node) bool {
	for _, p := range mappingPairs(doc) {
		if deref(p.key).Value == "hosts" && deref(p.val).Kind == yaml.SequenceNode {
			return true
		}
	}
	return false
}

// hostListLoader carries what decoding one host list needs.
type hostListLoader struct {
	file string
	home string
}

func (l hostListLoader) parse(doc *yaml.Node) ([]patchpilot.Host, error) {
	var defaults patchpilot.Host
	var hostsNode *yaml.Node
	for _, p := range mappingPairs(doc) {
		switch key := deref(p.key).Value; key {
		case "defaults":
			d, _, err := l.host(p.val, hostListDefFields, "defaults")
			if err != nil {
				return nil, err
			}
			defaults = d
		case "hosts":
			hostsNode = deref(p.val)
		default:
			return nil, errAt(nodePos(l.file, p.key), "unknown field %q: expected one of %s", key, strings.Join(hostListTopFields, ", "))
		}
	}
	seen := map[string]int{}
	var out []patchpilot.Host
	for i, n := range hostsNode.Content {
		h, set, err := l.host(n, hostListHostFields, "hosts["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		at := nodePos(l.file, n)
		if h.Name == "" {
			return nil, errAt(at, "hosts[%d]: missing field \"name\"", i)
		}
		if line, dup := seen[h.Name]; dup {
			return nil, errAt(at, "duplicate host %s: already listed at line %d", h.Name, line)
		}
		seen[h.Name] = at.line
		out = append(out, applyDefaults(h, set, defaults, l.file))
	}
	return out, nil
}

// applyDefaults fills the fields a host does not set from the defaults.
func applyDefaults(h patchpilot.Host, set map[string]bool, d patchpilot.Host, file string) patchpilot.Host {
	if h.Address == "" {
		h.Address = h.Name
	}
	if h.Port == 0 {
		h.Port = d.Port
	}
	if h.User == "" {
		h.User = d.User
	}
	if h.KeyFile == "" {
		h.KeyFile = d.KeyFile
	}
	if !set["become"] {
		h.Become = d.Become
	}
	if h.JumpHost == "" {
		h.JumpHost = d.JumpHost
	}
	groups := map[string]bool{}
	for _, g := range append(append([]string{}, d.Groups...), h.Groups...) {
		groups[g] = true
	}
	h.Groups = nil
	for g := range groups {
		h.Groups = append(h.Groups, g)
	}
	sort.Strings(h.Groups)
	labels := map[string]string{}
	for k, v := range d.Labels {
		labels[k] = v
	}
	for k, v := range h.Labels {
		labels[k] = v
	}
	h.Labels = labels
	h.Source = file
	return h
}

// host decodes one host entry (or the defaults), allowing only the fields
// listed in allowed. It also returns which fields the entry sets.
func (l hostListLoader) host(n *yaml.Node, allowed []string, what string) (patchpilot.Host, map[string]bool, error) {
	var h patchpilot.Host
	set := map[string]bool{}
	at := nodePos(l.file, n)
	if deref(n).Kind != yaml.MappingNode {
		return h, nil, errAt(at, "%s: expected a mapping of host fields, got %s", what, kindName(n))
	}
	for _, p := range mappingPairs(n) {
		key := deref(p.key).Value
		kat := nodePos(l.file, p.key)
		if !contains(allowed, key) {
			return h, nil, errAt(kat, "unknown field %q: expected one of %s", key, strings.Join(allowed, ", "))
		}
		v, err := yamlValue(l.file, p.val)
		if err != nil {
			return h, nil, err
		}
		set[key] = true
		field := what + "." + key
		switch key {
		case "name":
			h.Name, err = stringField(v, field)
		case "address":
			h.Address, err = stringField(v, field)
		case "user":
			h.User, err = stringField(v, field)
		case "jump_host":
			h.JumpHost, err = stringField(v, field)
		case "key_file":
			var s string
			s, err = stringField(v, field)
			h.KeyFile = expandHome(s, l.home)
		case "port":
			h.Port, err = portField(v, field)
		case "become":
			h.Become, err = boolField(v, field)
		case "groups":
			h.Groups, err = stringListField(v, field)
		case "labels":
			h.Labels, err = labelMapField(v, field)
		}
		if err != nil {
			return h, nil, err
		}
	}
	return h, set, nil
}

// stringListField reads a list of strings (or one string) from v.
func stringListField(v value, field string) ([]string, error) {
	switch x := v.v.(type) {
	case nil:
		return nil, nil
	case string:
		if err := checkText(v.at, field, x); err != nil {
			return nil, err
		}
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errAt(v.at, "%s: expected a list of names", field)
			}
			if err := checkText(v.at, field, s); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errAt(v.at, "%s: expected a list of names", field)
}
