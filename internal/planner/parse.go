// Package planner reads, writes, checks and resolves rollout plans: the YAML
// format the README shows, strict validation with file:line:column
// errors, selector matching, stage assignment with canary choice, default
// plans and the rule-based baseline risk.
package planner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/yamltext"
)

// planHint is attached to every plan error.
const planHint = "fix the named field at that line and column of the plan file"

// Parse reads a plan from YAML. Source names the file in error messages.
// Parsing is strict: unknown fields, malformed values and impossible stage
// layouts are errors that name source:line:column and the field. The
// returned plan has its defaults filled in (Plan.WithDefaults).
func Parse(data []byte, source string) (patchpilot.Plan, error) {
	return parse(data, source, "")
}

// parse is Parse with the directory of the plan file, which relative
// paths in the plan (its playbooks and inventories) are read from and
// checked in; "" (a plan that is not a file) keeps them as written.
func parse(data []byte, source, dir string) (patchpilot.Plan, error) {
	if source == "" {
		source = "plan"
	}
	d := &decoder{source: source, dir: dir}
	root, err := d.document(data)
	if err != nil {
		return patchpilot.Plan{}, err
	}
	p, err := d.top(root)
	if err != nil {
		return patchpilot.Plan{}, err
	}
	return p.WithDefaults(), nil
}

// decoder walks a yaml.Node tree. It holds the source name and the plan
// file's directory ("" when the plan is not read from a file).
type decoder struct {
	source string
	dir    string
	// needs records the first criterion of the plan that needs a source
	// of the health section (no_firing_alerts: alertmanager; the metric
	// criteria: prometheus or datadog), so that its line is named when
	// the section lacks it.
	needs map[string]criterionUse
	// refs are the stages whose criteria are a same_as mapping, by
	// index, resolved once the earlier stages are read.
	refs map[int]*criteriaRef
}

// criterionUse is where a criterion was first named.
type criterionUse struct {
	node *yaml.Node
	what string
}

// planError is the message of every plan error: where and what.
func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	where := d.source
	if n != nil && n.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", d.source, n.Line, n.Column)
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", where, msg).WithHint(planHint)
}

// yamlLine finds the line number in the YAML library's syntax errors, which
// read "yaml: line 3: did not find expected key".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, d.errorf(nil, "", "the file is empty: expected a rollout: mapping")
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			if yamltext.TabIndented(data, line) {
				// The library's "found character that cannot start any
				// token" does not say which character, and an editor
				// shows a tab as spaces.
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: invalid YAML: %s", d.source, line, yamltext.TabIndentedText).WithHint(planHint)
			}
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: invalid YAML: %s", d.source, line, m[2]).WithHint(planHint)
		}
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: invalid YAML: %s", d.source, strings.TrimPrefix(msg, "yaml: ")).WithHint(planHint)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, d.errorf(&next, "", "a plan file holds one YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, d.errorf(&doc, "", "expected a rollout: mapping")
	}
	return doc.Content[0], nil
}

// field is one key of a mapping with its value node.
type field struct {
	key   *yaml.Node
	value *yaml.Node
}

// mapping checks that n is a mapping whose keys are all among known and
// appear once, and returns its fields by key. Anchors and aliases are
// refused everywhere: plans are meant to be read by people, and refusing
// them rules out alias bombs.
func (d *decoder) mapping(n *yaml.Node, what string, known ...string) (map[string]field, error) {
	if err := d.plain(n, what); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, what, "expected a mapping, got %s", kindName(n))
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := d.plain(k, what); err != nil {
			return nil, err
		}
		if err := d.plain(v, what); err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, d.errorf(k, what, "expected a field name, got %s", kindName(k))
		}
		if !contains(known, k.Value) {
			return nil, d.errorf(k, what, "unknown field %q (known fields: %s)", k.Value, strings.Join(known, ", "))
		}
		if prev, dup := out[k.Value]; dup {
			return nil, d.errorf(k, what, "field %q is repeated (first at line %d)", k.Value, prev.key.Line)
		}
		out[k.Value] = field{key: k, value: v}
	}
	return out, nil
}

func (d *decoder) plain(n *yaml.Node, what string) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return d.errorf(n, what, "anchors and aliases are not supported in plans")
	}
	return nil
}

// sequence returns the items of a sequence node; a null value is an empty
// sequence.
func (d *decoder) sequence(n *yaml.Node, what string) ([]*yaml.Node, error) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n, what, "expected a list, got %s", kindName(n))
	}
	for _, item := range n.Content {
		if err := d.plain(item, what); err != nil {
			return nil, err
		}
	}
	return n.Content, nil
}

// scalar returns the text of a scalar node; null is "".
func (d *decoder) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(n, what, "expected a single value, got %s", kindName(n))
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, error) {
	s, err := d.scalar(n, what)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE", "":
		return false, nil
	}
	return false, d.errorf(n, what, "expected true or false, got %q", s)
}

func (d *decoder) strings(n *yaml.Node, what string) ([]string, error) {
	items, err := d.sequence(n, what)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, item := range items {
		s, err := d.scalar(item, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
