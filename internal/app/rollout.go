package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/pkgmgr"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// EngineOptions tune the rollout engine for one command. Zero fields are
// the engine's defaults (see the orchestrator package).
type EngineOptions struct {
	// Dialer reaches the hosts collected over SSH; hosts collected with
	// 'inventory collect --local' always go through the local runner.
	Dialer        patchpilot.Dialer
	Actor         string
	OnEvent       func(patchpilot.Event)
	LeaseTTL      time.Duration
	CheckInterval time.Duration
	ApprovalWait  time.Duration
	// Drain, when closed, stops the controller cleanly: hosts in flight
	// finish the step they are in (see orchestrator.Engine.Drain).
	Drain <-chan struct{}
}

// Engine builds the rollout engine on the app's store with the real
// package managers and health gates. Every runner the engine opens
// (preflight, snapshot, apply, reboot, gates, rollback, resume) comes from
// its one dialer, which sends the controller's own machine to the local
// runner and the other hosts to o.Dialer.
func (a *App) Engine(o EngineOptions) *orchestrator.Engine {
	logger := a.Options.Logger
	approvers, every := a.changeApprovers()
	return &orchestrator.Engine{
		Store:           a.Store,
		Dialer:          hostDialer{local: a.LocalDialer(), remote: o.Dialer},
		PackageManagers: pkgmgr.For,
		Health: func(p patchpilot.Plan, s patchpilot.Stage) (patchpilot.HealthChecker, error) {
			hc, err := a.stageChecker(p, s, a.Options.Now, logger)
			if hc == nil || err != nil {
				// A typed nil would read as a checker to the engine.
				return nil, err
			}
			return hc, nil
		},
		Playbooks:     a.Playbooks(),
		Now:           a.Options.Now,
		Logger:        logger,
		Actor:         o.Actor,
		OnEvent:       o.OnEvent,
		OnFinish:      a.learnAfterRollout,
		LeaseTTL:      o.LeaseTTL,
		CheckInterval: o.CheckInterval,
		ApprovalWait:  o.ApprovalWait,
		Drain:         o.Drain,
		Prior:         a.Prior,
		Predict:       a.Predict,

		ChangeApprovers:    approvers,
		ChangePollInterval: every,
	}
}

// HostViews returns every stored host with its latest facts and, from
// the dependency map, the fleet hosts that depend on it: what the planner
// selects, orders and resolves.
func (a *App) HostViews(ctx context.Context) ([]planner.HostView, error) {
	hosts, err := a.Store.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	views := make([]planner.HostView, 0, len(hosts))
	for _, h := range hosts {
		f, err := a.Store.LatestFacts(ctx, h.Name)
		switch {
		case err == nil:
			views = append(views, planner.NewHostView(h, &f))
		case patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND:
			views = append(views, planner.NewHostView(h, nil))
		default:
			return nil, err
		}
	}
	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		return nil, err
	}
	return planner.WithDependencies(views, g), nil
}

// hostViewsOf is HostViews for planning a patch. Over a large fleet it
// reads every host's facts without their lists and, of the package
// lists, only the packages the patch concerns (those pinned and their
// source packages' other binaries): all a plan looks up in a view's
// Packages and Installed (canary coverage, downgrades). Its views plan
// the patch as HostViews' do, without every package list in memory.
func (a *App) hostViewsOf(ctx context.Context, patch patchpilot.PatchSpec, fr *fleetReads) ([]planner.HostView, error) {
	hosts, err := a.fleetHosts(ctx, fr)
	if err != nil {
		return nil, err
	}
	if len(hosts) <= fleetReadFrom {
		return a.HostViews(ctx)
	}
	heads, err := a.fleetFacts(ctx, fr)
	if err != nil {
		return nil, err
	}
	sums, err := a.fleetSummaries(ctx, fr)
	if err != nil {
		return nil, err
	}
	var pkgs map[string][]patchpilot.Package
	if !patch.SecurityAll {
		if pkgs, err = a.pinnedPackages(ctx, patch, fr); err != nil {
			return nil, err
		}
	}
	headAt, sumAt := fr.factsIndex(heads), fr.summariesIndex(sums)
	views := make([]planner.HostView, 0, len(hosts))
	for _, h := range hosts {
		i, ok := headAt[h.Name]
		if !ok {
			views = append(views, planner.NewHostView(h, nil))
			continue
		}
		withPackages := heads[i] // the facts are shared: a copy takes the packages
		withPackages.Packages = pkgs[h.Name]
		// The stored summary counts the lists that withPackages lacks.
		if j, ok := sumAt[h.Name]; ok {
			views = append(views, planner.NewHostViewSummarized(h, sums[j], &withPackages))
		} else {
			views = append(views, planner.NewHostView(h, &withPackages))
		}
	}
	g, err := a.fleetGraph(ctx, fr)
	if err != nil {
		return nil, err
	}
	return planner.WithDependencies(views, *g), nil
}

// ReadPlan reads and checks a plan file (planner.ReadFile, capped at
// planner.MaxPlanBytes).
func ReadPlan(path string) (patchpilot.Plan, []byte, error) {
	return planner.ReadFile(path)
}

// StartRollout stores a new rollout of the plan over the stored hosts its
// targets select. It changes no host: the engine's Run does. See
// StartOptions for who is recorded and the saved plan it names.
func (a *App) StartRollout(ctx context.Context, eng *orchestrator.Engine, p patchpilot.Plan, source []byte, o StartOptions) (string, error) {
	if o.Actor == "" {
		o.Actor = a.LocalActor()
	}
	if o.PlanID != "" {
		rec, err := a.Store.PlanRecord(ctx, o.PlanID)
		if err != nil {
			return "", err
		}
		if len(p.Stages) == 0 && len(source) == 0 {
			if p, err = planner.Parse([]byte(rec.Source), "plan "+rec.ID); err != nil {
				return "", err
			}
			source = []byte(rec.Source)
		}
	}
	if o.PlanID == "" {
		// A plan sent whole that is a saved plan (the same plan, however
		// its YAML is laid out) came from that plan's creator: four-eyes
		// must know them, whichever way the plan reached the start.
		id, err := a.savedPlanOf(ctx, p)
		if err != nil {
			return "", err
		}
		o.PlanID = id
	}
	// The metrics source the plan's health section names must be
	// configured now, not when the stage that needs it begins.
	if _, err := a.metricsSource(p.Health); err != nil {
		return "", err
	}
	// The fleet-wide reads (facts, the dependency map, the patch's
	// packages) are made once for the host views and the policy's risk;
	// those of the inventory alone are kept between plans and rollouts
	// while it is unchanged.
	fr, err := a.keptFleetReads(ctx)
	if err != nil {
		return "", err
	}
	views, err := a.hostViewsOf(ctx, p.Patch, fr)
	if err != nil {
		return "", err
	}
	if len(views) == 0 {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "no hosts are known").
			WithHint("collect the inventory first: 'patchpilot inventory collect -i INVENTORY', or 'patchpilot inventory collect --local' for this machine")
	}
	// The server's policy is applied here, whoever starts the rollout:
	// a plan cannot waive it.
	p, err = a.applyPolicy(ctx, p, views, fr)
	if err != nil {
		return "", err
	}
	if p, err = a.resolveDependents(ctx, p, views); err != nil {
		return "", err
	}
	if p, err = a.resolveProviders(ctx, p, views); err != nil {
		return "", err
	}
	warnings, err := a.quarantineWarnings(ctx, p, views)
	if err != nil {
		return "", err
	}
	return eng.Start(ctx, p, string(source), views, orchestrator.StartOptions{CreatedBy: o.Actor, PlanID: o.PlanID, DryRun: o.DryRun,
		Warnings: warnings})
}

// quarantineWarnings names the plan's targets on whose class a version the
// plan installs is quarantined. A plan given to a rollout names its targets
// on purpose (plan and assess already left them out or said so), so they
// are started as written, and the rollout's created event says so.
func (a *App) quarantineWarnings(ctx context.Context, p patchpilot.Plan, views []planner.HostView) ([]string, error) {
	targets, err := planner.SelectTargets(p.Targets, views)
	if err != nil {
		return nil, err
	}
	qh, err := a.quarantinedTargets(ctx, p.Patch, targets, nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(qh))
	for _, q := range qh {
		out = append(out, fmt.Sprintf("%s is a target although %s", q.Host, q.Quarantine.Text()))
	}
	return out, nil
}

// PlanProposal is a default plan with the risk assessment it was sized
// for: the model's (Risk) and, beside it, the rule-based baseline's score
// and reasons.
type PlanProposal struct {
	Plan    patchpilot.Plan
	Targets []string
	Score   int
	Level   patchpilot.RiskLevel
	Reasons []string
	// Risk is the model's assessment; Strategy picked the plan's shape.
	Risk PatchRisk
	// Header is the comment block to write above the plan; it ends with
	// each stage's hosts as resolved now and the reasons for them
	// (canary coverage, the dependency order, approvals).
	Header []string
	// Stages are the plan's stages resolved over its targets now, as
	// 'rollout start' would assign them unless the fleet changes.
	Stages []ProposedStage
	// riskLines is how many lines of Header come before the stages'.
	riskLines int
	// targetViews are the targets as the planner resolved them.
	targetViews []planner.HostView
	// LeftOut names the known hosts a plan without selector leaves out
	// because they never answered (no facts were ever collected).
	LeftOut []string
	// Quarantined are the targets left out because a version of the patch
	// is quarantined on their class (not with AllowQuarantined).
	Quarantined []QuarantinedHost
	// Held are the targets that unfinished rollouts hold, by rollout,
	// kept in the plan: starting it is refused until those finish.
	Held []patchpilot.HostsHolder
	// HeldOut are the targets that unfinished rollouts hold, by rollout,
	// left out of the plan (ProposeOptions.LeaveOutHeld).
	HeldOut []patchpilot.HostsHolder
	// Warnings name what looks mistaken in the plan against its targets
	// (planner.ResolvedPlan.Warnings), the targets left out (or kept)
	// because the patch is quarantined on their class, and those that
	// unfinished rollouts hold; the header says them too.
	Warnings []string
	// standing are the warnings that hold whatever the stages: about
	// quarantined and held targets, and a patch pending on none of the
	// targets.
	standing []string
}

// planLevel is the default plan shape of each strategy.
func planLevel(s risk.Strategy) patchpilot.RiskLevel {
	switch s {
	case risk.StrategyImmediate:
		return patchpilot.RiskLow
	case risk.StrategyCanary:
		return patchpilot.RiskMedium
	}
	return patchpilot.RiskHigh
}

// ProposePlan builds a default plan for a patch over the stored hosts the
// selector matches, shaped by the risk model's strategy for the patch on
// those hosts (the stored model, or the cold-start one):
// immediate_full_deploy gives the low-risk plan, canary the medium-risk
// plan, manual_review_required the high-risk plan with an approval before
// its first stage as well as its last. When the model has nothing to score
// (the patch updates none of the targets) the rule-based baseline decides.
func (a *App) ProposePlan(ctx context.Context, patch patchpilot.PatchSpec, selector string) (PlanProposal, error) {
	return a.ProposePlanWith(ctx, patch, selector, ProposeOptions{})
}

// ProposeOptions change what ProposePlanWith leaves out.
type ProposeOptions struct {
	// AllowQuarantined keeps the targets on whose class a version of the
	// patch is quarantined (see Quarantines), with a warning; by default
	// they are left out, and a patch quarantined on every target is
	// refused (EFORBIDDEN).
	AllowQuarantined bool
	// LeaveOutHeld leaves out the targets that unfinished rollouts hold
	// (patchpilot.HoldsHosts), saying so, as a scheduled run does; when
	// they hold every target the proposal is refused with a
	// *TargetsHeldError. By default they are kept, with a warning that
	// starting the plan is refused until those rollouts finish.
	LeaveOutHeld bool
}

// ProposePlanWith is ProposePlan with options.
func (a *App) ProposePlanWith(ctx context.Context, patch patchpilot.PatchSpec, selector string, o ProposeOptions) (PlanProposal, error) {
	// Over a large fleet each fleet-wide read is made once for the whole
	// proposal, those independent of one another at the same time; those
	// of the inventory alone (hosts, facts, summaries) are kept between
	// proposals while it is unchanged. The plan itself is worked out
	// afresh each time.
	fr, err := a.proposalReads(ctx, patch, selector)
	if err != nil {
		return PlanProposal{}, err
	}
	views, err := a.hostViewsOf(ctx, patch, fr)
	if err != nil {
		return PlanProposal{}, err
	}
	ts := patchpilot.TargetSelector{Selector: selector}
	targets, err := planner.SelectTargets(ts, views)
	if err != nil {
		return PlanProposal{}, err
	}
	var leftOut []string
	for _, h := range planner.LeftOut(ts, views) {
		leftOut = append(leftOut, h.Name())
	}
	if len(targets) == 0 && len(leftOut) > 0 {
		return PlanProposal{}, patchpilot.Errorf(patchpilot.EINVALID, "none of the %d known hosts has ever answered: no facts were collected from %s",
			len(views), strings.Join(leftOut, ", ")).
			WithHint("collect them with 'patchpilot inventory collect', or name them with --targets")
	}
	if len(targets) == 0 {
		err := patchpilot.Errorf(patchpilot.EINVALID, "the selector %q selects none of the %d known hosts", selector, len(views))
		switch names := planner.HostNamesAsLabels(selector, views); len(names) {
		case 0:
			return PlanProposal{}, err.WithHint("check the selector against 'patchpilot hosts'")
		case 1:
			return PlanProposal{}, err.WithHint(fmt.Sprintf("%q alone selects the hosts that have a label %q, and none has; for the host named %s, select name=%s",
				names[0], names[0], names[0], names[0]))
		default:
			return PlanProposal{}, err.WithHint(fmt.Sprintf("%s are host names, but a bare word selects the hosts that have a label of that name; a selector's terms must all match, so select hosts by name with one term (name=%s) or a pattern (name=web*), or give them a shared label",
				strings.Join(names, ", "), names[0]))
		}
	}
	targets, quarantine, quarantinedOut, err := a.leaveOutQuarantined(ctx, patch, targets, o.AllowQuarantined, fr)
	narrowed := len(quarantinedOut) > 0
	if err != nil {
		return PlanProposal{}, err
	}
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		names = append(names, t.Name())
	}
	holders, err := a.heldTargets(ctx, names)
	if err != nil {
		return PlanProposal{}, err
	}
	var heldOut []patchpilot.HostsHolder
	switch {
	case len(holders) == 0:
	case o.LeaveOutHeld:
		held := heldHosts(holders)
		free := targets[:0:0]
		for _, t := range targets {
			if !held[t.Name()] {
				free = append(free, t)
			}
		}
		if len(free) == 0 {
			return PlanProposal{}, newTargetsHeldError(holders)
		}
		targets, heldOut, narrowed = free, holders, true
		quarantine = append(quarantine, heldLeftOut(holders))
	default:
		quarantine = append(quarantine, heldWarning(holders))
	}
	in, err := a.baselineInput(ctx, patch, targets, fr)
	if err != nil {
		return PlanProposal{}, err
	}
	score, baseLevel, reasons := planner.BaselineRisk(in)
	prop := PlanProposal{Score: score, Level: baseLevel, Reasons: reasons, LeftOut: leftOut, Quarantined: quarantinedOut, HeldOut: heldOut}
	if !o.LeaveOutHeld {
		prop.Held = holders
	}
	for _, t := range targets {
		prop.Targets = append(prop.Targets, t.Name())
	}
	if err := a.checkPins(ctx, patch, prop.Targets, fr); err != nil {
		return PlanProposal{}, err
	}
	if prop.Risk, err = a.assessPatchOn(ctx, patch, prop.Targets, fr); err != nil {
		return PlanProposal{}, err
	}
	baseline := fmt.Sprintf("rule-based baseline: score %d, %s", score, baseLevel)
	if len(reasons) > 0 {
		baseline += " (" + strings.Join(reasons, "; ") + ")"
	}
	if len(prop.Risk.Hosts) > 0 {
		prop.Level = planLevel(prop.Risk.Strategy)
		prop.Header = append(riskHeader(prop.Risk), baseline)
	} else {
		prop.Header = []string{"risk model " + prop.Risk.ModelVersion + ": the patch updates none of the targets as far as their facts tell; " + baseline}
	}
	p := planner.Default(patch, len(targets), prop.Level)
	if prop.Level == patchpilot.RiskHigh && prop.Risk.Strategy == risk.StrategyManualReview && len(p.Stages) > 1 {
		// Manual review: a person approves before any host is changed.
		p.Stages[0].Approval = patchpilot.ApprovalRequired
	}
	p.Targets.Selector = selector
	if narrowed {
		p.Targets.Hosts = append([]string(nil), prop.Targets...)
	}
	p, depsHeader, err := a.withDependentsGate(ctx, p, prop.Targets, fr)
	if err != nil {
		return PlanProposal{}, err
	}
	prop.Header = append(prop.Header, depsHeader...)
	prop.standing = quarantine
	if len(prop.Risk.Hosts) == 0 {
		prop.standing = append(prop.standing, nothingPending(patch, len(prop.Targets)))
	}
	for _, w := range prop.standing {
		prop.Header = append(prop.Header, "warning: "+w)
	}
	p, metricsHeader := a.withMetricGates(p)
	prop.Header = append(prop.Header, metricsHeader...)
	if p.Name == "" || strings.HasPrefix(p.Name, "default-") {
		p.Name = planName(patch)
	}
	prop.Plan = p
	prop.riskLines, prop.targetViews = len(prop.Header), targets
	prop.Stages, prop.Header, prop.Warnings = proposedStages(p, targets, prop.Header)
	prop.Warnings = append(prop.Warnings, prop.standing...)
	return prop, nil
}

// nothingPending says that a proposed plan would install nothing now: the
// patch is pending on none of its targets, as their last collection tells.
func nothingPending(patch patchpilot.PatchSpec, targets int) string {
	what := "the patch is pending on none"
	if patch.SecurityAll || len(patch.Packages) == 0 {
		what = "no security update is pending on any"
	}
	return fmt.Sprintf("%s of the %d targets as their last collection tells: the plan installs nothing unless that changes ('patchpilot inventory collect' reads them again)", what, targets)
}

// withPlan replaces the proposal's plan (a schedule's template gives it
// other stages) and resolves the stages of the header again.
func (prop *PlanProposal) withPlan(p patchpilot.Plan) {
	prop.Plan = p
	prop.Stages, prop.Header, prop.Warnings = proposedStages(p, prop.targetViews, prop.Header[:prop.riskLines])
	prop.Warnings = append(prop.Warnings, prop.standing...)
}

// ProposedStage is one stage of a proposed plan resolved over its
// targets: its hosts in dispatch order and why (planner.ResolvedStage).
type ProposedStage struct {
	Name    string   `json:"name"`
	Hosts   []string `json:"hosts"`
	Reasons []string `json:"reasons"`
}

// proposedStages resolves the plan over its targets (which carry their
// dependents) and adds the stages' hosts and reasons to the header, then
// its notes and warnings ("warning: ..."), which it returns too. A plan
// that does not resolve is said so in the header: 'rollout start' would
// refuse it with the same error.
func proposedStages(p patchpilot.Plan, targets []planner.HostView, header []string) ([]ProposedStage, []string, []string) {
	rp, err := planner.Resolve(p, targets)
	if err != nil {
		return []ProposedStage{}, append(header, "the plan does not resolve over its targets: "+err.Error()), nil
	}
	out := make([]ProposedStage, 0, len(rp.Stages))
	for _, s := range rp.Stages {
		ps := ProposedStage{Name: s.Stage.Name, Hosts: s.Hosts, Reasons: s.Reasons}
		if ps.Reasons == nil {
			ps.Reasons = []string{}
		}
		out = append(out, ps)
		header = append(header, "stage "+s.Stage.Name+": "+strings.Join(s.Hosts, ", "))
		for _, r := range s.Reasons {
			header = append(header, "  "+r)
		}
	}
	header = append(header, rp.Notes...)
	for _, w := range rp.Warnings {
		header = append(header, "warning: "+w)
	}
	return out, header, rp.Warnings
}

func planName(patch patchpilot.PatchSpec) string {
	if patch.SecurityAll || len(patch.Packages) == 0 {
		return "security-updates"
	}
	return strings.NewReplacer("=", "-", ":", "-", "~", "-", "+", "-").Replace(patch.Packages[0].String())
}

// baselineInput gathers what the rule-based risk baseline looks at: the
// packages, the reboot packages of the targets, the advisories' highest
// severity and the past failure rate of these packages in this fleet.
func (a *App) baselineInput(ctx context.Context, patch patchpilot.PatchSpec, targets []planner.HostView, fr *fleetReads) (planner.BaselineInput, error) {
	var in planner.BaselineInput
	names := map[string]bool{}
	for _, pin := range patch.Packages {
		names[pin.Name] = true
	}
	// Many targets: their updates and facts in fleet-wide reads.
	var fleetUpdates map[string][]patchpilot.HostUpdate
	var fleetFacts map[string]*patchpilot.Facts
	if len(targets) > fleetReadFrom {
		var err error
		if fleetUpdates, err = a.fleetUpdatesByHost(ctx, patch, fr); err != nil {
			return in, err
		}
		heads, err := a.fleetFacts(ctx, fr)
		if err != nil {
			return in, err
		}
		headAt := fr.factsIndex(heads)
		fleetFacts = make(map[string]*patchpilot.Facts, len(targets))
		for _, t := range targets {
			if i, ok := headAt[t.Name()]; ok {
				fleetFacts[t.Name()] = &heads[i]
			}
		}
	}
	for _, t := range targets {
		var updates []patchpilot.HostUpdate
		if fleetUpdates != nil {
			updates = fleetUpdates[t.Name()]
		} else {
			var err error
			if updates, err = a.Updates(ctx, patchpilot.UpdateFilter{Host: t.Name(), SecurityOnly: patch.SecurityAll}); err != nil {
				return in, err
			}
		}
		for _, u := range updates {
			if !patch.SecurityAll && !names[u.Package] {
				continue
			}
			names[u.Package] = true
			for _, adv := range u.Advisories {
				if patchpilot.Severity(adv.Severity).Rank() > patchpilot.Severity(in.MaxSeverity).Rank() {
					in.MaxSeverity = adv.Severity
				}
				in.MaxCVSS = max(in.MaxCVSS, adv.CVSS)
			}
		}
		if fleetFacts != nil {
			if f, ok := fleetFacts[t.Name()]; ok {
				in.RebootPackages = append(in.RebootPackages, f.RebootPackages...)
			}
		} else if f, err := a.Store.LatestFacts(ctx, t.Name()); err == nil {
			in.RebootPackages = append(in.RebootPackages, f.RebootPackages...)
		}
	}
	for n := range names {
		in.Packages = append(in.Packages, n)
	}
	total, failed := 0, 0
	for n := range names {
		outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Package: n})
		if err != nil {
			return in, err
		}
		for _, o := range outs {
			total++
			if o.Outcome != patchpilot.OutcomeSucceeded {
				failed++
			}
		}
	}
	if total > 0 {
		in.PastFailureRate = float64(failed) / float64(total)
	}
	return in, nil
}

// RolloutStatus is a rollout with its stages, their hosts and its
// incidents: the JSON of 'rollout status'.
type RolloutStatus struct {
	ID        string                  `json:"id"`
	State     patchpilot.RolloutState `json:"state"`
	Reason    string                  `json:"reason"`
	Plan      string                  `json:"plan"`
	PlanName  string                  `json:"plan_name,omitempty"`
	CreatedBy string                  `json:"created_by,omitempty"`
	PlanID    string                  `json:"plan_id,omitempty"`
	CreatedAt time.Time               `json:"created_at"`
	UpdatedAt time.Time               `json:"updated_at"`
	DryRun    bool                    `json:"dry_run"`
	Stages    []StageStatus           `json:"stages"`
	Incidents []IncidentStatus        `json:"incidents"`
}

// IncidentStatus is an incident with its evidence as JSON (the stored
// bytes would otherwise render as base64).
type IncidentStatus struct {
	patchpilot.Incident
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

// StageStatus is one stage with its hosts in dispatch order.
type StageStatus struct {
	patchpilot.StageRun
	Hosts []patchpilot.HostRun `json:"hosts"`
}

// RolloutStatus reads a rollout, its host pipelines and incidents.
func (a *App) RolloutStatus(ctx context.Context, id string) (RolloutStatus, error) {
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		return RolloutStatus{}, err
	}
	runs, err := a.Store.HostRuns(ctx, id)
	if err != nil {
		return RolloutStatus{}, err
	}
	incs, err := a.Store.Incidents(ctx, id)
	if err != nil {
		return RolloutStatus{}, err
	}
	st := RolloutStatus{ID: r.ID, State: r.State, Reason: r.Reason, Plan: r.PlanSource, PlanName: r.Plan.Name,
		CreatedBy: r.CreatedBy, PlanID: r.PlanID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DryRun: r.DryRun,
		Stages: []StageStatus{}, Incidents: []IncidentStatus{}}
	for _, inc := range incs {
		st.Incidents = append(st.Incidents, IncidentStatus{Incident: inc, Evidence: json.RawMessage(inc.Evidence)})
	}
	for _, s := range r.Stages {
		ss := StageStatus{StageRun: s, Hosts: []patchpilot.HostRun{}}
		for _, h := range runs {
			if h.Stage == s.Name {
				if h.FromVersions == nil {
					h.FromVersions = map[string]string{}
				}
				if h.ToVersions == nil {
					h.ToVersions = map[string]string{}
				}
				ss.Hosts = append(ss.Hosts, h)
			}
		}
		st.Stages = append(st.Stages, ss)
	}
	return st, nil
}

// HistoryRecord is one host outcome: the JSON of 'history'.
type HistoryRecord struct {
	Time     time.Time                  `json:"time"`
	Rollout  string                     `json:"rollout"`
	Host     string                     `json:"host"`
	Packages []patchpilot.PackageChange `json:"packages"`
	Outcome  patchpilot.OutcomeKind     `json:"outcome"`
	Reason   string                     `json:"reason"`
	// Unrelated, on a failed outcome, says why the failure is not the
	// patch's (patchpilot.Outcome.Unrelated); "" when it is.
	Unrelated string `json:"unrelated"`
	// Predicted is the risk model's failure probability for the host's
	// patch when the rollout started, PredictedBy the model's version
	// (absent when no prediction was stored).
	Predicted   *float64                `json:"predicted,omitempty"`
	PredictedBy string                  `json:"predicted_by,omitempty"`
	GateResults []patchpilot.GateResult `json:"gate_results"`
}

// Outcomes lists host outcomes as history records, oldest first.
func (a *App) Outcomes(ctx context.Context, f patchpilot.OutcomeFilter) ([]HistoryRecord, error) {
	outs, err := a.Store.Outcomes(ctx, f)
	if err != nil {
		return nil, err
	}
	recs := make([]HistoryRecord, 0, len(outs))
	for _, o := range outs {
		r := HistoryRecord{Time: o.Time, Rollout: o.Rollout, Host: o.Host, Packages: o.Packages, Outcome: o.Outcome,
			Reason: o.Reason, Unrelated: o.Unrelated, Predicted: o.Predicted, PredictedBy: o.PredictedBy, GateResults: o.GateResults}
		if r.Packages == nil {
			r.Packages = []patchpilot.PackageChange{}
		}
		if r.GateResults == nil {
			r.GateResults = []patchpilot.GateResult{}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Runs returns the status's host pipelines, stage by stage.
func (st RolloutStatus) Runs() []patchpilot.HostRun {
	var runs []patchpilot.HostRun
	for _, s := range st.Stages {
		runs = append(runs, s.Hosts...)
	}
	return runs
}

// RolloutResult maps the state a rollout was left in to the command's
// error: nil only when every target host succeeded. Its hint names only
// commands that work on the rollout as it is (orchestrator.NextStep).
func RolloutResult(st RolloutStatus) error {
	id, state, reason := st.ID, st.State, st.Reason
	runs := st.Runs()
	failed := 0
	for _, h := range runs {
		if h.State != patchpilot.HostSucceeded && h.State != patchpilot.HostSkipped && h.State != patchpilot.HostPending {
			failed++
		}
	}
	hint := orchestrator.NextStep(id, state, reason, runs)
	switch state {
	case patchpilot.RolloutSucceeded:
		if failed > 0 {
			return patchpilot.Errorf(patchpilot.EPARTIAL, "rollout %s succeeded, but %d hosts failed within the plan's limits", id, failed).
				WithHint(hint)
		}
		return nil
	case patchpilot.RolloutHalted, patchpilot.RolloutAborted:
		return patchpilot.Errorf(patchpilot.EHALTED, "rollout %s %s: %s", id, state, reason).WithHint(hint)
	case patchpilot.RolloutRolledBack:
		return patchpilot.Errorf(patchpilot.EROLLEDBACK, "rollout %s rolled back: %s", id, reason).WithHint(hint)
	case patchpilot.RolloutWaitingApproval:
		return patchpilot.Errorf(patchpilot.EAPPROVAL, "rollout %s waits for approval: %s", id, reason).WithHint(hint)
	case patchpilot.RolloutPaused:
		return patchpilot.Errorf(patchpilot.EPAUSED, "rollout %s is paused: %s", id, reason).WithHint(hint)
	case patchpilot.RolloutFailed:
		return patchpilot.Errorf(patchpilot.EROLLBACKFAILED, "rollout %s failed: %s", id, reason).WithHint("check the hosts named; " + hint)
	}
	return patchpilot.Errorf(patchpilot.EINTERNAL, "rollout %s stopped in state %s: %s", id, state, reason).WithHint(hint)
}

// savedPlanOf returns the id of the newest saved plan that is p (the same
// canonical form, planner.Marshal), or "" when none is.
func (a *App) savedPlanOf(ctx context.Context, p patchpilot.Plan) (string, error) {
	want, err := planner.Marshal(p)
	if err != nil {
		return "", err
	}
	recs, err := a.Store.PlanRecords(ctx)
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.Name != p.Name {
			continue
		}
		saved, err := planner.Parse([]byte(rec.Source), "plan "+rec.ID)
		if err != nil {
			continue // saved by a version whose plans this one reads differently: not the same plan
		}
		if got, err := planner.Marshal(saved); err == nil && string(got) == string(want) {
			return rec.ID, nil
		}
	}
	return "", nil
}
