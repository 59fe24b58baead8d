package planner

import (
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// downgradeHint says how to roll back on purpose.
const downgradeHint = "to roll these hosts back to the pinned versions on purpose, set policy: {allow_downgrade: true} in the plan; " +
	"otherwise pin versions at least as new as the installed ones"

// maxDowngradeHosts bounds how many hosts the downgrade error names.
const maxDowngradeHosts = 5

// checkDowngrades refuses a plan that pins a version older than one a
// target host has installed (as its latest facts tell), unless the policy
// allows downgrades. Such a plan would pass for an upgrade when read, and
// then either fail every host at apply or, on dnf, which installs an
// exact version whatever is installed, roll the fleet back silently.
func checkDowngrades(p patchpilot.Plan, hosts []HostView) error {
	if p.Policy.AllowDowngrade || len(p.Patch.Packages) == 0 {
		return nil
	}
	var found []string
	count := 0
	// Alike hosts have the same versions installed: each family's verdict
	// on an installed version and a pin is worked out once.
	type pair struct {
		family         patchpilot.OSFamily
		installed, pin string
	}
	newer := map[pair]bool{}
	for _, h := range hosts {
		for _, pin := range p.Patch.Packages {
			installed := h.Installed[pin.Name]
			if installed == "" {
				continue
			}
			k := pair{h.Facts.OSFamily, installed, pin.Version}
			v, ok := newer[k]
			if !ok {
				v = newerThanPin(k.family, installed, pin.Version)
				newer[k] = v
			}
			if !v {
				continue
			}
			count++
			if len(found) < maxDowngradeHosts {
				found = append(found, fmt.Sprintf("%s has %s %s", h.Name(), pin.Name, installed))
			}
		}
	}
	if count == 0 {
		return nil
	}
	more := ""
	if count > len(found) {
		more = fmt.Sprintf(" and %d more", count-len(found))
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "the plan downgrades: %s%s, newer than the pinned %s (policy allow_downgrade is not set)",
		strings.Join(found, "; "), more, pinList(p.Patch.Packages)).WithHint(downgradeHint)
}

func pinList(pins []patchpilot.PackagePin) string {
	out := make([]string, 0, len(pins))
	for _, p := range pins {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

// newerThanPin reports whether the installed version is newer than the
// pin by the family's version order. A pin written without an rpm release
// ("1.1.0") or an epoch matches any release and epoch of that version, as
// dnf reads it. A version that cannot be ordered is not a downgrade here:
// the host's dry run decides.
func newerThanPin(family patchpilot.OSFamily, installed, pin string) bool {
	if family == patchpilot.FamilyRedHat || family == patchpilot.FamilySUSE {
		if !strings.Contains(pin, ":") {
			if _, v, ok := strings.Cut(installed, ":"); ok {
				installed = v
			}
		}
		if !strings.Contains(pin, "-") {
			installed, _, _ = strings.Cut(installed, "-")
		}
	}
	c, err := osfamily.CompareVersions(family, installed, pin)
	return err == nil && c > 0
}
