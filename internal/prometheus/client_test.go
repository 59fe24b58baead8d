package prometheus_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

const prometheusBin = "/usr/bin/prometheus"

// exporter serves text metrics whose values the test controls.
type exporter struct {
	requests atomic.Int64
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE pp_test_requests_total counter\npp_test_requests_total %d\n", e.requests.Add(10))
	fmt.Fprintf(w, "# TYPE pp_test_gauge gauge\npp_test_gauge{kind=\"one\"} 1.5\npp_test_gauge{kind=\"nan\"} NaN\n")
}

// startPrometheus runs the real Prometheus on a free loopback port,
// scraping exp every second, and returns its URL once it has data.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", prometheusBin, err)
		}
		t.Skipf("%s is missing (apt-get install prometheus): %v", prometheusBin, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: ['%s']\n        labels: {host: h1}\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
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
	url := "http://" + addr
	c, err := prometheus.New(url, prometheus.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		v, err := c.Query(context.Background(), `count_over_time(pp_test_requests_total[1m])`, time.Time{})
		if err == nil && len(v) == 1 && v[0].Value >= 3 {
			return url
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("prometheus at %s has no data after 2m", addr)
	return ""
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

func TestAgainstRealPrometheus(t *testing.T) {
	exp := httptest.NewServer(&exporter{})
	defer exp.Close()
	url := startPrometheus(t, exp.Listener.Addr().String())
	c, err := prometheus.New(url, prometheus.Options{Timeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("instant vector with labels", func(t *testing.T) {
		v, err := c.Query(ctx, `rate(pp_test_requests_total{host="h1"}[5s])`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 {
			t.Fatalf("got %d samples, want 1: %+v", len(v), v)
		}
		// The exporter adds 10 per scrape, once a second.
		if got := v[0].Value; got < 5 || got > 20 {
			t.Errorf("rate = %g, want about 10", got)
		}
		if got := v[0].Metric["host"]; got != "h1" {
			t.Errorf("host label = %q, want h1", got)
		}
		if age := time.Since(v[0].Time); age > 10*time.Second || age < -10*time.Second {
			t.Errorf("sample time %s is %s away from now", v[0].Time, age)
		}
	})
	t.Run("NaN values are returned as NaN", func(t *testing.T) {
		v, err := c.Query(ctx, `pp_test_gauge`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		vals := map[string]float64{}
		for _, s := range v {
			vals[s.Metric["kind"]] = s.Value
		}
		if vals["one"] != 1.5 {
			t.Errorf("one = %g, want 1.5", vals["one"])
		}
		if !math.IsNaN(vals["nan"]) {
			t.Errorf("nan = %g, want NaN", vals["nan"])
		}
	})
	t.Run("scalar and infinity", func(t *testing.T) {
		v, err := c.Query(ctx, `1/0`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 || !math.IsInf(v[0].Value, 1) || v[0].Valid() {
			t.Errorf("got %+v, want one +Inf sample", v)
		}
	})
	t.Run("empty vector", func(t *testing.T) {
		v, err := c.Query(ctx, `pp_test_requests_total{host="nosuch"}`, time.Time{})
		if err != nil || len(v) != 0 {
			t.Errorf("got %v, %v; want an empty vector", v, err)
		}
	})
	t.Run("range query", func(t *testing.T) {
		end := time.Now()
		m, err := c.QueryRange(ctx, `pp_test_requests_total`, end.Add(-5*time.Second), end, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || len(m[0].Points) < 3 {
			t.Fatalf("got %+v, want one series with at least 3 points", m)
		}
		pts := m[0].Points
		for i := 1; i < len(pts); i++ {
			if pts[i].Value < pts[i-1].Value {
				t.Errorf("counter went down: %v", pts)
			}
			if d := pts[i].Time.Sub(pts[i-1].Time); d != time.Second {
				t.Errorf("step = %s, want 1s", d)
			}
		}
	})
	t.Run("bad query is invalid", func(t *testing.T) {
		_, err := c.Query(ctx, `rate(`, time.Time{})
		if got := patchpilot.ErrorCode(err); got != patchpilot.EINVALID {
			t.Errorf("code = %q (%v), want invalid", got, err)
		}
	})
	t.Run("range query of a range vector is invalid", func(t *testing.T) {
		_, err := c.QueryRange(ctx, `pp_test_requests_total[1m]`, time.Now().Add(-time.Minute), time.Now(), time.Second)
		if got := patchpilot.ErrorCode(err); got != patchpilot.EINVALID {
			t.Errorf("code = %q (%v), want invalid", got, err)
		}
	})
	t.Run("instant query of a range vector is refused", func(t *testing.T) {
		_, err := c.Query(ctx, `pp_test_requests_total[10s]`, time.Time{})
		if got := patchpilot.ErrorCode(err); got != patchpilot.EINVALID {
			t.Errorf("code = %q (%v), want invalid", got, err)
		}
	})
	t.Run("fresh drops old samples", func(t *testing.T) {
		v, err := c.Query(ctx, `pp_test_requests_total`, time.Time{})
		if err != nil || len(v) != 1 {
			t.Fatalf("got %v, %v", v, err)
		}
		if got := len(v.Fresh(time.Now(), time.Minute)); got != 1 {
			t.Errorf("fresh within a minute: %d samples, want 1", got)
		}
		if got := len(v.Fresh(time.Now().Add(time.Hour), time.Minute)); got != 0 {
			t.Errorf("fresh an hour later: %d samples, want 0", got)
		}
	})
}

func TestServerErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/500/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/apierr/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"tsdb not ready"}`)
	})
	mux.HandleFunc("/timeout/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"error","errorType":"timeout","error":"query timed out"}`)
	})
	mux.HandleFunc("/html/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html>not prometheus</html>`)
	})
	mux.HandleFunc("/slow/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/badvalue/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, url string
		want      patchpilot.Code
	}{
		{"HTTP 500", srv.URL + "/500", patchpilot.EUNAVAILABLE},
		{"status error", srv.URL + "/apierr", patchpilot.EUNAVAILABLE},
		{"query timeout", srv.URL + "/timeout", patchpilot.ETIMEOUT},
		{"not the API", srv.URL + "/html", patchpilot.EUNAVAILABLE},
		{"no answer in time", srv.URL + "/slow", patchpilot.ETIMEOUT},
		{"unparsable value", srv.URL + "/badvalue", patchpilot.EUNAVAILABLE},
		{"connection refused", closedURL, patchpilot.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := prometheus.New(tt.url, prometheus.Options{Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Query(context.Background(), "up", time.Time{})
			if got := patchpilot.ErrorCode(err); got != tt.want {
				t.Errorf("code = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9090", "ftp://x", "http://", "://"} {
		if _, err := prometheus.New(u, prometheus.Options{}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("New(%q) = %v, want invalid", u, err)
		}
	}
}
