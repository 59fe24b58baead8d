package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// The canary rollout test has its own lab, subnet and Prometheus port, so
// that it can run beside the other packages' labs. Its Prometheus scrapes
// every 5 s.
const (
	canaryLabSubnet     = "127.0.12"
	canaryLabPrometheus = "127.0.0.1:9202"
	canaryLabHosts      = 6
	// canaryLabBaseline holds 22 samples at the 5 s step, above the
	// judge's 20; the first change waits for it and the queries' 30 s
	// rate window.
	canaryLabBaseline = 110 * time.Second
	// canaryLabRuns good rollouts must pass without a false alarm. Each
	// costs about two minutes (most of it the fresh baseline the reset
	// makes it wait for), on the machine-wide lab lock; the judge's
	// false-alarm rate itself is measured over thousands of simulated
	// runs (internal/judge/bench), so the lab shows it on real metrics
	// twice rather than more.
	canaryLabRuns = 2
	canaryLabStep = 5 * time.Second
)

// The canary section's queries: pp-demo-web's mean and p99 latency.
const (
	canaryMeanQuery = `sum(rate(pp_demo_request_duration_seconds_sum{job="pp-demo-web",host="{{.Host}}"}[30s]))` +
		` / sum(rate(pp_demo_request_duration_seconds_count{job="pp-demo-web",host="{{.Host}}"}[30s]))`
	canaryP99Query = `histogram_quantile(0.99, sum by (le) (rate(pp_demo_request_duration_seconds_bucket{job="pp-demo-web",host="{{.Host}}"}[30s])))`
)

// waitForCanaryData waits until the lab's Prometheus has, for every host,
// at least min samples of both canary queries over the baseline window,
// the newest fresh: the data the judge needs. Waiting for the data rather
// than a fixed time keeps a busy machine, whose Prometheus falls behind,
// from failing the judge closed on stale samples.
func waitForCanaryData(t *testing.T, l *lab.Lab, hosts []string, min int) {
	t.Helper()
	for _, q := range []struct{ name, query string }{{"latency_mean", canaryMeanQuery}, {"latency_p99", canaryP99Query}} {
		labtest.WaitForSamples(t, l.PrometheusURL(), labtest.Samples{Name: q.name, Query: q.query, Hosts: hosts,
			Window: canaryLabBaseline, Step: canaryLabStep, Min: min}, 10*time.Minute)
	}
}

// canaryLabPlan writes a plan over every lab host with the canary section
// on pp-demo-web's latency (mean and p99), the queries of the canary
// package's lab test.
func canaryLabPlan(t *testing.T, pkg string, hosts []string, stages ...string) string {
	t.Helper()
	extra := fmt.Sprintf("    prometheus: {url: \"http://%s\", step: 5s}\n", canaryLabPrometheus) + `  canary:
    baseline: 110s
    interval: 5s
    max_bake: 60s
    on_inconclusive: pass
    metrics:
      - name: latency_mean
        query: '` + canaryMeanQuery + `'
        direction: higher_is_worse
        margin: 10%
        critical: true
      - name: latency_p99
        query: '` + canaryP99Query + `'
        direction: higher_is_worse
        margin: 25%
`
	return writeLabPlan(t, "canary-"+strings.ReplaceAll(pkg, "=", "-"), pkg, hosts, "", extra, stages...)
}

// TestRolloutCanaryLab runs rollouts with a canary section through the
// real binary on a lab with Prometheus: pp-demo-web 1.1.0 (behaves as
// 1.0.0) passes validation, canary and the rest in repeated runs without
// a false alarm, the fleet rolled back to 1.0.0 between runs; then 1.1.3
// (latency about 3x) is failed by the canary judge at the canary stage,
// whose hosts are rolled back while the rest are not touched.
func TestRolloutCanaryLab(t *testing.T) {
	needRoot(t)
	began := time.Now()
	rl := bootLab(t, lab.Options{Hosts: canaryLabHosts, Subnet: canaryLabSubnet,
		Prometheus: true, PrometheusAddress: canaryLabPrometheus})
	l := rl.lab
	booted := time.Now()
	t.Logf("lab up in %s", booted.Sub(began).Round(time.Second))
	var all []string
	for _, h := range l.Hosts() {
		all = append(all, h.Name)
	}
	e := rl.env(t, all...)
	// The whole baseline window full before the first change.
	waitForCanaryData(t, l, all, int(canaryLabBaseline/canaryLabStep))
	// How Prometheus kept up, in the log: a judge that fails closed on
	// stale samples is told apart from a starved Prometheus by it.
	t.Cleanup(func() { labtest.LogScrapeHealth(t, l.PrometheusURL(), time.Since(booted)) })

	for run := 1; run <= canaryLabRuns; run++ {
		ok := t.Run(fmt.Sprintf("1.1.0 passes, run %d", run), func(t *testing.T) {
			// The reset restarted pp-demo-web everywhere: the judge's
			// minimum of baseline samples, and fresh ones.
			waitForCanaryData(t, l, all, patchpilot.CanaryMinBaselineSamples)
			start := time.Now()
			plan := canaryLabPlan(t, "pp-demo-web=1.1.0", all,
				"{name: validation, targets: 1, "+labCriteria+", bake: 30s, timeout: 3m, on_failure: rollback_and_alert}",
				"{name: canary, targets: 2, parallel: 2, "+labCriteria+", bake: 30s, timeout: 3m, on_failure: rollback_and_alert}",
				"{name: rest, targets: rest, parallel: 3, "+labCriteria+", bake: 2s, timeout: 3m, on_failure: rollback_and_alert}")
			id, r := rl.startRollout(e, plan)
			events := e.mustRun("rollout", "events", id)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", r.code, r.stdout, r.stderr, events)
			}
			st := e.status(id)
			for _, s := range st.Stages {
				for _, h := range s.Hosts {
					if h.State != "succeeded" {
						t.Errorf("%s/%s: %s (%s)", s.Name, h.Name, h.State, h.Reason)
					}
				}
			}
			// The stages with later hosts looked at the canary gate (which
			// may end on a Pass or, with these short bakes, inconclusive
			// and passed by the plan's policy, but never on a Fail); the
			// last stage has no controls and skips it.
			for _, want := range []string{"canary:latency_mean ", "canary skipped: no unchanged host"} {
				if !strings.Contains(events, want) {
					t.Errorf("events lack %q:\n%s", want, events)
				}
			}
			if strings.Contains(events, "canary:latency_mean fail") || strings.Contains(events, "canary:latency_p99 fail") {
				t.Errorf("false alarm:\n%s", events)
			}
			t.Logf("run %d took %s; the last canary verdicts:\n%s", run, time.Since(start).Round(time.Second), lastLines(events, "  canary:latency", 6))
		})
		rl.reset(all...)
		if !ok {
			t.FailNow()
		}
	}

	var bad string
	var rolledBack []string
	caught := t.Run("1.1.3 is caught by the canary judge and rolled back", func(t *testing.T) {
		waitForCanaryData(t, l, all, patchpilot.CanaryMinBaselineSamples)
		start := time.Now()
		plan := canaryLabPlan(t, "pp-demo-web=1.1.3", all,
			"{name: canary, targets: 2, parallel: 2, "+labCriteria+", bake: 30s, timeout: 3m, on_failure: rollback_and_alert}",
			"{name: rest, targets: rest, parallel: 3, "+labCriteria+", bake: 2s, timeout: 3m, on_failure: rollback_and_alert}")
		id, r := rl.startRollout(e, plan)
		bad = id
		events := e.mustRun("rollout", "events", id)
		if r.code != patchpilot.ExitHalted {
			t.Fatalf("exit %d, want %d (halted)\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", r.code, patchpilot.ExitHalted, r.stdout, r.stderr, events)
		}
		st := e.status(id)
		rolledBack = st.stageHosts("canary")
		for _, h := range rolledBack {
			if got := st.hostStates()[h]; got != "rolled_back" {
				t.Errorf("canary host %s: %s, want rolled_back", h, got)
			}
			if v := rl.version(h, "pp-demo-web"); v != "1.0.0" || !rl.healthy(h) {
				t.Errorf("canary host %s after rollback: %s, healthy %v", h, v, rl.healthy(h))
			}
		}
		for _, h := range st.stageHosts("rest") {
			if got := st.hostStates()[h]; got != "skipped" && got != "pending" || rl.version(h, "pp-demo-web") != "1.0.0" {
				t.Errorf("%s was touched: %s, %s", h, got, rl.version(h, "pp-demo-web"))
			}
		}
		if len(st.Incidents) != 1 || !strings.Contains(string(st.Incidents[0].Evidence), "canary:latency") {
			t.Errorf("incidents %+v, want one whose evidence names canary:latency", st.Incidents)
		}
		if !strings.Contains(events, "canary:latency_mean fail (critical): +") {
			t.Errorf("events lack the canary verdict line:\n%s", events)
		}
		t.Logf("caught and rolled back in %s:\n%s", time.Since(start).Round(time.Second), grepLines(events, "  canary:latency_mean fail", 4))
	})
	if caught {
		// The fleet learned from these rollouts by itself.
		t.Run("the outcomes rank 1.1.3 above 1.1.0 and quarantine it", func(t *testing.T) {
			checkLearnedOnTheLab(t, e, l, all, bad, rolledBack)
		})
	}
	t.Logf("the whole test took %s", time.Since(began).Round(time.Second))
}

// lastLines returns the last n lines of s that contain sub.
func lastLines(s, sub string, n int) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out[max(len(out)-n, 0):], "\n")
}

// grepLines returns up to n lines of s that contain sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) && len(out) < n {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
