package risk

import (
	"fmt"

	"github.com/patchpilot/patchpilot"
)

// maxModifiedWarnings is how many changed files of one package are warned
// about one by one; the rest are counted in one more warning.
const maxModifiedWarnings = 3

// modifiedWarnings say what the update does to the package's files that
// were changed on the host, as the apply really installs: on Debian
// hosts apt-get with dpkg's --force-confdef --force-confold, on rpm hosts
// dnf or zypper, which follow the package's %config marks.
func modifiedWarnings(r Record) []Warning {
	var out []Warning
	for i, m := range r.Modified {
		if i == maxModifiedWarnings {
			out = append(out, Warning{WarnModified, fmt.Sprintf("%s: %d more files were changed on %s (see 'patchpilot hosts show %s')",
				r.Package, len(r.Modified)-i, hostOrThe(r.Host), r.Host)})
			break
		}
		out = append(out, Warning{WarnModified, r.Package + ": " + modifiedText(r, m)})
	}
	return out
}

func modifiedText(r Record, m patchpilot.ModifiedFile) string {
	on := hostOrThe(r.Host)
	switch {
	case m.Conffile && m.Missing:
		switch r.OSFamily {
		case patchpilot.FamilyDebian:
			return fmt.Sprintf("%s was deleted on %s; dpkg does not bring a deleted configuration file back on upgrade", m.Path, on)
		case patchpilot.FamilyRedHat, patchpilot.FamilySUSE:
			return fmt.Sprintf("%s was deleted on %s; rpm installs the new package's file in its place", m.Path, on)
		}
		return fmt.Sprintf("%s was deleted on %s; the update may leave it deleted or put the package's file back", m.Path, on)
	case m.Conffile:
		switch r.OSFamily {
		case patchpilot.FamilyDebian:
			return fmt.Sprintf("%s was changed on %s; the update keeps the local version (apply runs dpkg with --force-confdef --force-confold): "+
				"if the new package ships a different file, it is left beside as %s.dpkg-dist, not merged", m.Path, on, m.Path)
		case patchpilot.FamilyRedHat, patchpilot.FamilySUSE:
			return fmt.Sprintf("%s was changed on %s; if the new package ships a different file, rpm keeps the local version and writes the new one as %s.rpmnew "+
				"when the package marks it noreplace, and otherwise installs the new one and saves the local version as %s.rpmsave", m.Path, on, m.Path, m.Path)
		}
		return fmt.Sprintf("%s was changed on %s; the update may replace it or keep the local version", m.Path, on)
	case m.Missing:
		return fmt.Sprintf("%s is missing on %s; the update installs the package's file again", m.Path, on)
	}
	return fmt.Sprintf("%s was changed on %s; the update replaces it with the package's file", m.Path, on)
}

// heldWarning names a held package the update targets: the apply installs
// exact versions without overriding holds, so the host's transaction is
// refused.
func heldWarning(r Record) Warning {
	on := hostOrThe(r.Host)
	switch r.OSFamily {
	case patchpilot.FamilyDebian:
		return Warning{WarnHeld, fmt.Sprintf("%s is held on %s (apt-mark hold): apply does not pass --allow-change-held-packages, so apt refuses the transaction "+
			"(\"Held packages were changed and -y was used without --allow-change-held-packages\") and the host fails; 'apt-mark unhold %s' releases it",
			r.Package, on, r.Package)}
	case patchpilot.FamilyRedHat:
		return Warning{WarnHeld, fmt.Sprintf("%s is locked at its version on %s (dnf versionlock): dnf excludes other versions and the host fails; 'dnf versionlock delete %s' releases it",
			r.Package, on, r.Package)}
	}
	return Warning{WarnHeld, fmt.Sprintf("%s is held at its version on %s: the package manager refuses to change it and the host fails", r.Package, on)}
}

func hostOrThe(h string) string {
	if h == "" {
		return "the host"
	}
	return h
}
