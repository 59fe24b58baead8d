package risk

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// OutcomeFeatures is the shape of patchpilot.Outcome.Features, defined
// once: the controller (internal/orchestrator) marshals exactly this type
// when a host's patch ends and FromOutcome reads it back. Every field is
// optional, and unknown fields are ignored so that outcomes written by
// another version still load. Keys are a contract: add, never rename.
type OutcomeFeatures struct {
	// Categories maps package names to their category when the
	// controller knows better than the built-in table.
	Categories map[string]string `json:"categories,omitempty"`
	// Advisories are the advisories the patch fixes on this host.
	Advisories []patchpilot.AdvisoryRef `json:"advisories,omitempty"`
	// CVEs and Severity summarise the advisories when they are not listed.
	CVEs     []string `json:"cves,omitempty"`
	Severity string   `json:"severity,omitempty"`
	// RebootRequired is true when the patch needed a reboot.
	RebootRequired bool `json:"reboot_required,omitempty"`
	// TransactionSize, Removals and Conflicts come from the dry run.
	TransactionSize int      `json:"transaction_size,omitempty"`
	Removals        []string `json:"removals,omitempty"`
	Conflicts       bool     `json:"conflicts,omitempty"`
	// Role overrides the host's role label; Services and Dependents
	// describe what runs on the host.
	Role       string         `json:"role,omitempty"`
	Services   []string       `json:"services,omitempty"`
	Dependents map[string]int `json:"dependents,omitempty"`
	// Stage names the rollout stage the host was in; the model does not
	// read it, people do.
	Stage string `json:"stage,omitempty"`
}

// FromOutcome flattens a host's outcome into history records, one per
// package that changed version. A failed rollback counts as "failed" (the
// patch broke the host); an unreachable host yields no record, since its
// patch may never have been applied, and neither does a removed package.
// Features that cannot be parsed are ignored: the records keep what the
// outcome itself says.
func FromOutcome(o patchpilot.Outcome) []Record {
	kind := o.Outcome
	switch kind {
	case patchpilot.OutcomeRollbackFailed:
		kind = patchpilot.OutcomeFailed
	case patchpilot.OutcomeSucceeded, patchpilot.OutcomeFailed, patchpilot.OutcomeRolledBack:
	default:
		return nil
	}
	var f OutcomeFeatures
	if len(o.Features) > 0 {
		if err := json.Unmarshal(o.Features, &f); err != nil {
			f = OutcomeFeatures{}
		}
	}
	cves, severity := f.CVEs, f.Severity
	for _, a := range f.Advisories {
		cves = append(cves, a.CVEs...)
		if patchpilot.Severity(a.Severity).Rank() > patchpilot.Severity(severity).Rank() {
			severity = a.Severity
		}
	}
	cves = uniqueStrings(cves)
	labels := o.Labels
	if f.Role != "" {
		labels = make(map[string]string, len(o.Labels)+1)
		for k, v := range o.Labels {
			labels[k] = v
		}
		labels[patchpilot.LabelRole] = f.Role
	}
	size := f.TransactionSize
	if size == 0 {
		size = len(o.Packages)
	}
	var out []Record
	for _, p := range o.Packages {
		if p.To == "" {
			continue
		}
		out = append(out, Record{
			Time: o.Time, Host: o.Host, OS: o.OS, Labels: labels,
			Package: p.Name, SourcePackage: p.SourcePackage,
			FromVersion: p.From, ToVersion: p.To,
			Category: f.Categories[p.Name],
			CVEs:     cves, Severity: strings.ToLower(severity),
			RebootRequired: f.RebootRequired, Outcome: kind, Reason: o.Reason,
			Rollout: o.Rollout, TransactionSize: size, Removals: f.Removals, Conflicts: f.Conflicts,
			Services: f.Services, Dependents: f.Dependents[p.Name],
			Unrelated: unrelatedOf(o),
		})
	}
	return out
}

// unrelatedOf is the outcome's Unrelated label, kept only on a failure:
// a success is the patch's whatever else happened.
func unrelatedOf(o patchpilot.Outcome) string {
	if o.Outcome == patchpilot.OutcomeSucceeded {
		return ""
	}
	return o.Unrelated
}

func uniqueStrings(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(in))
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func asError[T error](err error, target *T) bool { return errors.As(err, target) }
