package health_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/local"
)

func TestHTTPProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", 500) })
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("late"))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	host, port := u.Hostname(), u.Port()
	closed := httptest.NewServer(mux)
	closedPort := closed.Listener.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name  string
		probe patchpilot.HTTPProbe
		want  patchpilot.GateOutcome
		why   string
	}{
		{"ok", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/ok"}, patchpilot.GatePass, "the probe answered as expected"},
		{"5xx is critical", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/500"}, patchpilot.GateCritical, "status 500"},
		{"refused is critical", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + itoa(int64(closedPort)) + "/"}, patchpilot.GateCritical, "connection refused"},
		{"wrong status is a breach", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/404"}, patchpilot.GateBreach, "status 404, want 2xx"},
		{"expected status", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/404", ExpectStatus: 404}, patchpilot.GatePass, ""},
		{"slow is a breach", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/slow", MaxLatency: 100 * time.Millisecond}, patchpilot.GateBreach, "slower than 100ms"},
		{"timeout cannot be evaluated", patchpilot.HTTPProbe{URL: "http://{{.Address}}:" + port + "/hang", Timeout: 200 * time.Millisecond}, patchpilot.GateError, "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.probe.Name = "web"
			c, err := health.New([]patchpilot.Criterion{{Name: patchpilot.CriterionHTTPOK}},
				patchpilot.HealthConfig{HTTP: []patchpilot.HTTPProbe{tt.probe}}, health.Options{})
			if err != nil {
				t.Fatal(err)
			}
			target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "h", Address: host}, Runner: local.New(), Since: time.Now()}
			rep, err := c.Check(context.Background(), target, patchpilot.HealthBaseline{})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Results[0]
			if r.Outcome != tt.want || !strings.Contains(r.Reason, tt.why) {
				t.Errorf("got %s %q, want %s containing %q", r.Outcome, r.Reason, tt.want, tt.why)
			}
			var ev struct {
				Probes []struct {
					URL    string `json:"url"`
					Status int    `json:"status"`
				} `json:"probes"`
			}
			if err := json.Unmarshal(r.Evidence, &ev); err != nil || len(ev.Probes) != 1 || !strings.HasPrefix(ev.Probes[0].URL, "http://"+host+":") {
				t.Errorf("evidence %s: %v", r.Evidence, err)
			}
		})
	}
}

func TestHTTPOKWithoutProbesFailsClosed(t *testing.T) {
	c, err := health.New([]patchpilot.Criterion{{Name: patchpilot.CriterionHTTPOK}}, patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), patchpilot.HealthTarget{Host: patchpilot.Host{Name: "h"}, Runner: local.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != patchpilot.Unhealthy || rep.Results[0].Outcome != patchpilot.GateError || !strings.Contains(rep.Results[0].Reason, "no http probes configured") {
		t.Errorf("got %+v", rep)
	}
}

func TestMetricsWithoutPrometheusFailClosed(t *testing.T) {
	crit := []patchpilot.Criterion{{Name: "cpu_increase", Op: "<", Value: 25, Unit: "%"}, {Name: "error_rate_increase", Op: "<", Value: 0.05}}
	c, err := health.New(crit, patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "h"}, Runner: local.New(), Since: time.Now()}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != patchpilot.Unhealthy {
		t.Errorf("verdict %s", rep.Verdict)
	}
	for _, r := range rep.Results {
		if r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, "no prometheus configured for "+strings.SplitN(r.Gate, "<", 2)[0]) {
			t.Errorf("%s: %s %q", r.Gate, r.Outcome, r.Reason)
		}
	}
}

func TestNewRejectsUnknownCriteria(t *testing.T) {
	if _, err := health.New([]patchpilot.Criterion{{Name: "disk_free"}}, patchpilot.HealthConfig{}, health.Options{}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("got %v, want invalid", err)
	}
	bad := patchpilot.HealthConfig{HTTP: []patchpilot.HTTPProbe{{Name: "x", URL: "{{.Nope}}"}}}
	if _, err := health.New(nil, bad, health.Options{}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("got %v, want invalid", err)
	}
}
