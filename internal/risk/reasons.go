package risk

import (
	"fmt"
	"strings"
)

// reasonText words a feature's contribution from the facts behind it. A
// comparison with public data is stated only when it points the way effect
// does, so that the words never argue against the number beside them.
func reasonText(feature string, r Record, f Features, p Priors, effect float64) string {
	src, cat := f.Source, f.Category
	switch feature {
	case FeaturePackage:
		if c := f.PackageCount; c.Total > 0 {
			return fmt.Sprintf("%s updates failed in %d of %d host patches in this fleet", src, c.Failures, c.Total)
		}
		if c := f.CategoryCnt; c.Total > 0 {
			return fmt.Sprintf("no %s updates in this fleet yet; %s updates failed in %d of %d host patches", src, cat, c.Failures, c.Total)
		}
		if c, ok := p.Categories[cat]; ok && c.Total > 0 {
			text := fmt.Sprintf("no %s updates in this fleet yet; public data: %s updates needed a regression fix %s of the time", src, cat, percent(c.Rate))
			if pointsLike(c.Rate-p.Global.Rate, effect) {
				text += fmt.Sprintf(" (all updates %s)", percent(p.Global.Rate))
			}
			return text
		}
		return fmt.Sprintf("no %s updates in this fleet yet; using the overall rate %s", src, percent(f.FleetRate))
	case FeaturePackageRole:
		c := f.RoleCount
		if f.Role == "" {
			return "the host has no role label"
		}
		if c.Total == 0 {
			return fmt.Sprintf("no %s updates on %s hosts in this fleet yet", src, f.Role)
		}
		return fmt.Sprintf("%s on %s hosts failed in %d of %d host patches", src, f.Role, c.Failures, c.Total)
	case FeatureRole:
		if f.Role == "" {
			return "the host has no role label"
		}
		if f.RoleAll.Total == 0 {
			return fmt.Sprintf("no updates on %s hosts in this fleet yet", f.Role)
		}
		return fmt.Sprintf("updates on %s hosts failed in %d of %d host patches", f.Role, f.RoleAll.Failures, f.RoleAll.Total)
	case FeatureHost:
		// The assessment names its host; the text speaks of "this host",
		// so that hosts with the same history share one assessment.
		c := f.HostCount
		if c.Total == 0 {
			return "this host has no update history yet"
		}
		return fmt.Sprintf("this host: %d of its %d updates failed", c.Failures, c.Total)
	case FeatureVersion:
		c := f.VersionCount
		if r.ToVersion == "" {
			return fmt.Sprintf("the %s version to install is unknown", r.Package)
		}
		if c.Total == 0 {
			return fmt.Sprintf("%s %s not yet installed anywhere in this fleet", versionName(r, src), r.ToVersion)
		}
		return versionHistoryText(r, src, c)
	case FeatureNewUpstream:
		if f.Change.NewUpstream {
			return fmt.Sprintf("new upstream version (%s → %s, %s)", f.Change.FromUpstream, f.Change.ToUpstream, jumpWords(f.Change.Jump))
		}
		if f.Change.Jump == JumpUnknown {
			return "versions unknown"
		}
		return fmt.Sprintf("backported fix (upstream %s unchanged)", f.Change.ToUpstream)
	case FeatureJump:
		return jumpWords(f.Change.Jump)
	case FeatureNoVersion:
		return "the versions are unknown"
	case FeatureCVEs, FeatureCVEPrior:
		n := r.CVETotal()
		text := fmt.Sprintf("fixes %d CVEs", n)
		switch n {
		case 0:
			text = "fixes no listed CVE"
		case 1:
			text = "fixes 1 CVE"
		}
		if b, ok := p.cveBucket(n); ok && pointsLike(b.Rate-p.Global.Rate, effect) {
			text += fmt.Sprintf("; public data: updates fixing %s needed a regression fix %s of the time (all updates %s)",
				b.words(), percent(b.Rate), percent(p.Global.Rate))
		}
		return text
	case FeatureSeverity:
		if r.Severity == "" {
			return "no advisory severity"
		}
		return "advisory severity " + strings.ToLower(r.Severity)
	case FeatureReboot:
		if f.Values[FeatureReboot] == 0 {
			return "no reboot needed"
		}
		return cat + ": needs a reboot"
	case FeatureTransaction:
		return fmt.Sprintf("the transaction changes %d packages", r.TransactionSize)
	case FeatureRemovals:
		if len(r.Removals) == 0 {
			return "the dry run removes nothing"
		}
		return "the dry run removes " + strings.Join(r.Removals, ", ")
	case FeatureConflicts:
		if !r.Conflicts {
			return "no conflicting or held packages"
		}
		return "the dry run reports conflicting or held packages"
	case FeatureHostLast:
		if f.HostLast == nil {
			return "the host has no patch history"
		}
		return fmt.Sprintf("the host's last patch (%s) ended %s", f.HostLast.Package, strings.ReplaceAll(string(f.HostLast.Outcome), "_", " "))
	case FeatureDependents:
		return fmt.Sprintf("%d installed packages depend on it", r.Dependents)
	case FeatureServices:
		return fmt.Sprintf("the host runs %d services", len(r.Services))
	}
	return feature
}

// versionName names the package whose version the version history counts:
// the source package, said as such when the update is of one of its binary
// packages (libcurl4's history is curl's, which built it).
func versionName(r Record, src string) string {
	if src == "" || src == r.Package {
		return r.Package
	}
	return src + " (source of " + r.Package + ")"
}

// versionHistoryText says how the version fared in this fleet. The counts
// are of host patches (one host may have patched the version twice), by
// source package.
func versionHistoryText(r Record, src string, c Count) string {
	name := versionName(r, src) + " " + r.ToVersion
	if c.Failures == 0 {
		return fmt.Sprintf("%s already succeeded in %s", name, countedWords(c.Total, "host patch", "host patches"))
	}
	if c.Total == 1 {
		return name + " already failed in its only host patch"
	}
	return fmt.Sprintf("%s already failed in %d of %d host patches", name, c.Failures, c.Total)
}

func countedWords(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func jumpWords(j int) string {
	switch j {
	case JumpRevision:
		return "same upstream version"
	case JumpPatch:
		return "patch-level upstream jump"
	case JumpMinor:
		return "minor upstream jump"
	case JumpMajor:
		return "major upstream jump"
	}
	return "version jump unknown"
}

// pointsLike reports whether a difference has the sign of an effect.
func pointsLike(diff, effect float64) bool { return diff != 0 && (diff > 0) == (effect > 0) }

func percent(p float64) string { return fmt.Sprintf("%.1f%%", p*100) }
