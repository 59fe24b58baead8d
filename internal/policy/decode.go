package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/suggest"
)

// Keys of the policy section, in the order docs/policy.md lists them.
var (
	policyKeys    = []string{"groups", "default", "promotions", "sla", "compliance"}
	groupKeys     = []string{"name", "hosts", "level", "auto_approve", "hold", "two_approvers", "sla"}
	defaultKeys   = []string{"level", "auto_approve", "hold", "two_approvers", "sla"}
	autoKeys      = []string{"classification", "min_severity", "after"}
	promotionKeys = []string{"from", "to", "after"}
)

// decoder reads the policy section of a file, naming file:line in errors.
type decoder struct{ file string }

type yamlNode = yaml.Node

const yamlMapping = yaml.MappingNode

func (d decoder) errorf(n *yaml.Node, what, format string, args ...any) error {
	return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s: %s", d.file, n.Line, what, fmt.Sprintf(format, args...))
}

// Decode reads the "policy:" section of a configuration file from its YAML
// node. Unknown keys, at any depth, are errors naming the file, the line,
// the key and the keys known there; so are values of the wrong kind.
func Decode(file string, n *yaml.Node) (Policy, error) {
	d := decoder{file: file}
	var p Policy
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return p, nil
	}
	f, err := d.mapping(n, "policy", policyKeys)
	if err != nil {
		return p, err
	}
	if v, ok := f["sla"]; ok {
		if p.SLA, err = d.sla(v, "policy: sla"); err != nil {
			return p, err
		}
	}
	if v, ok := f["compliance"]; ok {
		if p.Compliance, err = d.compliance(v); err != nil {
			return p, err
		}
	}
	if v, ok := f["groups"]; ok {
		items, err := d.sequence(v, "policy: groups")
		if err != nil {
			return p, err
		}
		names := map[string]int{}
		for i, it := range items {
			what := fmt.Sprintf("policy: groups[%d]", i)
			g, err := d.group(it, what, groupKeys)
			if err != nil {
				return p, err
			}
			if g.Name == "default" {
				return p, d.errorf(it, what, "group name \"default\" is the default group's; give this group another name")
			}
			if line, ok := names[g.Name]; ok && g.Name != "" {
				return p, d.errorf(it, what, "group name %q is already used at line %d", g.Name, line)
			}
			names[g.Name] = it.Line
			p.Groups = append(p.Groups, g)
		}
	}
	if v, ok := f["default"]; ok {
		if p.Default, err = d.group(v, "policy: default", defaultKeys); err != nil {
			return p, err
		}
	}
	if v, ok := f["promotions"]; ok {
		items, err := d.sequence(v, "policy: promotions")
		if err != nil {
			return p, err
		}
		for i, it := range items {
			pr, err := d.promotion(it, fmt.Sprintf("policy: promotions[%d]", i))
			if err != nil {
				return p, err
			}
			p.Promotions = append(p.Promotions, pr)
		}
	}
	if err := p.Validate(); err != nil {
		// Validate names the field; the file and the section's line
		// point a person to it.
		return p, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s", file, n.Line, strings.TrimPrefix(err.Error(), "invalid: "))
	}
	return p, nil
}

func (d decoder) mapping(n *yaml.Node, what string, known []string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, what, "expected a mapping of keys (%s)", strings.Join(known, ", "))
	}
	out := map[string]*yaml.Node{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return nil, d.errorf(k, what, "unknown key %q%s; known keys: %s", k.Value, suggest.DidYouMean(k.Value, known), strings.Join(known, ", "))
		}
		if line, ok := lines[k.Value]; ok {
			return nil, d.errorf(k, what, "key %q already defined at line %d", k.Value, line)
		}
		lines[k.Value] = k.Line
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}

func (d decoder) sequence(n *yaml.Node, what string) ([]*yaml.Node, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n, what, "expected a list")
	}
	return n.Content, nil
}

func (d decoder) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(n, what, "expected a single value")
	}
	return n.Value, nil
}

func (d decoder) group(n *yaml.Node, what string, known []string) (Group, error) {
	var g Group
	f, err := d.mapping(n, what, known)
	if err != nil {
		return g, err
	}
	if v, ok := f["name"]; ok {
		if g.Name, err = d.scalar(v, what+": name"); err != nil {
			return g, err
		}
		what = fmt.Sprintf("%s (%s)", what, g.Name)
	}
	if v, ok := f["hosts"]; ok {
		if g.Selector, err = d.scalar(v, what+": hosts"); err != nil {
			return g, err
		}
		if _, err := planner.ParseSelector(g.Selector); err != nil && strings.TrimSpace(g.Selector) != "" {
			return g, d.errorf(v, what+": hosts", "%v", err)
		}
	}
	if v, ok := f["level"]; ok {
		s, err := d.scalar(v, what+": level")
		if err != nil {
			return g, err
		}
		g.Level = Level(s)
		if !slices.Contains(Levels(), g.Level) {
			return g, d.errorf(v, what+": level", "%q: expected advisor, supervised or autopilot", s)
		}
	}
	if v, ok := f["auto_approve"]; ok {
		items, err := d.sequence(v, what+": auto_approve")
		if err != nil {
			return g, err
		}
		for i, it := range items {
			r, err := d.autoApprove(it, fmt.Sprintf("%s: auto_approve[%d]", what, i))
			if err != nil {
				return g, err
			}
			g.AutoApprove = append(g.AutoApprove, r)
		}
	}
	if v, ok := f["hold"]; ok {
		items, err := d.sequence(v, what+": hold")
		if err != nil {
			return g, err
		}
		for i, it := range items {
			s, err := d.scalar(it, fmt.Sprintf("%s: hold[%d]", what, i))
			if err != nil {
				return g, err
			}
			g.Hold = append(g.Hold, s)
		}
	}
	if v, ok := f["two_approvers"]; ok {
		s, err := d.scalar(v, what+": two_approvers")
		if err != nil {
			return g, err
		}
		if g.TwoApprovers, err = strconv.ParseBool(s); err != nil {
			return g, d.errorf(v, what+": two_approvers", "%q: expected true or false", s)
		}
	}
	if v, ok := f["sla"]; ok {
		if g.SLA, err = d.sla(v, what+": sla"); err != nil {
			return g, err
		}
	}
	return g, nil
}

func (d decoder) autoApprove(n *yaml.Node, what string) (AutoApprove, error) {
	var r AutoApprove
	f, err := d.mapping(n, what, autoKeys)
	if err != nil {
		return r, err
	}
	v, ok := f["classification"]
	if !ok {
		return r, d.errorf(n, what, "classification is missing; expected security, other or any")
	}
	s, err := d.scalar(v, what+": classification")
	if err != nil {
		return r, err
	}
	r.Classification = Classification(s)
	if !slices.Contains([]Classification{ClassSecurity, ClassOther, ClassAny}, r.Classification) {
		return r, d.errorf(v, what+": classification", "%q: expected security, other or any", s)
	}
	if v, ok := f["min_severity"]; ok {
		s, err := d.scalar(v, what+": min_severity")
		if err != nil {
			return r, err
		}
		sev := patchpilot.Severity(s)
		if sev.Rank() == 0 {
			return r, d.errorf(v, what+": min_severity", "%q: expected critical, high, medium or low", s)
		}
		r.MinSeverity = sev.Normalised()
	}
	if v, ok := f["after"]; ok {
		if r.After, err = d.duration(v, what+": after"); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (d decoder) promotion(n *yaml.Node, what string) (Promotion, error) {
	var pr Promotion
	f, err := d.mapping(n, what, promotionKeys)
	if err != nil {
		return pr, err
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"from", &pr.From}, {"to", &pr.To}} {
		v, ok := f[k.key]
		if !ok {
			return pr, d.errorf(n, what, "%s is missing; expected a selector such as \"env=staging\"", k.key)
		}
		if *k.dst, err = d.scalar(v, what+": "+k.key); err != nil {
			return pr, err
		}
		if _, err := planner.ParseSelector(*k.dst); err != nil && strings.TrimSpace(*k.dst) != "" {
			return pr, d.errorf(v, what+": "+k.key, "%v", err)
		}
	}
	v, ok := f["after"]
	if !ok {
		return pr, d.errorf(n, what, "after is missing; expected a duration such as 3d or 72h")
	}
	if pr.After, err = d.duration(v, what+": after"); err != nil {
		return pr, err
	}
	return pr, nil
}

// duration reads "7d", "36h", "90m" or "0".
func (d decoder) duration(n *yaml.Node, what string) (time.Duration, error) {
	s, err := d.scalar(n, what)
	if err != nil {
		return 0, err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return 0, d.errorf(n, what, "%q: expected a duration such as 7d, 36h or 0", s)
	}
	return v, nil
}

// ParseDuration reads a duration as policies write it: whole days ("7d"),
// Go's form ("36h", "90m", "1h30m") or "0".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v, nil
}
