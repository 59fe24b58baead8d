package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// Adaptive rollouts (policy: {adaptive: true}). The plan's stages stay
// the waves people reviewed, but their sizes follow the evidence: after
// each stage the posterior failure rate of the patch in this fleet (a Beta
// prior from the risk model's probability, updated with the hosts patched
// so far and their failures) sets the size of the next stage through
// risk.NextWave, moving pending hosts between stages (RolloutStore
// MoveHosts). While a stage runs, its batches never outnumber the hosts
// already patched (risk.WaveParallel), and after each host the rollout
// halts when the posterior says finishing would probably overrun the
// failure budget (policy max_broken_hosts). The first host always goes:
// the prior alone never halts a rollout, evidence does.

// DefaultAdaptiveBudgetPercent is the failure budget of an adaptive
// rollout whose plan sets no max_broken_hosts: this share of its targets,
// rounded down, and at least one host.
const DefaultAdaptiveBudgetPercent = 5

// AdaptivePrior is what the risk model says about a patch on a rollout's
// hosts before the rollout has any evidence of its own.
type AdaptivePrior struct {
	// Probability is the model's mean probability that the patch breaks
	// one of the hosts.
	Probability float64 `json:"probability"`
	// ModelVersion and Reasons say where the number comes from.
	ModelVersion string   `json:"model_version,omitempty"`
	Reasons      []string `json:"reasons,omitempty"`
}

// adaptiveState is an adaptive run's prior and, once it halts, why.
type adaptiveState struct {
	prior  *AdaptivePrior
	halted string
}

// evidence counts the rollout's patched hosts and their failures: hosts
// whose change began (a deployment order) and whose pipeline ended or
// waits for its rollback. Hosts refused before any change are no evidence
// about the patch either way. pending counts the hosts not yet dispatched.
func evidence(all []patchpilot.HostRun) (failures, patched, pending int) {
	for _, h := range all {
		switch {
		case h.State == patchpilot.HostPending:
			pending++
		case h.Order > 0 && (h.State.Terminal() || h.State == patchpilot.HostRollingBack):
			patched++
			if isFailure(h.State) {
				failures++
			}
		}
	}
	return failures, patched, pending
}

// budget is the number of broken hosts the whole rollout may cost.
func (rn *run) budget() int {
	total := len(rn.hosts)
	if m := rn.r.Plan.Policy.MaxBrokenHosts; m.Kind == patchpilot.SizePercent || m.Count > 0 {
		return max(m.Allowed(total), 1)
	}
	return max(total*DefaultAdaptiveBudgetPercent/100, 1)
}

// adaptivePrior asks the engine's Prior for the model's probability, once
// per pass, falling back on the public base rate when there is none.
func (rn *run) adaptivePrior(ctx context.Context) AdaptivePrior {
	rn.mu.Lock()
	if rn.adaptive.prior != nil {
		p := *rn.adaptive.prior
		rn.mu.Unlock()
		return p
	}
	rn.mu.Unlock()
	var prior AdaptivePrior
	var err error
	if rn.e.Prior != nil {
		var hosts []string
		for _, s := range rn.r.Stages {
			hosts = append(hosts, s.Hosts...)
		}
		prior, err = rn.e.Prior(ctx, rn.r.Plan, hosts)
	}
	if rn.e.Prior == nil || err != nil || !(prior.Probability > 0 && prior.Probability < 1) {
		why := "no risk model is wired in"
		if err != nil {
			why = "the risk model failed: " + err.Error()
		}
		prior = AdaptivePrior{Probability: publicBaseRate(), Reasons: []string{"public base rate of security updates (" + why + ")"}}
	}
	rn.mu.Lock()
	rn.adaptive.prior = &prior
	rn.mu.Unlock()
	data, _ := json.Marshal(patchpilot.AdaptiveData{Prior: prior.Probability, PriorModelVersion: prior.ModelVersion,
		PriorReasons: prior.Reasons, Strength: rn.priorStrength(), Budget: rn.budget()})
	rn.e.event(ctx, rn.r.ID, "", patchpilot.EventAdaptive, fmt.Sprintf("adaptive: prior failure rate %.1f%% (model %s), budget %d broken hosts of %d",
		100*prior.Probability, orDefault(prior.ModelVersion, "none"), rn.budget(), len(rn.hosts)), data)
	return prior
}

// publicBaseRate is the embedded public failure rate of updates, or 3%
// if the embedded priors cannot be read (they are compiled in, so never).
func publicBaseRate() float64 {
	if p, err := risk.DefaultPriors(); err == nil && p.Global.Rate > 0 {
		return p.Global.Rate
	}
	return 0.03
}

func (rn *run) priorStrength() float64 {
	return orDefault(rn.e.PriorStrength, float64(risk.DefaultPriorStrength))
}

// adaptiveLook is one reading of the evidence: the posterior, the next
// wave's size and the decision.
type adaptiveLook struct {
	Prior     float64
	Posterior float64
	Upper     float64
	Failures  int
	Patched   int
	Remaining int
	Budget    int
	Size      int
	Decision  risk.Decision
}

func (rn *run) look(ctx context.Context, all []patchpilot.HostRun) adaptiveLook {
	prior := rn.adaptivePrior(ctx)
	failures, patched, pending := evidence(all)
	beta := risk.BetaFromProbability(prior.Probability, rn.priorStrength())
	size, dec := risk.NextWave(beta, failures, patched, pending, rn.budget())
	post := beta.Update(failures, patched)
	return adaptiveLook{Prior: prior.Probability, Posterior: post.Mean(), Upper: post.Quantile(risk.DefaultCredible),
		Failures: failures, Patched: patched, Remaining: pending, Budget: rn.budget(), Size: size, Decision: dec}
}

// data is the look as the payload of an adaptive event.
func (l adaptiveLook) data() patchpilot.AdaptiveData {
	return patchpilot.AdaptiveData{Prior: l.Prior, Posterior: l.Posterior, Upper: l.Upper, Failures: l.Failures,
		Patched: l.Patched, Remaining: l.Remaining, Budget: l.Budget, NextWave: l.Size, Decision: string(l.Decision)}
}

func (l adaptiveLook) haltReason() string {
	return fmt.Sprintf("adaptive halt: %d of %d patched hosts failed; the posterior failure rate (mean %.1f%%, %.0f%% bound %.1f%%) "+
		"would probably break more than the %d hosts the budget leaves over the %d remaining", l.Failures, l.Patched,
		100*l.Posterior, 100*risk.DefaultCredible, 100*l.Upper, max(l.Budget-l.Failures, 0), l.Remaining)
}

// dispatchLimit is how many hosts of a stage an adaptive rollout changes at
// once, and whether the evidence says to stop dispatching. The prior alone
// never stops it: only after a host has been patched.
func (rn *run) dispatchLimit(ctx context.Context, all []patchpilot.HostRun, parallel int) (int, bool) {
	if !rn.r.Plan.Policy.Adaptive {
		return parallel, false
	}
	rn.mu.Lock()
	halted := rn.adaptive.halted != ""
	rn.mu.Unlock()
	if halted {
		return 0, true
	}
	l := rn.look(ctx, all)
	if l.Patched > 0 && l.Remaining > 0 && l.Decision == risk.DecisionHalt {
		rn.mu.Lock()
		rn.adaptive.halted = l.haltReason()
		rn.mu.Unlock()
		data, _ := json.Marshal(l.data())
		rn.e.event(ctx, rn.r.ID, "", patchpilot.EventAdaptive, l.haltReason(), data)
		return 0, true
	}
	return risk.WaveParallel(l.Patched, parallel), false
}

// adaptiveHalted returns why the adaptive planner stopped dispatching, or
// "".
func (rn *run) adaptiveHalted() string {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.adaptive.halted
}

// adapt runs after stage i ended and the rollout goes on: it halts the
// rollout when the evidence is bad, or sizes the next stage by moving
// pending hosts between the later stages. done reports that the rollout
// stopped.
func (rn *run) adapt(ctx context.Context, i int) (patchpilot.RolloutState, bool, error) {
	j := i + 1
	if !rn.r.Plan.Policy.Adaptive || j >= len(rn.r.Stages) {
		return rn.r.State, false, nil
	}
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return "", true, err
	}
	l := rn.look(ctx, all)
	if l.Remaining == 0 {
		return rn.r.State, false, nil
	}
	if l.halts() {
		return rn.haltAdaptive(ctx, i, l, all)
	}
	if rn.r.Stages[j].State != patchpilot.StagePending {
		return rn.r.State, false, nil // resumed: the stage already started
	}
	moved, err := rn.resize(ctx, j, l.Size, all)
	if err != nil {
		return "", true, err
	}
	data, _ := json.Marshal(l.data())
	msg := fmt.Sprintf("adaptive: %d of %d patched hosts failed, posterior failure rate %.1f%% (prior %.1f%%); stage %s takes %d hosts",
		l.Failures, l.Patched, 100*l.Posterior, 100*l.Prior, rn.r.Stages[j].Name, len(rn.r.Stages[j].Hosts))
	if moved != "" {
		msg += " (" + moved + ")"
	}
	rn.e.event(ctx, rn.r.ID, "", patchpilot.EventAdaptive, msg, data)
	return rn.r.State, false, nil
}

// halts reports whether the look, taken after a stage, halts the
// rollout: the prior alone never does, evidence does.
func (l adaptiveLook) halts() bool {
	return l.Remaining > 0 && l.Patched > 0 && l.Decision == risk.DecisionHalt
}

// adaptiveHaltsAfter reports whether adapt will halt an adaptive rollout
// after stage i, as the host records stand now.
func (rn *run) adaptiveHaltsAfter(ctx context.Context, i int) bool {
	if !rn.r.Plan.Policy.Adaptive || i+1 >= len(rn.r.Stages) {
		return false
	}
	all, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		return false
	}
	return rn.look(ctx, all).halts()
}

// resize gives stage j size hosts where it can: extra hosts go back to
// the stage after it, missing ones come forward from the later stages in
// dispatch order. Hosts never come forward past a host that is critical or
// from a stage that needs an approval stage j does not: resizing must not
// skip an approval. Later stages left empty are skipped. It returns what
// it moved, in words.
func (rn *run) resize(ctx context.Context, j, size int, all []patchpilot.HostRun) (string, error) {
	state := map[string]patchpilot.HostState{}
	for _, h := range all {
		state[h.Host] = h.State
	}
	pendingOf := func(k int) []string {
		var out []string
		for _, h := range rn.r.Stages[k].Hosts {
			if state[h] == patchpilot.HostPending {
				out = append(out, h)
			}
		}
		return out
	}
	plan := rn.r.Plan
	cur := pendingOf(j)
	var words []string
	switch {
	case len(cur) > size && j+1 < len(rn.r.Stages):
		back := cur[size:]
		err := rn.e.Store.MoveHosts(ctx, rn.r.ID, rn.r.Stages[j].Name, rn.r.Stages[j+1].Name, back)
		rn.invalidate() // the records' stages changed
		if err != nil {
			return "", err
		}
		words = append(words, fmt.Sprintf("%d moved back to %s", len(back), rn.r.Stages[j+1].Name))
	case len(cur) < size:
		need := size - len(cur)
		for k := j + 1; k < len(rn.r.Stages) && need > 0; k++ {
			if plan.Stages[k].Approval == patchpilot.ApprovalRequired && plan.Stages[j].Approval != patchpilot.ApprovalRequired {
				break
			}
			var take []string
			blocked := false
			for _, h := range pendingOf(k) {
				if len(take) == need {
					break
				}
				if rn.hosts[h].Critical() {
					blocked = true
					break
				}
				take = append(take, h)
			}
			if len(take) > 0 {
				err := rn.e.Store.MoveHosts(ctx, rn.r.ID, rn.r.Stages[k].Name, rn.r.Stages[j].Name, take)
				rn.invalidate() // the records' stages changed
				if err != nil {
					return "", err
				}
				need -= len(take)
				words = append(words, fmt.Sprintf("%d brought forward from %s", len(take), rn.r.Stages[k].Name))
			}
			if blocked {
				break
			}
		}
	}
	if len(words) == 0 {
		return "", nil
	}
	if err := rn.refreshStages(ctx); err != nil {
		return "", err
	}
	for k := j + 1; k < len(rn.r.Stages); k++ {
		if len(rn.r.Stages[k].Hosts) == 0 && rn.r.Stages[k].State == patchpilot.StagePending {
			if err := rn.saveStage(ctx, k, patchpilot.StageSkipped, "adaptive: its hosts went in earlier waves"); err != nil {
				return "", err
			}
		}
	}
	return strings.Join(words, ", "), nil
}

// refreshStages re-reads the stages' host lists after hosts moved.
func (rn *run) refreshStages(ctx context.Context) error {
	cur, err := rn.current(ctx)
	if err != nil {
		return err
	}
	if len(cur.Stages) != len(rn.r.Stages) {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "rollout %s: stages changed under the controller", rn.r.ID)
	}
	for k := range rn.r.Stages {
		rn.r.Stages[k].Hosts = cur.Stages[k].Hosts
	}
	return nil
}

// haltAdaptive stops a rollout whose evidence is bad after stage i: an
// incident says why, the later stages' hosts are skipped, and the rollout
// is halted. Patched hosts stay as they are, as with halt_and_alert.
func (rn *run) haltAdaptive(ctx context.Context, i int, l adaptiveLook, all []patchpilot.HostRun) (patchpilot.RolloutState, bool, error) {
	reason := l.haltReason()
	rn.adaptiveIncident(ctx, rn.r.Stages[i].Name, reason, l, all)
	for k := i + 1; k < len(rn.r.Stages); k++ {
		for _, name := range rn.r.Stages[k].Hosts {
			if err := rn.skipHost(ctx, all, name, "stage not run: "+reason); err != nil {
				return "", true, err
			}
		}
		if rn.r.Stages[k].State == patchpilot.StagePending {
			if err := rn.saveStage(ctx, k, patchpilot.StageSkipped, "rollout halted by the adaptive planner"); err != nil {
				return "", true, err
			}
		}
	}
	return patchpilot.RolloutHalted, true, rn.setRollout(ctx, patchpilot.RolloutHalted, reason)
}

// adaptiveIncident records an adaptive halt with the failed hosts of the
// whole rollout, the numbers behind the decision and, in its reason, the
// rule that fired on each failed host of the stage.
func (rn *run) adaptiveIncident(ctx context.Context, stage, reason string, l adaptiveLook, all []patchpilot.HostRun) {
	var hosts, rules []string
	var ev []patchpilot.IncidentHost
	for _, h := range all {
		if isFailure(h.State) {
			ih := incidentHost(h)
			hosts, ev = append(hosts, h.Host), append(ev, ih)
			if h.Stage == stage {
				rules = append(rules, h.Host+": "+ih.Rule)
			}
		}
	}
	if len(rules) > maxRulesInReason {
		rules = append(rules[:maxRulesInReason], fmt.Sprintf("and %d more hosts (the evidence names each rule)", len(rules)-maxRulesInReason))
	}
	if len(rules) > 0 {
		reason += "; in stage " + stage + ": " + strings.Join(rules, "; ")
	}
	d := l.data()
	rn.openIncident(ctx, stage, reason, hosts, patchpilot.IncidentData{Hosts: ev, Adaptive: &d})
}
