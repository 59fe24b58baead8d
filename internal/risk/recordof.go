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
	r.CVEs, r.Severity = cvesOf(u.Advisories)
	r.RebootRequired = Categorize(u.SourcePackage, u.Package) == CategoryKernel || Categorize("", u.Package) == CategoryKernel
	for _, rm := range f.Removals {
		r.Removals = append(r.Removals, rm.Name)
	}
	r.OSFamily = f.OSFamily
	r.Modified, r.Held = depthOf(u, f.Depth)
	return r
}

// cvesOf returns the distinct CVEs of advisories, in order, and the worst
// severity among them ("" when none says).
func cvesOf(advisories []patchpilot.AdvisoryRef) ([]string, string) {
	var cves []string
	var severity string
	seen := map[string]bool{}
	rank := 0
	for _, adv := range advisories {
		for _, c := range adv.CVEs {
			if !seen[c] {
				seen[c] = true
				cves = append(cves, c)
			}
		}
		k := adv.Level().Rank()
		if k > rank {
			rank, severity = k, string(patchpilot.SeverityOfRank(k))
		}
	}
	return cves, severity
}

// depthOf returns, from a host's facts in depth, the update's package's
// files changed on the host and whether the host holds the package.
func depthOf(u patchpilot.HostUpdate, d *patchpilot.HostDepth) (modified []patchpilot.ModifiedFile, held bool) {
	if d == nil {
		return nil, false
	}
	for _, m := range d.Modified {
		if m.Package == u.Package {
			modified = append(modified, m)
		}
	}
	return modified, slices.Contains(d.Held, u.Package)
}

// HostRecords builds the records of many updates pending on one host as
// RecordOf does, with what depends on the host alone (its OS, labels,
// services and removals) worked out once. The records share the host's
// Labels, Services and Removals: read them, do not change them.
type HostRecords struct {
	base  Record
	depth *patchpilot.HostDepth
	kinds *RebootKinds
}

// RebootKinds remembers which packages need a reboot (a kernel's) by
// source package and name, for the records of many hosts. It is not safe
// for concurrent use.
type RebootKinds struct {
	reboot map[[2]string]bool
}

// NewRebootKinds returns an empty memory of reboot kinds.
func NewRebootKinds() *RebootKinds { return &RebootKinds{reboot: map[[2]string]bool{}} }

// Reboot reports whether an update of pkg (of source package source) needs
// a reboot, as RecordOf decides it.
func (k *RebootKinds) Reboot(source, pkg string) bool {
	key := [2]string{source, pkg}
	r, ok := k.reboot[key]
	if !ok {
		r = Categorize(source, pkg) == CategoryKernel || Categorize("", pkg) == CategoryKernel
		k.reboot[key] = r
	}
	return r
}

// NewHostRecords prepares the records of host h with facts f at now; kinds
// (nil: a memory of its own) is shared between the hosts of one
// assessment.
func NewHostRecords(h patchpilot.Host, f patchpilot.Facts, now time.Time, kinds *RebootKinds) *HostRecords {
	if kinds == nil {
		kinds = NewRebootKinds()
	}
	b := &HostRecords{depth: f.Depth, kinds: kinds}
	b.base = Record{Time: now, Labels: h.Labels, Services: f.Services, OSFamily: f.OSFamily}
	if f.OSName != "" {
		b.base.OS = strings.ToLower(f.OSName) + ":" + f.OSVersion
	}
	for _, rm := range f.Removals {
		b.base.Removals = append(b.base.Removals, rm.Name)
	}
	b.base.Removals = slices.Clip(b.base.Removals)
	return b
}

// RecordOf returns RecordOf(u, h, f, now) for the host and facts b was
// made with.
func (b *HostRecords) RecordOf(u patchpilot.HostUpdate) Record {
	r := b.base
	r.Host, r.Package, r.SourcePackage = u.Host, u.Package, u.SourcePackage
	r.FromVersion, r.ToVersion = u.InstalledVersion, u.CandidateVersion
	if len(u.Advisories) > 0 {
		r.CVEs, r.Severity = cvesOf(u.Advisories)
	}
	r.RebootRequired = b.kinds.Reboot(u.SourcePackage, u.Package)
	r.Modified, r.Held = depthOf(u, b.depth)
	return r
}
