package risk

import (
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// RecordOf builds the model's record of an update pending on a host, from
// the host and its latest facts: versions, OS, labels and services, the CVEs
// and the worst severity of the advisories it fixes (an advisory's word or,
// without one, its CVSS score's band), whether it needs a reboot (a kernel)
// and the packages the host's dry run removes. The dry run covers all of
// the host's pending updates together, so its removals are a fact about
// each of them. From the facts in depth it takes the package's files
// changed on the host and whether the host holds the package, which the
// assessment warns about.
func RecordOf(u patchpilot.HostUpdate, h patchpilot.Host, f patchpilot.Facts, now time.Time) Record {
	r := Record{
		Time: now, Host: u.Host, Labels: h.Labels,
		Package: u.Package, SourcePackage: u.SourcePackage,
		FromVersion: u.InstalledVersion, ToVersion: u.CandidateVersion,
		Services: f.Services,
	}
	if f.OSName != "" {
		r.OS = strings.ToLower(f.OSName) + ":" + f.OSVersion
	}
	seen := map[string]bool{}
	rank := 0
	for _, adv := range u.Advisories {
		for _, c := range adv.CVEs {
			if !seen[c] {
				seen[c] = true
				r.CVEs = append(r.CVEs, c)
			}
		}
		k := adv.Level().Rank()
		if k > rank {
			rank, r.Severity = k, string(patchpilot.SeverityOfRank(k))
		}
	}
	r.RebootRequired = Categorize(u.SourcePackage, u.Package) == CategoryKernel || Categorize("", u.Package) == CategoryKernel
	for _, rm := range f.Removals {
		r.Removals = append(r.Removals, rm.Name)
	}
	r.OSFamily = f.OSFamily
	if d := f.Depth; d != nil {
		for _, m := range d.Modified {
			if m.Package == u.Package {
				r.Modified = append(r.Modified, m)
			}
		}
		r.Held = slices.Contains(d.Held, u.Package)
	}
	return r
}
