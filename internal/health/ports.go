package health

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/patchpilot/patchpilot"
)

type portsBaseline struct {
	Address   string   `json:"address"`
	Listening []string `json:"listening"`
}

type portsEvidence struct {
	Before int      `json:"listening_before"`
	Now    []string `json:"listening_now"`
	Gone   []string `json:"gone,omitempty"`
}

func (c *Checker) listening(ctx context.Context, t patchpilot.HealthTarget) ([]string, error) {
	res, err := run(ctx, t.Runner, false, "ss", "-Htln")
	if err != nil {
		return nil, err
	}
	ls, err := parseListeners(res.Stdout)
	if err != nil {
		return nil, err
	}
	return hostListeners(ls, t.Host.Target()), nil
}

func (c *Checker) basePorts(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	ls, err := c.listening(ctx, t)
	if err != nil {
		return nil, err
	}
	return portsBaseline{Address: t.Host.Target(), Listening: ls}, nil
}

// checkPorts breaches when a TCP socket that listened before the change
// no longer does.
func (c *Checker) checkPorts(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, raw json.RawMessage) result {
	var base portsBaseline
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	now, err := c.listening(ctx, t)
	if err != nil {
		return errorResult("cannot list listening sockets: " + err.Error())
	}
	ev := portsEvidence{Before: len(base.Listening), Now: now, Gone: missing(base.Listening, now)}
	r := result{value: ptr(float64(len(ev.Gone))), threshold: ptr(0), evidence: ev}
	if len(ev.Gone) == 0 {
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("all %d sockets listening before still listen", len(base.Listening))
	} else {
		r.outcome, r.reason = patchpilot.GateBreach, "no longer listening: "+joinMax(ev.Gone, 5)
	}
	return r
}
