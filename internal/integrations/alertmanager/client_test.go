package alertmanager

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

// An answer of GET /api/v2/alerts as Alertmanager 0.25 writes it: one
// alert of the host, and one of another host that a server ignoring the
// filter would return.
const alertsAnswer = `[
 {"annotations":{"summary":"demo is down"},"endsAt":"2026-12-06T20:40:00.000Z","fingerprint":"5a0c3e1f0d2b9b3e",
  "receivers":[{"name":"default"}],"startsAt":"2026-12-06T20:35:00.000Z",
  "status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-06T20:35:01.000Z",
  "generatorURL":"http://prometheus:9090/graph","labels":{"alertname":"DemoDown","instance":"10.0.0.5:9100","severity":"critical"}},
 {"annotations":{},"endsAt":"2026-12-06T20:40:00.000Z","fingerprint":"77aa","receivers":[{"name":"default"}],
  "startsAt":"2026-12-06T20:35:00.000Z","status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},
  "updatedAt":"2026-12-06T20:35:01.000Z","labels":{"alertname":"DemoDown","instance":"10.0.0.6:9100","severity":"critical"}}
]`

func TestFiringRequestAndAnswer(t *testing.T) {
	var gotQuery map[string][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/prefix/api/v2/alerts" {
			t.Errorf("request %s %s, want GET /prefix/api/v2/alerts", r.Method, r.URL.Path)
		}
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		gotQuery = r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(alertsAnswer))
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/prefix/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ms []Matcher
	for _, s := range []string{`instance="10.0.0.5:9100"`, `severity=~"critical|warning"`} {
		m, err := ParseMatcher(s)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	alerts, err := c.Firing(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"active": {"true"}, "silenced": {"false"}, "inhibited": {"false"},
		"filter": {`instance="10.0.0.5:9100"`, `severity=~"critical|warning"`}}
	if !reflect.DeepEqual(gotQuery, want) {
		t.Errorf("query %v, want %v", gotQuery, want)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts %+v, want the one of 10.0.0.5 only", alerts)
	}
	a := alerts[0]
	if a.Name() != "DemoDown" || a.Fingerprint != "5a0c3e1f0d2b9b3e" || a.Annotations["summary"] != "demo is down" ||
		!a.StartsAt.Equal(time.Date(2026, 12, 6, 20, 35, 0, 0, time.UTC)) || a.Status.State != "active" {
		t.Errorf("alert %+v", a)
	}
}

func TestFiringErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		code   patchpilot.Code
		msg    string
	}{
		{"bad filter", 400, `"bad matcher format: instance=~\"(\""`, patchpilot.EINVALID, "refused the alert filter"},
		{"server error", 500, "internal", patchpilot.EUNAVAILABLE, "answered HTTP 500"},
		{"not alertmanager", 200, `{"status":"success"}`, patchpilot.EUNAVAILABLE, "not an API v2 alert list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, _ := New(srv.URL, Options{})
			_, err := c.Firing(context.Background(), nil)
			if patchpilot.ErrorCode(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err %v (%s), want %s %q", err, patchpilot.ErrorCode(err), tt.code, tt.msg)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, _ := New(url, Options{})
		_, err := c.Firing(context.Background(), nil)
		if patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE {
			t.Errorf("err %v, want unavailable", err)
		}
	})
}

func TestParseMatcher(t *testing.T) {
	labels := map[string]string{"instance": "10.0.0.5:9100", "severity": "warning"}
	for _, tt := range []struct {
		in      string
		name    string
		op      string
		value   string
		matches bool
	}{
		{`instance="10.0.0.5:9100"`, "instance", "=", "10.0.0.5:9100", true},
		{` severity =~ "critical|warning" `, "severity", "=~", "critical|warning", true},
		{`severity=~"crit"`, "severity", "=~", "crit", false}, // anchored
		{`severity!~"info|none"`, "severity", "!~", "info|none", true},
		{`job!="node"`, "job", "!=", "node", true}, // a missing label is ""
		{`env=prod`, "env", "=", "prod", false},
		{`team=""`, "team", "=", "", true},
	} {
		m, err := ParseMatcher(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if m.Name != tt.name || m.Op != tt.op || m.Value != tt.value || m.Matches(labels) != tt.matches {
			t.Errorf("%s: %+v matches %v", tt.in, m, m.Matches(labels))
		}
	}
	for _, bad := range []string{``, `instance`, `="x"`, `1abc="x"`, `a=~"(x"`, `a="unclosed`, `a=x y`, `a>"x"`} {
		if _, err := ParseMatcher(bad); err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%q: err %v, want invalid", bad, err)
		}
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	c, err := New(u, Options{HTTPClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Firing(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "answered a redirect to 127.0.0.1:") {
		t.Fatalf("error %v, want the refused redirect", err)
	}
	if n, _ := reached(); n != 0 {
		t.Fatalf("the redirect's host received %d requests", n)
	}
}
