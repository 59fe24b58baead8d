// Package app wires patchpilot's packages together: it opens the store,
// builds dialers and runs the use cases that the CLI (and later the HTTP
// API) expose. It holds no business rules of its own beyond the order in
// which things happen.
package app

import (
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/policy"
	"io"

	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Defaults. Each is documented where it is used in Options.
const (
	DefaultConcurrency    = 50
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 5 * time.Minute
	DefaultDBName         = "patchpilot.db"
)

// Options configure the application. The zero value of every field is a
// documented default, resolved by Resolve; Validate rejects impossible
// values at start-up rather than in the middle of a run.
type Options struct {
	// DBPath is the SQLite database file. Default:
	// $XDG_DATA_HOME/patchpilot/patchpilot.db (XDG_DATA_HOME defaults to
	// ~/.local/share).
	DBPath string
	// ReadOnly opens the database for reading only, for commands that
	// only show what is stored: it is never created, migrated or written,
	// so a database the user may only read works. A missing file reads as
	// empty; a missing folder is an error when DBPath was given, and reads
	// as empty for the default path, whose folder the first command that
	// stores something creates.
	ReadOnly bool

	// KnownHostsFile verifies SSH host keys. Default: ~/.ssh/known_hosts.
	KnownHostsFile string
	// AcceptNewHostKeys records the keys of hosts not yet in
	// KnownHostsFile instead of refusing them. Changed keys are always
	// refused.
	AcceptNewHostKeys bool
	// SSHUser is used for hosts whose inventory names no user. Default:
	// $USER. It is whom patchpilot logs in as, never the actor of a
	// change (LocalActor).
	SSHUser string
	// SSHKeyFiles are private keys tried for every host, after the
	// host's own key file.
	SSHKeyFiles []string
	// JumpHost ("user@host:port") is used for hosts that name none.
	JumpHost string
	// Concurrency bounds how many hosts are worked on at once. Default 50.
	Concurrency int
	// ConnectTimeout bounds an SSH connection. Default 10s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each remote command. Default 5m.
	CommandTimeout time.Duration
	// Policy is the server's policy (the policy: section of the
	// configuration file, see docs/policy.md). The zero value is the
	// default policy: every host in the advisor level, nothing held.
	Policy policy.Policy
	// Schedules are the patch and inventory schedules the scheduler runs
	// (patchpilot.yaml's schedules: and inventory_schedules:), checked
	// by LoadConfig or CheckSchedules.
	Schedules []Schedule

	// DependencyMaxAge is how long an observed connection stays on the
	// dependency map after it was last seen (patchpilot.yaml's
	// dependencies: max_age). Default patchpilot.DefaultDependencyMaxAge.
	DependencyMaxAge time.Duration

	// Learning is patchpilot.yaml's model: section: when the risk model
	// retrains itself after a rollout (docs/risk.md, Learning by itself).
	Learning LearningConfig

	// Integrations are patchpilot.yaml's integrations: section: the
	// services patchpilot tells, reads and waits for, and the datadog
	// integration a plan's health section names (docs/integrations.md).
	Integrations integrations.Config
	// Metrics is the metrics source default plans gate on
	// (patchpilot.yaml's metrics: section): its Prometheus URL or Datadog
	// integration, window and step. The zero value names none, and
	// default plans use SSH probes only.
	Metrics patchpilot.HealthConfig

	// Env is the process environment as KEY=VALUE pairs; the app reads
	// XDG_DATA_HOME, HOME, USER, SUDO_USER and SSH_AUTH_SOCK from it and
	// never from the process itself, so tests can run many apps side by
	// side.
	Env []string
	// CurrentUser returns the operating-system user running patchpilot,
	// the local actor (LocalActor). Default: os/user.Current.
	CurrentUser func() (*user.User, error)
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Notices is told what opening the database does that takes a while,
	// such as compacting it after a migration freed most of it (the CLI
	// gives its standard error). Default: nothing is told.
	Notices io.Writer
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Getenv looks a variable up in Options.Env.
func (o Options) Getenv(key string) string {
	prefix := key + "="
	for i := len(o.Env) - 1; i >= 0; i-- {
		if len(o.Env[i]) >= len(prefix) && o.Env[i][:len(prefix)] == prefix {
			return o.Env[i][len(prefix):]
		}
	}
	return ""
}

// Home returns the user's home directory from the environment.
func (o Options) Home() string {
	if h := o.Getenv("HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/"
}

// DefaultDBPath is $XDG_DATA_HOME/patchpilot/patchpilot.db.
func (o Options) DefaultDBPath() string {
	data := o.Getenv("XDG_DATA_HOME")
	if data == "" {
		data = filepath.Join(o.Home(), ".local", "share")
	}
	return filepath.Join(data, "patchpilot", DefaultDBName)
}

// Resolve fills in defaults for zero fields.
func (o Options) Resolve() Options {
	if o.DBPath == "" {
		o.DBPath = o.DefaultDBPath()
	}
	if o.KnownHostsFile == "" {
		o.KnownHostsFile = filepath.Join(o.Home(), ".ssh", "known_hosts")
	}
	if o.SSHUser == "" {
		o.SSHUser = o.Getenv("USER")
	}
	if o.SSHUser == "" {
		o.SSHUser = "root"
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate rejects impossible option values.
func (o Options) Validate() error {
	switch {
	case o.Concurrency < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "concurrency %d: expected a positive number", o.Concurrency)
	case o.ConnectTimeout < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "connect timeout %s: expected a positive duration", o.ConnectTimeout)
	case o.CommandTimeout < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "command timeout %s: expected a positive duration", o.CommandTimeout)
	case o.DependencyMaxAge < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "dependencies max age %s: expected a positive duration", o.DependencyMaxAge)
	}
	return o.Policy.Validate()
}
