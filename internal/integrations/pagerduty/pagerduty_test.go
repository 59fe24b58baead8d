package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

const key = "R0UTINGKEY0123456789abcdefABCDEF" // 32 characters

// events is the Events API v2 on loopback: it checks each request as
// PagerDuty reads it, records the events and answers with status and body.
type events struct {
	t      *testing.T
	status int
	body   string
	header http.Header

	mu     sync.Mutex
	alerts []map[string]any
	change []map[string]any
}

func (s *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.t.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("Content-Type = %q", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		s.t.Errorf("body: %v", err)
	}
	if m["routing_key"] != key {
		s.t.Errorf("routing_key = %v", m["routing_key"])
	}
	s.mu.Lock()
	switch r.URL.Path {
	case "/v2/enqueue":
		s.alerts = append(s.alerts, m)
	case "/v2/change/enqueue":
		s.change = append(s.change, m)
	default:
		s.t.Errorf("path %s", r.URL.Path)
	}
	s.mu.Unlock()
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	if s.body != "" || s.status != http.StatusAccepted {
		io.WriteString(w, s.body)
		return
	}
	dk, _ := m["dedup_key"].(string)
	json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": dk})
}

func serve(t *testing.T, status int, body string, header http.Header) (*Notifier, *events) {
	s := &events{t: t, status: status, body: body, header: header}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	n, err := New("ops-pd", key, srv.URL+"/v2/enqueue", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return n, s
}

func rollout(state patchpilot.RolloutState) *patchpilot.Rollout {
	return &patchpilot.Rollout{
		ID: "r-7", Plan: patchpilot.Plan{Name: "openssl"}, State: state, Reason: "stage canary failed",
		Stages: []patchpilot.StageRun{
			{Name: "canary", State: patchpilot.StageFailed, Hosts: []string{"web-1", "web-2"}},
			{Name: "rest", State: patchpilot.StagePending, Hosts: []string{"web-3"}},
		},
	}
}

var at = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func halted() patchpilot.Notification {
	return patchpilot.Notification{
		Event:   patchpilot.Event{ID: 90, Time: at, Kind: patchpilot.EventRolloutState, Rollout: "r-7", Message: "rollout halted"},
		Topic:   patchpilot.TopicHalted,
		Level:   patchpilot.LevelCritical,
		Summary: "rollout r-7 halted in stage canary: 1 of 2 hosts failed\nsecond line",
		Rollout: rollout(patchpilot.RolloutHalted),
		URL:     "https://pp.example.com/rollouts/r-7",
		Hosts: []patchpilot.HostRun{
			{Stage: "canary", Host: "web-1", State: patchpilot.HostSucceeded},
			{Stage: "canary", Host: "web-2", State: patchpilot.HostRolledBack, Reason: "nginx.service failed"},
			{Stage: "rest", Host: "web-3", State: patchpilot.HostPending},
		},
	}
}

func TestHaltTriggersTheRolloutAlert(t *testing.T) {
	n, s := serve(t, 202, "", nil)
	if err := n.Notify(context.Background(), halted()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if len(s.alerts) != 1 {
		t.Fatalf("%d events, want 1", len(s.alerts))
	}
	e := s.alerts[0]
	if e["event_action"] != "trigger" || e["dedup_key"] != "patchpilot/r-7" || e["client"] != "patchpilot" || e["client_url"] != "https://pp.example.com/rollouts/r-7" {
		t.Errorf("event = %v", e)
	}
	p := e["payload"].(map[string]any)
	want := map[string]any{
		"summary": "rollout r-7 halted in stage canary: 1 of 2 hosts failed second line", "source": "patchpilot",
		"severity": "critical", "timestamp": "2026-12-06T20:00:00Z", "component": "stage canary", "group": "openssl", "class": "halted",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("payload.%s = %v, want %v", k, p[k], v)
		}
	}
	d := p["custom_details"].(map[string]any)
	if d["rollout"] != "r-7" || d["hosts"] != "1 of 3 succeeded, 1 rolled back, 1 pending" || d["event_id"] != 90.0 {
		t.Errorf("custom_details = %v", d)
	}
	if fh, _ := d["failed_hosts"].([]any); len(fh) != 1 || fh[0] != "web-2 (canary, rolled_back): nginx.service failed" {
		t.Errorf("failed_hosts = %v", d["failed_hosts"])
	}
	links := e["links"].([]any)
	if l := links[0].(map[string]any); l["href"] != "https://pp.example.com/rollouts/r-7" {
		t.Errorf("links = %v", links)
	}
}

func TestIncidentTriggersItsOwnAlert(t *testing.T) {
	n, s := serve(t, 202, "", nil)
	data, _ := json.Marshal(patchpilot.IncidentData{ID: 3, Hosts: []patchpilot.IncidentHost{{Host: "web-2", State: patchpilot.HostRolledBack, Reason: "probe failed"}}, RolledBack: []string{"web-2"}})
	no := halted()
	no.Topic, no.Level = patchpilot.TopicIncident, patchpilot.LevelWarning
	no.Event = patchpilot.Event{ID: 91, Time: at, Kind: patchpilot.EventIncident, Rollout: "r-7", Message: "incident 3 in stage canary", Data: data}
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	e := s.alerts[0]
	p := e["payload"].(map[string]any)
	d := p["custom_details"].(map[string]any)
	if e["dedup_key"] != "patchpilot/r-7/incident/3" || p["severity"] != "error" || p["class"] != "incident" || d["incident"] != 3.0 {
		t.Errorf("event = %v", e)
	}
	if fh := d["failed_hosts"].([]any); len(fh) != 1 || fh[0] != "web-2 (rolled_back): probe failed" {
		t.Errorf("failed_hosts = %v", fh)
	}
	// An event older versions wrote names its incident in its message only.
	old, _ := json.Marshal(patchpilot.IncidentData{Hosts: []patchpilot.IncidentHost{{Host: "web-2"}}})
	no.Event.Data, no.Event.Message = old, "incident 12 in stage canary: 1 host failed (hosts web-2)"
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	if k := s.alerts[1]["dedup_key"]; k != "patchpilot/r-7/incident/12" {
		t.Errorf("dedup_key of an old event = %v", k)
	}
}

func TestRollbackFailedIsCritical(t *testing.T) {
	n, s := serve(t, 202, "", nil)
	no := halted()
	no.Topic, no.Level = patchpilot.TopicRollbackFailed, patchpilot.LevelWarning
	no.Event.Host = "web-2"
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	p := s.alerts[0]["payload"].(map[string]any)
	if p["severity"] != "critical" || p["source"] != "web-2" || s.alerts[0]["dedup_key"] != "patchpilot/r-7" {
		t.Errorf("event = %v", s.alerts[0])
	}
}

func TestRecoveryResolvesTheRolloutAndItsIncidents(t *testing.T) {
	for _, c := range []struct {
		topic patchpilot.Topic
		state patchpilot.RolloutState
		want  []string
	}{
		{patchpilot.TopicRecovered, patchpilot.RolloutRunning, []string{"patchpilot/r-7", "patchpilot/r-7/incident/3", "patchpilot/r-7/incident/5"}},
		{patchpilot.TopicRolloutFinished, patchpilot.RolloutSucceeded, []string{"patchpilot/r-7", "patchpilot/r-7/incident/3", "patchpilot/r-7/incident/5"}},
		{patchpilot.TopicRolloutFinished, patchpilot.RolloutRolledBack, []string{"patchpilot/r-7", "patchpilot/r-7/incident/3", "patchpilot/r-7/incident/5"}},
		{patchpilot.TopicRolloutFinished, patchpilot.RolloutHalted, nil},
		{patchpilot.TopicRolloutFinished, patchpilot.RolloutAborted, nil},
		{patchpilot.TopicRolloutStarted, patchpilot.RolloutRunning, nil},
		{patchpilot.TopicStageDone, patchpilot.RolloutRunning, nil},
		{patchpilot.TopicApprovalNeeded, patchpilot.RolloutWaitingApproval, nil},
		{patchpilot.TopicRolledBack, patchpilot.RolloutRollingBack, nil},
		{patchpilot.TopicRolledBack, patchpilot.RolloutRolledBack, []string{"patchpilot/r-7", "patchpilot/r-7/incident/3", "patchpilot/r-7/incident/5"}},
	} {
		n, s := serve(t, 202, "", nil)
		no := halted()
		no.Topic, no.Level = c.topic, patchpilot.LevelInfo
		no.Rollout = rollout(c.state)
		no.Incidents = []patchpilot.Incident{{ID: 3, Rollout: "r-7"}, {ID: 5, Rollout: "r-7"}}
		if err := n.Notify(context.Background(), no); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range s.alerts {
			if e["event_action"] != "resolve" || e["payload"] != nil {
				t.Errorf("%s/%s: event %v, want a bare resolve", c.topic, c.state, e)
			}
			got = append(got, e["dedup_key"].(string))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s/%s: resolved %v, want %v", c.topic, c.state, got, c.want)
		}
	}
}

func TestTestIsAChangeEvent(t *testing.T) {
	n, s := serve(t, 202, `{"message":"Change event processed","status":"success"}`, nil)
	err := n.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicTest, Event: patchpilot.Event{Time: at},
		Summary: "patchpilot test notification for ops-pd", URL: "https://pp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.alerts) != 0 || len(s.change) != 1 {
		t.Fatalf("alerts %v, change events %v", s.alerts, s.change)
	}
	p := s.change[0]["payload"].(map[string]any)
	if p["summary"] != "patchpilot test notification for ops-pd" || p["source"] != "patchpilot" || p["timestamp"] != "2026-12-06T20:00:00Z" {
		t.Errorf("change event = %v", s.change[0])
	}
}

func TestSummaryIsCappedAt1024(t *testing.T) {
	n, _ := New("x", key, DefaultURL, nil)
	no := halted()
	no.Summary = strings.Repeat("ü", 2000)
	ev := n.Events(no)
	if l := len([]rune(ev[0].Payload.Summary)); l > 1024 {
		t.Errorf("summary of %d characters", l)
	}
}

func TestAnswers(t *testing.T) {
	for _, c := range []struct {
		status     int
		body       string
		header     http.Header
		retryable  bool
		retryAfter time.Duration
		message    string
	}{
		{400, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`, nil, false, 0,
			"invalid event: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters); check routing_key"},
		{400, `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]}`, nil, false, 0,
			"invalid event: Event object is invalid: 'payload.summary' is missing or blank"},
		{429, `{"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}`, http.Header{"Retry-After": {"60"}}, true, time.Minute, "too many events"},
		{429, ``, nil, true, 0, "too many events"},
		{500, `{"status":"error","message":"internal error"}`, nil, true, 0, "internal error: PagerDuty failed"},
		{502, `<html>bad gateway</html>`, nil, true, 0, "<html>bad gateway</html>: PagerDuty failed"},
		{403, ``, nil, false, 0, "Forbidden: check routing_key and url"},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			n, _ := serve(t, c.status, c.body, c.header)
			err := n.Notify(context.Background(), halted())
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want a DeliveryError", err)
			}
			if de.Service != "pagerduty" || de.Status != c.status || de.Retryable != c.retryable || de.RetryAfter != c.retryAfter {
				t.Errorf("error = %+v", de)
			}
			if !strings.Contains(de.Message, c.message) {
				t.Errorf("message %q, want %q", de.Message, c.message)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error shows the routing key: %v", err)
			}
		})
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	n, _ := New("x", key, srv.URL+"/v2/enqueue", nil)
	var de *patchpilot.DeliveryError
	if err := n.Notify(context.Background(), halted()); !errors.As(err, &de) || !de.Retryable {
		t.Fatalf("Notify = %v, want a retryable DeliveryError", err)
	}
}

func TestBuild(t *testing.T) {
	env := map[string]string{"PD": key, "SHORT": "abc123", "SPACES": "R0UTINGKEY 123456789abcdefABCDEF"}
	build := func(extra string) (*Notifier, error) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("services:\n  - name: ops-pd\n    type: pagerduty\n"+extra), &doc); err != nil {
			t.Fatal(err)
		}
		c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{Type})
		if err != nil {
			t.Fatal(err)
		}
		return Build(c.Items[0], func(k string) string { return env[k] })
	}
	n, err := build("    routing_key: {env: PD}\n")
	if err != nil || n.url != DefaultURL || n.changeURL != "https://events.pagerduty.com/v2/change/enqueue" || n.source != "patchpilot" {
		t.Fatalf("Build = %+v, %v", n, err)
	}
	n, err = build("    routing_key: {env: PD}\n    url: http://127.0.0.1:9/v2/enqueue\n    source: pp-prod\n")
	if err != nil || n.changeURL != "http://127.0.0.1:9/v2/change/enqueue" || n.source != "pp-prod" {
		t.Fatalf("Build = %+v, %v", n, err)
	}
	for _, c := range []struct{ extra, want string }{
		{"", "pp.yaml:2: integrations: ops-pd: routing_key: missing"},
		{"    routing_key: {env: SHORT}\n", "routing_key (from $SHORT): expected the 32-character integration key (letters and digits) of an Events API v2 integration, got 6 characters"},
		{"    routing_key: {env: SPACES}\n", "got 32 characters"},
		{"    routing_key: {env: PD}\n    url: http://events.pagerduty.com/v2/enqueue\n", "url: expected an https URL"},
		{"    routing_key: {env: PD}\n    url: events.pagerduty.com\n", "url: expected a URL such as"},
		{"    routing_key: {env: PD}\n    service_key: x\n", `unknown key "service_key"`},
	} {
		_, err := build(c.extra)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%q) = %v, want %q", c.extra, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "abc123")) {
			t.Errorf("error shows the key: %v", err)
		}
	}
}

// TestDryRunNeverTriggers: a dry-run rollout's halt, incident or failed
// rollback pages nobody, and sends no resolve either.
func TestDryRunNeverTriggers(t *testing.T) {
	n, s := serve(t, 202, "", nil)
	for _, topic := range []patchpilot.Topic{patchpilot.TopicHalted, patchpilot.TopicIncident, patchpilot.TopicRollbackFailed,
		patchpilot.TopicRecovered, patchpilot.TopicRolloutFinished} {
		note := halted()
		note.Topic, note.Level, note.Summary = topic, patchpilot.LevelInfo, "dry run: "+note.Summary
		note.Rollout.DryRun = true
		if err := n.Notify(context.Background(), note); err != nil {
			t.Fatalf("Notify(%s): %v", topic, err)
		}
	}
	if len(s.alerts) != 0 {
		t.Errorf("a dry run sent %d events: %v", len(s.alerts), s.alerts)
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	n, err := New("ops-pd", key, u+"/v2/enqueue", nil)
	if err != nil {
		t.Fatal(err)
	}
	integrationstest.CheckRefused(t, n.Notify(context.Background(), halted()), reached)
}
