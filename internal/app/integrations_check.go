package app

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// NewWithoutStore resolves and validates the options without opening the
// database, for commands that read only patchpilot.yaml (integrations
// list and test). Its Store is nil; Close does nothing.
func NewWithoutStore(o Options) (*App, error) {
	o = o.Resolve()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &App{Options: o}, nil
}

// CheckIntegrations runs every check of the integrations: section that
// building them runs (each type's settings decoded strictly, URLs,
// durations, keys present), except reading their secrets: each
// {env: …} or {file: …} secret is taken as set to a well-formed value,
// and no variable or file is read. The error names the file and line.
func (a *App) CheckIntegrations() error {
	for _, s := range a.Options.Integrations.Items {
		k, ok := integrationKinds[s.Type]
		if !ok {
			_, err := a.notifier(s)
			return err
		}
		o := a.Options
		var names []string
		c := s
		c.Node = withoutSecrets(s.Node, &names)
		o.Env = nil
		for _, name := range names {
			o.Env = append(o.Env, name+"="+secretPlaceholder(name))
		}
		if k.notifier != nil {
			if _, err := k.notifier(c, o); err != nil {
				return err
			}
		}
		if k.inventorySource != nil {
			if _, err := k.inventorySource(c, o); err != nil {
				return err
			}
		}
		if k.reports != nil {
			if _, err := k.reports(c, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// secretEnvPrefix names the variables withoutSecrets puts in place of
// the secrets.
const secretEnvPrefix = "PATCHPILOT_CHECK_SECRET_"

// secretPlaceholder is the value of a secret while checking: a URL for a
// URL, else 32 letters and digits (a well-formed key).
func secretPlaceholder(name string) string {
	if strings.Contains(strings.TrimPrefix(name, secretEnvPrefix), "url") {
		return "https://hooks.slack.com/services/T0000000/B0000000/CHECKONLY"
	}
	return "0123456789abcdefABCDEF0123456789"
}

// withoutSecrets copies a spec's node with each secret mapping ({env: X}
// or {file: Y} under a key) replaced by a variable secretPlaceholder
// answers. A mapping naming both is kept, for the check that refuses it.
func withoutSecrets(n *yaml.Node, names *[]string) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, sub := range n.Content {
		c.Content[i] = withoutSecrets(sub, names)
	}
	if c.Kind != yaml.MappingNode {
		return &c
	}
	for j := 0; j+1 < len(c.Content); j += 2 {
		v := c.Content[j+1]
		if v.Kind != yaml.MappingNode || len(v.Content) != 2 || (v.Content[0].Value != "env" && v.Content[0].Value != "file") {
			continue
		}
		env := *v.Content[0]
		env.Value = "env"
		val := *v.Content[1]
		val.Kind, val.Tag, val.Value = yaml.ScalarNode, "!!str", secretEnvPrefix+c.Content[j].Value
		s := *v
		s.Content = []*yaml.Node{&env, &val}
		*names = append(*names, val.Value)
		c.Content[j+1] = &s
	}
	return &c
}
