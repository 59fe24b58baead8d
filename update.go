package patchpilot

import "time"

// Package is one installed package.
type Package struct {
	Name          string `json:"name"`
	Version       string `json:"version"` // full version with epoch where the distro has one ("1:3.0.7-27.el9")
	Arch          string `json:"arch,omitempty"`
	SourceName    string `json:"source_name,omitempty"` // source package (dpkg) or source rpm name
	SourceVersion string `json:"source_version,omitempty"`
	// Status is the package manager's status where it is not simply
	// "installed", e.g. dpkg's "half-configured"; "" means installed.
	Status string `json:"status,omitempty"`
}

// Update is one pending package update on a host: the installed version and
// the candidate the package manager would install.
type Update struct {
	Package          string `json:"package"`
	Arch             string `json:"arch,omitempty"`
	SourcePackage    string `json:"source_package,omitempty"`
	InstalledVersion string `json:"installed_version"` // "" for a new package the update pulls in
	CandidateVersion string `json:"candidate_version"`
	// Origin is where the candidate comes from, as the package manager
	// names it ("Debian-Security:12/stable-security", "baseos", ...).
	Origin   string `json:"origin,omitempty"`
	Security bool   `json:"security"`
	// Advisories the package manager itself names (dnf updateinfo,
	// zypper patches). OSV matches are added when the updates are listed.
	Advisories []AdvisoryRef `json:"advisories,omitempty"`
}

// HostUpdate is a pending update together with its host, as listed across
// the fleet. Its JSON field names are part of the CLI and API contract.
type HostUpdate struct {
	Host             string        `json:"host"`
	Package          string        `json:"package"`
	SourcePackage    string        `json:"source_package"`
	InstalledVersion string        `json:"installed_version"`
	CandidateVersion string        `json:"candidate_version"`
	Security         bool          `json:"security"`
	Advisories       []AdvisoryRef `json:"advisories"`
	// Ecosystem is the host's OSV ecosystem; not part of the JSON contract.
	Ecosystem string   `json:"-"`
	Family    OSFamily `json:"-"`
}

// AdvisoryRef is an advisory as it applies to one update.
type AdvisoryRef struct {
	ID       string   `json:"id"`
	CVEs     []string `json:"cves"`
	Severity string   `json:"severity,omitempty"` // "critical", "high", "medium", "low", or the distro's own word
	CVSS     float64  `json:"cvss,omitempty"`     // base score, when the record has a vector
}

// Advisory is a security advisory in the shape of an OSV record, reduced to
// what patchpilot needs to match it against pending updates.
type Advisory struct {
	ID        string    `json:"id"`
	Aliases   []string  `json:"aliases,omitempty"` // CVE ids and other names
	Summary   string    `json:"summary,omitempty"`
	Published time.Time `json:"published"`
	Modified  time.Time `json:"modified"`
	// Severity is a normalised word: "critical", "high", "medium", "low",
	// or the distro's own priority word when no CVSS score is known.
	Severity   string            `json:"severity,omitempty"`
	CVSS       float64           `json:"cvss,omitempty"`
	CVSSVector string            `json:"cvss_vector,omitempty"`
	Affected   []AffectedPackage `json:"affected"`
	Source     string            `json:"source,omitempty"` // file it was imported from
}

// CVEs returns the advisory's CVE ids: its id if it is one, and its aliases.
func (a Advisory) CVEs() []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) > 4 && s[:4] == "CVE-" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(a.ID)
	for _, s := range a.Aliases {
		add(s)
	}
	return out
}

// AffectedPackage is one package in one ecosystem that an advisory affects.
type AffectedPackage struct {
	Ecosystem string         `json:"ecosystem"` // "Debian:12", "AlmaLinux:9", ...
	Name      string         `json:"name"`      // source package for Debian/Ubuntu, rpm name for RHEL
	Ranges    []VersionRange `json:"ranges,omitempty"`
	Versions  []string       `json:"versions,omitempty"` // explicitly listed affected versions
	Severity  string         `json:"severity,omitempty"` // per-package severity or distro priority, if given
}

// VersionRange is an affected interval in the ecosystem's own version order:
// versions v with Introduced <= v and (v < Fixed, or v <= LastAffected).
// Introduced "0" means from the beginning; an empty Fixed and LastAffected
// mean no fix is known.
type VersionRange struct {
	Introduced   string `json:"introduced"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}
