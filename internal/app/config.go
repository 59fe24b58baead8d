package app

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
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
}

// DefaultConfigPath returns $XDG_CONFIG_HOME/patchpilot/patchpilot.yaml.
func DefaultConfigPath(o Options) string {
	dir := o.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		dir = filepath.Join(o.Home(), ".config")
	}
	return filepath.Join(dir, "patchpilot", ConfigFileName)
}

// LoadConfig reads a configuration file. A missing file is not an error
// when optional is true (the default location); a named one must exist.
func LoadConfig(path string, optional bool) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return c, nil
	}
	if err != nil {
		return c, patchpilot.Errorf(patchpilot.EINVALID, "read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return c, nil
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
