package app

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/policy"
)

// PolicyReport is the server's policy's verdict on a plan, rule by rule,
// for each stage and each host (see docs/policy.md). Its JSON is the
// output of 'policy check -o json'.
type PolicyReport = policy.Report

// PolicyStageDecision, PolicyHostDecision and PolicyFinding are the parts
// of a PolicyReport.
type (
	PolicyStageDecision = policy.StageDecision
	PolicyHostDecision  = policy.HostDecision
	PolicyFinding       = policy.Finding
)

// Policy is the server's policy (the policy: section of patchpilot.yaml).
type Policy = policy.Policy

// PolicyAdvisor is the automation level of a group that names none.
const PolicyAdvisor = policy.Advisor

// PolicyGroup, PolicyAutoApprove and PolicyPromotion are the parts of a
// Policy.
type (
	PolicyGroup       = policy.Group
	PolicyAutoApprove = policy.AutoApprove
	PolicyPromotion   = policy.Promotion
)

// Policy returns the server's policy, as configured (the zero Policy is
// the default one: every host an advisor, nothing held).
func (a *App) Policy() Policy { return a.Options.Policy }

// The decisions of a PolicyReport, a stage, a host or a rule.
const (
	PolicyAllow   = policy.Allow   // nothing stops it
	PolicyApprove = policy.Approve // it waits for a person's approval
	PolicyRefuse  = policy.Refuse  // the policy forbids it
)

// CheckPolicy evaluates the server's policy on a plan over the stored
// hosts, as StartRollout would when it creates the rollout: what decided
// each stage and each host, and whether the plan may start without a
// person. A plan the policy refuses is a report with decision refuse, not
// an error; errors are a plan that does not resolve, or the store.
func (a *App) CheckPolicy(ctx context.Context, p patchpilot.Plan) (PolicyReport, error) {
	// The metrics source is checked as StartRollout checks it, so that a
	// plan that passes the check does not fail at its start.
	if _, err := a.metricsSource(p.Health); err != nil {
		return PolicyReport{}, err
	}
	views, err := a.HostViews(ctx)
	if err != nil {
		return PolicyReport{}, err
	}
	rep, _, err := a.evaluatePolicy(ctx, p, views, nil)
	return rep, err
}

// MayStartUnattended tells a scheduler whether the plan may start without
// a person, and why: never in an advisor group; in a supervised group only
// a low-risk plan that no rule holds; in an autopilot group always, its
// gated stages then waiting for their approvals. A plan the policy refuses
// may never start.
func (a *App) MayStartUnattended(ctx context.Context, p patchpilot.Plan) (bool, string, error) {
	rep, err := a.CheckPolicy(ctx, p)
	if err != nil {
		return false, "", err
	}
	return rep.Unattended, rep.UnattendedReason, nil
}

// applyPolicy evaluates the policy on a plan about to become a rollout. A
// refusal is EFORBIDDEN naming each host, package and rule. Otherwise it
// returns the plan with the policy written into its stages: each stage the
// policy gates requires approval, by as many distinct approvers as the
// policy asks, with the reason (and, for an auto-approval delay, until
// when). The stored plan carries it, so a restarted controller enforces
// exactly what was decided at start.
func (a *App) applyPolicy(ctx context.Context, p patchpilot.Plan, views []planner.HostView, fr *fleetReads) (patchpilot.Plan, error) {
	rep, rp, err := a.evaluatePolicy(ctx, p, views, fr)
	if err != nil {
		return p, err
	}
	if rep.Decision == policy.Refuse {
		refusals := rep.Refusals()
		return p, patchpilot.Errorf(patchpilot.EFORBIDDEN, "the server's policy refuses plan %s: %s", orName(p.Name), strings.Join(refusals, "; ")).
			WithHint("the policy lives in the server's configuration (policy: in patchpilot.yaml); 'patchpilot policy check PLAN' explains it rule by rule")
	}
	out := rp.Plan
	out.Stages = append([]patchpilot.Stage(nil), rp.Plan.Stages...)
	for i, sd := range rep.Stages {
		if sd.Decision != policy.Approve || i >= len(out.Stages) {
			continue
		}
		s := &out.Stages[i]
		s.Approval = patchpilot.ApprovalRequired
		if sd.Approvers > 1 {
			s.Approvers = sd.Approvers
		}
		var why []string
		for _, f := range sd.Findings {
			if f.Decision == policy.Approve && f.Rule != policy.RulePlan {
				why = append(why, f.Rule+": "+f.Reason)
			}
		}
		s.ApprovalReason = strings.Join(why, "; ")
		s.AutoApproveAt = sd.AutoApproveAt
	}
	return out, nil
}

func orName(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// evaluatePolicy gathers what the policy looks at (the plan resolved over
// the hosts, the updates it installs with when each first became
// available, the stored outcomes and the risk of each host) and evaluates
// it.
func (a *App) evaluatePolicy(ctx context.Context, p patchpilot.Plan, views []planner.HostView, fr *fleetReads) (PolicyReport, planner.ResolvedPlan, error) {
	rp, err := planner.ResolveFleet(p, views)
	if err != nil {
		return PolicyReport{}, rp, err
	}
	byName := map[string]planner.HostView{}
	for _, v := range views {
		byName[v.Name()] = v
	}
	in := policy.Input{Plan: p.Name, Now: a.now(), Risk: map[string]patchpilot.RiskLevel{}}
	var targets []string
	for _, s := range rp.Stages {
		in.Stages = append(in.Stages, policy.Stage{Name: s.Stage.Name, Hosts: s.Hosts, ApprovalRequired: s.Stage.Approval == patchpilot.ApprovalRequired})
		for _, h := range s.Hosts {
			targets = append(targets, h)
			in.Hosts = append(in.Hosts, byName[h])
		}
	}
	if in.Updates, err = a.policyUpdates(ctx, p.Patch, targets); err != nil {
		return PolicyReport{}, rp, err
	}
	if len(a.Options.Policy.Promotions) > 0 {
		if in.Outcomes, err = a.policyOutcomes(ctx, in.Updates); err != nil {
			return PolicyReport{}, rp, err
		}
	}
	pr, err := a.assessPatchOn(ctx, p.Patch, targets, fr)
	if err != nil {
		return PolicyReport{}, rp, err
	}
	for _, h := range pr.Hosts {
		in.Risk[h.Host] = h.Level
	}
	rep := policy.Evaluate(a.Options.Policy, in)
	for i := range rep.Stages {
		if i < len(rp.Stages) {
			rep.Stages[i].Reasons = rp.Stages[i].Reasons
		}
	}
	rep.Warnings = append(rep.Warnings, rp.Warnings...)
	return rep, rp, nil
}

// policyUpdates lists what the patch installs on each target: every
// pending security update, or each pin, with its classification and
// severity from the pending updates (with their advisories) and when it
// first became available: the earliest of the first stored snapshot that
// listed it and the publication of an advisory it fixes.
func (a *App) policyUpdates(ctx context.Context, patch patchpilot.PatchSpec, targets []string) ([]policy.Update, error) {
	type key struct{ pkg, version string }
	known := map[key]patchpilot.HostUpdate{} // the fleet's view of a package version
	var out []policy.Update
	// One read of the targets' pending updates, not one per target host
	// nor the whole fleet's; kept in the targets' order.
	var all []patchpilot.HostUpdate
	if len(targets) > 0 {
		var err error
		if all, err = a.Updates(ctx, patchpilot.UpdateFilter{Hosts: targets}); err != nil {
			return nil, err
		}
	}
	byHost := map[string][]patchpilot.HostUpdate{}
	for _, u := range all {
		byHost[u.Host] = append(byHost[u.Host], u)
	}
	var pending []patchpilot.HostUpdate
	for _, h := range targets {
		pending = append(pending, byHost[h]...)
	}
	for _, u := range pending {
		k := key{u.Package, u.CandidateVersion}
		if prev, ok := known[k]; ok {
			u.Security = u.Security || prev.Security
			advs := append([]patchpilot.AdvisoryRef(nil), prev.Advisories...)
			for _, adv := range u.Advisories {
				if !slices.ContainsFunc(advs, func(x patchpilot.AdvisoryRef) bool { return x.ID == adv.ID }) {
					advs = append(advs, adv)
				}
			}
			u.Advisories = advs
		}
		known[k] = u
	}
	if patch.SecurityAll {
		for _, u := range pending {
			if u.Security {
				out = append(out, policy.Update{Host: u.Host, Package: u.Package, Version: u.CandidateVersion, Security: true})
			}
		}
	}
	for _, h := range targets {
		for _, pin := range patch.Packages {
			out = append(out, policy.Update{Host: h, Package: pin.Name, Version: pin.Version})
		}
	}
	names := map[string]bool{}
	for _, u := range out {
		names[u.Package] = true
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	published := map[string]time.Time{} // advisory id → published
	for i := range out {
		if hu, ok := known[key{out[i].Package, out[i].Version}]; ok && len(hu.Advisories) > 0 {
			if err := a.advisoryDates(ctx, hu, published); err != nil {
				return nil, err
			}
		}
	}
	av, err := a.loadAvailability(ctx, list, published)
	if err != nil {
		return nil, err
	}
	for i := range out {
		u := &out[i]
		k := key{u.Package, u.Version}
		var advs []patchpilot.AdvisoryRef
		if hu, ok := known[k]; ok {
			u.Security = u.Security || hu.Security
			if sev := patchpilot.MaxSeverity(hu.Advisories); sev.Rank() > u.Severity.Rank() {
				u.Severity = sev
			}
			if len(hu.Advisories) > 0 {
				u.Security = true
			}
			advs = hu.Advisories
		}
		if at, from, ok := av.of(u.Package, u.Version, advs); ok {
			u.Available, u.AvailableFrom = at, from
		}
	}
	return out, nil
}

// advisoryDates fills published with the publication times of the
// advisories an update fixes, from the stored advisories.
func (a *App) advisoryDates(ctx context.Context, u patchpilot.HostUpdate, published map[string]time.Time) error {
	missing := false
	for _, adv := range u.Advisories {
		if _, ok := published[adv.ID]; !ok {
			missing = true
		}
	}
	if !missing || u.Ecosystem == "" {
		return nil
	}
	for _, name := range []string{u.SourcePackage, u.Package} {
		if name == "" {
			continue
		}
		advs, err := a.Store.AdvisoriesFor(ctx, u.Ecosystem, name)
		if err != nil {
			return err
		}
		for _, adv := range advs {
			published[adv.ID] = adv.Published
		}
	}
	for _, adv := range u.Advisories {
		if _, ok := published[adv.ID]; !ok {
			published[adv.ID] = time.Time{} // named by the package manager only
		}
	}
	return nil
}

// policyOutcomes returns the stored outcomes that installed any of the
// updates' packages, once each.
func (a *App) policyOutcomes(ctx context.Context, updates []policy.Update) ([]patchpilot.Outcome, error) {
	done := map[string]bool{}
	seen := map[string]bool{}
	var out []patchpilot.Outcome
	for _, u := range updates {
		if done[u.Package] {
			continue
		}
		done[u.Package] = true
		outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Package: u.Package})
		if err != nil {
			return nil, err
		}
		for _, o := range outs {
			if k := o.Rollout + "\x00" + o.Host; !seen[k] {
				seen[k] = true
				out = append(out, o)
			}
		}
	}
	return out, nil
}
