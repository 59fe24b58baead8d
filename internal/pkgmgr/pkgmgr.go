// Package pkgmgr chooses a host's package manager by its OS family.
package pkgmgr

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
)

// For returns the package manager of an OS family: apt/dpkg for Debian
// and Ubuntu, dnf/rpm for the RHEL family. Others are EUNSUPPORTED.
func For(family patchpilot.OSFamily) (patchpilot.PackageManager, error) {
	switch family {
	case patchpilot.FamilyDebian:
		return &debian.PackageManager{}, nil
	case patchpilot.FamilyRedHat:
		return &redhat.PackageManager{}, nil
	}
	return nil, patchpilot.Errorf(patchpilot.EUNSUPPORTED, "no package manager for OS family %q", family).
		WithHint("patchpilot patches Debian, Ubuntu and RHEL-family hosts")
}
