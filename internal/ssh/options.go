// Package ssh runs commands on hosts over SSH. It implements
// patchpilot.Dialer and patchpilot.Runner on top of golang.org/x/crypto/ssh,
// with host keys checked against an OpenSSH known_hosts file, public key
// authentication from key files and an ssh-agent, jump hosts, one connection
// per host shared by concurrent commands, and per-command timeouts.
package ssh

import (
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Defaults used when an Options field is left at its zero value.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 5 * time.Minute
	// DefaultKeepaliveInterval gives up on a silent connection after 45 s
	// (three unanswered intervals).
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultUser              = "root"
	// DefaultKnownHostsPath is relative to Options.HomeDir.
	DefaultKnownHostsPath = ".ssh/known_hosts"
)

// Options configure a Dialer. The zero value of each field is documented
// next to it; Validate reports fields that cannot work before any host is
// dialled.
type Options struct {
	// HomeDir is the controller user's home directory. It resolves "~/" in
	// paths and the default known_hosts file. The caller passes it in (from
	// os.UserHomeDir) so that this package reads no process globals.
	HomeDir string

	// KnownHostsFile is the OpenSSH known_hosts file that host keys are
	// checked against. "" means HomeDir/.ssh/known_hosts.
	KnownHostsFile string

	// AcceptNewHostKeys records the key of a host that is not yet in
	// KnownHostsFile and trusts it (OpenSSH's StrictHostKeyChecking=accept-new).
	// A key that differs from a recorded one is refused regardless.
	AcceptNewHostKeys bool

	// User is the login name for hosts that name none. The caller passes the
	// controller's current user name; "" means DefaultUser ("root").
	User string

	// KeyFiles are private key files tried for every host, after the host's
	// own KeyFile. Passphrase-protected keys are skipped (with a log line)
	// unless the agent holds them. nil means the DefaultKeyFiles under
	// HomeDir that exist, offered only to hosts that name no key file of
	// their own, as OpenSSH does.
	KeyFiles []string

	// UseAgent authenticates with the keys of the ssh-agent listening on
	// AgentSocket (the caller passes $SSH_AUTH_SOCK). false means no agent.
	UseAgent    bool
	AgentSocket string

	// JumpHost is the default jump host, in ProxyJump form
	// "[user@]host[:port]", for hosts that name none. "" or "none" means
	// hosts are dialled directly.
	JumpHost string

	// ConnectTimeout bounds the TCP connection and the SSH handshake,
	// including authentication, through the jump host if there is one.
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// CommandTimeout bounds a command whose Command.Timeout is 0.
	// 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration

	// KeepaliveInterval is how often an idle connection is probed with
	// keepalive@openssh.com; a connection that does not answer a probe
	// within three intervals is closed. 0 means DefaultKeepaliveInterval;
	// negative disables keepalives.
	KeepaliveInterval time.Duration

	// Logger receives debug and warning lines. nil discards them.
	Logger *slog.Logger
}

// Validate reports the first field that cannot work.
func (o Options) Validate() error {
	if o.KnownHostsFile == "" && o.HomeDir == "" {
		return invalid("known_hosts_file", "a known_hosts path, or a home directory to find ~/.ssh/known_hosts in")
	}
	for _, p := range append([]string{o.KnownHostsFile}, o.KeyFiles...) {
		if strings.HasPrefix(p, "~/") && o.HomeDir == "" {
			return invalid("home_dir", "a home directory to resolve "+p)
		}
	}
	for i, p := range o.KeyFiles {
		if p == "" {
			return invalid("key_files", "a path at index "+strconv.Itoa(i))
		}
	}
	if o.UseAgent && o.AgentSocket == "" {
		return invalid("agent_socket", "the ssh-agent socket path (SSH_AUTH_SOCK) when use_agent is set")
	}
	if o.JumpHost != "" && o.JumpHost != "none" {
		if _, err := parseJumpHost(o.JumpHost, "x"); err != nil {
			return err
		}
	}
	if o.ConnectTimeout < 0 {
		return invalid("connect_timeout", "a positive duration or 0 for the default")
	}
	if o.CommandTimeout < 0 {
		return invalid("command_timeout", "a positive duration or 0 for the default")
	}
	return nil
}

func invalid(field, want string) error {
	return patchpilot.Errorf(patchpilot.EINVALID, "ssh options: %s: expected %s", field, want)
}

// withDefaults returns o with its zero values replaced by defaults and its
// paths resolved against HomeDir.
func (o Options) withDefaults() Options {
	if o.KnownHostsFile == "" {
		o.KnownHostsFile = filepath.Join(o.HomeDir, DefaultKnownHostsPath)
	}
	o.KnownHostsFile = o.expand(o.KnownHostsFile)
	if o.User == "" {
		o.User = DefaultUser
	}
	keys := make([]string, len(o.KeyFiles))
	for i, k := range o.KeyFiles {
		keys[i] = o.expand(k)
	}
	o.KeyFiles = keys
	if o.JumpHost == "none" {
		o.JumpHost = ""
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// expand resolves a leading "~/" against HomeDir.
func (o Options) expand(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok && o.HomeDir != "" {
		return filepath.Join(o.HomeDir, rest)
	}
	return p
}
