package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// fakeProm answers /api/v1/query_range like Prometheus does: one series
// holding a sample at every step of the range from firstSample on, or no
// series at all when firstSample is zero.
type fakeProm struct {
	mu          sync.Mutex
	firstSample time.Time
	value       float64
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(strings.TrimSuffix(r.Form.Get("step"), "s"), 64)
	f.mu.Lock()
	first, value := f.firstSample, f.value
	f.mu.Unlock()
	var values []string
	if !first.IsZero() && step > 0 {
		for ts := start; ts <= end; ts += step {
			if ts >= float64(first.UnixNano())/1e9 {
				values = append(values, fmt.Sprintf("[%.3f,%q]", ts, strconv.FormatFloat(value, 'g', -1, 64)))
			}
		}
	}
	result := "[]"
	if len(values) > 0 {
		result = `[{"metric":{"instance":"web1:9100"},"values":[` + strings.Join(values, ",") + `]}]`
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, result)
}

// TestMetricGateSettles checks that a metric gate right after the change
// is inconclusive while its post-change window has too little data, judges
// once two steps of data exist, and fails closed when the data is still
// missing after the gate's window.
func TestMetricGateSettles(t *testing.T) {
	const step, window = 15 * time.Second, 2 * time.Minute
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cr := patchpilot.Criterion{Name: patchpilot.CriterionErrorRateIncrease, Op: "<", Value: 0.05}
	base, _ := json.Marshal(metricSample{Value: 0.01, Points: 8})
	tests := []struct {
		name  string
		age   time.Duration
		data  bool // samples exist from the change on
		value float64
		want  patchpilot.GateOutcome
	}{
		{"no data at once", 5 * time.Second, false, 0, patchpilot.GateInconclusive},
		{"one step of data", 20 * time.Second, true, 0.01, patchpilot.GateInconclusive},
		{"no data within the window", 90 * time.Second, false, 0, patchpilot.GateInconclusive},
		{"two steps of good data", 45 * time.Second, true, 0.01, patchpilot.GatePass},
		{"two steps of bad data", 45 * time.Second, true, 0.08, patchpilot.GateBreach},
		{"no data after the window", window + 5*time.Second, false, 0, patchpilot.GateError},
		{"good data after the window", window + 5*time.Second, true, 0.01, patchpilot.GatePass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := &fakeProm{value: tt.value}
			if tt.data {
				fp.firstSample = since
			}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			now := since.Add(tt.age)
			cfg := patchpilot.HealthConfig{Prometheus: patchpilot.PrometheusConfig{URL: srv.URL, Step: step, Window: window,
				Queries: map[string]string{patchpilot.MetricErrorRate: `errors{instance="{{.Instance}}"}`}}}
			c, err := New([]patchpilot.Criterion{cr}, cfg, Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			h := patchpilot.Host{Name: "web1", Address: "10.0.0.1"}
			rep, err := c.Check(context.Background(), patchpilot.HealthTarget{Host: h, Since: since},
				patchpilot.HealthBaseline{cr.String(): base})
			if err != nil {
				t.Fatal(err)
			}
			got := rep.Results[0]
			if got.Outcome != tt.want {
				t.Fatalf("got %s (%s), want %s", got.Outcome, got.Reason, tt.want)
			}
			wantVerdict := map[patchpilot.GateOutcome]patchpilot.HealthVerdict{patchpilot.GateInconclusive: patchpilot.UnderReview,
				patchpilot.GatePass: patchpilot.Healthy, patchpilot.GateBreach: patchpilot.UnderReview, patchpilot.GateError: patchpilot.Unhealthy}[tt.want]
			if rep.Verdict != wantVerdict {
				t.Errorf("verdict: got %s (%s), want %s", rep.Verdict, rep.Reason, wantVerdict)
			}
		})
	}
}

// TestUnresolvedSameAsPrevious checks that a same_as_previous the planner
// did not resolve fails closed at once instead of keeping the host under
// review until its bake extensions run out.
func TestUnresolvedSameAsPrevious(t *testing.T) {
	cr := patchpilot.Criterion{Name: patchpilot.CriterionSameAsPrevious}
	c, err := New([]patchpilot.Criterion{cr}, patchpilot.HealthConfig{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web1"}}, patchpilot.HealthBaseline{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != patchpilot.Unhealthy || rep.Results[0].Outcome != patchpilot.GateError ||
		!strings.Contains(rep.Results[0].Reason, "previous stage's criteria") {
		t.Errorf("got %s: %+v; want unhealthy with an error naming the previous stage's criteria", rep.Verdict, rep.Results)
	}
}
