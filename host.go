package patchpilot

import (
	"sort"
	"strings"
	"time"
)

// Well-known label keys. Labels come from inventory variables; these keys
// have meaning to the planner and the risk model.
const (
	LabelRole        = "role"
	LabelEnv         = "env"
	LabelCriticality = "criticality" // "low", "medium", "high" or "critical"
	LabelGroup       = "group"
	// LabelInjectedFault, set on a host while a fault is injected into it
	// on purpose (a lab or a game day), names the fault: a failure of the
	// host's patch meanwhile is not the patch's (Outcome.Unrelated).
	LabelInjectedFault = "injected_fault"
)

// Host is a server that patchpilot manages: how to reach it and how it is
// labelled. It holds no secrets: KeyFile is a path, never a key.
type Host struct {
	Name     string            `json:"name"`
	Address  string            `json:"address"`            // DNS name or IP; defaults to Name
	Port     int               `json:"port,omitempty"`     // SSH port; 0 means 22
	User     string            `json:"user,omitempty"`     // SSH user; "" means the controller's default
	KeyFile  string            `json:"key_file,omitempty"` // path to a private key file
	Become   bool              `json:"become,omitempty"`   // run privileged commands through sudo
	JumpHost string            `json:"jump_host,omitempty"`
	Groups   []string          `json:"groups,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Source names where the host came from (an inventory file, a fact cache).
	Source string `json:"source,omitempty"`
}

// Critical reports whether the host is labelled critical.
func (h Host) Critical() bool {
	return strings.EqualFold(h.Labels[LabelCriticality], "critical")
}

// DefaultSSHPort is the port used when a host names none.
const DefaultSSHPort = 22

// SSHPort returns the host's SSH port, defaulting to 22.
func (h Host) SSHPort() int {
	if h.Port == 0 {
		return DefaultSSHPort
	}
	return h.Port
}

// Target returns the address to connect to, defaulting to the name.
func (h Host) Target() string {
	if h.Address == "" {
		return h.Name
	}
	return h.Address
}

// OSFamily groups distributions that share a package manager.
type OSFamily string

// OS families.
const (
	FamilyDebian  OSFamily = "debian" // Debian, Ubuntu: apt and dpkg
	FamilyRedHat  OSFamily = "redhat" // RHEL, Rocky, Alma, Fedora, CentOS: dnf and rpm
	FamilySUSE    OSFamily = "suse"   // SLES, openSUSE: zypper and rpm
	FamilyUnknown OSFamily = "unknown"
)

// Facts is one snapshot of what a host runs and needs, taken at CollectedAt.
// Snapshots are kept as history; the latest one is the host's current state.
type Facts struct {
	Host         string    `json:"host"`
	CollectedAt  time.Time `json:"collected_at"`
	Source       string    `json:"source"` // "ssh", "local" or "ansible-facts"
	Hostname     string    `json:"hostname,omitempty"`
	OSFamily     OSFamily  `json:"os_family"`
	OSName       string    `json:"os_name"`    // os-release ID: "debian", "ubuntu", "rocky"
	OSVersion    string    `json:"os_version"` // os-release VERSION_ID: "12", "22.04", "9.4"
	OSPretty     string    `json:"os_pretty,omitempty"`
	OSCodename   string    `json:"os_codename,omitempty"`
	Kernel       string    `json:"kernel"` // uname -r
	Arch         string    `json:"arch"`   // uname -m
	BootID       string    `json:"boot_id,omitempty"`
	Packages     []Package `json:"packages,omitempty"`
	Updates      []Update  `json:"updates,omitempty"`
	Services     []string  `json:"services,omitempty"` // running systemd services
	NeedsRestart []string  `json:"needs_restart,omitempty"`
	// RebootRequired is true when the host says it needs a reboot
	// (/var/run/reboot-required, needs-restarting -r, zypper needs-rebooting).
	RebootRequired bool     `json:"reboot_required"`
	RebootPackages []string `json:"reboot_packages,omitempty"`
	// Removals are the packages that the dry run of the host's pending
	// updates (apt-get -s dist-upgrade) would remove, with To "". The
	// dry run covers all pending updates together, so a removal belongs to
	// the host's pending updates as a whole, not to one of them.
	Removals []PackageChange `json:"removals,omitempty"`
	// PackagesKnown is false when the source had no package list (some
	// fact caches); a zero count then means "unknown", not "none".
	PackagesKnown bool `json:"packages_known"`
	UpdatesKnown  bool `json:"updates_known"`
	// PackageState is a fingerprint of everything the package manager
	// reads to find the pending updates (the package database, the
	// repositories' indexes, the package manager's configuration, pins
	// and holds), or "" when the collector did not read it. Two
	// collections with the same PackageState have the same pending
	// updates and removals, so a collection may reuse them (see
	// docs/inventory.md).
	PackageState string `json:"package_state,omitempty"`
	// Depth is what the collection learned beyond packages: services in
	// depth, sockets and connections, local modifications. Nil when the
	// source could not tell.
	Depth *HostDepth `json:"depth,omitempty"`
}

// Ecosystem returns the OSV ecosystem name of the host's distribution, such
// as "Debian:12", "Ubuntu:22.04:LTS", "AlmaLinux:9" or "Rocky Linux:9", or ""
// when the distribution has no OSV ecosystem patchpilot knows.
func (f Facts) Ecosystem() string {
	major := f.OSVersion
	if i := strings.IndexByte(major, '.'); i > 0 && f.OSName != "ubuntu" {
		major = major[:i]
	}
	switch f.OSName {
	case "debian":
		return "Debian:" + major
	case "ubuntu":
		// Even-year April releases are LTS; OSV names them with the suffix.
		if strings.HasSuffix(f.OSVersion, ".04") && len(f.OSVersion) == 5 && (f.OSVersion[1]-'0')%2 == 0 {
			return "Ubuntu:" + f.OSVersion + ":LTS"
		}
		return "Ubuntu:" + f.OSVersion
	case "almalinux":
		return "AlmaLinux:" + major
	case "rocky":
		return "Rocky Linux:" + major
	case "rhel":
		return "Red Hat:" + major
	case "sles", "sled", "opensuse-leap":
		if f.OSPretty != "" {
			return "SUSE:" + f.OSPretty
		}
	}
	return ""
}

// SecurityUpdateCount counts the pending updates marked as security fixes.
func (f Facts) SecurityUpdateCount() int {
	n := 0
	for _, u := range f.Updates {
		if u.Security {
			n++
		}
	}
	return n
}

// HostSummary is one row of the fleet listing: a host and its latest facts,
// summarised. Its JSON field names are part of the CLI and API contract.
type HostSummary struct {
	Name                string            `json:"name"`
	Address             string            `json:"address"`
	OSFamily            OSFamily          `json:"os_family"`
	OSName              string            `json:"os_name"`
	OSVersion           string            `json:"os_version"`
	Kernel              string            `json:"kernel"`
	Arch                string            `json:"arch"`
	PackageCount        int               `json:"package_count"`
	PendingUpdateCount  int               `json:"pending_update_count"`
	SecurityUpdateCount int               `json:"security_update_count"`
	RebootRequired      bool              `json:"reboot_required"`
	Labels              map[string]string `json:"labels"`
	CollectedAt         *time.Time        `json:"collected_at"` // nil when never collected
	// LastCollectFailure is the host's last failed collection when it is
	// newer than its latest facts (which are then older than they look),
	// nil otherwise.
	LastCollectFailure *CollectFailure `json:"last_collect_failure,omitempty"`
}

// FleetInventory is what a fleet-wide read needs of the inventory, read
// at once: Hosts as HostStore.Hosts returns them, Facts as
// FactStore.FleetFacts does and Summaries as FactStore.HostSummaries does.
type FleetInventory struct {
	Hosts     []Host
	Facts     []Facts
	Summaries []HostSummary
}

// CollectFailure is a failed collection of a host: when, the error's code
// and its message.
type CollectFailure struct {
	At      time.Time `json:"at"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
}

// HostRestarts are the services a host's latest facts say need a
// restart (they run old libraries).
type HostRestarts struct {
	Host     string   `json:"host"`
	Services []string `json:"services"`
}

// Summarize builds the summary of a host from its latest facts; facts may be
// nil for a host that was never collected.
func Summarize(h Host, f *Facts) HostSummary {
	s := HostSummary{Name: h.Name, Address: h.Target(), Labels: h.Labels}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if f == nil {
		s.OSFamily = FamilyUnknown
		return s
	}
	t := f.CollectedAt
	s.OSFamily, s.OSName, s.OSVersion = f.OSFamily, f.OSName, f.OSVersion
	s.Kernel, s.Arch = f.Kernel, f.Arch
	s.PackageCount = len(f.Packages)
	s.PendingUpdateCount = len(f.Updates)
	s.SecurityUpdateCount = f.SecurityUpdateCount()
	s.RebootRequired = f.RebootRequired
	s.CollectedAt = &t
	return s
}

// SortedLabels returns the labels as "k=v" strings in key order, for display.
func SortedLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
