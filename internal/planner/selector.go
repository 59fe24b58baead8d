package planner

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// HostView is what the planner knows about a target host: the host with
// its labels and groups, and a summary of its latest facts (CollectedAt is
// nil when the host was never collected).
type HostView struct {
	Host  patchpilot.Host
	Facts patchpilot.HostSummary
	// Packages maps each installed package to its source package, and
	// Services lists the running services: canary choice tells hosts
	// apart by which of a patch's packages they run (see Resolve). Both
	// are empty when the facts are unknown.
	Packages map[string]string
	Services []string
	// Installed maps each installed package to its version, so that a
	// pin older than what a host runs is found before the rollout starts.
	Installed map[string]string
	// Depth is the latest facts' depth (services with their sockets), nil
	// when unknown: a budget per service covers the hosts serving it.
	Depth *patchpilot.HostDepth
	// Dependents are the dependency map's edges from other fleet hosts to
	// this one (see WithDependencies); Resolve orders providers by them.
	Dependents []patchpilot.DependencyEdge
}

// NewHostView builds a view from a host and its latest facts, which may be
// nil.
func NewHostView(h patchpilot.Host, f *patchpilot.Facts) HostView {
	return NewHostViewSummarized(h, patchpilot.Summarize(h, f), f)
}

// NewHostViewSummarized is NewHostView with the summary of the host's
// latest facts given (one the store counted, when f holds only some of
// its lists) instead of worked out from f.
func NewHostViewSummarized(h patchpilot.Host, s patchpilot.HostSummary, f *patchpilot.Facts) HostView {
	v := HostView{Host: h, Facts: s}
	if f != nil {
		v.Packages = make(map[string]string, len(f.Packages))
		v.Installed = make(map[string]string, len(f.Packages))
		for _, p := range f.Packages {
			v.Packages[p.Name] = p.SourceName
			v.Installed[p.Name] = p.Version
		}
		v.Services = f.Services
		v.Depth = f.Depth
	}
	return v
}

// Name returns the host's name.
func (v HostView) Name() string { return v.Host.Name }

// NeverCollected reports whether the host's facts were never collected.
func (v HostView) NeverCollected() bool { return v.Facts.CollectedAt == nil }

// selectsAll reports whether a target selector names no selector and no
// hosts: "every known host".
func selectsAll(t patchpilot.TargetSelector) bool {
	return strings.TrimSpace(t.Selector) == "" && len(t.Hosts) == 0
}

// LeftOut returns the hosts that SelectTargets leaves out of "every known
// host" (no selector, no names): those never collected. A selector or a
// name that matches such a host still selects it.
func LeftOut(t patchpilot.TargetSelector, hosts []HostView) []HostView {
	if !selectsAll(t) {
		return nil
	}
	var out []HostView
	for _, h := range hosts {
		if h.NeverCollected() {
			out = append(out, h)
		}
	}
	return out
}

// Fact keys a selector can test besides labels. They take precedence over
// labels of the same name.
const (
	KeyName     = "name"    // the host name
	KeyGroup    = "group"   // an inventory group, or the label "group"
	KeyOS       = "os"      // "debian:12", "rocky:9" (matches 9.4) or just "debian"
	KeyOSName   = "os_name" // os-release ID
	KeyOSVer    = "os_version"
	KeyOSFamily = "os_family" // debian, redhat, suse
	KeyArch     = "arch"
	KeyKernel   = "kernel"
)

// factKeys are the keys that need collected facts.
func factKeys() []string {
	return []string{KeyOS, KeyOSName, KeyOSVer, KeyOSFamily, KeyArch, KeyKernel}
}

// selectorOp is the comparison of one selector term.
type selectorOp string

const (
	opEqual     selectorOp = "="
	opNotEqual  selectorOp = "!="
	opExists    selectorOp = "exists"
	opNotExists selectorOp = "!exists"
)

// term is one comma-separated part of a selector.
type term struct {
	key   string
	op    selectorOp
	value string
}

// Selector is a parsed selector expression: every term must match.
type Selector struct {
	terms []term
}

var selectorKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]*$`)

// ParseSelector reads a selector expression: comma-separated terms, each
// key=value, key==value, key!=value, key (the label exists) or !key (it does
// not). Values may be glob patterns (web*, ubuntu:22.*). Keys are labels or
// the fact keys name, group, os, os_name, os_version, os_family, arch and
// kernel. An empty selector matches every host.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	if strings.TrimSpace(s) == "" {
		return sel, nil
	}
	for i, raw := range strings.Split(s, ",") {
		t, err := parseTerm(strings.TrimSpace(raw))
		if err != nil {
			return Selector{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid selector %q: term %d %q: %s", s, i+1, raw, err).
				WithHint("write terms such as env=prod,role!=db,os=debian:12")
		}
		sel.terms = append(sel.terms, t)
	}
	return sel, nil
}

func parseTerm(s string) (term, error) {
	if s == "" {
		return term{}, fmt.Errorf("empty term")
	}
	var t term
	switch {
	case strings.Contains(s, "!="):
		t.key, t.value, _ = strings.Cut(s, "!=")
		t.op = opNotEqual
	case strings.Contains(s, "=="):
		t.key, t.value, _ = strings.Cut(s, "==")
		t.op = opEqual
	case strings.Contains(s, "="):
		t.key, t.value, _ = strings.Cut(s, "=")
		t.op = opEqual
	case strings.HasPrefix(s, "!"):
		t.key, t.op = strings.TrimSpace(s[1:]), opNotExists
	default:
		t.key, t.op = s, opExists
	}
	t.key, t.value = strings.TrimSpace(t.key), strings.TrimSpace(t.value)
	if !selectorKey.MatchString(t.key) {
		return term{}, fmt.Errorf("invalid key %q", t.key)
	}
	if t.op == opEqual || t.op == opNotEqual {
		if t.value == "" {
			return term{}, fmt.Errorf("missing value after %s", t.op)
		}
		if strings.ContainsAny(t.value, "=! \t") {
			return term{}, fmt.Errorf("invalid value %q", t.value)
		}
		if _, err := path.Match(t.value, ""); err != nil {
			return term{}, fmt.Errorf("invalid pattern %q", t.value)
		}
	}
	if (t.op == opExists || t.op == opNotExists) && contains(factKeys(), t.key) {
		return term{}, fmt.Errorf("%q is a fact: compare it with = or !=", t.key)
	}
	return t, nil
}

// HostNamesAsLabels returns the terms of a selector that test whether a
// label exists (a bare word) where no host has that label but a host has
// that name: "web1" where "name=web1" was meant. A selector that does not
// parse has none.
func HostNamesAsLabels(selector string, hosts []HostView) []string {
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil
	}
	names := make(map[string]bool, len(hosts))
	labels := map[string]bool{}
	for _, h := range hosts {
		names[h.Name()] = true
		for k := range h.Host.Labels {
			labels[k] = true
		}
	}
	var out []string
	for _, t := range sel.terms {
		if t.op == opExists && names[t.key] && !labels[t.key] && t.key != KeyGroup {
			out = append(out, t.key)
		}
	}
	return out
}

// validKey reports whether s may be a label key.
func validKey(s string) bool { return selectorKey.MatchString(s) }

// Matches reports whether the host matches every term. A fact term never
// matches a host whose facts were never collected, whatever its operator:
// a host whose OS is unknown is not silently included by "os!=...".
func (sel Selector) Matches(h HostView) bool {
	for _, t := range sel.terms {
		if !t.matches(h) {
			return false
		}
	}
	return true
}

func (t term) matches(h HostView) bool {
	if contains(factKeys(), t.key) && h.Facts.CollectedAt == nil {
		return false
	}
	var values []string
	present := true
	switch t.key {
	case KeyName:
		values = []string{h.Host.Name}
	case KeyGroup:
		values = append(values, h.Host.Groups...)
		if g, ok := h.Host.Labels[patchpilot.LabelGroup]; ok {
			values = append(values, g)
		}
		present = len(values) > 0
	case KeyOS:
		return t.matchOS(h.Facts) == (t.op == opEqual)
	case KeyOSName:
		values = []string{h.Facts.OSName}
	case KeyOSVer:
		values = []string{h.Facts.OSVersion}
	case KeyOSFamily:
		values = []string{string(h.Facts.OSFamily)}
	case KeyArch:
		values = []string{h.Facts.Arch}
	case KeyKernel:
		values = []string{h.Facts.Kernel}
	default:
		v, ok := h.Host.Labels[t.key]
		values, present = []string{v}, ok
		if !ok {
			values = nil
		}
	}
	switch t.op {
	case opExists:
		return present
	case opNotExists:
		return !present
	case opEqual:
		return anyMatch(t.value, values)
	default:
		return !anyMatch(t.value, values)
	}
}

// matchOS compares "name:version" or "name" with the host's OS. A version
// matches itself and its minor releases: "rocky:9" matches 9.4.
func (t term) matchOS(f patchpilot.HostSummary) bool {
	name, version, hasVersion := strings.Cut(t.value, ":")
	if !globMatch(name, f.OSName) {
		return false
	}
	if !hasVersion {
		return true
	}
	if globMatch(version, f.OSVersion) {
		return true
	}
	major, _, _ := strings.Cut(f.OSVersion, ".")
	return major != f.OSVersion && globMatch(version, major)
}

func anyMatch(pattern string, values []string) bool {
	for _, v := range values {
		if globMatch(pattern, v) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Select returns the hosts that match the selector, in their given order.
func Select(selector string, hosts []HostView) ([]HostView, error) {
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil, err
	}
	// The places of the matching views first, then the views copied
	// once into a list of their number: a view is large to copy again
	// as a growing list would.
	var at []int
	for i := range hosts {
		if sel.Matches(hosts[i]) {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return nil, nil
	}
	out := make([]HostView, len(at))
	for k, i := range at {
		out[k] = hosts[i]
	}
	return out, nil
}

// SelectTargets applies a plan's target selector: the selector, then, when
// the plan names hosts, only those. A named host that is not among hosts is
// an error, so that a typo never shrinks a rollout silently. With neither a
// selector nor names, the targets are every host whose facts were ever
// collected: a host that never answered is only an inventory entry, and
// nothing is known of what it runs (see LeftOut).
func SelectTargets(t patchpilot.TargetSelector, hosts []HostView) ([]HostView, error) {
	matched, err := Select(t.Selector, hosts)
	if err == nil && selectsAll(t) {
		matched = slices.DeleteFunc(matched, HostView.NeverCollected)
	}
	if err != nil || len(t.Hosts) == 0 {
		return matched, err
	}
	byName := map[string]bool{}
	for _, h := range hosts {
		byName[h.Name()] = true
	}
	for _, name := range t.Hosts {
		if !byName[name] {
			return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "target host %q is not in the inventory", name).
				WithHint("check the name against the hosts 'patchpilot hosts' lists")
		}
	}
	var out []HostView
	for _, h := range matched {
		if contains(t.Hosts, h.Name()) {
			out = append(out, h)
		}
	}
	return out, nil
}
