package orchestrator

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// outcomeKind maps a terminal host state to its history outcome; false
// for states that are no outcome (skipped, or not terminal).
func outcomeKind(s patchpilot.HostState) (patchpilot.OutcomeKind, bool) {
	switch s {
	case patchpilot.HostSucceeded:
		return patchpilot.OutcomeSucceeded, true
	case patchpilot.HostFailed:
		return patchpilot.OutcomeFailed, true
	case patchpilot.HostRolledBack:
		return patchpilot.OutcomeRolledBack, true
	case patchpilot.HostRollbackFailed:
		return patchpilot.OutcomeRollbackFailed, true
	case patchpilot.HostUnreachable:
		return patchpilot.OutcomeUnreachable, true
	}
	return "", false
}

// packageFeature is one package of a host's change as the risk model sees
// it.
type packageFeature struct {
	Name          string `json:"name"`
	SourcePackage string `json:"source_package,omitempty"`
	Category      string `json:"category"`
	From          string `json:"from"`
	To            string `json:"to"`
}

// features are the inputs the risk model learns from for one host and one
// patch. Keys are a contract with the risk package: add, never rename.
type features struct {
	Packages        []packageFeature  `json:"packages"`
	RebootRequired  bool              `json:"reboot_required"`
	Removals        int               `json:"removals"`
	TransactionSize int               `json:"transaction_size"`
	Role            string            `json:"role,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	OS              string            `json:"os,omitempty"`
	ServicesCount   int               `json:"services_count"`
	Stage           string            `json:"stage"`
}

// packageCategory guesses what kind of package a name is: the risk of an
// update depends on it (a kernel needs a reboot, a library restarts its
// users, a service restarts itself).
func packageCategory(name string) string {
	n := strings.ToLower(name)
	switch {
	case planner.IsKernelPackage(n):
		return "kernel"
	case strings.HasPrefix(n, "lib") || strings.Contains(n, "-lib") || strings.HasSuffix(n, "-libs"):
		return "library"
	case strings.HasPrefix(n, "openssl") || strings.HasPrefix(n, "openssh") || strings.HasPrefix(n, "gnutls") || strings.HasPrefix(n, "ca-certificates"):
		return "security"
	case strings.HasSuffix(n, "-tools") || strings.HasSuffix(n, "-utils") || strings.HasSuffix(n, "-cli"):
		return "tool"
	case strings.HasSuffix(n, "d") || strings.Contains(n, "server") || strings.Contains(n, "web") || strings.Contains(n, "agent"):
		return "service"
	}
	return "other"
}

// recordOutcome stores a host's final outcome with its features. Failing
// to store it is logged: the pipeline has already ended.
func (rn *run) recordOutcome(ctx context.Context, hr patchpilot.HostRun, pre *patchpilot.PreflightReport) {
	kind, ok := outcomeKind(hr.State)
	if !ok || rn.r.DryRun {
		return
	}
	f := rn.facts[hr.Host]
	h := rn.hosts[hr.Host]
	if pre == nil {
		rn.mu.Lock()
		if p, found := rn.pre[hr.Host]; found {
			pre = &p
		}
		rn.mu.Unlock()
	}
	sources := map[string]string{}
	if f != nil {
		for _, p := range f.Packages {
			sources[p.Name] = p.SourceName
		}
	}
	o := patchpilot.Outcome{Time: rn.e.now(), Rollout: rn.r.ID, Host: hr.Host, Labels: h.Labels,
		Outcome: kind, Reason: hr.Reason, GateResults: hr.Gates, Packages: []patchpilot.PackageChange{}}
	feat := features{Labels: h.Labels, Role: h.Labels[patchpilot.LabelRole], Stage: hr.Stage}
	if f != nil {
		o.OS = f.OSName + ":" + f.OSVersion
		feat.OS, feat.ServicesCount = o.OS, len(f.Services)
	}
	for _, name := range sortedKeys(hr.ToVersions) {
		src := sources[name]
		o.Packages = append(o.Packages, patchpilot.PackageChange{Name: name, From: hr.FromVersions[name], To: hr.ToVersions[name], SourcePackage: src})
		feat.Packages = append(feat.Packages, packageFeature{Name: name, SourcePackage: src, Category: packageCategory(name),
			From: hr.FromVersions[name], To: hr.ToVersions[name]})
	}
	feat.TransactionSize = len(hr.ToVersions)
	if pre != nil {
		feat.RebootRequired = pre.RebootRequired
		feat.Removals = len(pre.Removals)
		feat.TransactionSize = max(feat.TransactionSize, len(pre.Changes))
	}
	rn.mu.Lock()
	feat.RebootRequired = feat.RebootRequired || rn.reboot[hr.Host] || hr.BootIDAfter != ""
	rn.mu.Unlock()
	o.Features, _ = json.Marshal(feat)
	if o.GateResults == nil {
		o.GateResults = []patchpilot.GateResult{}
	}
	if err := rn.e.Store.RecordOutcome(context.WithoutCancel(ctx), o); err != nil {
		rn.e.logger().Warn("store outcome", "host", hr.Host, "err", err)
	}
}
