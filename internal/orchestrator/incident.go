package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Every automatic rollback opens an incident (docs/rollback-rules.md).
// Whatever rolls a host back on its own (a gate verdict, the canary
// judge, a failed apply, verify or post hook, a stage timeout, the
// stage's failure action) goes through the stage's decision (conclude),
// or through an early rollback while the stage runs that the decision, or
// the stop that ends the stage, accounts for: one incident per decision
// names every host rolled back and the rule that fired on each, with its
// numbers.

// maxRulesInReason bounds the hosts whose rule an incident's reason
// quotes; the evidence keeps every host's.
const maxRulesInReason = 5

// firedRule says which rule took a host down, with its numbers: the
// host's own reason and each gate of the check that decided its pipeline
// that did not pass; for a host whose rollback failed, also the gates of
// the check after the rollback.
func firedRule(h patchpilot.HostRun) string {
	var decided, after []string
	for _, g := range h.Gates {
		if g.Outcome == patchpilot.GatePass {
			continue
		}
		text := fmt.Sprintf("%s %s: %s", g.Gate, g.Outcome, gateText(g))
		switch g.Phase {
		case "":
			decided = append(decided, text)
		case patchpilot.GateAfterRollback:
			after = append(after, text)
		}
	}
	rule := strings.TrimPrefix(h.Reason, "rolled back: ")
	if len(decided) > 0 {
		rule += " (" + strings.Join(decided, "; ") + ")"
	}
	if h.State == patchpilot.HostRollbackFailed && len(after) > 0 {
		rule += "; after the rollback: " + strings.Join(after, "; ")
	}
	return rule
}

// gateText is a gate's reason without the criterion's name it may start
// with ("cpu_increase: current 30% ..." of gate "cpu_increase<25%").
func gateText(g patchpilot.GateResult) string {
	name := g.Gate
	if k := strings.IndexAny(name, "<>="); k > 0 {
		name = name[:k]
	}
	return strings.TrimPrefix(g.Reason, name+": ")
}

// incidentHost is a host as an incident's evidence.
func incidentHost(h patchpilot.HostRun) patchpilot.IncidentHost {
	return patchpilot.IncidentHost{Host: h.Host, Stage: h.Stage, State: h.State, Reason: h.Reason,
		GateResults: h.Gates, Rule: firedRule(h)}
}

// stageIncident opens the incident of stage i's decision when the stage
// rolled hosts back on its own, or always when the decision itself is one
// (failures over the stage's limit, an adaptive halt). before holds the
// host records read before the decision's rollbacks: the stage's hosts
// that had failed then are the ones whose rule the reason names;
// rolledBack the hosts the decision rolled back. Hosts of the stage
// already rolled back while it ran are the stage's automatic rollbacks
// too. The evidence holds the records as they stand after the rollbacks.
// An incident of the stage that already names every host (a decision
// carried out again by a resumed controller) is not opened twice.
func (rn *run) stageIncident(ctx context.Context, i int, reason string, before []patchpilot.HostRun, rolledBack []string, always bool) {
	stage := rn.r.Stages[i].Name
	auto := append([]string(nil), rolledBack...)
	failed := map[string]bool{}
	for _, h := range before {
		if h.Stage != stage {
			continue
		}
		if isFailure(h.State) {
			failed[h.Host] = true
		}
		if h.Order > 0 && (h.State == patchpilot.HostRolledBack || h.State == patchpilot.HostRollbackFailed) && !contains(auto, h.Host) {
			auto = append(auto, h.Host)
		}
	}
	if len(auto) == 0 && !always {
		return
	}
	after, _, err := rn.hostRuns(ctx, -1)
	if err != nil {
		after = before
	}
	var hosts, rules, also []string
	var ev []patchpilot.IncidentHost
	for _, h := range after {
		if !failed[h.Host] && !contains(auto, h.Host) {
			continue
		}
		ih := incidentHost(h)
		hosts, ev = append(hosts, h.Host), append(ev, ih)
		if failed[h.Host] {
			rules = append(rules, h.Host+": "+ih.Rule)
		} else {
			also = append(also, h.Host)
		}
	}
	text := reason
	if len(rules) > maxRulesInReason {
		rules = append(rules[:maxRulesInReason], fmt.Sprintf("and %d more hosts (the evidence names each rule)", len(rules)-maxRulesInReason))
	}
	if len(rules) > 0 {
		text = joinReason(text, strings.Join(rules, "; "))
	}
	if len(also) > 0 {
		text = joinReason(text, "also rolled back: "+strings.Join(also, ", "))
	}
	if rn.incidentOpened(ctx, stage, text, hosts) {
		return
	}
	rn.openIncident(ctx, stage, text, hosts, patchpilot.IncidentData{Hosts: ev, RolledBack: auto})
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// incidentOpened reports whether the rollout already has an incident of
// the stage naming every one of hosts (or, naming none, with the same
// reason).
func (rn *run) incidentOpened(ctx context.Context, stage, reason string, hosts []string) bool {
	incs, err := rn.e.Store.Incidents(ctx, rn.r.ID)
	if err != nil {
		return false
	}
	for _, inc := range incs {
		if inc.Stage != stage {
			continue
		}
		if len(hosts) == 0 && inc.Reason == reason {
			return true
		}
		if len(hosts) == 0 {
			continue
		}
		all := true
		for _, h := range hosts {
			if !contains(inc.Hosts, h) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// openIncident stores an incident and announces it with its event.
func (rn *run) openIncident(ctx context.Context, stage, reason string, hosts []string, incData patchpilot.IncidentData) {
	data, _ := json.Marshal(incData)
	inc := patchpilot.Incident{Rollout: rn.r.ID, Time: rn.e.now(), Stage: stage, Reason: reason, Hosts: hosts, Evidence: data}
	id, err := rn.e.Store.AddIncident(context.WithoutCancel(ctx), inc)
	if err != nil {
		rn.e.logger().Warn("store incident", "rollout", rn.r.ID, "err", err)
	} else {
		incData.ID = id
		data, _ = json.Marshal(incData)
	}
	rn.e.event(ctx, rn.r.ID, "", patchpilot.EventIncident, fmt.Sprintf("incident %d in stage %s: %s (hosts %s)", id, stage, reason, strings.Join(hosts, ", ")), data)
}
