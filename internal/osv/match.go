package osv

import (
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// Target is one pending update as the matcher sees it.
type Target struct {
	// Ecosystem is the host's OSV ecosystem ("Debian:12", "AlmaLinux:9").
	Ecosystem string
	// Family picks the version rules; empty means the ecosystem's family.
	Family patchpilot.OSFamily
	// Names are the package names to look for: the binary package and its
	// source package. Debian and Ubuntu records name the source package,
	// AlmaLinux and Rocky records the binary rpm, so both are tried.
	Names     []string
	Installed string
	Candidate string
}

// Match reports whether adv applies to the update t: for some affected
// entry of t's ecosystem naming one of t's packages, the installed version
// is affected and the candidate is not, so installing the candidate fixes
// it. The returned reference carries the affected entry's own severity if
// it has one (the most severe, if several entries match), else the
// record's. An error means a version could not be ordered.
func Match(adv patchpilot.Advisory, t Target) (patchpilot.AdvisoryRef, bool, error) {
	if t.Installed == "" || t.Candidate == "" {
		return patchpilot.AdvisoryRef{}, false, nil // a new package fixes nothing
	}
	family := t.Family
	if family == "" || family == patchpilot.FamilyUnknown {
		family = osfamily.FromEcosystem(t.Ecosystem)
	}
	if family == patchpilot.FamilyUnknown {
		return patchpilot.AdvisoryRef{}, false, patchpilot.Errorf(patchpilot.EUNSUPPORTED,
			"no version ordering for ecosystem %q", t.Ecosystem)
	}
	installedAffected, candidateAffected := false, false
	severity := ""
	for _, ap := range adv.Affected {
		if !SameEcosystem(t.Ecosystem, ap.Ecosystem) || !hasName(t.Names, ap.Name) {
			continue
		}
		inst, err := Affects(family, ap, t.Installed)
		if err != nil {
			return patchpilot.AdvisoryRef{}, false, err
		}
		cand, err := Affects(family, ap, t.Candidate)
		if err != nil {
			return patchpilot.AdvisoryRef{}, false, err
		}
		if inst {
			installedAffected = true
			if patchpilot.Severity(ap.Severity).Rank() > patchpilot.Severity(severity).Rank() || severity == "" {
				severity = ap.Severity
			}
		}
		candidateAffected = candidateAffected || cand
	}
	if !installedAffected || candidateAffected {
		return patchpilot.AdvisoryRef{}, false, nil
	}
	if severity == "" {
		severity = adv.Severity
	}
	return patchpilot.AdvisoryRef{
		ID:       adv.ID,
		CVEs:     adv.CVEs(),
		Severity: severity,
		CVSS:     adv.CVSS,
	}, true, nil
}

// Affects reports whether version v of the package lies in one of the
// affected entry's ranges or is listed among its versions, following the
// OSV evaluation rules.
func Affects(family patchpilot.OSFamily, ap patchpilot.AffectedPackage, v string) (bool, error) {
	for _, r := range ap.Ranges {
		in, err := inRange(family, r, v)
		if err != nil {
			return false, err
		}
		if in {
			return true, nil
		}
	}
	for _, listed := range ap.Versions {
		if sameVersion(family, listed, v) {
			return true, nil
		}
	}
	return false, nil
}

// inRange reports Introduced <= v and (v < Fixed, or v <= LastAffected).
func inRange(family patchpilot.OSFamily, r patchpilot.VersionRange, v string) (bool, error) {
	if r.Introduced != "" && r.Introduced != introducedZero {
		c, err := compareVersions(family, v, r.Introduced)
		if err != nil || c < 0 {
			return false, err
		}
	}
	if r.Fixed != "" {
		c, err := compareVersions(family, v, r.Fixed)
		if err != nil || c >= 0 {
			return false, err
		}
	}
	if r.LastAffected != "" {
		c, err := compareVersions(family, v, r.LastAffected)
		if err != nil || c > 0 {
			return false, err
		}
	}
	return true, nil
}

// SameEcosystem reports whether an advisory's ecosystem covers a host's.
// Beyond an exact (case-insensitive) match, Ubuntu Pro records
// ("Ubuntu:Pro:22.04:LTS") cover the plain release, since a host only
// sees the fixed candidate if it has the Pro archive; and AlmaLinux and
// Rocky records, which name the major release, cover its minor releases
// ("AlmaLinux:9" covers "AlmaLinux:9.4").
func SameEcosystem(host, advisory string) bool {
	if host == "" || advisory == "" {
		return false
	}
	return strings.EqualFold(host, advisory) || canonicalEcosystem(host) == canonicalEcosystem(advisory)
}

// lookupEcosystems returns the ecosystems whose records may cover a host's
// (see SameEcosystem): the host's own first.
func lookupEcosystems(host string) []string {
	out := []string{host}
	name, release, _ := strings.Cut(host, ":")
	switch strings.ToLower(name) {
	case "ubuntu":
		if !strings.HasPrefix(strings.ToLower(release), "pro:") {
			out = append(out, name+":Pro:"+release)
		}
	case "almalinux", "rocky linux":
		if major, _, ok := strings.Cut(release, "."); ok {
			out = append(out, name+":"+major)
		}
	}
	return out
}

func canonicalEcosystem(e string) string {
	e = strings.ToLower(e)
	name, release, _ := strings.Cut(e, ":")
	switch name {
	case "ubuntu":
		release = strings.TrimPrefix(release, "pro:")
	case "almalinux", "rocky linux":
		release, _, _ = strings.Cut(release, ".")
	}
	return name + ":" + release
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
