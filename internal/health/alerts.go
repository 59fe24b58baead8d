package health

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/alertmanager"
)

// The no_firing_alerts gate: the host's alerts in Alertmanager (those its
// matchers select, active, neither silenced nor inhibited). An alert that
// fires during the bake is critical; one that already fired when the
// baseline was taken, and still fires unchanged (same fingerprint, same
// start), is the host's known state and does not count. Alertmanager not
// answering fails the gate closed.

// alertMatchers renders the configured matchers for a host.
func (c *Checker) alertMatchers(h patchpilot.Host) ([]alertmanager.Matcher, error) {
	texts := c.cfg.Alertmanager.Matchers
	if len(texts) == 0 {
		texts = patchpilot.DefaultAlertMatchers()
	}
	out := make([]alertmanager.Matcher, 0, len(texts))
	for i, t := range texts {
		s, err := RenderTemplate(fmt.Sprintf("matchers[%d]", i), t, TemplateData(h))
		if err != nil {
			return nil, err
		}
		m, err := alertmanager.ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// firing asks Alertmanager for the host's firing alerts.
func (c *Checker) firing(ctx context.Context, h patchpilot.Host) ([]alertmanager.Alert, []alertmanager.Matcher, error) {
	if c.am == nil {
		return nil, nil, fmt.Errorf("no alertmanager configured for %s: add health.alertmanager.url to the plan", patchpilot.CriterionNoFiringAlerts)
	}
	ms, err := c.alertMatchers(h)
	if err != nil {
		return nil, nil, err
	}
	alerts, err := c.am.Firing(ctx, ms)
	return alerts, ms, err
}

// firingAlert is an alert as the gate's evidence and baseline keep it.
type firingAlert struct {
	Name        string            `json:"alertname"`
	Fingerprint string            `json:"fingerprint"`
	StartsAt    time.Time         `json:"starts_at"`
	Labels      map[string]string `json:"labels"`
	Summary     string            `json:"summary,omitempty"`
}

func (a firingAlert) key() string {
	return a.Fingerprint + "@" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

func toFiring(as []alertmanager.Alert) []firingAlert {
	out := make([]firingAlert, 0, len(as))
	for _, a := range as {
		out = append(out, firingAlert{Name: a.Name(), Fingerprint: a.Fingerprint, StartsAt: a.StartsAt.UTC(),
			Labels: a.Labels, Summary: a.Annotations["summary"]})
	}
	return out
}

type alertsBaseline struct {
	Firing []firingAlert `json:"firing"`
}

// baseAlerts records the host's alerts firing before the change.
func (c *Checker) baseAlerts(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	as, _, err := c.firing(ctx, t.Host)
	if err != nil {
		return nil, err
	}
	return alertsBaseline{Firing: toFiring(as)}, nil
}

type alertsEvidence struct {
	Alertmanager string        `json:"alertmanager"`
	Matchers     []string      `json:"matchers"`
	New          []firingAlert `json:"new"`
	Known        []firingAlert `json:"known,omitempty"`
}

// checkAlerts fails the host on an alert that fires now and did not at the
// baseline.
func (c *Checker) checkAlerts(ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion, raw json.RawMessage) result {
	var base alertsBaseline
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	as, ms, err := c.firing(ctx, t.Host)
	if err != nil {
		return errorResult(err.Error())
	}
	known := map[string]bool{}
	for _, a := range base.Firing {
		known[a.key()] = true
	}
	ev := alertsEvidence{Alertmanager: c.am.URL(), New: []firingAlert{}}
	for _, m := range ms {
		ev.Matchers = append(ev.Matchers, m.String())
	}
	for _, a := range toFiring(as) {
		if known[a.key()] {
			ev.Known = append(ev.Known, a)
		} else {
			ev.New = append(ev.New, a)
		}
	}
	n := float64(len(ev.New))
	r := result{value: &n, threshold: ptr(0), evidence: ev}
	if len(ev.New) == 0 {
		r.outcome = patchpilot.GatePass
		r.reason = fmt.Sprintf("%s: no alert of the host fires", cr.Name)
		if len(ev.Known) > 0 {
			r.reason = fmt.Sprintf("%s: no new alert; %d already fired before the change", cr.Name, len(ev.Known))
		}
		return r
	}
	var names []string
	for _, a := range ev.New {
		if !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	r.outcome = patchpilot.GateCritical
	r.reason = fmt.Sprintf("%s: %d alert(s) firing since the change: %s", cr.Name, len(ev.New), joinMax(names, 5))
	return r
}
