package health

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/alertmanager"
)

// fakeAlertmanager answers GET /api/v2/alerts from a list of alerts,
// filtered as Alertmanager filters them, and records the filters asked.
type fakeAlertmanager struct {
	t       *testing.T
	mu      sync.Mutex
	alerts  []alertmanager.Alert
	filters [][]string
}

func (f *fakeAlertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/api/v2/alerts" {
		f.t.Errorf("request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("active") != "true" || q.Get("silenced") != "false" || q.Get("inhibited") != "false" {
		f.t.Errorf("query %v: want active=true silenced=false inhibited=false", q)
	}
	var ms []alertmanager.Matcher
	for _, s := range q["filter"] {
		m, err := alertmanager.ParseMatcher(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ms = append(ms, m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, q["filter"])
	out := []alertmanager.Alert{}
	for _, a := range f.alerts {
		if alertmanager.MatchAll(ms, a.Labels) {
			out = append(out, a)
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeAlertmanager) set(as ...alertmanager.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = as
}

func alert(name, fp, instance string, start time.Time) alertmanager.Alert {
	return alertmanager.Alert{Fingerprint: fp, StartsAt: start, Labels: map[string]string{"alertname": name, "instance": instance, "severity": "critical"},
		Annotations: map[string]string{"summary": name + " on " + instance}, Status: alertmanager.AlertStatus{State: "active"}}
}

func TestNoFiringAlerts(t *testing.T) {
	am := &fakeAlertmanager{t: t}
	srv := httptest.NewServer(am)
	defer srv.Close()
	cfg := patchpilot.HealthConfig{Alertmanager: patchpilot.AlertmanagerConfig{URL: srv.URL,
		Matchers: []string{`instance="{{.Instance}}"`, `severity=~"critical|warning"`}}}
	c, err := New([]patchpilot.Criterion{{Name: patchpilot.CriterionNoFiringAlerts}}, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	host := patchpilot.Host{Name: "web01", Address: "10.0.0.5"}
	target := patchpilot.HealthTarget{Host: host}
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	old := alert("DiskAlmostFull", "f-disk", "10.0.0.5:9100", t0)
	other := alert("DemoDown", "f-other", "10.0.0.6:9100", t0.Add(time.Minute))
	am.set(old, other)
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(base["no_firing_alerts"]), "f-disk") || strings.Contains(string(base["no_firing_alerts"]), "f-other") {
		t.Errorf("baseline %s: want the host's alert only", base["no_firing_alerts"])
	}
	wantFilter := []string{`instance="10.0.0.5:9100"`, `severity=~"critical|warning"`}
	if got := am.filters[0]; strings.Join(got, " ") != strings.Join(wantFilter, " ") {
		t.Errorf("filters %q, want %q", got, wantFilter)
	}

	check := func() patchpilot.GateResult {
		t.Helper()
		rep, err := c.Check(context.Background(), target, base)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Results[0]
	}
	// The alert that fired before the change is the host's known state.
	if r := check(); r.Outcome != patchpilot.GatePass || !strings.Contains(r.Reason, "1 already fired before the change") {
		t.Errorf("known alert: %s %q", r.Outcome, r.Reason)
	}
	// One that fires during the bake fails the host.
	am.set(old, other, alert("DemoDown", "f-demo", "10.0.0.5:9100", t0.Add(5*time.Minute)))
	r := check()
	if r.Outcome != patchpilot.GateCritical || !strings.Contains(r.Reason, "1 alert(s) firing since the change: DemoDown") || *r.Value != 1 {
		t.Errorf("new alert: %s %q", r.Outcome, r.Reason)
	}
	var ev alertsEvidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil || len(ev.New) != 1 || ev.New[0].Fingerprint != "f-demo" ||
		ev.New[0].Summary != "DemoDown on 10.0.0.5:9100" || len(ev.Known) != 1 || ev.Alertmanager != srv.URL {
		t.Errorf("evidence %s: %v", r.Evidence, err)
	}
	// The known alert resolved and fired again: that is new.
	am.set(alert("DiskAlmostFull", "f-disk", "10.0.0.5:9100", t0.Add(10*time.Minute)))
	if r := check(); r.Outcome != patchpilot.GateCritical {
		t.Errorf("refired alert: %s %q", r.Outcome, r.Reason)
	}
	// Alertmanager gone: the gate fails closed.
	srv.Close()
	if r := check(); r.Outcome != patchpilot.GateError || !strings.Contains(r.Reason, "alertmanager") {
		t.Errorf("alertmanager down: %s %q", r.Outcome, r.Reason)
	}
}

func TestNoFiringAlertsWithoutAlertmanager(t *testing.T) {
	c, err := New([]patchpilot.Criterion{{Name: patchpilot.CriterionNoFiringAlerts}}, patchpilot.HealthConfig{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "web01", Address: "10.0.0.5"}}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != patchpilot.Unhealthy || rep.Results[0].Outcome != patchpilot.GateError ||
		!strings.Contains(rep.Results[0].Reason, "no alertmanager configured") {
		t.Errorf("%s %+v", rep.Verdict, rep.Results)
	}
}

func TestValidateAlertmanagerConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  patchpilot.AlertmanagerConfig
		want string
	}{
		{patchpilot.AlertmanagerConfig{Matchers: []string{`a="b"`}}, "health: alertmanager: matchers need a url"},
		{patchpilot.AlertmanagerConfig{URL: "http://{{.Host}}:9093"}, "is not an http or https URL"},
		{patchpilot.AlertmanagerConfig{URL: "http://am:9093", Matchers: []string{`a=~"("`}}, "health: alertmanager: matchers[0]: matcher"},
	} {
		err := ValidateConfig(patchpilot.HealthConfig{Alertmanager: tt.cfg})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
