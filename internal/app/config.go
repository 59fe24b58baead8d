package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/policy"
	"github.com/patchpilot/patchpilot/internal/suggest"
	"github.com/patchpilot/patchpilot/internal/yamltext"
)

// ConfigFileName is the configuration file looked for in
// $XDG_CONFIG_HOME/patchpilot/ when no --config is given.
const ConfigFileName = "patchpilot.yaml"

// Config is the file form of Options: patchpilot.yaml. Every key can be
// overridden by a PATCHPILOT_* environment variable (the key in upper case,
// e.g. PATCHPILOT_KNOWN_HOSTS) and then by a command-line flag.
type Config struct {
	DB                string   `yaml:"db"`
	KnownHosts        string   `yaml:"known_hosts"`
	AcceptNewHostKeys *bool    `yaml:"accept_new_host_keys"`
	User              string   `yaml:"user"`
	Keys              []string `yaml:"keys"`
	JumpHost          string   `yaml:"jump_host"`
	Concurrency       int      `yaml:"concurrency"`
	ConnectTimeout    string   `yaml:"connect_timeout"`
	CommandTimeout    string   `yaml:"command_timeout"`
	// Schedules and InventorySchedules are read by decodeSchedules.
	Schedules          []Schedule `yaml:"schedules"`
	InventorySchedules []Schedule `yaml:"inventory_schedules"`
	// Policy is the server's policy (docs/policy.md); nil when the file
	// has no policy: section.
	Policy *policy.Policy `yaml:"policy"`
	// Integrations are the services patchpilot tells and reads
	// (docs/integrations.md); nil when the file has no integrations:
	// section.
	Integrations *integrations.Config `yaml:"integrations"`
	// Dependencies configures the dependency map (docs/dependencies.md);
	// nil when the file has no dependencies: section.
	Dependencies *DependenciesConfig `yaml:"dependencies"`
	// Model configures the risk model's automatic retraining
	// (docs/risk.md); nil when the file has no model: section.
	Model *LearningConfig `yaml:"model"`
	// Metrics is the metrics source default plans gate on
	// (docs/gates.md); nil when the file has no metrics: section.
	Metrics *patchpilot.HealthConfig `yaml:"metrics"`
}

// DependenciesConfig is patchpilot.yaml's dependencies: section.
type DependenciesConfig struct {
	// MaxAge is how long an observed connection stays on the map after
	// it was last seen, as "7d", "36h" or "90m". Default 7d.
	MaxAge time.Duration
}

// DefaultConfigPath returns $XDG_CONFIG_HOME/patchpilot/patchpilot.yaml.
func DefaultConfigPath(o Options) string {
	dir := o.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		dir = filepath.Join(o.Home(), ".config")
	}
	return filepath.Join(dir, "patchpilot", ConfigFileName)
}

// MaxConfigBytes caps the configuration file that LoadConfig reads. A real
// one is a few hundred bytes; the cap stops a wrong path (a log, a device)
// from being read whole into memory.
const MaxConfigBytes = 64 << 10

// LoadConfig reads a configuration file. A missing file is not an error
// when optional is true (the default location); a named one must exist.
// An unknown key is an error naming the file, the line and the key, and
// listing the known keys: a misspelt key would otherwise be ignored and its
// setting silently left at the default.
func LoadConfig(path string, optional bool) (Config, error) {
	var c Config
	data, err := capped.ReadFile(path, "configuration file", MaxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return c, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return c, patchpilot.Errorf(patchpilot.ENOTFOUND, "configuration file %s does not exist", path).
			WithHint("check the --config path; without --config, patchpilot reads $XDG_CONFIG_HOME/patchpilot/patchpilot.yaml when it exists")
	}
	if errors.Is(err, capped.ErrTooLarge) {
		return c, err
	}
	if err != nil {
		return c, patchpilot.Errorf(patchpilot.EINVALID, "read config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil // an empty file sets nothing
		}
		return c, configError(path, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return c, configError(path, data, err)
	default:
		return c, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: a second YAML document; the configuration is one mapping of keys", path, extra.Line)
	}
	if err := checkConfigKeys(path, &doc); err != nil {
		return c, err
	}
	if err := decodeConfigKeys(path, &doc, &c); err != nil {
		return c, err
	}
	return c, checkScheduleNames(path, c)
}

// decodeConfigKeys decodes the mapping checkConfigKeys accepted one key at
// a time, so that a value of the wrong type is reported with its key and
// what the key takes ("concurrency: expected a whole number") rather than
// as the YAML library's "cannot unmarshal !!str into int".
func decodeConfigKeys(path string, doc *yaml.Node, c *Config) error {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil // only comments: checkConfigKeys refused anything else
	}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		if kind, ok := scheduleSections[k.Value]; ok {
			ss, err := decodeSchedules(path, val, kind)
			if err != nil {
				return err
			}
			configField(v, k.Value).Set(reflect.ValueOf(ss))
			continue
		}
		field := configField(v, k.Value)
		if !field.IsValid() {
			continue // checkConfigKeys refused unknown keys
		}
		if k.Value == "integrations" {
			ic, err := integrations.Decode(path, val, IntegrationTypes())
			if err != nil {
				return err
			}
			if err := checkRouting(ic); err != nil {
				return err
			}
			c.Integrations = &ic
			continue
		}
		if k.Value == "dependencies" {
			dc, err := decodeDependencies(path, val)
			if err != nil {
				return err
			}
			c.Dependencies = &dc
			continue
		}
		if k.Value == "model" {
			lc, err := decodeLearning(path, val)
			if err != nil {
				return err
			}
			c.Model = &lc
			continue
		}
		if k.Value == "metrics" {
			h, err := decodeMetrics(path, val)
			if err != nil {
				return err
			}
			c.Metrics = &h
			continue
		}
		if k.Value == "policy" {
			// Nested keys are checked as strictly, with file:line.
			p, err := policy.Decode(path, val)
			if err != nil {
				return err
			}
			c.Policy = &p
			continue
		}
		if err := val.Decode(field.Addr().Interface()); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s: expected %s, got %s",
				path, val.Line, k.Value, configKindText(field.Type()), configValueText(val))
		}
		if k.Value == "concurrency" && field.Int() < 1 {
			// As --concurrency: at least one host at a time. Leave the
			// key out for the default.
			return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: concurrency: expected at least 1 host at a time (leave it out for the default, %d), got %s",
				path, val.Line, DefaultConcurrency, configValueText(val))
		}
		if (k.Value == "connect_timeout" || k.Value == "command_timeout") && val.Value != "" {
			// Checked here too, and not only when the options are
			// built, so that a bad value is named with its line.
			if v, err := time.ParseDuration(val.Value); err != nil || v <= 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s: expected a duration such as 30s or 5m, got %s",
					path, val.Line, k.Value, configValueText(val))
			}
		}
	}
	return nil
}

// configField returns the field of Config whose yaml tag is key.
func configField(v reflect.Value, key string) reflect.Value {
	t := v.Type()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k == key {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// configKindText says in words what a Config field of type t takes.
func configKindText(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "a whole number"
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Bool {
			return "true or false"
		}
	case reflect.Slice:
		return "a list such as [/etc/patchpilot/id_ed25519]"
	}
	return "a single value"
}

// configValueText shows the value a person wrote, or its shape when it is
// not a single value.
func configValueText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "something else"
}

// checkConfigKeys accepts a document that is one mapping whose keys are
// all Config's.
func checkConfigKeys(path string, doc *yaml.Node) error {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	known := configKeys()
	if root.Kind != yaml.MappingNode {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: expected a mapping of keys (%s)", path, root.Line, strings.Join(known, ", "))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if !slices.Contains(known, k.Value) {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: unknown key %q%s; known keys: %s", path, k.Line, k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
		}
		if line, ok := seen[k.Value]; ok {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: mapping key %q already defined at line %d", path, k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
	}
	return nil
}

// configKeys lists Config's keys, from its yaml tags, so that the list in
// errors cannot fall behind the struct.
func configKeys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// configError reports a YAML error of the file, as "file:line: message"
// when the parser names a line.
func configError(path string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				if yamltext.TabIndented(data, line) {
					// The parser's "found character that cannot start
					// any token" names no character, and an editor
					// shows a tab as spaces.
					tail = yamltext.TabIndentedText
				}
				return patchpilot.Errorf(patchpilot.EINVALID, "%s:%s: %s", path, n, tail)
			}
		}
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", path, msg)
}

// EnvVars are the PATCHPILOT_* environment variables patchpilot reads
// (beside those a configuration names for its secrets).
var EnvVars = []string{
	"PATCHPILOT_DB", "PATCHPILOT_KNOWN_HOSTS", "PATCHPILOT_USER", "PATCHPILOT_JUMP_HOST",
	"PATCHPILOT_CONNECT_TIMEOUT", "PATCHPILOT_COMMAND_TIMEOUT", "PATCHPILOT_KEYS",
	"PATCHPILOT_ACCEPT_NEW_HOST_KEYS", "PATCHPILOT_CONCURRENCY",
	"PATCHPILOT_SERVER", "PATCHPILOT_TOKEN", "PATCHPILOT_CA_CERT",
	"PATCHPILOT_LAB_CACHE", "PATCHPILOT_LAB_OWNER", "PATCHPILOT_LAB_LOCK",
}

// MistypedEnv names the environment's PATCHPILOT_* variables that
// patchpilot does not read but that are one or two letters away from one
// it does ("PATCHPILOT_CONCURENCY"), each with the one meant: a variable
// mistyped is otherwise ignored without a word, and the default (another
// database, say) used instead. Variables far from every known name (a
// secret a configuration reads by name) are not named.
func MistypedEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PATCHPILOT_") || slices.Contains(EnvVars, name) {
			continue
		}
		best, bestD := "", 3
		for _, known := range EnvVars {
			if d := EditDistance(name, known); d < bestD {
				best, bestD = known, d
			}
		}
		if best != "" {
			out = append(out, fmt.Sprintf("%s is set, but patchpilot reads no such variable; did you mean %s?", name, best))
		}
	}
	return out
}

// FromEnv overlays PATCHPILOT_* variables on the config.
func (c Config) FromEnv(o Options) (Config, error) {
	set := func(key string, dst *string) {
		if v := o.Getenv("PATCHPILOT_" + key); v != "" {
			*dst = v
		}
	}
	set("DB", &c.DB)
	set("KNOWN_HOSTS", &c.KnownHosts)
	set("USER", &c.User)
	set("JUMP_HOST", &c.JumpHost)
	set("CONNECT_TIMEOUT", &c.ConnectTimeout)
	set("COMMAND_TIMEOUT", &c.CommandTimeout)
	if v := o.Getenv("PATCHPILOT_KEYS"); v != "" {
		c.Keys = strings.Split(v, ",")
	}
	if v := o.Getenv("PATCHPILOT_ACCEPT_NEW_HOST_KEYS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, patchpilot.Errorf(patchpilot.EINVALID, "PATCHPILOT_ACCEPT_NEW_HOST_KEYS=%q: expected true or false", v)
		}
		c.AcceptNewHostKeys = &b
	}
	if v := o.Getenv("PATCHPILOT_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, patchpilot.Errorf(patchpilot.EINVALID, "PATCHPILOT_CONCURRENCY=%q: expected a number", v)
		}
		c.Concurrency = n
	}
	return c, nil
}

// Apply copies the configured values into Options.
func (c Config) Apply(o Options) (Options, error) {
	if c.DB != "" {
		o.DBPath = c.DB
	}
	if c.KnownHosts != "" {
		o.KnownHostsFile = c.KnownHosts
	}
	if c.AcceptNewHostKeys != nil {
		o.AcceptNewHostKeys = *c.AcceptNewHostKeys
	}
	if c.User != "" {
		o.SSHUser = c.User
	}
	if len(c.Keys) > 0 {
		o.SSHKeyFiles = c.Keys
	}
	if c.JumpHost != "" {
		o.JumpHost = c.JumpHost
	}
	if c.Concurrency != 0 {
		o.Concurrency = c.Concurrency
	}
	o.Schedules = slices.Concat(o.Schedules, c.Schedules, c.InventorySchedules)
	if c.Policy != nil {
		o.Policy = *c.Policy
	}
	if c.Integrations != nil {
		o.Integrations = *c.Integrations
	}
	if c.Model != nil {
		o.Learning = *c.Model
	}
	if c.Metrics != nil {
		o.Metrics = *c.Metrics
	}
	if c.Dependencies != nil && c.Dependencies.MaxAge > 0 {
		o.DependencyMaxAge = c.Dependencies.MaxAge
	}
	for _, d := range []struct {
		name string
		val  string
		dst  *time.Duration
	}{
		{"connect_timeout", c.ConnectTimeout, &o.ConnectTimeout},
		{"command_timeout", c.CommandTimeout, &o.CommandTimeout},
	} {
		if d.val == "" {
			continue
		}
		v, err := time.ParseDuration(d.val)
		if err != nil || v <= 0 {
			return o, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: expected a duration such as 30s or 5m", d.name, d.val)
		}
		*d.dst = v
	}
	return o, nil
}

// decodeDependencies decodes the dependencies: section, refusing unknown
// keys and bad values with the file and line.
func decodeDependencies(path string, n *yaml.Node) (DependenciesConfig, error) {
	var dc DependenciesConfig
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return dc, nil
	}
	if n.Kind != yaml.MappingNode {
		return dc, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: dependencies: expected a mapping such as {max_age: 7d}, got %s",
			path, n.Line, configValueText(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "max_age":
			if v.Kind != yaml.ScalarNode {
				return dc, patchpilot.Errorf(patchpilot.EINVALID,
					"%s:%d: dependencies.max_age: expected a duration such as 7d, 3d12h, 36h or 90m, got %s",
					path, v.Line, configValueText(v))
			}
			d, err := ParseMaxAge(fmt.Sprintf("%s:%d: dependencies.max_age", path, v.Line), v.Value)
			if err != nil {
				return dc, err
			}
			dc.MaxAge = d
		default:
			return dc, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: dependencies: unknown key %q%s; known keys: max_age",
				path, k.Line, k.Value, didYouMean(k.Value, []string{"max_age"}))
		}
	}
	return dc, nil
}

// didYouMean names the known keys within two edits of a mistyped one, as
// " (did you mean concurrency?)", or "" when none is that close.
func didYouMean(key string, known []string) string { return suggest.DidYouMean(key, known) }

// EditDistance is the Levenshtein distance between a and b, by bytes: how
// far a mistyped name is from a known one.
func EditDistance(a, b string) int { return suggest.Distance(a, b) }
