package health

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/patchpilot/patchpilot"
)

// The network_connectivity criterion: the host's interfaces that were up
// before the change are still up, its interfaces do not show new errors or
// drops beyond an allowance, it still reaches the hosts it depends on (its
// providers on the dependency map) and still answers on the ports its
// dependents use. docs/gates.md describes it.

// NetErrorAllowance is the errors and drops per second an interface set
// may show over its baseline before network_connectivity breaches: the
// limit is max(2 x baseline, baseline + NetErrorAllowance).
const NetErrorAllowance = 1.0

func init() {
	gates[patchpilot.CriterionNetworkConnectivity] = gate{baseline: (*Checker).baseNetwork, check: (*Checker).checkNetwork}
}

// NetErrorLimit is the errors-and-drops rate network_connectivity allows
// for a baseline rate.
func NetErrorLimit(baseline float64) float64 {
	return baseline + math.Max(baseline, NetErrorAllowance)
}

// portProbe is what the host reached on one address before or after the
// change.
type portProbe struct {
	Host        string        `json:"host"`
	Address     string        `json:"address"`
	Reachable   []int         `json:"reachable,omitempty"`
	Unreachable []portFailure `json:"unreachable,omitempty"`
	Before      []int         `json:"unreachable_before,omitempty"`
	Error       string        `json:"error,omitempty"`
}

// networkState is network_connectivity's baseline and evidence.
type networkState struct {
	// Up are the interfaces up (the net_up series at 1); Down those at 0
	// and, after the change, Gone those up before that report no more.
	Up   []string `json:"up"`
	Down []string `json:"down,omitempty"`
	Gone []string `json:"gone,omitempty"`
	// UpNote says why the interface state was not read (no query).
	UpNote string        `json:"up_note,omitempty"`
	Errors *metricSample `json:"errors,omitempty"`
	// ErrorLimit is the errors-and-drops rate allowed after the change.
	ErrorLimit *float64    `json:"error_limit,omitempty"`
	Providers  []portProbe `json:"providers"`
	// Serves are the host's own ports its dependents use, probed from
	// the host at its address.
	Serves *portProbe `json:"serves,omitempty"`
}

// metricText returns the rendered query of a metric for a host; ok false
// when the source has no built-in query for it and the plan names none.
func (c *Checker) metricText(m string, h patchpilot.Host) (string, bool, error) {
	text, ok := c.queries[m]
	if !ok {
		if text, ok = DefaultQuery(c.provider, m); !ok {
			return "", false, nil
		}
	}
	q, err := RenderTemplate(m, text, TemplateData(h))
	return q, true, err
}

// noMetrics says why network_connectivity cannot read interfaces.
func (c *Checker) noMetrics() string {
	if c.provider == "datadog" {
		return fmt.Sprintf("the datadog integration %q of health.datadog is not available: check patchpilot.yaml's integrations", c.cfg.Datadog.Integration)
	}
	return "no metrics source: network_connectivity reads the interfaces from node_exporter; add health.prometheus (or health.datadog) to the plan"
}

// interfaces reads the latest value of each interface's net_up series over
// [start, end]. ok is false when no query exists for the source.
func (c *Checker) interfaces(ctx context.Context, h patchpilot.Host, start, end time.Time) (up, down []string, ok bool, err error) {
	q, ok, err := c.metricText(patchpilot.MetricNetUp, h)
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	m, err := c.prom.QueryRange(ctx, q, start, end, c.step)
	if err != nil {
		return nil, nil, true, err
	}
	if len(m) == 0 {
		return nil, nil, true, fmt.Errorf("net_up query returned no series (no node_exporter data for this host?)")
	}
	for i, s := range m {
		name := s.Metric["device"]
		if name == "" {
			name = s.Metric["interface"]
		}
		if name == "" {
			name = "series" + strconv.Itoa(i)
		}
		var last *float64
		var at time.Time
		for _, p := range s.Points {
			if p.Valid() {
				v := p.Value
				last, at = &v, p.Time
			}
		}
		if last == nil || end.Sub(at) > c.staleAfter() {
			continue // the interface reports no more: gone
		}
		if *last >= 1 {
			up = append(up, name)
		} else {
			down = append(down, name)
		}
	}
	sort.Strings(up)
	sort.Strings(down)
	return up, down, true, nil
}

// providerProbes probes, from the host, each of its providers, and its own
// ports its dependents use at its own address.
func (c *Checker) providerProbes(ctx context.Context, t patchpilot.HealthTarget) ([]portProbe, *portProbe) {
	out := []portProbe{}
	for _, p := range c.cfg.Providers[t.Host.Name] {
		pp := portProbe{Host: p.Host, Address: p.Address}
		probePorts(ctx, t.Runner, p.Address, p.Ports, &pp)
		out = append(out, pp)
	}
	var ports []int
	for _, d := range c.cfg.Dependents[t.Host.Name] {
		for _, p := range d.Ports {
			if !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
	}
	if len(ports) == 0 {
		return out, nil
	}
	sort.Ints(ports)
	addr := t.Host.Target()
	serves := &portProbe{Host: t.Host.Name, Address: addr}
	probePorts(ctx, t.Runner, addr, ports, serves)
	return out, serves
}

// probePorts connects from the host to addr on each port with bash's
// /dev/tcp, as the dependents probe does.
func probePorts(ctx context.Context, r patchpilot.Runner, addr string, ports []int, pp *portProbe) {
	if err := probeAddress(addr); err != nil {
		pp.Error = err.Error()
		return
	}
	if r == nil {
		pp.Error = "no connection to the host"
		return
	}
	for _, p := range ports {
		if p < 1 || p > 65535 {
			pp.Error = fmt.Sprintf("port %d is not a TCP port", p)
			return
		}
		reached, failure, fatal := probeTCPPort(ctx, r, addr, p, "host")
		switch {
		case fatal != "":
			pp.Error = fatal
			return
		case reached:
			pp.Reachable = append(pp.Reachable, p)
		default:
			pp.Unreachable = append(pp.Unreachable, *failure)
		}
	}
}

// baseNetwork records the interfaces up, the errors-and-drops rate and
// what the host reaches before the change. A part that cannot be read
// fails the whole baseline: the check would have nothing to compare.
func (c *Checker) baseNetwork(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	if c.prom == nil {
		return nil, fmt.Errorf("%s", c.noMetrics())
	}
	end := c.now()
	st := networkState{}
	up, down, ok, err := c.interfaces(ctx, t.Host, end.Add(-c.window), end)
	switch {
	case err != nil:
		return nil, fmt.Errorf("interfaces: %w", err)
	case !ok:
		st.UpNote = fmt.Sprintf("no built-in net_up query for %s: interface state not checked (set health.%s.queries.net_up)", c.provider, c.provider)
	default:
		st.Up, st.Down = up, down
	}
	q, _, err := c.metricText(patchpilot.MetricNetErrors, t.Host)
	if err != nil {
		return nil, err
	}
	s, err := c.sample(ctx, q, end.Add(-c.window), end)
	if err != nil {
		return nil, fmt.Errorf("interface errors and drops: %w", err)
	}
	st.Errors = &s
	st.Providers, st.Serves = c.providerProbes(ctx, t)
	if err := ctx.Err(); err != nil {
		return nil, patchpilot.Errorf(patchpilot.ECANCELED, "network baseline of %s: %w", t.Host.Name, err)
	}
	return st, nil
}

// checkNetwork compares the host's network with its baseline.
func (c *Checker) checkNetwork(ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion, raw json.RawMessage) result {
	var base networkState
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	if c.prom == nil {
		return errorResult(c.noMetrics())
	}
	end := c.now()
	start := end.Add(-c.window)
	if t.Since.After(start) {
		start = t.Since
	}
	if end.Sub(start) < c.step {
		start = end.Add(-c.step)
	}
	young, age := c.settling(t.Since, end)
	ev := networkState{UpNote: base.UpNote}
	var breaches, errs []string

	if base.UpNote == "" {
		// The latest state: the last two steps, whatever the window.
		up, down, _, err := c.interfaces(ctx, t.Host, end.Add(-2*c.step), end)
		if err != nil {
			errs = append(errs, "interfaces: "+err.Error())
		} else {
			ev.Up, ev.Down = up, down
			for _, name := range base.Up {
				switch {
				case slices.Contains(down, name):
					breaches = append(breaches, "interface "+name+" went down")
				case !slices.Contains(up, name):
					ev.Gone = append(ev.Gone, name)
					breaches = append(breaches, "interface "+name+" no longer reports")
				}
			}
		}
	}

	q, _, err := c.metricText(patchpilot.MetricNetErrors, t.Host)
	if err != nil {
		return errorResult(err.Error())
	}
	cur, err := c.sample(ctx, q, start, end)
	var measured, limit float64
	// Too little data since the change makes the rate part inconclusive;
	// the other parts still breach on their own.
	var settle *result
	switch {
	case err != nil && young:
		r := settlingResult(cr, age, c.settleLimit(), "interface errors and drops: "+err.Error(), cur)
		settle = &r
	case err != nil:
		errs = append(errs, "interface errors and drops: "+err.Error())
	case young && (age < minPostChangePoints*c.step || cur.Points < minPostChangePoints):
		r := settlingResult(cr, age, c.settleLimit(),
			fmt.Sprintf("%d of %d samples since the change", cur.Points, minPostChangePoints), cur)
		settle = &r
	case base.Errors == nil:
		errs = append(errs, "the baseline has no interface error rate")
	default:
		ev.Errors = &cur
		measured, limit = cur.Value, NetErrorLimit(base.Errors.Value)
		ev.ErrorLimit = &limit
		if measured > limit {
			breaches = append(breaches, fmt.Sprintf("interface errors and drops %.3g/s, above max(2 x baseline %.3g/s, baseline + %g/s) = %.3g/s",
				measured, base.Errors.Value, NetErrorAllowance, limit))
		}
	}

	before := map[string][]int{}
	for _, p := range base.Providers {
		for _, f := range p.Unreachable {
			before[p.Host+" "+p.Address] = append(before[p.Host+" "+p.Address], f.Port)
		}
	}
	if base.Serves != nil {
		for _, f := range base.Serves.Unreachable {
			before["serves"] = append(before["serves"], f.Port)
		}
	}
	provs, serves := c.providerProbes(ctx, t)
	if ctx.Err() != nil {
		return errorResult("interrupted: " + ctx.Err().Error())
	}
	judgeProbe := func(pp *portProbe, key, what string) {
		if pp.Error != "" {
			errs = append(errs, what+": "+pp.Error)
		}
		now := pp.Unreachable
		pp.Unreachable = nil
		for _, f := range now {
			if slices.Contains(before[key], f.Port) {
				pp.Before = append(pp.Before, f.Port)
				continue
			}
			pp.Unreachable = append(pp.Unreachable, f)
			breaches = append(breaches, fmt.Sprintf("%s: %s:%d: %s", what, pp.Address, f.Port, f.Reason))
		}
	}
	for i := range provs {
		judgeProbe(&provs[i], provs[i].Host+" "+provs[i].Address, t.Host.Name+" cannot reach its provider "+provs[i].Host)
	}
	ev.Providers = provs
	if serves != nil {
		judgeProbe(serves, "serves", t.Host.Name+" no longer answers on a port its dependents use")
		ev.Serves = serves
	}

	if settle != nil && len(breaches) == 0 {
		return *settle
	}
	r := result{value: ptr(float64(len(breaches))), threshold: ptr(0), evidence: ev}
	if ev.Errors != nil {
		r.value, r.baseline, r.threshold = ptr(measured), ptr(base.Errors.Value), ptr(limit)
	}
	summary := fmt.Sprintf("%d of %d interfaces up, %d providers reachable", len(ev.Up), len(base.Up), len(provs))
	if base.UpNote != "" {
		summary = fmt.Sprintf("%d providers reachable (%s)", len(provs), base.UpNote)
	}
	switch {
	case len(breaches) > 0:
		r.outcome, r.reason = patchpilot.GateBreach, cr.Name+": "+joinMax(breaches, 5)
		if len(errs) > 0 {
			r.reason += "; and " + joinMax(errs, 3)
		}
	case len(errs) > 0:
		r.outcome, r.reason = patchpilot.GateError, cr.Name+": cannot check "+joinMax(errs, 3)
	default:
		r.outcome, r.reason = patchpilot.GatePass, cr.Name+": "+summary+", errors and drops within the allowance"
	}
	return r
}
