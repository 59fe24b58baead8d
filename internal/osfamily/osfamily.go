// Package osfamily knows what differs between Linux distribution families:
// which family an os-release ID belongs to and how each family orders
// package versions. The collectors for each family live in its
// subpackages (debian, redhat, suse).
package osfamily

import (
	"strings"

	debversion "github.com/knqyf263/go-deb-version"
	rpmversion "github.com/knqyf263/go-rpm-version"

	"github.com/patchpilot/patchpilot"
)

// FromOSRelease maps an os-release ID and its ID_LIKE list to a family.
func FromOSRelease(id string, idLike []string) patchpilot.OSFamily {
	for _, name := range append([]string{id}, idLike...) {
		switch strings.ToLower(name) {
		case "debian", "ubuntu", "raspbian", "linuxmint", "pop":
			return patchpilot.FamilyDebian
		case "rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn":
			return patchpilot.FamilyRedHat
		case "sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse":
			return patchpilot.FamilySUSE
		}
	}
	return patchpilot.FamilyUnknown
}

// FromEcosystem maps an OSV ecosystem ("Debian:12", "AlmaLinux:9") to the
// family whose version rules apply to it.
func FromEcosystem(ecosystem string) patchpilot.OSFamily {
	name, _, _ := strings.Cut(ecosystem, ":")
	switch strings.ToLower(name) {
	case "debian", "ubuntu":
		return patchpilot.FamilyDebian
	case "almalinux", "rocky linux", "red hat", "redhat":
		return patchpilot.FamilyRedHat
	case "suse", "opensuse":
		return patchpilot.FamilySUSE
	}
	return patchpilot.FamilyUnknown
}

// CompareVersions compares two package versions by the family's own rules
// (dpkg's for Debian, rpm's for Red Hat and SUSE) and returns -1, 0 or +1.
// It returns an EINVALID error when a version cannot be parsed or the family
// has no known ordering.
func CompareVersions(family patchpilot.OSFamily, a, b string) (int, error) {
	switch family {
	case patchpilot.FamilyDebian:
		va, err := debversion.NewVersion(a)
		if err != nil {
			return 0, patchpilot.Errorf(patchpilot.EINVALID, "invalid Debian version %q: %w", a, err)
		}
		vb, err := debversion.NewVersion(b)
		if err != nil {
			return 0, patchpilot.Errorf(patchpilot.EINVALID, "invalid Debian version %q: %w", b, err)
		}
		return va.Compare(vb), nil
	case patchpilot.FamilyRedHat, patchpilot.FamilySUSE:
		if a == "" || b == "" {
			return 0, patchpilot.Errorf(patchpilot.EINVALID, "empty rpm version")
		}
		return rpmversion.NewVersion(a).Compare(rpmversion.NewVersion(b)), nil
	}
	return 0, patchpilot.Errorf(patchpilot.EINVALID, "no version ordering for OS family %q", family)
}
