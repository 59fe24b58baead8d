package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// ParsePin reads one package=version pin, as a plan's patch names it.
func ParsePin(s string) (patchpilot.PackagePin, error) { return planner.ParsePin(s) }

// CheckSelector reports whether s is a valid target selector, with the
// planner's error naming what is wrong when it is not.
func CheckSelector(s string) error {
	_, err := planner.ParseSelector(s)
	return err
}

// SummaryMatcher parses a target selector, as plans select targets
// (comma-separated terms: key=value, key==value, key!=value, key, !key;
// values may be globs), and returns whether a host's summary matches
// it. Group terms see the host's group label only: a summary carries no
// inventory groups. It fails as CheckSelector does.
func SummaryMatcher(s string) (func(patchpilot.HostSummary) bool, error) {
	sel, err := planner.ParseSelector(s)
	if err != nil {
		return nil, err
	}
	return func(h patchpilot.HostSummary) bool {
		return sel.Matches(planner.HostView{Host: patchpilot.Host{Name: h.Name, Address: h.Address, Labels: h.Labels}, Facts: h})
	}, nil
}

// MarshalPlan renders a plan as the YAML of a plan file, which ReadPlan
// reads back.
func MarshalPlan(p patchpilot.Plan) ([]byte, error) { return planner.Marshal(p) }

// ParsePlan reads and checks a plan from YAML, as ReadPlan does a file;
// source names it in errors ("source:line:column: field: ..."). A front
// end that receives plans over the network calls it on the body, which it
// caps itself at MaxPlanBytes.
func ParsePlan(data []byte, source string) (patchpilot.Plan, error) {
	return planner.Parse(data, source)
}

// MaxPlanBytes is the largest plan ReadPlan reads.
const MaxPlanBytes = planner.MaxPlanBytes

// ReadPlanTemplate reads a schedule's plan template: a plan file, as
// 'rollout start' takes it, whose stages, health checks, canary
// analysis, disruption budgets, plan-wide switches and dependency order the schedule's
// proposed plans take (Schedule.PlanTemplate).
func ReadPlanTemplate(path string) (patchpilot.Plan, error) {
	p, _, err := planner.ReadFile(path)
	return p, err
}

// fromTemplate gives a proposed plan the stages, health checks, canary
// analysis, budgets, switches and dependency order of a template.
func fromTemplate(p, tpl patchpilot.Plan) patchpilot.Plan {
	p.Stages, p.Health, p.Canary, p.Budgets, p.Policy = tpl.Stages, tpl.Health, tpl.Canary, tpl.Budgets, tpl.Policy
	p.Order = tpl.Order
	return p
}
