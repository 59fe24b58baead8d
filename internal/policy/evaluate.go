package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// Decision is what a rule, a host, a stage or a whole plan comes to.
type Decision string

// Decisions, from the most to the least permissive.
const (
	// Allow: nothing stops it.
	Allow Decision = "allow"
	// Approve: it waits for a person's approval.
	Approve Decision = "approve"
	// Refuse: the policy forbids it; no approval lifts that.
	Refuse Decision = "refuse"
)

func (d Decision) rank() int {
	switch d {
	case Approve:
		return 1
	case Refuse:
		return 2
	}
	return 0
}

// Rule names, as reports show them.
const (
	RuleGroup        = "group"         // which group the host is in, and its level
	RuleHold         = "hold"          // a held package sent to a group that holds it
	RulePromotion    = "promotion"     // an update reaching hosts before it succeeded where it must first
	RuleCritical     = "critical"      // critical hosts always need a person
	RuleHighRisk     = "high_risk"     // high-risk updates always need a person
	RuleAutoApprove  = "auto_approve"  // auto-approval by classification and severity after a delay
	RuleTwoApprovers = "two_approvers" // a stage with critical hosts needs two distinct approvers
	RulePlan         = "plan"          // the plan itself asks for approval
	RuleLevel        = "level"         // whether the plan may start without a person
)

// Update is one update a plan would install on one host, with what the
// store knows of it.
type Update struct {
	Host     string `json:"host"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Security bool   `json:"security"`
	// Severity is the highest severity of the advisories the update
	// fixes ("" when none is known).
	Severity patchpilot.Severity `json:"severity,omitempty"`
	// Available is when the update first became available (zero when
	// nothing the store keeps says so); AvailableFrom says what told.
	Available     time.Time `json:"available,omitzero"`
	AvailableFrom string    `json:"available_from,omitempty"`
}

// Stage is one resolved stage of a plan: its hosts, and whether the plan
// itself requires approval for it.
type Stage struct {
	Name             string
	Hosts            []string
	ApprovalRequired bool
}

// Input is everything Evaluate looks at.
type Input struct {
	Plan   string  // the plan's name, for reports
	Stages []Stage // the plan's stages as resolved against the fleet
	// Hosts are the targets with their labels and facts, as the planner
	// selects them.
	Hosts   []planner.HostView
	Updates []Update
	// Outcomes are the stored host outcomes of past rollouts, for the
	// promotion rule.
	Outcomes []patchpilot.Outcome
	// Risk is each host's risk level for this patch; a host missing
	// from it has no assessment.
	Risk map[string]patchpilot.RiskLevel
	Now  time.Time
}

// Finding is one rule's word on a host or a stage.
type Finding struct {
	Rule     string   `json:"rule"`
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason"`
	// Until is when an auto-approval delay passes (set with Approve).
	Until *time.Time `json:"until,omitempty"`
}

// HostDecision is what the policy decides for one host.
type HostDecision struct {
	Host     string    `json:"host"`
	Stage    string    `json:"stage"`
	Group    string    `json:"group"`
	Level    Level     `json:"level"`
	Decision Decision  `json:"decision"`
	Findings []Finding `json:"findings"`
}

// StageDecision is what the policy decides for one stage: Approve means
// it waits for Approvers distinct people.
type StageDecision struct {
	Name      string    `json:"name"`
	Hosts     []string  `json:"hosts"`
	Decision  Decision  `json:"decision"`
	Approvers int       `json:"approvers,omitempty"`
	Findings  []Finding `json:"findings"`
	// Until is the latest auto-approval time among the stage's holds
	// (nil when no delay holds it).
	Until *time.Time `json:"until,omitempty"`
	// AutoApproveAt is set when only auto-approval delays hold the
	// stage: at that time the policy approves it by itself, if no person
	// did before.
	AutoApproveAt *time.Time `json:"auto_approve_at,omitempty"`
	// Reasons are the planner's reasons for the stage's hosts (canary
	// coverage, the dependency order, the budgets that hold them), which
	// the caller that resolved the plan fills in.
	Reasons []string `json:"reasons,omitempty"`
}

// Report is the policy's verdict on a plan: Refuse when any host is
// refused; otherwise Allow (gated stages wait for their approvals).
// Unattended says whether the plan may start without a person.
type Report struct {
	Plan             string          `json:"plan"`
	Decision         Decision        `json:"decision"`
	Unattended       bool            `json:"unattended"`
	UnattendedReason string          `json:"unattended_reason"`
	Stages           []StageDecision `json:"stages"`
	Hosts            []HostDecision  `json:"hosts"`
	// Warnings say what the policy could not apply, such as a compliance
	// label naming a regime the policy does not define, and what looks
	// mistaken in the plan against its targets (a budget covering none).
	Warnings []string `json:"warnings,omitempty"`
}

// Refusals lists every refusing finding, prefixed with its host.
func (r Report) Refusals() []string {
	var out []string
	for _, h := range r.Hosts {
		for _, f := range h.Findings {
			if f.Decision == Refuse {
				out = append(out, h.Host+": "+f.Reason)
			}
		}
	}
	return out
}

// Evaluate applies the policy to a plan's resolved stages. It is pure: the
// caller gathers what the store knows (updates, outcomes, risk) and the
// time.
func Evaluate(p Policy, in Input) Report {
	rep := Report{Plan: in.Plan, Decision: Allow, Stages: []StageDecision{}, Hosts: []HostDecision{}}
	views := map[string]planner.HostView{}
	for _, h := range in.Hosts {
		views[h.Name()] = h
	}
	updates := map[string][]Update{}
	for _, u := range in.Updates {
		updates[u.Host] = append(updates[u.Host], u)
	}
	level := Autopilot
	var levelWhy []string
	lowRisk := true
	// riskWhy names the targets that are not low risk; supervisedWhy those
	// of them at the supervised level, which the reason names when any.
	var riskWhy, supervisedWhy []string
	capped := map[string][]string{} // regime → its targets it caps at supervised
	heldAt := map[string]string{}   // package and version → the stage an auto-approval holds
	for _, st := range in.Stages {
		sd := StageDecision{Name: st.Name, Hosts: st.Hosts, Decision: Allow, Approvers: 0, Findings: []Finding{}}
		if st.ApprovalRequired {
			sd.add(Finding{Rule: RulePlan, Decision: Approve, Reason: "the plan requires approval for this stage"})
		}
		var critical []string
		twoApprovers := false
		regimeHosts := map[string][]string{} // regimes that require approval, and their hosts in the stage
		for _, name := range st.Hosts {
			v, ok := views[name]
			if !ok {
				v = planner.NewHostView(patchpilot.Host{Name: name}, nil)
			}
			g := p.GroupOf(v)
			regimes, unknown := p.RegimesOf(v)
			for _, u := range unknown {
				rep.Warnings = appendOnce(rep.Warnings, fmt.Sprintf("%s: its compliance label names regime %q, which the policy does not define (policy: compliance): no compliance rule applies to it", name, u))
			}
			hostLevel := p.HostLevel(g, regimes)
			hd := HostDecision{Host: name, Stage: st.Name, Group: g.Name, Level: hostLevel, Decision: Allow, Findings: []Finding{}}
			groupWhy := "in group " + g.Name
			if g.Selector != "" {
				groupWhy += " (" + g.Selector + ")"
			} else {
				groupWhy += " (no group's selector matches)"
			}
			hd.add(Finding{Rule: RuleGroup, Decision: Allow, Reason: groupWhy + ", level " + string(g.Level)})
			for _, rn := range regimes {
				r := p.Compliance[rn]
				f := Finding{Rule: RuleCompliance, Decision: Allow, Reason: r.describe(rn, g, p.SLAOf(g))}
				if r.ApprovalRequired || r.TwoApprovers {
					f.Decision = Approve
					regimeHosts[rn] = append(regimeHosts[rn], name)
				}
				hd.add(f)
			}
			if hostLevel.rank() < level.rank() {
				level = hostLevel
			}
			switch {
			case hostLevel.rank() > Supervised.rank():
			case hostLevel == g.Level:
				levelWhy = appendOnce(levelWhy, fmt.Sprintf("group %s is %s", g.Name, g.Level))
			default:
				for _, rn := range regimes {
					if m := p.Compliance[rn].MaxLevel; m != "" && m.rank() == hostLevel.rank() {
						capped[rn] = appendOnce(capped[rn], name)
					}
				}
			}
			var notLow string
			ups := updates[name]
			for _, u := range ups {
				if pat, held := g.Held(u.Package); held {
					why := fmt.Sprintf("package %s is held in group %s", u.Package, g.Name)
					if pat != u.Package {
						why += fmt.Sprintf(" (hold %q)", pat)
					}
					hd.add(Finding{Rule: RuleHold, Decision: Refuse, Reason: why})
				}
			}
			for _, pr := range p.Promotions {
				if f, applies := promotion(pr, v, ups, in.Outcomes, in.Now); applies {
					hd.add(f)
				}
			}
			if v.Host.Critical() {
				critical = append(critical, name)
				hd.add(Finding{Rule: RuleCritical, Decision: Approve, Reason: "the host is labelled critical: critical hosts always need a person"})
				if g.TwoApprovers {
					twoApprovers = true
				}
			}
			switch lvl, ok := in.Risk[name]; {
			case ok && lvl == patchpilot.RiskHigh:
				hd.add(Finding{Rule: RuleHighRisk, Decision: Approve, Reason: "the update is high risk on this host: high-risk updates always need a person"})
				notLow = name + " is high risk"
			case ok && lvl != patchpilot.RiskLow:
				notLow = fmt.Sprintf("%s is %s risk", name, lvl)
			case !ok && len(ups) > 0:
				notLow = name + " has no risk assessment"
			}
			if notLow != "" {
				lowRisk = false
				riskWhy = appendOnce(riskWhy, notLow)
				if hostLevel == Supervised {
					supervisedWhy = appendOnce(supervisedWhy, notLow)
				}
			}
			if len(g.AutoApprove) > 0 {
				for _, u := range ups {
					f := autoApproval(g, u, in.Now)
					// An update not yet approved holds the first stage
					// that installs it; the person who approves that
					// stage approves the update for the later ones.
					k := u.Package + "\x00" + u.Version
					if f.Decision == Approve {
						if first, ok := heldAt[k]; ok && first != st.Name {
							f = Finding{Rule: RuleAutoApprove, Decision: Allow,
								Reason: fmt.Sprintf("%s %s is not auto-approved yet; stage %s waits for a person's approval of it", u.Package, u.Version, first)}
						} else {
							heldAt[k] = st.Name
						}
					}
					hd.add(f)
				}
			}
			sd.merge(hd)
			rep.Hosts = append(rep.Hosts, hd)
			if hd.Decision == Refuse {
				rep.Decision = Refuse
			}
		}
		if len(critical) > 0 {
			sd.add(Finding{Rule: RuleCritical, Decision: Approve, Reason: "holds critical hosts " + strings.Join(critical, ", ") + ", which always need a person"})
			if twoApprovers {
				sd.Approvers = 2
				sd.add(Finding{Rule: RuleTwoApprovers, Decision: Approve, Reason: "the group of a critical host requires two distinct approvers"})
			}
		}
		for _, rn := range slices.Sorted(maps.Keys(regimeHosts)) {
			sd.add(Finding{Rule: RuleCompliance, Decision: Approve,
				Reason: fmt.Sprintf("compliance %s: holds hosts under %s (%s), which need a person's approval", rn, rn, strings.Join(regimeHosts[rn], ", "))})
			if p.Compliance[rn].TwoApprovers {
				sd.Approvers = 2
				sd.add(Finding{Rule: RuleTwoApprovers, Decision: Approve, Reason: fmt.Sprintf("compliance %s: its hosts require two distinct approvers", rn)})
			}
		}
		if sd.Decision == Approve && sd.Approvers == 0 {
			sd.Approvers = 1
		}
		if sd.Decision == Approve && onlyDelays(sd.Findings) {
			sd.AutoApproveAt = sd.Until
		}
		if sd.Decision != Approve {
			sd.Approvers = 0
		}
		rep.Stages = append(rep.Stages, sd)
	}
	for _, rn := range slices.Sorted(maps.Keys(capped)) {
		levelWhy = appendOnce(levelWhy, fmt.Sprintf("compliance %s caps its hosts at %s (%s)", rn, p.Compliance[rn].MaxLevel, strings.Join(capped[rn], ", ")))
	}
	if len(supervisedWhy) > 0 {
		// Name the hosts the supervised level covers, not every target.
		riskWhy = supervisedWhy
	}
	rep.Unattended, rep.UnattendedReason = unattended(rep, level, levelWhy, lowRisk, riskWhy)
	return rep
}

// unattended decides whether the plan may start without a person: never
// when refused or when any target is in an advisor group; in supervised
// groups only a low-risk plan that no rule holds; in autopilot always (the
// stages the rules hold still wait for their approvals).
func unattended(rep Report, level Level, levelWhy []string, lowRisk bool, riskWhy []string) (bool, string) {
	if rep.Decision == Refuse {
		return false, "the policy refuses the plan"
	}
	if len(rep.Hosts) == 0 {
		return false, "the plan has no target hosts"
	}
	switch level {
	case Advisor:
		return false, joinWhy(levelWhy) + ": plans are proposed, a person starts them"
	case Supervised:
		if !lowRisk {
			return false, joinWhy(levelWhy) + ": only low-risk plans start themselves, and " + joinWhy(riskWhy)
		}
		for _, s := range rep.Stages {
			if s.Decision == Approve {
				return false, joinWhy(levelWhy) + ": stage " + s.Name + " is held for a person (" + s.Findings[firstGate(s.Findings)].Reason + ")"
			}
		}
		return true, joinWhy(levelWhy) + ": the plan is low risk and no rule holds it"
	}
	for _, s := range rep.Stages {
		if s.Decision == Approve {
			return true, "every target is in an autopilot group; stages the rules hold wait for their approvals"
		}
	}
	return true, "every target is in an autopilot group and no rule holds the plan"
}

// onlyDelays reports whether every finding that gates is an auto-approval
// delay with its time.
func onlyDelays(fs []Finding) bool {
	for _, f := range fs {
		if f.Decision == Approve && (f.Rule != RuleAutoApprove || f.Until == nil) {
			return false
		}
	}
	return true
}

func firstGate(fs []Finding) int {
	for i, f := range fs {
		if f.Decision == Approve {
			return i
		}
	}
	return 0
}

func joinWhy(why []string) string {
	sort.Strings(why)
	return strings.Join(why, ", ")
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (h *HostDecision) add(f Finding) {
	h.Findings = append(h.Findings, f)
	if f.Decision.rank() > h.Decision.rank() {
		h.Decision = f.Decision
	}
}

func (s *StageDecision) add(f Finding) {
	s.Findings = append(s.Findings, f)
	if f.Decision.rank() > s.Decision.rank() {
		s.Decision = f.Decision
	}
	if f.Until != nil && (s.Until == nil || f.Until.After(*s.Until)) {
		t := *f.Until
		s.Until = &t
	}
}

// merge carries a host's gating findings up to its stage, naming the host.
// The critical rule is carried once for the stage as a whole.
func (s *StageDecision) merge(h HostDecision) {
	for _, f := range h.Findings {
		if f.Decision == Allow || f.Rule == RuleCritical || f.Rule == RuleCompliance {
			continue
		}
		f.Reason = h.Host + ": " + f.Reason
		s.add(f)
	}
}

// autoApproval applies the group's auto-approval rules to one update: the
// first rule that covers it decides when it is approved.
func autoApproval(g Group, u Update, now time.Time) Finding {
	what := u.Package + " " + u.Version
	class := ClassOther
	if u.Security {
		class = ClassSecurity
	}
	for _, r := range g.AutoApprove {
		if r.Classification != ClassAny && r.Classification != class {
			continue
		}
		if r.MinSeverity != "" && u.Severity.Rank() < r.MinSeverity.Rank() {
			continue
		}
		rule := string(r.Classification) + " updates"
		if r.MinSeverity != "" {
			rule = fmt.Sprintf("%s updates of severity %s and above", r.Classification, r.MinSeverity)
		}
		rule += " after " + FormatDuration(r.After)
		if r.After == 0 {
			return Finding{Rule: RuleAutoApprove, Decision: Allow, Reason: what + " is auto-approved (" + rule + ")"}
		}
		if u.Available.IsZero() {
			return Finding{Rule: RuleAutoApprove, Decision: Approve,
				Reason: fmt.Sprintf("%s: nothing the store keeps says when it became available, so it is not auto-approved (%s); a person must approve", what, rule)}
		}
		at := u.Available.Add(r.After).UTC()
		if now.Before(at) {
			return Finding{Rule: RuleAutoApprove, Decision: Approve, Until: &at,
				Reason: fmt.Sprintf("%s is auto-approved only from %s (%s; available since %s, %s); until then a person must approve",
					what, at.Format(time.RFC3339), rule, u.Available.UTC().Format(time.RFC3339), u.AvailableFrom)}
		}
		return Finding{Rule: RuleAutoApprove, Decision: Allow,
			Reason: fmt.Sprintf("%s is auto-approved since %s (%s; available since %s, %s)",
				what, at.Format(time.RFC3339), rule, u.Available.UTC().Format(time.RFC3339), u.AvailableFrom)}
	}
	sev := ""
	if u.Severity != "" {
		sev = " of severity " + string(u.Severity)
	}
	return Finding{Rule: RuleAutoApprove, Decision: Approve,
		Reason: fmt.Sprintf("%s (%s%s) is covered by no auto-approval rule of group %s; a person must approve", what, class, sev, g.Name)}
}

// promotion applies one promotion rule to a host: it applies when the rule's
// To selects the host. Each update must then have succeeded, at the same
// version, on a host From selects (judged by the labels the outcome
// recorded), without a failure there since, for at least After.
func promotion(pr Promotion, h planner.HostView, ups []Update, outcomes []patchpilot.Outcome, now time.Time) (Finding, bool) {
	to, err := planner.ParseSelector(pr.To)
	if err != nil || !to.Matches(h) {
		return Finding{}, false
	}
	from, err := planner.ParseSelector(pr.From)
	if err != nil {
		return Finding{Rule: RulePromotion, Decision: Refuse, Reason: fmt.Sprintf("promotion %s → %s: %v", pr.From, pr.To, err)}, true
	}
	if len(ups) == 0 {
		return Finding{Rule: RulePromotion, Decision: Allow, Reason: fmt.Sprintf("promotion %s → %s: the plan installs nothing the facts know of on this host", pr.From, pr.To)}, true
	}
	var blocked, ok []string
	for _, u := range ups {
		var start, lastFail time.Time
		for _, o := range outcomes {
			if !from.Matches(planner.NewHostView(patchpilot.Host{Name: o.Host, Labels: o.Labels}, nil)) || !installed(o, u) {
				continue
			}
			switch o.Outcome {
			case patchpilot.OutcomeSucceeded:
			case patchpilot.OutcomeFailed, patchpilot.OutcomeRolledBack, patchpilot.OutcomeRollbackFailed:
				if o.Time.After(lastFail) {
					lastFail = o.Time
				}
			}
		}
		for _, o := range outcomes {
			if o.Outcome != patchpilot.OutcomeSucceeded || o.Time.Before(lastFail) || !installed(o, u) ||
				!from.Matches(planner.NewHostView(patchpilot.Host{Name: o.Host, Labels: o.Labels}, nil)) {
				continue
			}
			if start.IsZero() || o.Time.Before(start) {
				start = o.Time
			}
		}
		what := u.Package + " " + u.Version
		switch {
		case start.IsZero() && !lastFail.IsZero():
			blocked = append(blocked, fmt.Sprintf("%s failed on %s at %s and has not succeeded there since", what, pr.From, lastFail.UTC().Format(time.RFC3339)))
		case start.IsZero():
			blocked = append(blocked, fmt.Sprintf("%s has not succeeded on %s yet", what, pr.From))
		case now.Sub(start) < pr.After:
			blocked = append(blocked, fmt.Sprintf("%s succeeded on %s at %s, only %s ago; it may reach %s from %s",
				what, pr.From, start.UTC().Format(time.RFC3339), FormatDuration(now.Sub(start).Truncate(time.Minute)), pr.To, start.Add(pr.After).UTC().Format(time.RFC3339)))
		default:
			ok = append(ok, fmt.Sprintf("%s succeeded on %s since %s", what, pr.From, start.UTC().Format(time.RFC3339)))
		}
	}
	if len(blocked) > 0 {
		return Finding{Rule: RulePromotion, Decision: Refuse,
			Reason: fmt.Sprintf("an update may reach %s only after it succeeded on %s for %s: %s", pr.To, pr.From, FormatDuration(pr.After), strings.Join(blocked, "; "))}, true
	}
	return Finding{Rule: RulePromotion, Decision: Allow,
		Reason: fmt.Sprintf("promotion %s → %s after %s: %s", pr.From, pr.To, FormatDuration(pr.After), strings.Join(ok, "; "))}, true
}

// installed reports whether the outcome installed the update's version of
// its package.
func installed(o patchpilot.Outcome, u Update) bool {
	for _, c := range o.Packages {
		if c.Name == u.Package && c.To == u.Version {
			return true
		}
	}
	return false
}
