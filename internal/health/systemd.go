package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// unitsBaseline is what services_running and no_failed_units remember.
type unitsBaseline struct {
	Units []string `json:"units"`
}

var (
	listActiveServices = []string{"systemctl", "list-units", "--type=service", "--state=active", "--plain", "--no-legend", "--no-pager"}
	listFailedUnits    = []string{"systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager"}
)

func (c *Checker) baseServices(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	res, err := run(ctx, t.Runner, false, listActiveServices...)
	if err != nil {
		return nil, err
	}
	return unitsBaseline{Units: parseUnitList(res.Stdout)}, nil
}

func (c *Checker) baseFailed(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	res, err := run(ctx, t.Runner, false, listFailedUnits...)
	if err != nil {
		return nil, err
	}
	return unitsBaseline{Units: parseUnitList(res.Stdout)}, nil
}

// servicesEvidence says which units were looked at and which are down.
type servicesEvidence struct {
	Before        int         `json:"active_before"`
	Now           int         `json:"active_now"`
	Stopped       []string    `json:"stopped,omitempty"`
	CriticalUnits []unitState `json:"critical_units,omitempty"`
	CriticalDown  []string    `json:"critical_down,omitempty"`
}

// checkServices is critical when a service active before the change is no
// longer active, or a declared critical unit is not active.
func (c *Checker) checkServices(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, raw json.RawMessage) result {
	var base unitsBaseline
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	res, err := run(ctx, t.Runner, false, listActiveServices...)
	if err != nil {
		return errorResult("cannot list services: " + err.Error())
	}
	now := parseUnitList(res.Stdout)
	ev := servicesEvidence{Before: len(base.Units), Now: len(now), Stopped: missing(base.Units, now)}
	if len(c.cfg.CriticalUnits) > 0 {
		args := append([]string{"systemctl", "show", "--property=Id,LoadState,ActiveState,SubState", "--"}, c.cfg.CriticalUnits...)
		res, err := run(ctx, t.Runner, false, args...)
		if err != nil {
			return errorResult("cannot show critical units: " + err.Error())
		}
		states, err := parseUnitShow(res.Stdout)
		if err != nil {
			return errorResult(err.Error())
		}
		if len(states) != len(c.cfg.CriticalUnits) {
			return errorResult(fmt.Sprintf("systemctl show returned %d units for %d critical units", len(states), len(c.cfg.CriticalUnits)))
		}
		ev.CriticalUnits = states
		for i, s := range states {
			if s.ActiveState != "active" {
				ev.CriticalDown = append(ev.CriticalDown, fmt.Sprintf("%s (%s, %s/%s)", c.cfg.CriticalUnits[i], s.LoadState, s.ActiveState, s.SubState))
			}
		}
	}
	down := len(ev.Stopped) + len(ev.CriticalDown)
	r := result{value: ptr(float64(down)), threshold: ptr(0), evidence: ev}
	switch {
	case down == 0:
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("%d services active, none stopped since the baseline", len(now))
	default:
		var parts []string
		if len(ev.Stopped) > 0 {
			parts = append(parts, "no longer active: "+joinMax(ev.Stopped, 5))
		}
		if len(ev.CriticalDown) > 0 {
			parts = append(parts, "critical units down: "+joinMax(ev.CriticalDown, 5))
		}
		r.outcome, r.reason = patchpilot.GateCritical, strings.Join(parts, "; ")
	}
	return r
}

type failedEvidence struct {
	FailedBefore []string `json:"failed_before,omitempty"`
	FailedNow    []string `json:"failed_now,omitempty"`
	New          []string `json:"new_failures,omitempty"`
}

// checkFailed breaches when a unit is failed now that was not before.
func (c *Checker) checkFailed(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, raw json.RawMessage) result {
	var base unitsBaseline
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	res, err := run(ctx, t.Runner, false, listFailedUnits...)
	if err != nil {
		return errorResult("cannot list failed units: " + err.Error())
	}
	now := parseUnitList(res.Stdout)
	ev := failedEvidence{FailedBefore: base.Units, FailedNow: now, New: missing(now, base.Units)}
	r := result{value: ptr(float64(len(ev.New))), threshold: ptr(0), evidence: ev}
	if len(ev.New) == 0 {
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("no new failed units (%d failed before)", len(base.Units))
	} else {
		r.outcome, r.reason = patchpilot.GateBreach, "units failed since the baseline: "+joinMax(ev.New, 5)
	}
	return r
}

// missing returns the items of want that are not in have.
func missing(want, have []string) []string {
	set := make(map[string]bool, len(have))
	for _, h := range have {
		set[h] = true
	}
	var out []string
	for _, w := range want {
		if !set[w] {
			out = append(out, w)
		}
	}
	return out
}
