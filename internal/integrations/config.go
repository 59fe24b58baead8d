// Package integrations reads the "integrations:" section of patchpilot.yaml:
// a list of named services, each with a type (slack, pagerduty, jira, ...),
// the topics and level it is told about, and its own settings. Secrets are
// never written in the file: they are named by an environment variable or a
// file and read when the integration is built.
//
// The services themselves live in the packages beside this one; internal/app
// wires them by type.
package integrations

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/suggest"
)

// Config is the "integrations:" section.
type Config struct {
	// DashboardURL is the dashboard's external base URL
	// ("https://patchpilot.example.com"), for the links in messages; empty
	// means messages carry no links.
	DashboardURL string
	Items        []Spec
}

// Common are the keys every integration has.
type Common struct {
	// Name names the integration in commands and in the delivery cursor;
	// it is unique in the file.
	Name string `yaml:"name"`
	// Type says which service it is: one of the types internal/app knows.
	Type string `yaml:"type"`
	// Topics it is told about; empty means every topic its type handles.
	Topics []patchpilot.Topic `yaml:"topics"`
	// MinLevel is the least severe level it is told about; empty means
	// every level.
	MinLevel patchpilot.Level `yaml:"min_level"`
}

// Wants reports whether a notification is routed to this integration.
func (c Common) Wants(n patchpilot.Notification) bool {
	if n.Topic == patchpilot.TopicTest {
		return true
	}
	if len(c.Topics) > 0 && !slices.Contains(c.Topics, n.Topic) {
		return false
	}
	return c.MinLevel == "" || n.Level.Rank() >= c.MinLevel.Rank()
}

// Spec is one integration as written: its common keys, where it is, and
// the node its type's settings are decoded from (DecodeSettings).
type Spec struct {
	Common
	File string
	Line int
	Node *yaml.Node
}

// Where is "file:line" of the integration, for errors.
func (s Spec) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// KeyLine is the line of key (the part before a first ':', so that
// "kpi_report: every" names kpi_report) in the integration, or the
// integration's line when the key is not written.
func (s Spec) KeyLine(key string) int {
	key, _, _ = strings.Cut(key, ":")
	if s.Node != nil && s.Node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(s.Node.Content); i += 2 {
			if s.Node.Content[i].Value == key {
				return s.Node.Content[i].Line
			}
		}
	}
	return s.Line
}

// At is "FILE:LINE: integrations: NAME: KEY", LINE the key's line (or the
// integration's when it is not written): how an error about a key of the
// integration begins.
func (s Spec) At(key string) string {
	return fmt.Sprintf("%s:%d: integrations: %s: %s", s.File, s.KeyLine(key), s.Name, key)
}

// Topics lists every topic, for validation and documentation.
func Topics() []patchpilot.Topic {
	return []patchpilot.Topic{
		patchpilot.TopicRolloutStarted, patchpilot.TopicStageDone, patchpilot.TopicApprovalNeeded,
		patchpilot.TopicHalted, patchpilot.TopicRolledBack, patchpilot.TopicRollbackFailed,
		patchpilot.TopicIncident, patchpilot.TopicRecovered, patchpilot.TopicRolloutFinished,
		patchpilot.TopicScheduleRun,
	}
}

// RolloutTopics lists the topics about a rollout: every topic but
// schedule_run. Integrations that keep one record per rollout (a ticket,
// a change request) are told these by default.
func RolloutTopics() []patchpilot.Topic {
	return slices.DeleteFunc(Topics(), func(t patchpilot.Topic) bool { return t == patchpilot.TopicScheduleRun })
}

var sectionKeys = []string{"dashboard_url", "services"}

// Decode reads the "integrations:" section: a mapping with dashboard_url
// and services, a list of integrations. It checks the common keys (a name
// of letters, digits, '-' and '_', unique; a type among types; known
// topics and level) and keeps each item's node for its type's settings.
func Decode(file string, n *yaml.Node, types []string) (Config, error) {
	var c Config
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return c, nil
	}
	f, err := mapping(file, n, "integrations", sectionKeys)
	if err != nil {
		return c, err
	}
	if v, ok := f["dashboard_url"]; ok {
		if v.Kind != yaml.ScalarNode {
			return c, errorf(file, v, "integrations: dashboard_url", "expected a URL such as https://patchpilot.example.com")
		}
		u, err := url.Parse(v.Value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, errorf(file, v, "integrations: dashboard_url", "expected an http or https URL such as https://patchpilot.example.com, got %q", v.Value)
		}
		if LiteralUserinfo(v.Value) {
			return c, userinfoError(errorf(file, v, "integrations: dashboard_url", "%s", URLUserinfoMessage))
		}
		c.DashboardURL = strings.TrimRight(v.Value, "/")
	}
	v, ok := f["services"]
	if !ok || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return c, nil
	}
	if v.Kind != yaml.SequenceNode {
		return c, errorf(file, v, "integrations: services", "expected a list of integrations, each with a name and a type")
	}
	names := map[string]int{}
	for i, it := range v.Content {
		what := fmt.Sprintf("integrations: services[%d]", i)
		if it.Kind != yaml.MappingNode {
			return c, errorf(file, it, what, "expected a mapping with a name, a type and the type's settings")
		}
		var s Spec
		s.File, s.Line, s.Node = file, it.Line, it
		for j := 0; j+1 < len(it.Content); j += 2 {
			if k, val := it.Content[j], it.Content[j+1]; k.Value == "name" && val.Kind == yaml.ScalarNode && validName(val.Value) {
				what = "integrations: " + val.Value
			}
		}
		for j := 0; j+1 < len(it.Content); j += 2 {
			k, val := it.Content[j], it.Content[j+1]
			switch k.Value {
			case "name", "type", "min_level":
				if val.Kind != yaml.ScalarNode {
					return c, errorf(file, val, what, "%s: expected a single value", k.Value)
				}
			}
			switch k.Value {
			case "name":
				s.Name = val.Value
			case "type":
				s.Type = val.Value
			case "min_level":
				s.MinLevel = patchpilot.Level(val.Value)
				if s.MinLevel.Rank() == 0 {
					return c, errorf(file, val, what, "min_level: expected info, warning or critical, got %q", val.Value)
				}
			case "topics":
				if val.Kind != yaml.SequenceNode {
					return c, errorf(file, val, what, "topics: expected a list of topics (%s)", topicList())
				}
				for _, tn := range val.Content {
					t := patchpilot.Topic(tn.Value)
					if tn.Kind != yaml.ScalarNode {
						return c, errorf(file, tn, what, "topics: expected a list of topics (%s)", topicList())
					}
					if !slices.Contains(Topics(), t) {
						return c, errorf(file, tn, what, "topics: unknown topic %q; known topics: %s", tn.Value, topicList())
					}
					if slices.Contains(s.Topics, t) {
						return c, errorf(file, tn, what, "topics: %s is listed twice", t)
					}
					s.Topics = append(s.Topics, t)
				}
			}
		}
		if !validName(s.Name) {
			return c, errorf(file, valueOf(it, "name"), what, "name: expected a name of letters, digits, '-' and '_' (such as ops-slack), got %q", s.Name)
		}
		what = fmt.Sprintf("integrations: %s", s.Name)
		if line, ok := names[s.Name]; ok {
			return c, errorf(file, valueOf(it, "name"), what, "name: the name is already used at line %d", line)
		}
		names[s.Name] = it.Line
		if err := checkSettings(file, what, it); err != nil {
			return c, err
		}
		if !slices.Contains(types, s.Type) {
			return c, errorf(file, valueOf(it, "type"), what, "type: expected one of %s, got %q", strings.Join(types, ", "), s.Type)
		}
		c.Items = append(c.Items, s)
	}
	return c, nil
}

// DecodeSettings decodes an integration's keys into into, a pointer to a
// struct with yaml tags; the common keys (name, type, topics, min_level)
// are skipped. A key into does not have is an error naming the file, the
// line, the key and the keys known, and so is a value of the wrong kind.
func DecodeSettings(s Spec, into any) error {
	what := "integrations: " + s.Name
	known := append([]string{"name", "type", "topics", "min_level"}, yamlKeys(reflect.TypeOf(into).Elem())...)
	if _, err := mapping(s.File, s.Node, what, known); err != nil {
		return err
	}
	t := reflect.TypeOf(into).Elem()
	for j := 0; j+1 < len(s.Node.Content); j += 2 {
		k, v := s.Node.Content[j], s.Node.Content[j+1]
		switch k.Value {
		case "name", "type", "topics", "min_level":
			continue
		}
		if err := checkKinds(s.File, what, k, v, t); err != nil {
			return err
		}
		if isURLKey(k.Value) && v.Kind == yaml.ScalarNode && LiteralUserinfo(v.Value) {
			return userinfoError(errorf(s.File, v, what, "%s: %s", k.Value, URLUserinfoMessage))
		}
		one := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column, Content: []*yaml.Node{k, v}}
		if err := one.Decode(into); err != nil {
			f, _ := fieldByKey(t, k.Value)
			return errorf(s.File, v, what, "%s: %s", k.Value, expected(f.Type, v))
		}
	}
	return nil
}

// expected says what a value of type t is written as, and what was
// written instead, for a value yaml could not decode.
func expected(t reflect.Type, v *yaml.Node) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	got := "a " + map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "list", yaml.AliasNode: "alias", yaml.DocumentNode: "document"}[v.Kind]
	if v.Kind == yaml.ScalarNode {
		got = strconv.Quote(v.Value)
	}
	want := "a value of another kind"
	if t != nil {
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "a whole number"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		case reflect.Bool:
			want = "true or false"
		case reflect.String:
			want = "a single value"
		case reflect.Slice, reflect.Array:
			want = "a list"
		case reflect.Map, reflect.Struct:
			want = "a mapping"
		}
	}
	return fmt.Sprintf("expected %s, got %s", want, got)
}

// checkKinds refuses unknown keys in nested mappings of the settings
// (a Secret's env/file, say), naming their line.
func checkKinds(file, what string, k, v *yaml.Node, t reflect.Type) error {
	f, ok := fieldByKey(t, k.Value)
	if !ok {
		return nil
	}
	ft := f.Type
	for ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	if ft.Kind() == reflect.Bool && (v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool") {
		// yaml would take "yes", "on" or a quoted "true" as true; the
		// plan's YAML refuses them, and so does this file.
		return errorf(file, v, what, "%s: %s", k.Value, expected(ft, v))
	}
	if ft.Kind() != reflect.Struct || v.Kind != yaml.MappingNode {
		if ft.Kind() == reflect.Struct && v.Kind != yaml.MappingNode && ft == reflect.TypeOf(Secret{}) {
			return errorf(file, v, what, "%s: write the secret's source, not the secret: {env: VARIABLE} or {file: /path/to/file}", k.Value)
		}
		return nil
	}
	known := yamlKeys(ft)
	m, err := mapping(file, v, what+": "+k.Value, known)
	if err != nil {
		return err
	}
	if e, ok := m["env"]; ok && ft == reflect.TypeOf(Secret{}) && (e.Kind != yaml.ScalarNode || !ValidEnvName(e.Value)) {
		return errorf(file, e, what, "%s: %s", k.Value, envNameMessage).(*patchpilot.Error).WithHint(envNameHint)
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if err := checkKinds(file, what+": "+k.Value, v.Content[i], m[v.Content[i].Value], ft); err != nil {
			return err
		}
	}
	return nil
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			if g, ok := fieldByKey(f.Type, key); ok {
				return g, true
			}
			continue
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Secret names where a secret is read from: an environment variable or a
// file (its content, trailing newline removed). The secret itself is never
// in patchpilot.yaml, never printed, never stored.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// IsZero reports whether no source is named.
func (s Secret) IsZero() bool { return s.Env == "" && s.File == "" }

// String names the source, never the secret.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "$" + s.Env
	case s.File != "":
		return s.File
	}
	return "(none)"
}

// MaxSecretBytes caps a secret file.
const MaxSecretBytes = 64 << 10

// Resolve reads the secret. what names the setting in errors
// ("ops-slack: webhook_url"); getenv is os.Getenv or a test's.
func (s Secret) Resolve(what string, getenv func(string) string) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: give env or file, not both", what)
	case s.Env != "" && !ValidEnvName(s.Env):
		return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", what, envNameMessage).WithHint(envNameHint)
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: environment variable %s is not set or empty", what, s.Env).
				WithHint("export " + s.Env + " in the environment patchpilot runs in, or name a file: {file: /etc/patchpilot/secret}")
		}
		return strings.TrimSpace(v), nil
	case s.File != "":
		f, err := os.Open(s.File)
		if err != nil {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: read secret file: %v", what, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: read secret file: %v", what, err)
		}
		if err := checkSecretFileInfo(what+": secret file", s.File, fi); err != nil {
			return "", err
		}
		buf := make([]byte, MaxSecretBytes+1)
		n, _ := io.ReadFull(f, buf)
		if n > MaxSecretBytes {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: secret file %s is larger than %d bytes", what, s.File, MaxSecretBytes)
		}
		v := strings.TrimSpace(string(buf[:n]))
		if v == "" {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: secret file %s is empty", what, s.File)
		}
		return v, nil
	}
	return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: no secret given; expected {env: VARIABLE} or {file: /path/to/file}", what)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func topicList() string {
	var s []string
	for _, t := range Topics() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

// checkSettings checks, when patchpilot.yaml is read and whatever the
// type, what may leak a secret: a user or password in a url or *_url
// key, and a secret's env that is no variable name (refused without
// repeating it). DecodeSettings checks them again with the type's keys.
func checkSettings(file, what string, n *yaml.Node) error {
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		switch {
		case isURLKey(k.Value) && v.Kind == yaml.ScalarNode && LiteralUserinfo(v.Value):
			return userinfoError(errorf(file, v, what, "%s: %s", k.Value, URLUserinfoMessage))
		case v.Kind == yaml.MappingNode:
			if e := valueOf(v, "env"); e != v && secretShaped(v) && (e.Kind != yaml.ScalarNode || !ValidEnvName(e.Value)) {
				return errorf(file, e, what, "%s: %s", k.Value, envNameMessage).(*patchpilot.Error).WithHint(envNameHint)
			}
			if err := checkSettings(file, what+": "+k.Value, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// SecretEnvs names the environment variables the integration's secrets
// are read from (its {env: VARIABLE} settings, nested ones too), in the
// order written, each once. It reads no secret.
func (s Spec) SecretEnvs() []string {
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			if len(n.Content) > 0 && secretShaped(n) {
				if e := valueOf(n, "env"); e != n && e.Kind == yaml.ScalarNode && e.Value != "" && !slices.Contains(out, e.Value) {
					out = append(out, e.Value)
				}
				return
			}
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i])
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	if s.Node != nil {
		walk(s.Node)
	}
	return out
}

// secretShaped reports whether a mapping has only the keys of a Secret
// (env, file): other mappings with an env key (a CMDB's label mapping,
// say) are the type's to check.
func secretShaped(n *yaml.Node) bool {
	for j := 0; j < len(n.Content); j += 2 {
		if k := n.Content[j].Value; k != "env" && k != "file" {
			return false
		}
	}
	return true
}

// valueOf is the value of key in the mapping n, or n when it has none.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

func errorf(file string, n *yaml.Node, what, format string, args ...any) error {
	return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s: %s", file, n.Line, what, fmt.Sprintf(format, args...))
}

func mapping(file string, n *yaml.Node, what string, known []string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errorf(file, n, what, "expected a mapping of keys (%s)", strings.Join(known, ", "))
	}
	out := map[string]*yaml.Node{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return nil, errorf(file, k, what, "unknown key %q%s; known keys: %s", k.Value, suggest.DidYouMean(k.Value, known), strings.Join(known, ", "))
		}
		if line, ok := lines[k.Value]; ok {
			return nil, errorf(file, k, what, "key %q already defined at line %d", k.Value, line)
		}
		lines[k.Value] = k.Line
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}

func userinfoError(err error) error {
	return err.(*patchpilot.Error).WithHint("give the service's credentials in its secret keys ({env: VARIABLE} or {file: /path/to/file}), never in a URL")
}
