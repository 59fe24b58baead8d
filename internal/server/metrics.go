package server

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// metrics are the server's Prometheus metrics: the API's latency, counted
// as requests come, and the fleet's state, read from the store at each
// scrape (so that changes other processes make are counted too).
type metrics struct {
	latency *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchpilot_api_request_duration_seconds",
			Help:    "Time to answer API requests, by route and HTTP status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "status"}),
	}
	reg.MustRegister(m.latency, &storeCollector{s: s})
	return m
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descHosts = prometheus.NewDesc("patchpilot_hosts", "Hosts by compliance state: compliant (no pending update), "+
		"updates_pending, security_pending, unknown (never collected).", []string{"state"}, nil)
	descUpdates = prometheus.NewDesc("patchpilot_pending_updates", "Pending updates of the hosts' latest facts by the "+
		"highest severity of the advisories they fix (none when they fix none).", []string{"severity"}, nil)
	descRollouts = prometheus.NewDesc("patchpilot_rollouts", "Rollouts by state.", []string{"state"}, nil)
	descGates    = prometheus.NewDesc("patchpilot_gate_verdicts_total", "Health gate verdicts recorded by rollouts, by verdict.",
		[]string{"verdict"}, nil)
	descOutcomes = prometheus.NewDesc("patchpilot_host_outcomes", "Host outcomes recorded by rollouts (the last of each host in each rollout), by outcome.",
		[]string{"outcome"}, nil)
	descSLAHosts = prometheus.NewDesc("patchpilot_sla_hosts", "Hosts by state against their patch SLA: compliant (no "+
		"pending security update with a deadline), within_sla, out_of_sla, unknown (never collected).", []string{"state"}, nil)
	descSLAOverdue = prometheus.NewDesc("patchpilot_sla_overdue_updates", "Pending security updates past their SLA "+
		"deadline, counted once per host.", nil, nil)
	descSLAUnrated = prometheus.NewDesc("patchpilot_sla_unrated_updates", "Pending security updates whose advisories "+
		"carry no severity and which the SLA gives no deadline, so no SLA state measures them, counted once per host.", nil, nil)
	descScrapeErr = prometheus.NewDesc("patchpilot_store_scrape_errors", "Reads of the store that failed during this scrape.", nil, nil)
)

// storeCollector reads the fleet's state from the store at each scrape.
type storeCollector struct {
	s *Server
	// gates counts gate verdicts by verdict up to the event gatesAfter:
	// each scrape reads only the gate events after it, so a scrape's cost
	// does not grow with the event log.
	mu         sync.Mutex
	gates      map[string]int
	gatesAfter int64
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHosts, descUpdates, descRollouts, descGates, descOutcomes, descSLAHosts, descSLAOverdue, descSLAUnrated, descScrapeErr} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := c.s.app.Store
	failed := 0
	gauge := func(d *prometheus.Desc, counts map[string]int, vt prometheus.ValueType) {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(d, vt, float64(n), k)
		}
	}
	// The states need the facts' figures only: the summaries without the
	// collection failures, which would read the failure events at each
	// scrape.
	if sums, err := c.s.app.HostFactSummaries(ctx); err != nil {
		failed++
	} else {
		counts := map[string]int{"compliant": 0, "updates_pending": 0, "security_pending": 0, "unknown": 0}
		for _, h := range sums {
			switch {
			case h.CollectedAt == nil:
				counts["unknown"]++
			case h.SecurityUpdateCount > 0:
				counts["security_pending"]++
			case h.PendingUpdateCount > 0:
				counts["updates_pending"]++
			default:
				counts["compliant"]++
			}
		}
		gauge(descHosts, counts, prometheus.GaugeValue)
	}
	if uc, err := c.s.app.UpdateCounts(ctx); err != nil {
		failed++
	} else {
		counts := map[string]int{}
		for sv, n := range uc.All {
			sev := string(sv)
			if sev == "" {
				sev = "none"
			}
			counts[sev] += n
		}
		gauge(descUpdates, counts, prometheus.GaugeValue)
	}
	if rep, err := c.s.app.Compliance(ctx); err != nil {
		failed++
	} else {
		counts := map[string]int{}
		for _, state := range app.SLAStates() {
			counts[string(state)] = rep.Totals.Of(state)
		}
		gauge(descSLAHosts, counts, prometheus.GaugeValue)
		ch <- prometheus.MustNewConstMetric(descSLAOverdue, prometheus.GaugeValue, float64(rep.Totals.OverdueUpdates))
		ch <- prometheus.MustNewConstMetric(descSLAUnrated, prometheus.GaugeValue, float64(rep.Totals.UnratedUpdates))
	}
	if rs, err := st.Rollouts(ctx, patchpilot.RolloutFilter{}); err != nil {
		failed++
	} else {
		counts := map[string]int{}
		for _, s := range rolloutStates {
			counts[string(s)] = 0
		}
		for _, r := range rs {
			counts[string(r.State)]++
		}
		gauge(descRollouts, counts, prometheus.GaugeValue)
	}
	if counts, err := c.gateVerdicts(ctx); err != nil {
		failed++
	} else {
		gauge(descGates, counts, prometheus.CounterValue)
	}
	if outs, err := c.s.app.OutcomeCounts(ctx); err != nil {
		failed++
	} else {
		counts := map[string]int{}
		for k, n := range outs {
			counts[string(k)] += n
		}
		gauge(descOutcomes, counts, prometheus.GaugeValue)
	}
	if failed > 0 {
		c.s.log.Warn("metrics: reads of the store failed", "count", failed)
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, float64(failed))
}

// gateVerdicts counts every gate verdict event by its verdict, reading
// only the events stored since the last scrape.
func (c *storeCollector) gateVerdicts(ctx context.Context) (map[string]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gates == nil {
		// Every verdict is shown from the start, at 0 until it happens.
		c.gates = map[string]int{}
		for _, v := range []patchpilot.HealthVerdict{patchpilot.Healthy, patchpilot.UnderReview, patchpilot.Unhealthy} {
			c.gates[string(v)] = 0
		}
	}
	for {
		evs, err := c.s.app.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventGateVerdict, AfterID: c.gatesAfter, Limit: 10000})
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			// Only each verdict's word is decoded, not its evidence.
			verdict := "unknown"
			if v := patchpilot.VerdictOf(e.Data); v != "" {
				verdict = string(v)
			}
			c.gates[verdict]++
			c.gatesAfter = e.ID
		}
		if len(evs) < 10000 {
			break
		}
	}
	return maps.Clone(c.gates), nil
}
