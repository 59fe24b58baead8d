package risk

import (
	"math"

	"github.com/patchpilot/patchpilot"
)

// Strengths are the pseudo-counts of the hierarchical shrinkage: how many
// updates' worth of weight each level's prior carries. A package seen n
// times with f failures has the rate (f + S·c)/(n + S), where c is its
// category's rate and S the package strength; the category is shrunk the
// same way toward the fleet's rate, and the fleet's toward the public one.
type Strengths struct {
	Global      float64 `json:"global"`
	Category    float64 `json:"category"`
	Package     float64 `json:"package"`
	Role        float64 `json:"role"`
	PackageRole float64 `json:"package_role"`
	Host        float64 `json:"host"`
	Version     float64 `json:"version"`
}

// DefaultStrengths are used when the training data is too thin to estimate
// them (see estimateStrengths): a fleet's own rate needs about 200 updates
// to outweigh the public prior, a package about 20 to outweigh its category.
func DefaultStrengths() Strengths {
	return Strengths{Global: 200, Category: 50, Package: 20, Role: 50, PackageRole: 10, Host: 30, Version: 5}
}

// Feature names, in the order of the model's vectors.
const (
	FeaturePackage     = "package_history"
	FeatureCVEPrior    = "cve_count_prior"
	FeaturePackageRole = "package_role_history"
	FeatureRole        = "role_history"
	FeatureHost        = "host_history"
	FeatureVersion     = "version_history"
	FeatureNewUpstream = "new_upstream"
	FeatureJump        = "version_jump"
	FeatureNoVersion   = "version_unknown"
	FeatureCVEs        = "cve_count"
	FeatureSeverity    = "severity"
	FeatureReboot      = "reboot_required"
	FeatureTransaction = "transaction_size"
	FeatureRemovals    = "removals"
	FeatureConflicts   = "conflicts"
	FeatureHostLast    = "host_last_failed"
	FeatureDependents  = "dependents"
	FeatureServices    = "services"
)

// FeatureNames lists the model's features in vector order.
func FeatureNames() []string {
	return []string{FeaturePackage, FeatureCVEPrior, FeaturePackageRole, FeatureRole, FeatureHost,
		FeatureVersion, FeatureNewUpstream, FeatureJump, FeatureNoVersion, FeatureCVEs, FeatureSeverity,
		FeatureReboot, FeatureTransaction, FeatureRemovals, FeatureConflicts, FeatureHostLast,
		FeatureDependents, FeatureServices}
}

// Features are the model's inputs for one update on one host, together with
// the facts they were computed from (for reasons and warnings). History
// features are log-odds: the package's shrunk rate itself, and for the
// other levels the shift their own history makes against the level above.
type Features struct {
	Values map[string]float64 `json:"values"`

	Category     string        `json:"category"`
	Source       string        `json:"source_package"`
	Role         string        `json:"role,omitempty"`
	FleetRate    float64       `json:"fleet_rate"`
	CategoryRate float64       `json:"category_rate"`
	PackageRate  float64       `json:"package_rate"`
	PackageCount Count         `json:"package_count"`
	CategoryCnt  Count         `json:"category_count"`
	RoleCount    Count         `json:"package_role_count"`
	RoleAll      Count         `json:"role_count"`
	HostCount    Count         `json:"host_count"`
	VersionCount Count         `json:"version_count"`
	Change       VersionChange `json:"version_change"`
	HostLast     *LastOutcome  `json:"host_last,omitempty"`
}

// vector returns the values in FeatureNames order.
func (f Features) vector() []float64 {
	names := FeatureNames()
	out := make([]float64, len(names))
	for i, n := range names {
		out[i] = f.Values[n]
	}
	return out
}

// shrink is the Beta-binomial posterior mean of a rate with a prior mean
// and strength.
func shrink(c Count, prior, strength float64) float64 {
	return clampProb((float64(c.Failures) + strength*prior) / (float64(c.Total) + strength))
}

// computeFeatures derives the features of r from the history h, which must
// hold only outcomes from before r.
func computeFeatures(r Record, h *History, p Priors, s Strengths) Features {
	src := r.Source()
	cat := r.CategoryOf()
	role := r.Role()
	f := Features{Category: cat, Source: src, Role: role, Values: map[string]float64{}}

	f.FleetRate = shrink(h.Global, p.Global.Rate, s.Global)
	f.CategoryCnt = h.Category[cat]
	catPrior := clampProb(f.FleetRate * p.CategoryRatio(cat))
	f.CategoryRate = shrink(f.CategoryCnt, catPrior, s.Category)
	f.PackageCount = h.Package[src]
	f.PackageRate = shrink(f.PackageCount, f.CategoryRate, s.Package)
	v := f.Values
	v[FeaturePackage] = logit(f.PackageRate)
	v[FeatureCVEPrior] = p.CVELogOdds(r.CVETotal())
	if role != "" {
		f.RoleCount = h.PackageRole[packageRoleKey(src, role)]
		v[FeaturePackageRole] = logit(shrink(f.RoleCount, f.PackageRate, s.PackageRole)) - v[FeaturePackage]
		f.RoleAll = h.Role[role]
		v[FeatureRole] = logit(shrink(f.RoleAll, f.FleetRate, s.Role)) - logit(f.FleetRate)
	}
	if r.Host != "" {
		f.HostCount = h.Host[r.Host]
		v[FeatureHost] = logit(shrink(f.HostCount, f.FleetRate, s.Host)) - logit(f.FleetRate)
		if last, ok := h.HostLast[r.Host]; ok {
			f.HostLast = &last
			if last.Outcome != "" && last.Outcome != "succeeded" {
				v[FeatureHostLast] = 1
			}
		}
	}
	if r.ToVersion != "" {
		f.VersionCount = h.Version[versionKey(src, r.ToVersion)]
		v[FeatureVersion] = logit(shrink(f.VersionCount, f.PackageRate, s.Version)) - v[FeaturePackage]
	}
	f.Change = CompareChange(r.OS, r.FromVersion, r.ToVersion)
	if f.Change.NewUpstream {
		v[FeatureNewUpstream] = 1
	}
	if f.Change.Jump == JumpUnknown {
		v[FeatureNoVersion] = 1
	} else {
		v[FeatureJump] = float64(f.Change.Jump)
	}
	v[FeatureCVEs] = math.Log1p(float64(r.CVETotal()))
	v[FeatureSeverity] = float64(patchpilot.Severity(r.Severity).Rank())
	if r.RebootRequired || cat == CategoryKernel {
		v[FeatureReboot] = 1
	}
	if r.TransactionSize > 0 {
		v[FeatureTransaction] = math.Log1p(float64(r.TransactionSize))
	}
	if len(r.Removals) > 0 {
		v[FeatureRemovals] = 1
	}
	if r.Conflicts {
		v[FeatureConflicts] = 1
	}
	v[FeatureDependents] = math.Log1p(float64(max(r.Dependents, 0)))
	v[FeatureServices] = math.Log1p(float64(len(r.Services)))
	return f
}

// estimateStrengths sets each level's pseudo-count by the method of moments
// of the Beta-binomial: the spread of the groups' raw rates beyond what
// binomial noise explains is the spread of their true rates, and a Beta
// prior with mean m and strength S has variance m(1-m)/(S+1). Levels with
// too few groups, or no excess spread, keep the default (strong) pooling.
func estimateStrengths(h *History) Strengths {
	s := DefaultStrengths()
	s.Category = momStrength(h.Category, s.Category)
	s.Package = momStrength(h.Package, s.Package)
	s.Host = momStrength(h.Host, s.Host)
	s.Role = momStrength(h.Role, s.Role)
	s.PackageRole = momStrength(h.PackageRole, s.PackageRole)
	s.Version = momStrength(h.Version, s.Version)
	return s
}

// Bounds of an estimated strength: below the minimum one failure would
// swing a rate too far; above the maximum the level's own history is ignored.
const (
	minStrength     = 2
	maxStrength     = 500
	minGroupsForMoM = 5
)

func momStrength(groups map[string]Count, fallback float64) float64 {
	var n, f int
	for _, c := range groups {
		n += c.Total
		f += c.Failures
	}
	if len(groups) < minGroupsForMoM || n == 0 || f == 0 {
		return fallback
	}
	mean := float64(f) / float64(n)
	// Weighted variance of raw rates, and the part binomial noise explains.
	var between, noise, w float64
	for _, c := range groups {
		if c.Total == 0 {
			continue
		}
		wt := float64(c.Total)
		d := c.Rate() - mean
		between += wt * d * d
		noise += wt * mean * (1 - mean) / wt
		w += wt
	}
	between /= w
	noise /= w
	excess := between - noise
	if excess <= 0 {
		return maxStrength
	}
	return math.Min(math.Max(mean*(1-mean)/excess-1, minStrength), maxStrength)
}
