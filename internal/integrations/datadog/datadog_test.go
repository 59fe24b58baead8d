package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

const (
	testAPIKey = "0123456789abcdef0123456789abcdef"
	testAppKey = "fedcba9876543210fedcba9876543210fedcba98"
)

func env(k string) string {
	return map[string]string{"DD_API_KEY": testAPIKey, "DD_APP_KEY": testAppKey}[k]
}

// spec reads one integration of patchpilot.yaml.
func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func client(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(spec(t, `
services:
  - name: dd-prod
    type: datadog
    site: datadoghq.eu
    url: `+url+`
    api_key: {env: DD_API_KEY}
    app_key: {env: DD_APP_KEY}
    tags: ["env:prod"]
`), env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSiteSelectsTheAPIHost(t *testing.T) {
	for site, want := range map[string]string{"": "https://api.datadoghq.com", "datadoghq.eu": "https://api.datadoghq.eu",
		"us3.datadoghq.com": "https://api.us3.datadoghq.com"} {
		line := ""
		if site != "" {
			line = "\n    site: " + site
		}
		c, err := New(spec(t, "services:\n  - name: dd\n    type: datadog"+line+"\n    api_key: {env: DD_API_KEY}\n"), env, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c.URL() != want {
			t.Errorf("site %q: %s, want %s", site, c.URL(), want)
		}
	}
	_, err := New(spec(t, "services:\n  - name: dd\n    type: datadog\n    site: datadog.com\n    api_key: {env: DD_API_KEY}\n"), env, Options{})
	if err == nil || !strings.Contains(err.Error(), "patchpilot.yaml:4: integrations: dd: site: expected one of datadoghq.com,") {
		t.Errorf("bad site: %v", err)
	}
	_, err = New(spec(t, "services:\n  - name: dd\n    type: datadog\n    api_key: {env: NOPE}\n"), env, Options{})
	if err == nil || !strings.Contains(err.Error(), "patchpilot.yaml:4: integrations: dd: api_key: environment variable NOPE is not set") {
		t.Errorf("missing key: %v", err)
	}
	_, err = New(spec(t, "services:\n  - name: dd\n    type: datadog\n    api_key: abc\n"), env, Options{})
	if err == nil || !strings.Contains(err.Error(), "write the secret's source") {
		t.Errorf("literal key: %v", err)
	}
}

func TestQueryRequestAndAnswer(t *testing.T) {
	from := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	to := from.Add(2*time.Minute + 500*time.Millisecond)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/query" {
			t.Errorf("request %s %s, want GET /api/v1/query", r.Method, r.URL.Path)
		}
		want := map[string][]string{"from": {"1796587200"}, "to": {"1796587321"}, "query": {"avg:system.cpu.user{host:web01}"}}
		if !reflect.DeepEqual(map[string][]string(r.URL.Query()), want) {
			t.Errorf("query %v, want %v", r.URL.Query(), want)
		}
		if r.Header.Get("DD-API-KEY") != testAPIKey || r.Header.Get("DD-APPLICATION-KEY") != testAppKey || r.Header.Get("Accept") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		_, _ = io.WriteString(w, `{"status":"ok","res_type":"time_series","query":"avg:system.cpu.user{host:web01}",
			"from_date":1796587200000,"to_date":1796587321000,"message":"","group_by":[],
			"series":[{"metric":"system.cpu.user","display_name":"system.cpu.user","scope":"host:web01,env:prod","expression":"avg:system.cpu.user{host:web01}",
			"unit":null,"interval":15,"length":3,"aggr":"avg","tag_set":[],"start":1796587200000,"end":1796587320000,
			"pointlist":[[1796587230000.0,12.5],[1796587215000.0,10.0],[1796587245000.0,null]]}]}`)
	}))
	defer srv.Close()
	ss, err := client(t, srv.URL).Query(context.Background(), "avg:system.cpu.user{host:web01}", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Metric != "system.cpu.user" || ss[0].Tags["host"] != "web01" || ss[0].Tags["env"] != "prod" || len(ss[0].Points) != 3 {
		t.Fatalf("series %+v", ss)
	}
	p := ss[0].Points
	if !p[0].Time.Equal(from.Add(15*time.Second)) || p[0].Value != 10 || p[1].Value != 12.5 || !math.IsNaN(p[2].Value) {
		t.Errorf("points %+v: want sorted by time, null as NaN", p)
	}
}

func TestQueryErrors(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		code      patchpilot.Code
		retryable bool
		after     time.Duration
		msg       string
	}{
		{"bad query", 400, nil, `{"errors":["Error parsing query: unable to parse avg:x{: Rule 'scope_expr' didn't match"]}`,
			patchpilot.EINVALID, false, 0, "Error parsing query"},
		{"bad keys", 403, nil, `{"errors":["Forbidden"]}`, patchpilot.EUNAVAILABLE, false, 0, "check the integration's api_key and app_key"},
		{"rate limited", 429, map[string]string{"X-RateLimit-Limit": "1600", "X-RateLimit-Period": "3600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"},
			`{"errors":["Too many requests"]}`, patchpilot.EUNAVAILABLE, true, 42 * time.Second, "rate limited"},
		{"retry after", 429, map[string]string{"Retry-After": "7", "X-RateLimit-Reset": "42"}, `{"errors":["Too many requests"]}`,
			patchpilot.EUNAVAILABLE, true, 7 * time.Second, "rate limited"},
		{"server error", 503, nil, `upstream unavailable`, patchpilot.EUNAVAILABLE, true, 0, "upstream unavailable"},
		{"query error", 200, nil, `{"status":"error","error":"Rule 'metric_name' didn't match","series":[]}`, patchpilot.EINVALID, false, 0, "didn't match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			now := time.Now()
			_, err := client(t, srv.URL).Query(context.Background(), "avg:x{*}", now.Add(-time.Minute), now)
			if err == nil || patchpilot.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v (%s), want %s with %q", err, patchpilot.ErrorCode(err), tt.code, tt.msg)
			}
			if strings.Contains(err.Error(), testAPIKey) || strings.Contains(err.Error(), testAppKey) {
				t.Errorf("a key is in the error: %v", err)
			}
			var de *patchpilot.DeliveryError
			if tt.status != 200 {
				if !errors.As(err, &de) || de.Status != tt.status || de.Retryable != tt.retryable || de.RetryAfter != tt.after {
					t.Errorf("delivery error %+v, want status %d retryable %v after %s", de, tt.status, tt.retryable, tt.after)
				}
			}
		})
	}
}

func TestQueryNeedsTheApplicationKey(t *testing.T) {
	c, err := New(spec(t, "services:\n  - name: dd\n    type: datadog\n    api_key: {env: DD_API_KEY}\n"), env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "avg:x{*}", time.Now().Add(-time.Minute), time.Now())
	if err == nil || !strings.Contains(err.Error(), "has no app_key") {
		t.Errorf("err %v", err)
	}
}

func TestEvents(t *testing.T) {
	type posted struct {
		header http.Header
		body   map[string]any
	}
	got := make(chan posted, 4)
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/events" || r.URL.RawQuery != "" {
			t.Errorf("request %s %s?%s, want POST /api/v1/events", r.Method, r.URL.Path, r.URL.RawQuery)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- posted{r.Header.Clone(), body}
		w.WriteHeader(status)
		if status == http.StatusAccepted {
			_, _ = io.WriteString(w, `{"status":"ok","event":{"id":123,"title":"x"}}`)
		} else {
			w.Header().Set("Retry-After", "3")
			_, _ = io.WriteString(w, `{"errors":["Forbidden"]}`)
		}
	}))
	defer srv.Close()
	c := client(t, srv.URL)
	at := time.Date(2026, 12, 6, 20, 30, 0, 0, time.UTC)
	ro := &patchpilot.Rollout{ID: "r-20261206-abc", State: patchpilot.RolloutState("halted"), Reason: "canary failed"}
	ro.Plan.Name = "openssl"
	n := patchpilot.Notification{Event: patchpilot.Event{ID: 17, Time: at, Kind: "rollout_halted", Rollout: ro.ID, Message: "stage canary failed"},
		Topic: patchpilot.TopicHalted, Level: patchpilot.LevelCritical, Summary: "rollout r-20261206-abc halted in stage canary",
		Rollout: ro, URL: "https://pp.example.com/rollouts/r-20261206-abc"}
	if err := c.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.header.Get("DD-API-KEY") != testAPIKey || p.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", p.header)
	}
	if p.header.Get("DD-APPLICATION-KEY") != "" {
		t.Errorf("the events API takes the API key only; got an application key")
	}
	want := map[string]any{
		"title": "patchpilot: rollout r-20261206-abc halted in stage canary",
		"text": "rollout r-20261206-abc halted in stage canary\nstage canary failed\nrollout r-20261206-abc (openssl): halted - canary failed\n" +
			"https://pp.example.com/rollouts/r-20261206-abc",
		"tags":             []any{"source:patchpilot", "patchpilot_topic:halted", "rollout:r-20261206-abc", "env:prod"},
		"alert_type":       "error",
		"aggregation_key":  "patchpilot-r-20261206-abc",
		"source_type_name": "my_apps",
		"date_happened":    float64(at.Unix()),
		"priority":         "normal",
	}
	if !reflect.DeepEqual(p.body, want) {
		t.Errorf("body\n got %v\nwant %v", p.body, want)
	}
	for _, tt := range []struct {
		topic patchpilot.Topic
		level patchpilot.Level
		want  string
	}{
		{patchpilot.TopicRolloutStarted, patchpilot.LevelInfo, "info"},
		{patchpilot.TopicStageDone, patchpilot.LevelInfo, "info"},
		{patchpilot.TopicRolledBack, patchpilot.LevelWarning, "warning"},
		{patchpilot.TopicRolloutFinished, patchpilot.LevelInfo, "success"},
		{patchpilot.TopicRolloutFinished, patchpilot.LevelWarning, "warning"},
		{patchpilot.TopicIncident, patchpilot.LevelWarning, "error"},
	} {
		if got := alertType(patchpilot.Notification{Topic: tt.topic, Level: tt.level}); got != tt.want {
			t.Errorf("%s/%s: %s, want %s", tt.topic, tt.level, got, tt.want)
		}
	}
	status = http.StatusForbidden
	err := c.Notify(context.Background(), n)
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || de.Status != 403 || de.Retryable || !strings.Contains(de.Message, "Forbidden") {
		t.Errorf("403: %v", err)
	}
	// events use only the API key: the message does not send the reader
	// to the application key
	if !strings.Contains(de.Message, "check the integration's api_key") || strings.Contains(de.Message, "app") {
		t.Errorf("403 on an event: %q", de.Message)
	}
}

func TestValidateQueryAcceptsDatadogAndRefusesPromQL(t *testing.T) {
	for _, q := range []string{"avg:system.cpu.user{host:web01}", "sum:errors{host:web01}.as_rate()", "per_second(sum:req{*} by {host})", "avg:x{*}.rollup(avg, 60)"} {
		if err := ValidateQuery(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range []string{"avg:x{*}[5m]", "rate(x{host:a})", "irate(x{host:a})", "histogram_quantile(0.9, x{host:a})"} {
		if err := ValidateQuery(q); err == nil || !strings.Contains(err.Error(), "looks like PromQL") {
			t.Errorf("%s: %v", q, err)
		}
	}
}

func TestRedirectIsRefusedWithTheKeys(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	c := client(t, u)
	integrationstest.CheckRefused(t, c.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicHalted, Summary: "halted"}), reached)
	_, err := c.Query(context.Background(), "avg:system.cpu.user{*}", time.Unix(0, 0), time.Unix(60, 0))
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(de.Message, "answered a redirect") {
		t.Fatalf("query error %v, want the refused redirect", err)
	}
	if n, seen := reached(); n != 0 || strings.Contains(seen, testAPIKey) {
		t.Fatalf("the redirect's host received %d requests", n)
	}
}

func TestErrorsHideTheURLQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	c := client(t, u+"/?x=QSECRET")
	err := c.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicHalted, Summary: "halted"})
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || !de.Retryable {
		t.Fatalf("error %v, want a retryable delivery error", err)
	}
	if strings.Contains(err.Error(), "QSECRET") {
		t.Fatalf("error %q repeats the url's query", err)
	}
}
