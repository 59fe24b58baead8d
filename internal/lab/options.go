// Package lab runs a real fleet of Debian hosts on one machine: systemd-nspawn
// containers booted on overlayfs copies of a cached debootstrap base, each
// with its own hostname, machine id, SSH host keys and loopback address, and a
// local apt repository of test packages with pending updates. See README.md.
package lab

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab/labowner"
)

// Defaults of Options.
const (
	DefaultHosts = 3
	MaxHosts     = 200
	// DefaultSubnet is the first three octets of the hosts' addresses: host N
	// (lab01 is 1) listens on DefaultSubnet.N.
	DefaultSubnet = "127.0.1"
	// DefaultSuite is the Debian release the hosts run.
	DefaultSuite = "bookworm"
	// DefaultReadyTimeout bounds how long Up waits for every host's sshd.
	DefaultReadyTimeout = 120 * time.Second
	// DefaultHostDiskSize is the size of each host's writable layer (a tmpfs
	// that only uses memory for what the host writes), and so its free disk.
	DefaultHostDiskSize = 512 << 20
	// DefaultPrometheusAddress is where --prometheus serves.
	DefaultPrometheusAddress = "127.0.0.1:9090"
	// DefaultScrapeInterval is how often the lab's Prometheus scrapes:
	// short, so that health gates see changes fast.
	DefaultScrapeInterval = 5 * time.Second
	// EnvCache overrides the default cache directory.
	EnvCache = "PATCHPILOT_LAB_CACHE"
)

// Options configure a lab. The zero value of every field but Dir is a usable
// default (see DefaultDir).
type Options struct {
	// Dir holds the lab's state: state.json, inventory.ini, known_hosts,
	// the private key, the apt repository and one directory per host.
	// Empty means DefaultDir().
	Dir string
	// Hosts is the number of hosts, 1 to MaxHosts; 0 means DefaultHosts.
	Hosts int
	// Prometheus starts a Prometheus server scraping every host.
	Prometheus bool
	// PrometheusAddress is where that server listens; empty means
	// DefaultPrometheusAddress.
	PrometheusAddress string
	// ScrapeInterval is how often that server scrapes every host, 1 s to
	// 1 min; 0 means DefaultScrapeInterval. A shorter one fills a canary
	// judge's baseline sooner, at more work for the machine.
	ScrapeInterval time.Duration
	// Owner is the process the lab belongs to, as labowner.Of gives it:
	// once that process has exited, the next lab started on this machine
	// takes this one down. Empty: $PATCHPILOT_LAB_OWNER, or no owner (the
	// lab stays until 'patchpilot lab down').
	Owner string
	// Mirror is the Debian mirror debootstrap uses; empty means the first
	// source in the machine's apt configuration that serves Suite's main.
	Mirror string
	// Suite is the Debian release; empty means DefaultSuite.
	Suite string
	// CacheDir holds the debootstrap base, the built demo binary and the
	// repository; empty means DefaultCacheDir(). It is reused across labs.
	CacheDir string
	// Subnet is the first three octets of the host addresses; empty means
	// DefaultSubnet.
	Subnet string
	// ReadyTimeout bounds the wait for the hosts to boot; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// HostPackages installs Debian packages from the mirror into some
	// hosts ("lab01": {"puppet-agent"}), for tests that need software
	// too large for every host. They are installed once into a cached
	// layer; the hosts' apt still sees only the lab repository.
	HostPackages map[string][]string
	// Profile is ProfileDefault (or empty) or ProfileRealistic: hosts
	// with the distribution's full indexes and Debian's standard task
	// installed (see profile.go). The realistic layers are built once
	// from the mirror and cached.
	Profile string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// BaseProgress, when set, receives each line debootstrap prints while
	// the base is built (only when it is not cached yet), as it prints
	// it: "I: Retrieving libc6 2.36-9+deb12u10", ...
	BaseProgress func(line string)
}

// DefaultDir is where the lab lives when Options.Dir is empty:
// $XDG_STATE_HOME/patchpilot/lab when XDG_STATE_HOME is set, else
// /var/lib/patchpilot/lab for root and ~/.local/state/patchpilot/lab for
// others.
func DefaultDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "patchpilot", "lab")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/patchpilot/lab"
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "patchpilot", "lab")
}

// DefaultCacheDir is where the reusable base lives when Options.CacheDir is
// empty: $PATCHPILOT_LAB_CACHE, else /var/cache/patchpilot/lab for root,
// else $XDG_CACHE_HOME/patchpilot/lab.
func DefaultCacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/patchpilot/lab"
	}
	d, _ := os.UserCacheDir()
	return filepath.Join(d, "patchpilot", "lab")
}

// withDefaults returns a copy of o with every empty field set.
func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	if o.Hosts == 0 {
		o.Hosts = DefaultHosts
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Subnet == "" {
		o.Subnet = DefaultSubnet
	}
	if o.PrometheusAddress == "" {
		o.PrometheusAddress = DefaultPrometheusAddress
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = DefaultScrapeInterval
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(o.Dir); err == nil {
		o.Dir = abs
	}
	if abs, err := filepath.Abs(o.CacheDir); err == nil {
		o.CacheDir = abs
	}
	return o
}

// CheckSubnet reports whether subnet is three octets of a loopback
// address a lab may take (127.B.C, not 127.0.0); name names it in the
// error ("subnet", "--subnet").
func CheckSubnet(name, subnet string) error {
	var a, b, c int
	if n, err := fmt.Sscanf(subnet+"\n", "%d.%d.%d\n", &a, &b, &c); err != nil || n != 3 || a != 127 || b < 0 || b > 255 || c < 0 || c > 255 {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: %q is not three octets of a loopback address (want e.g. %s)", name, subnet, DefaultSubnet)
	}
	if b == 0 && c == 0 {
		// Host 1 would be 127.0.0.1, this machine's own localhost,
		// where the lab's Prometheus and other services listen.
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: %q would give lab01 the address 127.0.0.1, this machine's own localhost (want another, e.g. %s)", name, subnet, DefaultSubnet)
	}
	return nil
}

// Validate reports the first field that is out of range.
func (o Options) Validate() error {
	if o.Hosts < 0 || o.Hosts > MaxHosts {
		return patchpilot.Errorf(patchpilot.EINVALID, "hosts: %d is out of range (want 1 to %d)", o.Hosts, MaxHosts)
	}
	if o.Subnet != "" {
		if err := CheckSubnet("subnet", o.Subnet); err != nil {
			return err
		}
	}
	if o.PrometheusAddress != "" {
		// Prometheus starts once the hosts have booted: an address it
		// cannot listen on is refused before anything boots.
		if _, port, err := net.SplitHostPort(o.PrometheusAddress); err != nil || port == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "prometheus address: %q is not host:port (want e.g. %s)", o.PrometheusAddress, DefaultPrometheusAddress)
		}
	}
	if o.Owner != "" {
		if _, _, err := labowner.Parse(o.Owner); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "owner: %w", err)
		}
	}
	if o.ReadyTimeout < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "ready timeout: %s is negative", o.ReadyTimeout)
	}
	if o.ScrapeInterval != 0 && (o.ScrapeInterval < time.Second || o.ScrapeInterval > time.Minute || o.ScrapeInterval%time.Second != 0) {
		return patchpilot.Errorf(patchpilot.EINVALID, "scrape interval: %s is not a whole number of seconds from 1s to 1m", o.ScrapeInterval)
	}
	if o.Suite != "" && !validName(o.Suite) {
		return patchpilot.Errorf(patchpilot.EINVALID, "suite: %q is not a Debian suite name", o.Suite)
	}
	if !validProfile(o.Profile) {
		return patchpilot.Errorf(patchpilot.EINVALID, "profile: %q is not a lab profile (want %s)", o.Profile, strings.Join(Profiles, " or "))
	}
	if o.Profile == ProfileRealistic && len(o.HostPackages) > 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "host packages: not available with the %s profile, whose hosts already have the distribution's packages", ProfileRealistic)
	}
	hosts := o.Hosts
	if hosts == 0 {
		hosts = DefaultHosts
	}
	return validateHostPackages(o.HostPackages, hosts)
}

// validName accepts the characters of suite and host names.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
