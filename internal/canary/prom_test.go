package canary_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

const prometheusBin = "/usr/bin/prometheus"

// host is one exporter whose latency the test sets: it serves the
// current factor times a base level with a small deterministic wobble, and
// a gauge that is NaN when nan is set.
type host struct {
	scrapes atomic.Int64
	factor  atomic.Int64 // in percent of the base level
	nan     atomic.Bool
	base    float64
}

func (h *host) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := h.scrapes.Add(1)
	v := h.base * float64(h.factor.Load()) / 100 * (1 + 0.02*math.Sin(float64(n)))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE pp_test_latency gauge\npp_test_latency %g\n", v)
	other := 1.0
	if h.nan.Load() {
		other = math.NaN()
	}
	fmt.Fprintf(w, "# TYPE pp_test_other gauge\npp_test_other %g\n", other)
}

// localFleet runs one exporter per host and a real Prometheus scraping
// them every second, with host and role labels as the lab sets them.
func localFleet(t *testing.T, names ...string) (map[string]*host, []patchpilot.Host, *prometheus.Client) {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", prometheusBin, err)
		}
		t.Skipf("%s is missing (apt-get install prometheus): %v", prometheusBin, err)
	}
	exps := map[string]*host{}
	var hosts []patchpilot.Host
	var conf strings.Builder
	conf.WriteString("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n")
	for i, n := range names {
		h := &host{base: 0.010 + 0.002*float64(i)}
		h.factor.Store(100)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		exps[n] = h
		addr := strings.TrimPrefix(srv.URL, "http://")
		fmt.Fprintf(&conf, "      - targets: ['%s']\n        labels: {host: %s, role: web}\n", addr, n)
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "127.0.0.1", Labels: map[string]string{"role": "web"}})
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(prometheusBin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c, err := prometheus.New("http://"+addr, prometheus.Options{Timeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		v, err := c.Query(context.Background(), `count(pp_test_latency)`, time.Time{})
		if err == nil && len(v) == 1 && int(v[0].Value) == len(names) {
			return exps, hosts, c
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus at %s has no data after 2m", addr)
	return nil, nil, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAnalyzeLocalPrometheus drives a real Prometheus with exporters whose
// latency the test controls: after a baseline of 22 one-second samples,
// one host triples its latency and the sequential judge must fail it within
// a few looks, with the series split at the change; a NaN on a control
// host fails the gate as NoData.
func TestAnalyzeLocalPrometheus(t *testing.T) {
	exps, hosts, prom := localFleet(t, "h1", "h2", "h3")
	const step = time.Second
	cfg := patchpilot.CanaryConfig{Baseline: 22 * time.Second, Metrics: []patchpilot.CanaryMetric{{
		Name: "latency", Query: `pp_test_latency{host="{{.Host}}"}`, Direction: patchpilot.CanaryHigherIsWorse,
		Margin: 0.1, Relative: true, Critical: true}}}
	ev, err := canary.NewEvaluator(cfg, step)
	if err != nil {
		t.Fatal(err)
	}
	a := &canary.Analyzer{Prom: prom, Judge: ev, Step: step}
	// The baseline window full: wait for the samples rather than their
	// time, which a busy machine's Prometheus may need longer for.
	labtest.WaitForSamples(t, prom.URL(), labtest.Samples{Name: "latency", Query: cfg.Metrics[0].Query,
		Hosts: []string{"h1", "h2", "h3"}, Window: cfg.Baseline, Step: step, Min: int(cfg.Baseline / step)}, 2*time.Minute)

	patched := targets(hosts, "h1")
	control := targets(hosts, "h2", "h3")
	patched[0].AppliedAt = time.Now()
	exps["h1"].factor.Store(300)
	var res judge.Result
	looks := 0
	for looks < 15 {
		time.Sleep(step)
		looks++
		if res, err = a.Analyze(context.Background(), cfg, patched, control, time.Time{}, false); err != nil {
			t.Fatal(err)
		}
		if res.Outcome == judge.Fail {
			break
		}
	}
	if res.Outcome != judge.Fail {
		t.Fatalf("after %d looks: %s (%s), want fail", looks, res.Outcome, res.Reason)
	}
	t.Logf("failed at look %d: %s", looks, res.Reason)
	v, _ := res.Verdict("latency")
	if v.Outcome != judge.Fail || float64(v.Estimate) < 0.5 || float64(v.Estimate) > 2.1 {
		t.Errorf("verdict %s with estimate %v, want a Fail between +50%% and +210%% (the newest samples may still be old scrapes)", v.Outcome, v.Estimate)
	}
	applied := patched[0].AppliedAt
	for _, s := range v.Evidence.Series {
		if len(s.Baseline) < patchpilot.CanaryMinBaselineSamples || len(s.Current) == 0 || len(s.Current) > looks+1 {
			t.Errorf("host %s: %d baseline and %d current samples after %d looks", s.Host, len(s.Baseline), len(s.Current), looks)
		}
		for _, p := range s.Baseline {
			if !p.Time.Before(applied) || p.Time.Before(applied.Add(-cfg.Baseline-step)) || p.Time.UnixNano()%int64(step) != 0 {
				t.Errorf("host %s: baseline sample at %s, change at %s", s.Host, p.Time, applied)
			}
		}
		for _, p := range s.Current {
			if !p.Time.After(applied) {
				t.Errorf("host %s: current sample at %s is not after the change at %s", s.Host, p.Time, applied)
			}
		}
		if s.Host == "h1" && s.Group != judge.Patched || s.Host != "h1" && s.Group != judge.Control || s.Stratum != "web/" {
			t.Errorf("host %s in group %s, stratum %q", s.Host, s.Group, s.Stratum)
		}
	}

	t.Run("NaN on a control host is no data", func(t *testing.T) {
		exps["h3"].nan.Store(true)
		time.Sleep(2 * step)
		c := cfg
		c.Metrics = []patchpilot.CanaryMetric{{Name: "other", Query: `pp_test_other{host="{{.Host}}"}`,
			Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.5}}
		res, err := a.Analyze(context.Background(), c, patched, control, time.Time{}, false)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Verdict("other")
		if res.Outcome != judge.Fail || v.Outcome != judge.NoData || !strings.Contains(v.Reason, "h3") {
			t.Errorf("got %s, verdict %s (%s); want a NoData fail naming h3", res.Outcome, v.Outcome, v.Reason)
		}
		if rep := canary.Report(res); rep.Verdict != patchpilot.Unhealthy {
			t.Errorf("report verdict %s, want %s", rep.Verdict, patchpilot.Unhealthy)
		}
	})
	t.Run("a host without the metric is no data", func(t *testing.T) {
		ghost := targets([]patchpilot.Host{{Name: "h9", Address: "127.0.0.1"}}, "h9")
		res, err := a.Analyze(context.Background(), cfg, patched, append(control, ghost...), time.Time{}, false)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Verdict("latency")
		if res.Outcome != judge.Fail || v.Outcome != judge.NoData || !strings.Contains(v.Reason, "h9") {
			t.Errorf("got %s, verdict %s (%s); want a NoData fail naming h9", res.Outcome, v.Outcome, v.Reason)
		}
	})
}
