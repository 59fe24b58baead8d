package grafana

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

const testToken = "glsa_0123456789abcdef0123456789abcdef_0a1b2c3d"

// fakeGrafana keeps annotations as Grafana's HTTP API does, checking each
// request's method, path, query, headers and body.
type fakeGrafana struct {
	t        *testing.T
	mu       sync.Mutex
	next     int64
	notes    []Annotation
	requests []string
	fail     int // answer this status to the next request, then clear
	header   map[string]string
}

func (f *fakeGrafana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer "+testToken || r.Header.Get("Accept") != "application/json" {
		f.t.Errorf("%s %s: headers %v", r.Method, r.URL, r.Header)
	}
	if f.fail != 0 {
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.fail)
		_, _ = io.WriteString(w, `{"message":"denied by the test"}`)
		f.fail = 0
		return
	}
	readBody := func() map[string]any {
		if r.Header.Get("Content-Type") != "application/json" {
			f.t.Errorf("%s %s: content type %q", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			f.t.Errorf("body: %v", err)
		}
		return m
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/grafana/api/annotations":
		m := readBody()
		raw, _ := json.Marshal(m)
		var a Annotation
		_ = json.Unmarshal(raw, &a)
		if _, ok := m["timeEnd"]; ok {
			f.t.Errorf("POST of a point with timeEnd: %v", m)
		}
		if m["dashboardUID"] != "pp-ops" || m["panelId"] != float64(4) {
			f.t.Errorf("POST without the dashboard and panel: %v", m)
		}
		for _, k := range []string{"time", "tags", "text"} {
			if _, ok := m[k]; !ok {
				f.t.Errorf("POST body lacks %s: %v", k, m)
			}
		}
		f.next++
		a.ID = f.next
		if a.TimeEnd == 0 {
			a.TimeEnd = a.Time // Grafana stores a point as a region of length 0
		}
		f.notes = append(f.notes, a)
		_, _ = io.WriteString(w, `{"message":"Annotation added","id":`+jsonInt(a.ID)+`}`)
	case r.Method == http.MethodGet && r.URL.Path == "/grafana/api/annotations":
		q := r.URL.Query()
		want := []string{TagStart}
		if q.Get("type") != "annotation" || q.Get("matchAny") != "false" || q.Get("limit") != "1" || len(q["tags"]) != 2 || q["tags"][0] != want[0] {
			f.t.Errorf("GET query %v", q)
		}
		out := []Annotation{}
		for _, a := range f.notes {
			if hasAll(a.Tags, q["tags"]) {
				out = append(out, a)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/grafana/api/annotations/"):
		m := readBody()
		id := strings.TrimPrefix(r.URL.Path, "/grafana/api/annotations/")
		for i, a := range f.notes {
			if jsonInt(a.ID) == id {
				f.notes[i].TimeEnd = int64(m["timeEnd"].(float64))
				f.notes[i].Time = int64(m["time"].(float64))
				f.notes[i].Text = m["text"].(string)
				f.notes[i].Tags = nil
				for _, t := range m["tags"].([]any) {
					f.notes[i].Tags = append(f.notes[i].Tags, t.(string))
				}
				_, _ = io.WriteString(w, `{"message":"Annotation patched"}`)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Could not find annotation to update"}`)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func hasAll(tags, want []string) bool {
	for _, w := range want {
		found := false
		for _, t := range tags {
			found = found || t == w
		}
		if !found {
			return false
		}
	}
	return true
}

func newClient(t *testing.T, url string) *Client {
	t.Helper()
	var doc yaml.Node
	src := "services:\n  - name: ops-grafana\n    type: grafana\n    url: " + url + "/grafana/\n    token: {env: GRAFANA_TOKEN}\n" +
		"    dashboard_uid: pp-ops\n    panel_id: 4\n    tags: [\"env:prod\"]\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	ic, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ic.Items[0], func(k string) string { return map[string]string{"GRAFANA_TOKEN": testToken}[k] }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func note(topic patchpilot.Topic, at time.Time, summary string) patchpilot.Notification {
	ro := &patchpilot.Rollout{ID: "r-1"}
	return patchpilot.Notification{Event: patchpilot.Event{ID: at.Unix(), Time: at, Rollout: "r-1"}, Topic: topic,
		Level: patchpilot.LevelInfo, Summary: summary, Rollout: ro}
}

func TestRolloutAnnotations(t *testing.T) {
	f := &fakeGrafana{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	steps := []patchpilot.Notification{
		note(patchpilot.TopicRolloutStarted, t0, "rollout r-1 started"),
		note(patchpilot.TopicRolloutStarted, t0, "rollout r-1 started"), // a retry
		note(patchpilot.TopicStageDone, t0.Add(5*time.Minute), "stage canary of r-1 succeeded"),
		note(patchpilot.TopicRolledBack, t0.Add(8*time.Minute), "lab01 rolled back"),
		note(patchpilot.TopicRolloutFinished, t0.Add(10*time.Minute), "rollout r-1 halted"),
		note(patchpilot.TopicRolloutFinished, t0.Add(10*time.Minute), "rollout r-1 halted"), // a retry
	}
	for _, n := range steps {
		if err := c.Notify(ctx, n); err != nil {
			t.Fatalf("%s: %v", n.Topic, err)
		}
	}
	wantRequests := []string{
		"GET /grafana/api/annotations?limit=1&matchAny=false&tags=patchpilot-rollout&tags=rollout%3Ar-1&type=annotation",
		"POST /grafana/api/annotations",
		"GET /grafana/api/annotations?limit=1&matchAny=false&tags=patchpilot-rollout&tags=rollout%3Ar-1&type=annotation",
		"POST /grafana/api/annotations",
		"POST /grafana/api/annotations",
		"GET /grafana/api/annotations?limit=1&matchAny=false&tags=patchpilot-rollout&tags=rollout%3Ar-1&type=annotation",
		"PATCH /grafana/api/annotations/1",
		"GET /grafana/api/annotations?limit=1&matchAny=false&tags=patchpilot-rollout&tags=rollout%3Ar-1&type=annotation",
	}
	if !reflect.DeepEqual(f.requests, wantRequests) {
		t.Errorf("requests\n got %q\nwant %q", f.requests, wantRequests)
	}
	want := []Annotation{
		{ID: 1, DashboardUID: "pp-ops", PanelID: 4, Time: t0.UnixMilli(), TimeEnd: t0.Add(10 * time.Minute).UnixMilli(),
			Tags: []string{"patchpilot", "patchpilot:rollout_finished", "rollout:r-1", "env:prod", TagStart},
			Text: "rollout r-1 started<br>rollout r-1 halted"},
		{ID: 2, DashboardUID: "pp-ops", PanelID: 4, Time: t0.Add(5 * time.Minute).UnixMilli(), TimeEnd: t0.Add(5 * time.Minute).UnixMilli(),
			Tags: []string{"patchpilot", "patchpilot:stage_done", "rollout:r-1", "env:prod"}, Text: "stage canary of r-1 succeeded"},
		{ID: 3, DashboardUID: "pp-ops", PanelID: 4, Time: t0.Add(8 * time.Minute).UnixMilli(), TimeEnd: t0.Add(8 * time.Minute).UnixMilli(),
			Tags: []string{"patchpilot", "patchpilot:rolled_back", "rollout:r-1", "env:prod"}, Text: "lab01 rolled back"},
	}
	if !reflect.DeepEqual(f.notes, want) {
		t.Errorf("annotations\n got %+v\nwant %+v", f.notes, want)
	}
}

func TestFinishWithoutStartIsAPoint(t *testing.T) {
	f := &fakeGrafana{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	if err := newClient(t, srv.URL).Notify(context.Background(), note(patchpilot.TopicRolloutFinished, at, "rollout r-1 succeeded")); err != nil {
		t.Fatal(err)
	}
	if len(f.notes) != 1 || f.notes[0].TimeEnd != at.UnixMilli() || f.notes[0].Time != at.UnixMilli() {
		t.Errorf("annotations %+v", f.notes)
	}
}

func TestAnnotationErrors(t *testing.T) {
	for _, tt := range []struct {
		status    int
		header    map[string]string
		retryable bool
		after     time.Duration
		msg       string
	}{
		{401, nil, false, 0, "check the integration's token"},
		{403, nil, false, 0, "annotations:write"},
		{429, map[string]string{"Retry-After": "30"}, true, 30 * time.Second, "denied by the test"},
		{502, nil, true, 0, "denied by the test"},
	} {
		f := &fakeGrafana{t: t, fail: tt.status, header: tt.header}
		srv := httptest.NewServer(f)
		err := newClient(t, srv.URL).Notify(context.Background(), note(patchpilot.TopicStageDone, time.Now(), "stage done"))
		srv.Close()
		var de *patchpilot.DeliveryError
		if !errors.As(err, &de) || de.Status != tt.status || de.Retryable != tt.retryable || de.RetryAfter != tt.after || !strings.Contains(de.Message, tt.msg) {
			t.Errorf("%d: %v (%+v)", tt.status, err, de)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("%d: the token is in the error", tt.status)
		}
	}
}

func TestSettingsErrors(t *testing.T) {
	for src, want := range map[string]string{
		"    url: grafana.example.com\n    token: {env: T}\n":                       "url: expected Grafana's base URL",
		"    url: https://g.example.com\n    token: {env: T}\n    panel_id: 3\n":    "patchpilot.yaml:6: integrations: g: panel_id: a panel needs its dashboard_uid",
		"    url: https://g.example.com\n    token: {env: T}\n    panel_id: four\n": `patchpilot.yaml:6: integrations: g: panel_id: expected a whole number, got "four"`,
		"    url: https://g.example.com\n":                                          "patchpilot.yaml:2: integrations: g: token: no secret given",
		"    url: https://g.example.com\n    token: {env: NOPE}\n":                  "token: environment variable NOPE is not set",
		"    url: https://g.example.com\n    token: {env: T}\n    dashboard: x\n":   `unknown key "dashboard"`,
		"    url: https://admin:pw@g.example.com\n    token: {env: T}\n":            "patchpilot.yaml:4: integrations: g: url: a user or password in the URL is not allowed",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("services:\n  - name: g\n    type: grafana\n"+src), &doc); err != nil {
			t.Fatal(err)
		}
		ic, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{Type})
		if err == nil {
			_, err = New(ic.Items[0], func(k string) string { return map[string]string{"T": "tok"}[k] }, Options{})
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	c := newClient(t, u)
	integrationstest.CheckRefused(t, c.Notify(context.Background(), note(patchpilot.TopicHalted, time.Unix(100, 0), "halted")), reached)
}

func TestErrorsHideTheURLQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	c := newClient(t, u+"/x?x=QSECRET&")
	err := c.Notify(context.Background(), note(patchpilot.TopicHalted, time.Unix(100, 0), "halted"))
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || !de.Retryable {
		t.Fatalf("error %v, want a retryable delivery error", err)
	}
	if strings.Contains(err.Error(), "QSECRET") || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %q repeats the url's query", err)
	}
}

func TestAnnotationTextEscapesHTML(t *testing.T) {
	n := note(patchpilot.TopicHalted, time.Unix(100, 0), `rollout r-1 of plan <img src=x onerror=alert(1)> halted on web"01&`)
	n.Rollout.Reason = "<script>x</script>"
	n.URL = `https://pp.example.com/rollouts/r-1?a=1&b="2"`
	got := text(n)
	want := `rollout r-1 of plan &lt;img src=x onerror=alert(1)&gt; halted on web&#34;01&amp; (&lt;script&gt;x&lt;/script&gt;) <a href="https://pp.example.com/rollouts/r-1?a=1&amp;b=&#34;2&#34;">rollout</a>`
	if got != want {
		t.Errorf("text\n got %s\nwant %s", got, want)
	}
}
