package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/alertmanager"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// Thresholds of the starting rule, used when a criterion
// names no value of its own.
const (
	DefaultCPUIncrease       = 25.0            // percent of the baseline: (current - baseline) / baseline
	DefaultMemory            = 90.0            // percent of memory in use
	DefaultErrorRateIncrease = 0.05            // absolute, errors per request
	DefaultLatencyRatio      = 2.0             // times the baseline
	DefaultBootTime          = 2 * time.Minute // systemd startup time
)

// CPUBaselineFloor is the smallest baseline, in percent busy, that a
// cpu_increase is relative to: a host idling under it counts as busy at
// the floor, so its CPU must rise by more than a quarter of 5 points
// (1.25 points) to breach the default 25%.
const CPUBaselineFloor = 5.0

// ErrorRateCritical is the error rate (errors per request) above which an
// error_rate_increase breach is critical: it alone rolls the host back.
const ErrorRateCritical = 0.10

// commandTimeout bounds each command a gate runs on a host.
const commandTimeout = 30 * time.Second

// Options are the Checker's dependencies. Every zero value is usable.
type Options struct {
	// HTTPClient sends the HTTP probes and, when Prometheus is nil, the
	// Prometheus queries. nil means a client of the Checker's own that
	// ignores proxy settings.
	HTTPClient *http.Client
	// Prometheus answers the metric gates; nil means a client for the
	// configuration's URL, or none when it names none.
	Prometheus *prometheus.Client
	// Metrics answers the metric gates in place of Prometheus; the
	// caller builds it for a plan whose health section names Datadog
	// (DatadogSource), since the site and keys are patchpilot.yaml's.
	Metrics MetricsSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Checker evaluates a stage's criteria on hosts. It is safe for concurrent
// use by many host pipelines.
type Checker struct {
	criteria []patchpilot.Criterion
	cfg      patchpilot.HealthConfig
	http     *http.Client
	prom     MetricsSource
	provider string // "prometheus" or "datadog"
	queries  map[string]string
	window   time.Duration
	step     time.Duration
	am       *alertmanager.Client
	now      func() time.Time
	log      *slog.Logger
}

var _ patchpilot.HealthChecker = (*Checker)(nil)

// New returns a Checker for criteria, configured by cfg. Unknown criteria
// and an invalid configuration are errors now rather than at 3 a.m.
func New(criteria []patchpilot.Criterion, cfg patchpilot.HealthConfig, o Options) (*Checker, error) {
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	for _, c := range criteria {
		if _, ok := gates[c.Name]; !ok {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "unknown criterion %q", c.Name).
				WithHint("use a criterion the planner knows, such as services_running or cpu_increase<25%")
		}
	}
	c := &Checker{criteria: append([]patchpilot.Criterion(nil), criteria...), cfg: cfg, http: o.HTTPClient,
		now: o.Now, log: o.Logger, provider: "prometheus", queries: cfg.Prometheus.Queries}
	c.window, c.step = cfg.MetricsWindow()
	switch {
	case cfg.Datadog.Integration != "":
		c.provider, c.queries, c.prom = "datadog", cfg.Datadog.Queries, o.Metrics
	case o.Metrics != nil:
		c.prom = o.Metrics
	case o.Prometheus != nil:
		c.prom = o.Prometheus
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.prom == nil && c.provider == "prometheus" && cfg.Prometheus.URL != "" {
		p, err := prometheus.New(cfg.Prometheus.URL, prometheus.Options{HTTPClient: c.http})
		if err != nil {
			return nil, err
		}
		c.prom = p
	}
	if cfg.Alertmanager.URL != "" {
		am, err := alertmanager.New(cfg.Alertmanager.URL, alertmanager.Options{HTTPClient: c.http})
		if err != nil {
			return nil, err
		}
		c.am = am
	}
	return c, nil
}

// gate is one criterion's implementation. baseline samples what the check
// compares against (nil when the gate needs nothing); check evaluates.
type gate struct {
	baseline func(c *Checker, ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion) (any, error)
	check    func(c *Checker, ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion, base json.RawMessage) result
}

// gates maps criterion names to implementations. It is read-only.
var gates = map[string]gate{
	patchpilot.CriterionServicesRunning:   {baseline: (*Checker).baseServices, check: (*Checker).checkServices},
	patchpilot.CriterionNoFailedUnits:     {baseline: (*Checker).baseFailed, check: (*Checker).checkFailed},
	patchpilot.CriterionNoNewErrors:       {check: (*Checker).checkJournal},
	patchpilot.CriterionBootTime:          {check: (*Checker).checkBootTime},
	patchpilot.CriterionPortsListening:    {baseline: (*Checker).basePorts, check: (*Checker).checkPorts},
	patchpilot.CriterionHTTPOK:            {check: (*Checker).checkHTTP},
	patchpilot.CriterionSameAsPrevious:    {check: (*Checker).checkSameAsPrevious},
	patchpilot.CriterionCPUIncrease:       {baseline: (*Checker).baseMetric, check: (*Checker).checkMetric},
	patchpilot.CriterionMemory:            {baseline: (*Checker).baseMetric, check: (*Checker).checkMetric},
	patchpilot.CriterionErrorRateIncrease: {baseline: (*Checker).baseMetric, check: (*Checker).checkMetric},
	patchpilot.CriterionLatencyP99:        {baseline: (*Checker).baseMetric, check: (*Checker).checkMetric},
	patchpilot.CriterionNoFiringAlerts:    {baseline: (*Checker).baseAlerts, check: (*Checker).checkAlerts},
	patchpilot.CriterionPuppetNoop:        {check: (*Checker).checkPuppet},
}

// baselineError is stored in place of a gate's baseline when it could not
// be taken, so that the check reports why instead of guessing.
type baselineError struct {
	Error string `json:"baseline_error"`
}

// Baseline samples every gate that compares against the host's state
// before the change. A gate whose sample fails records the failure, and
// its later checks fail closed with that reason; only a lost connection or
// a cancelled context fail the whole baseline.
func (c *Checker) Baseline(ctx context.Context, t patchpilot.HealthTarget) (patchpilot.HealthBaseline, error) {
	out := patchpilot.HealthBaseline{}
	for _, cr := range c.criteria {
		g := gates[cr.Name]
		if g.baseline == nil {
			continue
		}
		v, err := g.baseline(c, ctx, t, cr)
		if err != nil {
			if fatal(ctx, err) {
				return nil, err
			}
			v = baselineError{Error: err.Error()}
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "baseline %s: %w", cr, err)
		}
		out[cr.String()] = raw
	}
	return out, nil
}

// Check evaluates every criterion and decides. Only a cancelled context is
// an error; every other failure is a gate result that fails closed.
func (c *Checker) Check(ctx context.Context, t patchpilot.HealthTarget, base patchpilot.HealthBaseline) (patchpilot.HealthReport, error) {
	results := make([]patchpilot.GateResult, 0, len(c.criteria))
	for _, cr := range c.criteria {
		g := gates[cr.Name]
		var raw json.RawMessage
		if g.baseline != nil {
			raw = base[cr.String()]
			if raw == nil {
				results = append(results, c.finish(cr, errorResult("no baseline was taken for this gate before the change")))
				continue
			}
			var be baselineError
			if json.Unmarshal(raw, &be) == nil && be.Error != "" {
				results = append(results, c.finish(cr, errorResult("the baseline could not be taken: "+be.Error)))
				continue
			}
		}
		r := g.check(c, ctx, t, cr, raw)
		if err := ctx.Err(); err != nil {
			return patchpilot.HealthReport{}, patchpilot.Errorf(patchpilot.ECANCELED, "health check of %s: %w", t.Host.Name, err)
		}
		results = append(results, c.finish(cr, r))
	}
	verdict, reason := Decide(results)
	c.log.Debug("health check", "host", t.Host.Name, "verdict", verdict, "reason", reason)
	return patchpilot.HealthReport{Verdict: verdict, Results: results, Reason: reason}, nil
}

// result is what a gate's check returns, before it is stamped.
type result struct {
	outcome   patchpilot.GateOutcome
	reason    string
	value     *float64
	baseline  *float64
	threshold *float64
	evidence  any
}

func errorResult(reason string) result {
	return result{outcome: patchpilot.GateError, reason: reason, evidence: map[string]string{"error": reason}}
}

func (c *Checker) finish(cr patchpilot.Criterion, r result) patchpilot.GateResult {
	gr := patchpilot.GateResult{Gate: cr.String(), Outcome: r.outcome, Reason: r.reason, Value: r.value,
		Baseline: r.baseline, Threshold: r.threshold, Time: c.now().UTC()}
	if r.evidence != nil {
		raw, err := json.Marshal(r.evidence)
		if err != nil {
			raw, _ = json.Marshal(map[string]string{"error": "evidence not encodable: " + err.Error()})
		}
		gr.Evidence = raw
	}
	return gr
}

// fatal reports whether err ends the whole check: the context ended or the
// connection to the host is gone, so no other gate can run either.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	code := patchpilot.ErrorCode(err)
	return code == patchpilot.EUNREACHABLE || code == patchpilot.ECANCELED
}

func ptr(v float64) *float64 { return &v }

// run runs a command on the host; a transport failure is an error, and so
// is a non-zero exit status unless okCodes allows it.
func run(ctx context.Context, r patchpilot.Runner, privileged bool, args ...string) (patchpilot.Result, error) {
	cmd := patchpilot.Command{Args: args, Privileged: privileged, Timeout: commandTimeout}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, patchpilot.CommandError(cmd, res)
	}
	return res, nil
}

// checkSameAsPrevious fails closed. The planner replaces same_as_previous
// with the previous stage's criteria when it reads a plan, so a checker
// that still sees it was given a plan that did not go through the planner;
// answering inconclusive would only extend the bake until the host fails
// for a reason nobody can act on.
func (c *Checker) checkSameAsPrevious(_ context.Context, _ patchpilot.HealthTarget, _ patchpilot.Criterion, _ json.RawMessage) result {
	reason := "same_as_previous was not resolved to the previous stage's criteria (the plan did not go through the planner)"
	return result{outcome: patchpilot.GateError, reason: reason, evidence: map[string]string{"note": reason}}
}

func joinMax(items []string, n int) string {
	if len(items) > n {
		return strings.Join(items[:n], ", ") + ", ..."
	}
	return strings.Join(items, ", ")
}
