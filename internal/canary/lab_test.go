package canary_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/prometheus"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// The lab of these tests has its own subnet and Prometheus port, so that
// other packages' labs can run beside it. Its Prometheus scrapes every 5 s.
const (
	labSubnet     = "127.0.7"
	labPrometheus = "127.0.0.1:9197"
	labHosts      = 6
	labStep       = 5 * time.Second
	// labBaseline holds 22 samples at the step, above the judge's 20.
	labBaseline = 110 * time.Second
	// labLooks is two minutes of looks, one per scrape: how long an
	// idle machine takes to fail 1.1.3.
	labLooks = 24
	// maxLooks bounds the looks on a busy machine, where other work's
	// latency noise in the lab's service costs the judge power: the test
	// waits for the Fail it needs rather than for a fixed two minutes.
	// The judge is valid at every look, so looking longer at 1.1.0 does
	// not raise its false-alarm rate.
	maxLooks = 3 * labLooks
)

const (
	meanQuery = `sum(rate(pp_demo_request_duration_seconds_sum{job="pp-demo-web",host="{{.Host}}"}[30s]))` +
		` / sum(rate(pp_demo_request_duration_seconds_count{job="pp-demo-web",host="{{.Host}}"}[30s]))`
	p99Query = `histogram_quantile(0.99, sum by (le) (rate(pp_demo_request_duration_seconds_bucket{job="pp-demo-web",host="{{.Host}}"}[30s])))`
)

func labConfig() patchpilot.CanaryConfig {
	return patchpilot.CanaryConfig{
		Baseline: labBaseline,
		Metrics: []patchpilot.CanaryMetric{
			{Name: "latency_mean", Query: meanQuery, Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.10, Relative: true, Critical: true},
			{Name: "latency_p99", Query: p99Query, Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.25, Relative: true},
		},
	}
}

// bootLab starts the lab under the machine-wide lab lock, or skips under
// -short and where a lab cannot run (not root, tools missing) unless
// CI=true.
func bootLab(t *testing.T) *lab.Lab {
	t.Helper()
	labtest.Require(t, func() error { return lab.CheckHost(true) })
	labtest.Lock(t)
	dir, err := os.MkdirTemp("", "pp-canary-lab-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Hosts: labHosts, Subnet: labSubnet, Prometheus: true, PrometheusAddress: labPrometheus,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, nil); err != nil {
			t.Errorf("lab down: %v", err)
		}
		os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l
}

func targets(hs []patchpilot.Host, names ...string) []canary.Target {
	var out []canary.Target
	for _, n := range names {
		for _, h := range hs {
			if h.Name == n {
				out = append(out, canary.Target{Host: h})
			}
		}
	}
	return out
}

// install installs a version of pp-demo-web over SSH with strict host keys.
func install(ctx context.Context, l *lab.Lab, h patchpilot.Host, version string) error {
	d, err := ssh.NewDialer(ssh.Options{KnownHostsFile: l.KnownHostsFile(), KeyFiles: []string{l.KeyFile()}})
	if err != nil {
		return err
	}
	r, err := d.Dial(ctx, h)
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := patchpilot.Command{Args: []string{"apt-get", "install", "-y", "--allow-downgrades", "pp-demo-web=" + version},
		Privileged: true, Timeout: 2 * time.Minute}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return patchpilot.CommandError(cmd, res)
	}
	return nil
}

// TestLabCanary patches pp-demo-web on a real lab: 1.1.3 (latency about 3x)
// on lab01, which the sequential judge must fail, looking at every scrape
// (within two minutes on an idle machine, up to six on a busy one), and
// 1.1.0 (the same behaviour as 1.0.0) on lab02, which must not raise an
// alarm over the same looks. The other hosts stay
// at 1.0.0 as controls, matched by role.
func TestLabCanary(t *testing.T) {
	l := bootLab(t)
	booted := time.Now()
	hosts := l.Hosts()
	prom, err := prometheus.New(l.PrometheusURL(), prometheus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := labConfig()
	seqJudge, err := canary.NewEvaluator(cfg, labStep)
	if err != nil {
		t.Fatal(err)
	}
	mwJudge, err := canary.NewEvaluator(patchpilot.CanaryConfig{Judge: patchpilot.CanaryJudgeMannWhitney}, labStep)
	if err != nil {
		t.Fatal(err)
	}
	seq := &canary.Analyzer{Prom: prom, Judge: seqJudge, Step: labStep}
	mw := &canary.Analyzer{Prom: prom, Judge: mwJudge, Step: labStep}
	ctx := context.Background()
	unchanged := targets(hosts, "lab03", "lab04", "lab05", "lab06")

	// While the baseline accumulates, check the failure paths, which need
	// no change.
	t.Run("no data fails closed", func(t *testing.T) {
		c := cfg
		c.Metrics = []patchpilot.CanaryMetric{{Name: "missing", Query: `pp_no_such_metric{host="{{.Host}}"}`,
			Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.1, Relative: true}}
		a := &canary.Analyzer{Prom: prom, Judge: seqJudge, Step: labStep}
		patched := targets(hosts, "lab01")
		patched[0].AppliedAt = time.Now().Add(-time.Second)
		rep, res, err := a.Look(ctx, c, canary.Stage{Changed: patched, Unchanged: unchanged})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Verdict("missing")
		if res.Outcome != judge.Fail || v.Outcome != judge.NoData || rep.Verdict != patchpilot.Unhealthy ||
			len(rep.Results) != 1 || rep.Results[0].Outcome != patchpilot.GateError {
			t.Errorf("got %s (%s), metric %s, report %s %+v; want a NoData fail, unhealthy", res.Outcome, res.Reason, v.Outcome, rep.Verdict, rep.Results)
		}
	})
	t.Run("an unreachable Prometheus fails closed", func(t *testing.T) {
		down, _ := prometheus.New("http://127.0.7.254:1", prometheus.Options{Timeout: 2 * time.Second})
		a := &canary.Analyzer{Prom: down, Judge: seqJudge, Step: labStep}
		patched := targets(hosts, "lab01")
		patched[0].AppliedAt = time.Now().Add(-time.Second)
		rep, _, err := a.Look(ctx, cfg, canary.Stage{Changed: patched, Unchanged: unchanged})
		if err == nil || rep.Verdict != patchpilot.Unhealthy || rep.Results[0].Outcome != patchpilot.GateError {
			t.Errorf("err %v, report %+v; want an error and an unhealthy report", err, rep)
		}
	})

	// The baseline window must be full before the change: wait for the
	// samples themselves, as a busy machine's Prometheus may lag behind.
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	for _, m := range cfg.Metrics {
		labtest.WaitForSamples(t, l.PrometheusURL(), labtest.Samples{Name: m.Name, Query: m.Query, Hosts: names,
			Window: labBaseline, Step: labStep, Min: int(labBaseline / labStep)}, 10*time.Minute)
	}
	t.Cleanup(func() { labtest.LogScrapeHealth(t, l.PrometheusURL(), time.Since(booted)) })
	t.Run("a query that does not single out the host is refused", func(t *testing.T) {
		c := cfg
		c.Metrics = []patchpilot.CanaryMetric{{Name: "all", Query: `up`, Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.1}}
		patched := targets(hosts, "lab01")
		_, err := seq.Analyze(ctx, c, patched, targets(hosts, "lab04"), time.Now().Add(-time.Second), false)
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "returns 12 series, want one") {
			t.Errorf("err = %v, want EINVALID naming the 12 series", err)
		}
	})
	ab := targets(hosts, "lab01") // web, 1.1.3
	aa := targets(hosts, "lab02") // worker, 1.1.0
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []struct {
		t       *canary.Target
		version string
	}{{&ab[0], "1.1.3"}, {&aa[0], "1.1.0"}} {
		c.t.AppliedAt = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = install(ctx, l, c.t.Host, c.version)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("install: %v", err)
		}
	}
	t.Logf("installed 1.1.3 on lab01 and 1.1.0 on lab02 in %s", time.Since(ab[0].AppliedAt).Round(time.Second))

	type track struct {
		name     string
		stage    canary.Stage
		detected int // look of the first Fail, 0 for none
		last     judge.Result
		report   patchpilot.HealthReport
		mwFails  int
	}
	tracks := []*track{
		{name: "A/B 1.1.3", stage: canary.Stage{Changed: ab, Unchanged: unchanged}},
		{name: "A/A 1.1.0", stage: canary.Stage{Changed: aa, Unchanged: unchanged}},
	}
	next := ab[0].AppliedAt
	looks := 0
	for look := 1; look <= labLooks || (tracks[0].detected == 0 && look <= maxLooks); look++ {
		looks = look
		next = next.Add(labStep)
		time.Sleep(time.Until(next))
		for _, tr := range tracks {
			// The Kayenta-compatible judge looks at every scrape too, for
			// comparison; only its alarms are counted.
			if _, mres, err := mw.Look(ctx, cfg, tr.stage); err == nil && mres.Outcome == judge.Fail {
				tr.mwFails++
			}
			if tr.detected > 0 {
				continue
			}
			rep, res, err := seq.Look(ctx, cfg, tr.stage)
			if err != nil {
				t.Fatalf("%s look %d: %v", tr.name, look, err)
			}
			tr.last, tr.report = res, rep
			if res.Outcome == judge.Fail {
				tr.detected = look
			}
		}
	}

	abt, aat := tracks[0], tracks[1]
	t.Run("sequential judge fails 1.1.3", func(t *testing.T) {
		if abt.detected == 0 {
			// What kept the interval from deciding: the estimate, and the
			// half-widths of the current and baseline windows with the
			// autocorrelation that inflates them.
			for _, v := range abt.last.Verdicts {
				t.Logf("  %s: %s, estimate %+.3f in [%+.3f, %+.3f]; half-width current %.3f, baseline %.3f; phi %.3f; looks %d",
					v.Metric, v.Outcome, v.Estimate, v.Lower, v.Upper, v.Evidence.HalfWidthCurrent, v.Evidence.HalfWidthBaseline, v.Evidence.Phi, v.Looks)
			}
			t.Fatalf("no Fail in %d looks; last: %s (%s)", looks, abt.last.Outcome, abt.last.Reason)
		}
		t.Logf("1.1.3 failed at look %d (%s after the change; two minutes on an idle machine): %s",
			abt.detected, time.Duration(abt.detected)*labStep, abt.last.Reason)
		v, ok := abt.last.Verdict("latency_mean")
		// The rate window of the query still mixes in samples from
		// before the change at the first looks, so the estimate starts
		// low and rises towards +200%; a Fail needs the whole interval
		// beyond the margin.
		if !ok || v.Outcome != judge.Fail || float64(v.Lower) <= 0.10 || float64(v.Estimate) > 2.5 {
			t.Errorf("latency_mean: %s, estimate %v in [%v, %v]; want a Fail with the interval above +10%%", v.Outcome, v.Estimate, v.Lower, v.Upper)
		}
		t.Logf("latency_mean: estimate %+.3f in [%+.3f, %+.3f]", v.Estimate, v.Lower, v.Upper)
		if abt.report.Verdict != patchpilot.Unhealthy {
			t.Errorf("report verdict %s, want %s", abt.report.Verdict, patchpilot.Unhealthy)
		}
		var found bool
		for _, gr := range abt.report.Results {
			if gr.Gate != "canary:latency_mean" {
				continue
			}
			found = true
			var ev judge.Verdict
			if err := json.Unmarshal(gr.Evidence, &ev); err != nil {
				t.Fatalf("evidence: %v", err)
			}
			hostsSeen := map[string]judge.Role{}
			for _, hs := range ev.Evidence.Hosts {
				hostsSeen[hs.Host] = hs.Group
			}
			// lab04 is the other web host: the control of lab01's stratum.
			if hostsSeen["lab01"] != judge.Patched || hostsSeen["lab04"] != judge.Control || len(ev.Evidence.Series) != 2 {
				t.Errorf("evidence hosts %v with %d series; want lab01 patched, lab04 control and both series", hostsSeen, len(ev.Evidence.Series))
			}
			if gr.Outcome != patchpilot.GateCritical || gr.Value == nil || gr.Threshold == nil || *gr.Threshold != 0.10 {
				t.Errorf("gate result %+v; want critical with value and threshold 0.1", gr)
			}
		}
		if !found {
			t.Errorf("no canary:latency_mean gate result in %+v", abt.report.Results)
		}
	})
	t.Run("sequential judge raises no alarm on 1.1.0", func(t *testing.T) {
		if aat.detected > 0 {
			t.Fatalf("false alarm at look %d: %s", aat.detected, aat.last.Reason)
		}
		t.Logf("1.1.0 after %d looks: %s (%s)", looks, aat.last.Outcome, aat.last.Reason)
		for _, v := range aat.last.Verdicts {
			t.Logf("  %s: %s, estimate %+.3f in [%+.3f, %+.3f]", v.Metric, v.Outcome, v.Estimate, v.Lower, v.Upper)
		}
	})
	t.Logf("mannwhitney judge, %d looks each: %s failed at %d looks, %s failed at %d looks",
		looks, abt.name, abt.mwFails, aat.name, aat.mwFails)
}
