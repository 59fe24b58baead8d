package osv

import (
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// compareVersions orders two versions by the family's rules. For rpm
// families a version without an epoch borrows the other's epoch (see the
// package documentation for why).
func compareVersions(family patchpilot.OSFamily, a, b string) (int, error) {
	if usesRPM(family) {
		a, b = alignEpochs(a, b)
	}
	return osfamily.CompareVersions(family, a, b)
}

// sameVersion reports whether two version strings name the same version
// without parsing them: an explicit zero epoch equals none, and for rpm
// families a missing epoch equals any.
func sameVersion(family patchpilot.OSFamily, a, b string) bool {
	if a == b {
		return true
	}
	if usesRPM(family) {
		a, b = alignEpochs(a, b)
	}
	return strings.TrimPrefix(a, "0:") == strings.TrimPrefix(b, "0:")
}

// validVersion reports an error when v cannot be ordered by the family's
// rules. Families without a known order accept anything.
func validVersion(family patchpilot.OSFamily, v string) error {
	if family == patchpilot.FamilyUnknown || family == "" {
		return nil
	}
	_, err := osfamily.CompareVersions(family, v, v)
	return err
}

func usesRPM(family patchpilot.OSFamily) bool {
	return family == patchpilot.FamilyRedHat || family == patchpilot.FamilySUSE
}

// splitEpoch returns the epoch of an rpm or dpkg version, if it has one.
func splitEpoch(v string) (epoch string, ok bool) {
	i := strings.IndexByte(v, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range v[:i] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return v[:i], true
}

// alignEpochs gives a version without an epoch the other version's epoch.
func alignEpochs(a, b string) (string, string) {
	ea, oka := splitEpoch(a)
	eb, okb := splitEpoch(b)
	switch {
	case oka && !okb && b != "":
		b = ea + ":" + b
	case okb && !oka && a != "":
		a = eb + ":" + a
	}
	return a, b
}
