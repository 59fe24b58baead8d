package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// StartOptions say who starts a rollout, from which saved plan, and
// whether it is a dry run.
type StartOptions struct {
	CreatedBy string // the actor recorded as the rollout's creator
	PlanID    string // the saved plan (PlanRecord) it is started from, if any
	DryRun    bool
	// Warnings are the caller's own warnings about the plan against its
	// targets, recorded with the planner's in the rollout's created event.
	Warnings []string
}

// Start resolves the plan against the hosts (selecting the plan's targets
// among them and assigning them to stages) and stores a new pending
// rollout. It changes no host; Run drives the rollout.
func (e *Engine) Start(ctx context.Context, plan patchpilot.Plan, planSource string, hosts []planner.HostView, o StartOptions) (string, error) {
	createdBy, dryRun := o.CreatedBy, o.DryRun
	rp, err := planner.ResolveFleet(plan, hosts)
	if err != nil {
		return "", err
	}
	now := e.now()
	r := patchpilot.Rollout{
		ID: NewRolloutID(now), Plan: rp.Plan, PlanSource: planSource, State: patchpilot.RolloutPending,
		CreatedBy: createdBy, CreatedAt: now, UpdatedAt: now, DryRun: dryRun, PlanID: o.PlanID,
	}
	if planSource == "" {
		src, err := planner.Marshal(rp.Plan)
		if err != nil {
			return "", err
		}
		r.PlanSource = string(src)
	}
	var lines []string
	var reasons [][]string
	for i, s := range rp.Stages {
		reasons = append(reasons, s.Reasons)
		r.Stages = append(r.Stages, patchpilot.StageRun{
			Rollout: r.ID, Index: i, Name: s.Stage.Name, State: patchpilot.StagePending, Hosts: s.Hosts,
		})
		lines = append(lines, fmt.Sprintf("%s: %s", s.Stage.Name, strings.Join(s.Hosts, ",")))
	}
	if e.Predict != nil && !dryRun {
		var hosts []string
		for _, s := range r.Stages {
			hosts = append(hosts, s.Hosts...)
		}
		if pred, err := e.Predict(ctx, rp.Plan, hosts); err != nil {
			e.logger().Warn("assess the rollout's hosts for its predictions", "err", err)
		} else {
			r.Predictions = pred
		}
	}
	if err := e.Store.CreateRollout(ctx, r); err != nil {
		return "", err
	}
	data, _ := json.Marshal(patchpilot.RolloutCreatedData{Plan: rp.Plan.Name, Stages: lines, Notes: rp.Notes, DryRun: dryRun,
		StageReasons: reasons, Warnings: append(slices.Clip(rp.Warnings), o.Warnings...)})
	e.event(ctx, r.ID, "", patchpilot.EventRolloutCreated, fmt.Sprintf("rollout created by %s: %s", orDefault(createdBy, e.actor()), strings.Join(lines, "; ")), data)
	return r.ID, nil
}

// load reads a rollout with its plan parsed from the stored source when
// the store does not keep the parsed form.
func (e *Engine) load(ctx context.Context, id string) (patchpilot.Rollout, error) {
	r, err := e.Store.Rollout(ctx, id)
	if err != nil {
		return r, err
	}
	if len(r.Plan.Stages) == 0 {
		p, err := planner.Parse([]byte(r.PlanSource), "rollout "+id+" plan")
		if err != nil {
			return r, err
		}
		r.Plan = p
	}
	r.Plan = r.Plan.WithDefaults()
	if len(r.Plan.Stages) != len(r.Stages) {
		return r, patchpilot.Errorf(patchpilot.EINTERNAL, "rollout %s has %d stages but its plan %d", id, len(r.Stages), len(r.Plan.Stages))
	}
	return r, nil
}

// requiresApproval applies the planner's rule to a stored stage: the plan
// (or the server's policy, written into it at start) asks for approval, or
// the stage holds critical hosts. A plan stored with the old waiver
// (Policy.CriticalWithoutApproval) still loads, but the waiver is not
// honoured: critical hosts always need a person.
func requiresApproval(s patchpilot.Stage, hosts []patchpilot.Host) bool {
	if s.Approval == patchpilot.ApprovalRequired {
		return true
	}
	for _, h := range hosts {
		if h.Critical() {
			return true
		}
	}
	return false
}
