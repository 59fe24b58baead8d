package inventory

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/patchpilot/patchpilot"
)

// Names of Ansible's implicit groups. Every host is in "all"; a host that
// no other group names is in "ungrouped".
const (
	groupAll       = "all"
	groupUngrouped = "ungrouped"
)

// pos is where something was written: a file, a line and, where the parser
// knows it, a column. Lines and columns count from 1; zero means unknown.
type pos struct {
	file      string
	line, col int
}

func (p pos) String() string {
	switch {
	case p.line > 0 && p.col > 0:
		return fmt.Sprintf("%s:%d:%d", p.file, p.line, p.col)
	case p.line > 0:
		return fmt.Sprintf("%s:%d", p.file, p.line)
	}
	return p.file
}

// errAt builds an EINVALID error whose message starts with the position, so
// that an operator can jump straight to the offending line.
func errAt(p pos, format string, args ...any) *patchpilot.Error {
	shown := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			a = shortText(s)
		}
		shown[i] = a
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", p, fmt.Sprintf(format, shown...))
}

// maxShownText bounds each string an error shows: a line of megabytes (a
// binary or minified file given as an inventory) is cut short.
const maxShownText = 200

// shortText is s, or its first maxShownText bytes (whole characters) and
// how long it was.
func shortText(s string) string {
	if len(s) <= maxShownText {
		return s
	}
	cut := maxShownText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

// vaulted stands for a value encrypted with ansible-vault. patchpilot cannot
// decrypt it; it only matters when a field patchpilot needs is vaulted.
type vaulted struct{}

// value is one inventory variable's value together with where it was set.
// v holds what the source format gave: string, bool, int64, float64, nil,
// map[string]any, []any or vaulted.
type value struct {
	v  any
	at pos
}

// vars maps variable names to values. Merging two vars lets the later one
// win key by key, which is Ansible's default "replace" hash behaviour.
type vars map[string]value

func (vs vars) merge(other vars) {
	for k, v := range other {
		vs[k] = v
	}
}

// group is an inventory group as the parsers collect it.
type group struct {
	name     string
	vars     vars
	children []string // in order of first mention
	parents  map[string]bool
	hosts    []string
	hostSet  map[string]bool // the same names, for constant-time membership
	at       pos
}

// hostDef is a host as the parsers collect it: its own variables and the
// groups that name it directly.
type hostDef struct {
	name   string
	vars   vars
	groups []string
	at     pos
}

// inv is the parsed, not yet resolved, inventory: groups and hosts with
// their own variables. Resolution (resolve.go) applies group_vars/,
// host_vars/ and Ansible's precedence to produce patchpilot hosts.
type inv struct {
	groups map[string]*group
	hosts  map[string]*hostDef
	order  []string // host names in order of first appearance
	// addrSeen remembers, per file, where each host's address was first
	// set, so that a conflicting second definition can name both lines.
	addrSeen map[string]value
}

func newInv() *inv {
	in := &inv{
		groups:   map[string]*group{},
		hosts:    map[string]*hostDef{},
		addrSeen: map[string]value{},
	}
	in.group(groupAll, pos{})
	in.group(groupUngrouped, pos{})
	return in
}

// group returns the named group, creating it when it does not exist yet.
func (in *inv) group(name string, at pos) *group {
	g, ok := in.groups[name]
	if !ok {
		g = &group{name: name, vars: vars{}, parents: map[string]bool{}, hostSet: map[string]bool{}, at: at}
		in.groups[name] = g
	}
	return g
}

// addChild makes child a child group of parent. It refuses a relation that
// would make a group its own ancestor, as Ansible does.
func (in *inv) addChild(parent, child string, at pos) error {
	if child == groupAll {
		return errAt(at, "group %q cannot be a child of %q: every group is already in all", child, parent)
	}
	if parent == child || in.isAncestor(child, parent) {
		return errAt(at, "adding group %q as a child of %q creates a loop", child, parent)
	}
	p := in.group(parent, at)
	c := in.group(child, at)
	if !c.parents[parent] {
		c.parents[parent] = true
		p.children = append(p.children, child)
	}
	return nil
}

// isAncestor reports whether a is an ancestor of b (b's parent, its parent's
// parent, ...).
func (in *inv) isAncestor(a, b string) bool {
	seen := map[string]bool{}
	stack := []string{b}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g, ok := in.groups[n]
		if !ok {
			continue
		}
		for p := range g.parents {
			if p == a {
				return true
			}
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false
}

// addressVars are the variables that say where a host is; two definitions
// of one host in one file must not disagree on them.
var addressVars = []string{"ansible_host", "ansible_ssh_host"}

// addHost adds a host to a group with its inline variables. A host named in
// several groups keeps one set of variables, merged in the order written
// (later wins), as Ansible does; but two definitions in the same file that
// give different addresses are an error, because one of them is a mistake
// that would send patches to the wrong machine.
func (in *inv) addHost(groupName, name string, hv vars, at pos) error {
	for _, k := range addressVars {
		v, ok := hv[k]
		if !ok {
			continue
		}
		key := at.file + "\x00" + name
		if prev, seen := in.addrSeen[key]; seen && scalarString(prev.v) != scalarString(v.v) {
			return errAt(v.at, "host %s defined again with address %q, conflicting with %q at line %d",
				name, scalarString(v.v), scalarString(prev.v), prev.at.line)
		}
		in.addrSeen[key] = v
	}
	h, ok := in.hosts[name]
	if !ok {
		h = &hostDef{name: name, vars: vars{}, at: at}
		in.hosts[name] = h
		in.order = append(in.order, name)
	}
	h.vars.merge(hv)
	g := in.group(groupName, at)
	if !g.hostSet[name] {
		g.hostSet[name] = true
		g.hosts = append(g.hosts, name)
		h.groups = append(h.groups, groupName)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalarString renders a scalar value as Ansible would print it; it returns
// "" for nil and for values that are not scalars.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}
