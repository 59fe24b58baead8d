package osv

import (
	"context"
	"errors"
	"sort"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// LookupFunc returns the advisories that name a package in an ecosystem.
// It may return advisories of other ecosystems or packages too (for
// example every record naming the package); Match filters them.
type LookupFunc func(ctx context.Context, ecosystem, pkg string) ([]patchpilot.Advisory, error)

// Annotate adds to each update the OSV advisories that its candidate fixes
// and marks such updates as security updates. Advisories the package
// manager already named are kept; an OSV match with the same ID only fills
// in what they lack (CVEs, severity, score). Lookups are made once per
// (ecosystem, package name), for the host's ecosystem and for those whose
// records cover it (Ubuntu Pro, the major release of AlmaLinux and Rocky). Updates whose ecosystem has no known version
// order are left alone. A failed lookup stops the annotation; a version
// that cannot be ordered skips that update, and all such errors are
// returned together after the others have been annotated.
func Annotate(ctx context.Context, updates []patchpilot.HostUpdate, lookup LookupFunc) error {
	type key struct{ ecosystem, pkg string }
	cache := map[key][]patchpilot.Advisory{}
	var errs []error
	for i := range updates {
		if err := ctx.Err(); err != nil {
			return err
		}
		u := &updates[i]
		if u.Ecosystem == "" {
			continue
		}
		family := u.Family
		if family == "" || family == patchpilot.FamilyUnknown {
			family = osfamily.FromEcosystem(u.Ecosystem)
		}
		if family == patchpilot.FamilyUnknown {
			continue
		}
		names := updateNames(u)
		var candidates []patchpilot.Advisory
		seen := map[string]bool{}
		for _, eco := range lookupEcosystems(u.Ecosystem) {
			for _, name := range names {
				k := key{eco, name}
				advs, ok := cache[k]
				if !ok {
					var err error
					advs, err = lookup(ctx, eco, name)
					if err != nil {
						return patchpilot.Errorf(patchpilot.ErrorCode(err), "look up advisories for %s in %s: %w", name, eco, err)
					}
					cache[k] = advs
				}
				for _, a := range advs {
					if !seen[a.ID] {
						seen[a.ID] = true
						candidates = append(candidates, a)
					}
				}
			}
		}
		target := Target{
			Ecosystem: u.Ecosystem,
			Family:    family,
			Names:     names,
			Installed: u.InstalledVersion,
			Candidate: u.CandidateVersion,
		}
		var matched []patchpilot.AdvisoryRef
		var matchErr error
		for _, a := range candidates {
			ref, ok, err := Match(a, target)
			if err != nil {
				matchErr = patchpilot.Errorf(patchpilot.ErrorCode(err), "%s: %s %s -> %s: %w",
					u.Host, u.Package, u.InstalledVersion, u.CandidateVersion, err)
				break
			}
			if ok {
				matched = append(matched, ref)
			}
		}
		if matchErr != nil {
			errs = append(errs, matchErr)
			continue
		}
		if len(matched) == 0 {
			continue
		}
		sort.Slice(matched, func(a, b int) bool { return matched[a].ID < matched[b].ID })
		u.Advisories = mergeRefs(u.Advisories, matched)
		u.Security = true
	}
	return errors.Join(errs...)
}

// updateNames returns the binary and source package names of an update,
// without duplicates.
func updateNames(u *patchpilot.HostUpdate) []string {
	var names []string
	if u.Package != "" {
		names = append(names, u.Package)
	}
	if u.SourcePackage != "" && u.SourcePackage != u.Package {
		names = append(names, u.SourcePackage)
	}
	return names
}

// mergeRefs appends OSV references to the package manager's, keeping the
// package manager's entry for an ID both name and filling its gaps.
func mergeRefs(have, found []patchpilot.AdvisoryRef) []patchpilot.AdvisoryRef {
	index := make(map[string]int, len(have))
	for i, r := range have {
		index[r.ID] = i
	}
	for _, r := range found {
		i, ok := index[r.ID]
		if !ok {
			index[r.ID] = len(have)
			have = append(have, r)
			continue
		}
		h := &have[i]
		if len(h.CVEs) == 0 {
			h.CVEs = r.CVEs
		}
		if h.Severity == "" {
			h.Severity = r.Severity
		}
		if h.CVSS == 0 {
			h.CVSS = r.CVSS
		}
	}
	return have
}
