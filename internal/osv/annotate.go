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
	// A fleet runs the same few releases: many hosts wait for the same
	// update (package, installed and candidate version in one ecosystem),
	// and its matches are computed once.
	type updateKey struct {
		ecosystem            string
		family               patchpilot.OSFamily
		pkg, source          string
		installed, candidate string
	}
	type matches struct {
		refs []patchpilot.AdvisoryRef
		err  error
	}
	memo := map[updateKey]matches{}
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
		uk := updateKey{u.Ecosystem, family, u.Package, u.SourcePackage, u.InstalledVersion, u.CandidateVersion}
		m, ok := memo[uk]
		if !ok {
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
			for _, a := range candidates {
				ref, ok, err := Match(a, target)
				if err != nil {
					m.err = err
					break
				}
				if ok {
					m.refs = append(m.refs, ref)
				}
			}
			if m.err != nil {
				m.refs = nil
			}
			sort.Slice(m.refs, func(a, b int) bool { return m.refs[a].ID < m.refs[b].ID })
			memo[uk] = m
		}
		if m.err != nil {
			errs = append(errs, patchpilot.Errorf(patchpilot.ErrorCode(m.err), "%s: %s %s -> %s: %w",
				u.Host, u.Package, u.InstalledVersion, u.CandidateVersion, m.err))
			continue
		}
		if len(m.refs) == 0 {
			continue
		}
		u.Advisories = mergeRefs(u.Advisories, m.refs)
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
