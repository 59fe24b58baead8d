package inventory

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxYAMLDepth bounds group nesting and value nesting in YAML inventories,
// so that hostile input cannot exhaust the stack.
const maxYAMLDepth = 64

// nodePos returns a YAML node's position in file.
func nodePos(file string, n *yaml.Node) pos {
	return pos{file: file, line: n.Line, col: n.Column}
}

// deref follows YAML aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxYAMLDepth; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether a node is absent or an explicit null, which Ansible
// treats as an empty group or a host without variables.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName names a node kind for error messages.
func kindName(n *yaml.Node) string {
	switch deref(n).Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", deref(n).Value)
	}
	return "something else"
}

// pair is one key and value of a YAML mapping.
type pair struct{ key, val *yaml.Node }

// mappingPairs lists a mapping's pairs with YAML merge keys (<<) expanded:
// merged pairs come first so that the mapping's own keys override them.
func mappingPairs(n *yaml.Node) []pair {
	return mappingPairsDepth(deref(n), 0)
}

func mappingPairsDepth(n *yaml.Node, depth int) []pair {
	if n == nil || n.Kind != yaml.MappingNode || depth > maxYAMLDepth {
		return nil
	}
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			src := deref(v)
			if src != nil && src.Kind == yaml.SequenceNode {
				for _, s := range src.Content {
					merged = append(merged, mappingPairsDepth(deref(s), depth+1)...)
				}
			} else {
				merged = append(merged, mappingPairsDepth(src, depth+1)...)
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	return append(merged, own...)
}

// yamlValue converts a YAML node into an inventory value. A value tagged
// !vault is an ansible-vault ciphertext and becomes vaulted.
func yamlValue(file string, n *yaml.Node) (value, error) {
	at := nodePos(file, n)
	d := deref(n)
	if d == nil {
		return value{at: at}, nil
	}
	if d.Tag == "!vault" || d.Tag == "!vault-encrypted" {
		return value{v: vaulted{}, at: at}, nil
	}
	var out any
	if err := d.Decode(&out); err != nil {
		return value{}, errAt(at, "cannot read value: %v", err)
	}
	return value{v: normalizeYAML(out), at: at}, nil
}

// yamlVars reads a mapping of variables.
func yamlVars(file string, n *yaml.Node, what string) (vars, error) {
	out := vars{}
	if isNull(n) {
		return out, nil
	}
	if deref(n).Kind != yaml.MappingNode {
		return nil, errAt(nodePos(file, n), "%s: expected a mapping of variables, got %s", what, kindName(n))
	}
	for _, p := range mappingPairs(n) {
		k := deref(p.key)
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, errAt(nodePos(file, p.key), "%s: expected a variable name, got %s", what, kindName(p.key))
		}
		v, err := yamlValue(file, p.val)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
	}
	return out, nil
}

// parseYAMLInventory parses an Ansible YAML inventory: a mapping of group
// names (usually just "all") to groups, each with optional hosts, vars and
// children, where children are groups of the same shape.
func parseYAMLInventory(in *inv, file string, doc *yaml.Node) error {
	root := deref(doc)
	if root.Kind != yaml.MappingNode {
		return errAt(nodePos(file, root), "expected a mapping of groups (all: {hosts:, children:, vars:}), got %s", kindName(root))
	}
	for _, p := range mappingPairs(root) {
		name := deref(p.key).Value
		if deref(p.key).Kind != yaml.ScalarNode || name == "" {
			return errAt(nodePos(file, p.key), "expected a group name, got %s", kindName(p.key))
		}
		if err := parseYAMLGroup(in, file, name, p.val, nodePos(file, p.key), 0); err != nil {
			return err
		}
	}
	return nil
}

func parseYAMLGroup(in *inv, file, name string, n *yaml.Node, at pos, depth int) error {
	if depth > maxYAMLDepth {
		return errAt(at, "groups nested deeper than %d levels", maxYAMLDepth)
	}
	g := in.group(name, at)
	if isNull(n) {
		return nil
	}
	if deref(n).Kind != yaml.MappingNode {
		return errAt(nodePos(file, n), "group %q: expected a mapping with hosts, vars or children, got %s", name, kindName(n))
	}
	for _, p := range mappingPairs(n) {
		key := deref(p.key).Value
		kat := nodePos(file, p.key)
		switch key {
		case "vars":
			vs, err := yamlVars(file, p.val, fmt.Sprintf("vars of group %q", name))
			if err != nil {
				return err
			}
			g.vars.merge(vs)
		case "hosts":
			if err := parseYAMLHosts(in, file, name, p.val); err != nil {
				return err
			}
		case "children":
			if isNull(p.val) {
				continue
			}
			if deref(p.val).Kind != yaml.MappingNode {
				return errAt(nodePos(file, p.val), "children of group %q: expected a mapping of group names, got %s", name, kindName(p.val))
			}
			for _, c := range mappingPairs(p.val) {
				child := deref(c.key).Value
				cat := nodePos(file, c.key)
				if deref(c.key).Kind != yaml.ScalarNode || child == "" {
					return errAt(cat, "children of group %q: expected a group name, got %s", name, kindName(c.key))
				}
				if err := in.addChild(name, child, cat); err != nil {
					return err
				}
				if err := parseYAMLGroup(in, file, child, c.val, cat, depth+1); err != nil {
					return err
				}
			}
		default:
			return errAt(kat, "unknown key %q in group %q: expected hosts, vars or children", key, name)
		}
	}
	return nil
}

func parseYAMLHosts(in *inv, file, groupName string, n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		hint := ""
		if d.Kind == yaml.SequenceNode {
			hint = " (write hosts as a mapping: \"hosts: {web1: {}, web2: {}}\")"
		}
		return errAt(nodePos(file, n), "hosts of group %q: expected a mapping of host names to variables, got %s%s", groupName, kindName(n), hint)
	}
	for _, p := range mappingPairs(d) {
		at := nodePos(file, p.key)
		k := deref(p.key)
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			return errAt(at, "hosts of group %q: expected a host name, got %s", groupName, kindName(p.key))
		}
		names, hv, err := parseHostPattern(k.Value, at)
		if err != nil {
			return err
		}
		own, err := yamlVars(file, p.val, fmt.Sprintf("host %s", k.Value))
		if err != nil {
			return err
		}
		hv.merge(own)
		for _, name := range names {
			if err := in.addHost(groupName, name, hv, at); err != nil {
				return err
			}
		}
	}
	return nil
}
