package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n  - "+strings.ReplaceAll(strings.TrimSpace(src), "\n", "\n    ")+"\n"), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

// memRecords keeps change records in memory.
type memRecords = integrationstest.ChangeRecords

// fakeJira answers the REST API v2 calls patchpilot makes as Jira does,
// after checking each one the way Jira would: the authorization, the
// Accept and Content-Type headers, the path, the query and the body.
type fakeJira struct {
	t        *testing.T
	auth     string
	search   string // the search path: /rest/api/2/search or /rest/api/2/search/jql
	mu       sync.Mutex
	log      []string
	issues   map[string]*fakeIssue // by key
	next     int
	fail     map[string]func(w http.ResponseWriter) // "METHOD path" → answer
	statuses []string
}

type fakeIssue struct {
	id, key, status string
	fields          map[string]any
	comments        []string
}

func newFakeJira(t *testing.T, auth, search string) (*fakeJira, *httptest.Server) {
	f := &fakeJira{t: t, auth: auth, search: search, issues: map[string]*fakeIssue{}, next: 10041, fail: map[string]func(http.ResponseWriter){}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeJira) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	f.log = append(f.log, line)
	if h, ok := f.fail[line]; ok {
		h(w)
		return
	}
	if got := r.Header.Get("Authorization"); got != f.auth {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errorMessages":["You are not authenticated. Authentication required to perform this operation."],"errors":{}}`)
		return
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		f.t.Errorf("%s: Accept %q", line, got)
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s: Content-Type %q", line, ct)
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			f.t.Errorf("%s: body %s: %v", line, data, err)
		}
	}
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		if v != nil {
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && path == "/rest/api/2/project/OPS":
		reply(200, map[string]any{"id": "10000", "key": "OPS", "name": "Operations"})
	case r.Method == http.MethodGet && path == f.search:
		q := r.URL.Query()
		if q.Get("fields") != "key" || q.Get("maxResults") != "1" {
			f.t.Errorf("search query %s", r.URL.RawQuery)
		}
		var found []map[string]string
		for _, is := range f.issues {
			want := fmt.Sprintf(`project = "OPS" AND labels = "%s"`, is.fields["labels"].([]any)[1])
			if q.Get("jql") == want {
				found = append(found, map[string]string{"id": is.id, "key": is.key})
			}
		}
		reply(200, map[string]any{"issues": found})
	case r.Method == http.MethodPost && path == "/rest/api/2/issue":
		fields, _ := body["fields"].(map[string]any)
		f.next++
		is := &fakeIssue{id: fmt.Sprint(f.next), key: fmt.Sprintf("OPS-%d", f.next-10000), status: "To Do", fields: fields}
		f.issues[is.key] = is
		reply(201, map[string]any{"id": is.id, "key": is.key, "self": "http://jira/rest/api/2/issue/" + is.id})
	default:
		rest, ok := strings.CutPrefix(path, "/rest/api/2/issue/")
		if !ok {
			reply(404, map[string]any{"errorMessages": []string{"not found"}})
			return
		}
		key, sub, _ := strings.Cut(rest, "/")
		is := f.issues[key]
		if is == nil {
			reply(404, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]any{}})
			return
		}
		switch {
		case r.Method == http.MethodGet && sub == "comment":
			if r.URL.Query().Get("orderBy") != "-created" || r.URL.Query().Get("maxResults") != "50" {
				f.t.Errorf("comments query %s", r.URL.RawQuery)
			}
			var cs []map[string]string
			for i := len(is.comments) - 1; i >= 0; i-- {
				cs = append(cs, map[string]string{"body": is.comments[i]})
			}
			reply(200, map[string]any{"startAt": 0, "maxResults": 50, "total": len(cs), "comments": cs})
		case r.Method == http.MethodPost && sub == "comment":
			text, _ := body["body"].(string)
			if text == "" || len(body) != 1 {
				f.t.Errorf("comment body %v", body)
			}
			is.comments = append(is.comments, text)
			reply(201, map[string]any{"id": "1", "body": text})
		case r.Method == http.MethodGet && sub == "transitions":
			reply(200, map[string]any{"expand": "transitions", "transitions": []map[string]any{
				{"id": "11", "name": "Start Progress", "to": map[string]string{"name": "In Progress"}},
				{"id": "31", "name": "Done", "to": map[string]string{"name": "Done"}},
				{"id": "41", "name": "Abandon", "to": map[string]string{"name": "Won't Do"}},
			}})
		case r.Method == http.MethodPost && sub == "transitions":
			tr, _ := body["transition"].(map[string]any)
			switch tr["id"] {
			case "31":
				is.status = "Done"
			case "41":
				is.status = "Won't Do"
			default:
				reply(400, map[string]any{"errorMessages": []string{"It seems that you have tried to perform a workflow operation that is not valid."}})
				return
			}
			f.statuses = append(f.statuses, is.status)
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && sub == "" && r.URL.Query().Get("fields") == "status":
			reply(200, map[string]any{"key": is.key, "fields": map[string]any{"status": map[string]string{"name": is.status}}})
		default:
			f.t.Errorf("unexpected %s", line)
			reply(404, nil)
		}
	}
}

func rollout() *patchpilot.Rollout {
	return &patchpilot.Rollout{ID: "r-20260302-100000-ab12", State: patchpilot.RolloutRunning, CreatedBy: "user:ann",
		Plan: patchpilot.Plan{Name: "openssl-march", Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1"}}},
			Targets: patchpilot.TargetSelector{Selector: "env=prod"},
			Stages:  []patchpilot.Stage{{Name: "canary", Parallel: 1}, {Name: "wave_1", Parallel: 3, Approval: patchpilot.ApprovalRequired, ApprovalReason: "risk high"}}},
		Stages: []patchpilot.StageRun{{Name: "canary", Hosts: []string{"web1"}, State: patchpilot.StagePending}, {Name: "wave_1", Hosts: []string{"web2", "web3"}, State: patchpilot.StagePending}}}
}

func note(id int64, topic patchpilot.Topic, r *patchpilot.Rollout, summary string) patchpilot.Notification {
	return patchpilot.Notification{Event: patchpilot.Event{ID: id}, Topic: topic, Level: patchpilot.LevelInfo, Rollout: r, Summary: summary,
		URL: "https://pp.example.com/rollouts/" + r.ID}
}

const cloudSpec = `name: ops-jira
type: jira
url: %s
user: ops@example.com
token: {env: JIRA_TOKEN}
project: OPS
labels: [patching]
deployment: cloud`

func newCloud(t *testing.T, url string, records patchpilot.ChangeRecordStore) *Notifier {
	t.Helper()
	n, err := New(spec(t, fmt.Sprintf(cloudSpec, url)), func(k string) string {
		if k == "JIRA_TOKEN" {
			return "s3cr3t-token"
		}
		return ""
	}, records)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func basic(user, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))
}

func TestIssueLifecycle(t *testing.T) {
	f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
	recs := &memRecords{}
	j := newCloud(t, srv.URL, recs)
	ctx := context.Background()
	r := rollout()
	if err := j.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, r, "rollout started")); err != nil {
		t.Fatal(err)
	}
	is := f.issues["OPS-42"]
	if is == nil {
		t.Fatalf("no issue OPS-42; requests %v", f.requests())
	}
	wantFields := map[string]any{
		"project":   map[string]any{"key": "OPS"},
		"issuetype": map[string]any{"name": "Task"},
		"summary":   "patchpilot rollout r-20260302-100000-ab12 (openssl-march): openssl=3.0.15-1",
		"labels":    []any{"patchpilot", "patchpilot-r-20260302-100000-ab12", "patching"},
	}
	for k, v := range wantFields {
		if got, _ := json.Marshal(is.fields[k]); string(got) != mustJSON(v) {
			t.Errorf("field %s = %s, want %s", k, got, mustJSON(v))
		}
	}
	desc, _ := is.fields["description"].(string)
	for _, want := range []string{"Packages: openssl=3.0.15-1", "Targets: selector env=prod", "- canary: 1 hosts",
		"- wave_1: 2 hosts, 3 at once, needs approval (risk high)", "https://pp.example.com/rollouts/r-20260302-100000-ab12"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	rec, err := recs.ChangeRecord(ctx, "ops-jira", r.ID)
	if err != nil || rec.Key != "OPS-42" || rec.ExternalID != "10042" || rec.State != patchpilot.ChangeRecordOpen {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if err := j.Notify(ctx, note(2, patchpilot.TopicStageDone, r, "stage canary succeeded")); err != nil {
		t.Fatal(err)
	}
	// The same notification again, as after a failed acknowledgement.
	if err := j.Notify(ctx, note(2, patchpilot.TopicStageDone, r, "stage canary succeeded")); err != nil {
		t.Fatal(err)
	}
	r.State, r.Reason = patchpilot.RolloutSucceeded, ""
	r.Stages[0].State, r.Stages[1].State = patchpilot.StageSucceeded, patchpilot.StageSucceeded
	if err := j.Notify(ctx, note(3, patchpilot.TopicRolloutFinished, r, "rollout succeeded")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /rest/api/2/search/jql", "POST /rest/api/2/issue",
		"GET /rest/api/2/issue/OPS-42/comment", "POST /rest/api/2/issue/OPS-42/comment",
		"GET /rest/api/2/issue/OPS-42/comment",
		"GET /rest/api/2/issue/OPS-42/comment", "POST /rest/api/2/issue/OPS-42/comment",
		"GET /rest/api/2/issue/OPS-42/transitions", "POST /rest/api/2/issue/OPS-42/transitions",
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(is.comments) != 2 || !strings.HasPrefix(is.comments[0], "stage canary succeeded\nhttps://pp.example.com/") ||
		!strings.HasSuffix(is.comments[0], "(patchpilot event 2)") {
		t.Errorf("comments %q", is.comments)
	}
	if !strings.Contains(is.comments[1], "Rollout r-20260302-100000-ab12 ended succeeded.\n- stage canary: succeeded") {
		t.Errorf("outcome comment %q", is.comments[1])
	}
	if is.status != "Done" {
		t.Errorf("status %q", is.status)
	}
	if rec, _ := recs.ChangeRecord(ctx, "ops-jira", r.ID); rec.State != patchpilot.ChangeRecordClosed {
		t.Errorf("record state %q after the transition", rec.State)
	}
	// A retried finish comments no more and does not transition again.
	if err := j.Notify(ctx, note(3, patchpilot.TopicRolloutFinished, r, "rollout succeeded")); err != nil {
		t.Fatal(err)
	}
	if len(f.statuses) != 1 || len(is.comments) != 2 {
		t.Errorf("after retry: transitions %v, %d comments", f.statuses, len(is.comments))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Without the stored record (the store lost it, or a retry after the
// issue was created but before it was recorded), the issue is found by
// its label and not opened twice.
func TestRetriedCreateFindsTheIssueByLabel(t *testing.T) {
	f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
	j := newCloud(t, srv.URL, nil)
	ctx := context.Background()
	r := rollout()
	for range 2 {
		if err := j.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, r, "started")); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.issues) != 1 {
		t.Fatalf("%d issues, want 1", len(f.issues))
	}
	r.State, r.Reason = patchpilot.RolloutHalted, "canary failed"
	if err := j.Notify(ctx, note(5, patchpilot.TopicRolloutFinished, r, "halted")); err != nil {
		t.Fatal(err)
	}
	if f.issues["OPS-42"].status != "Done" {
		t.Errorf("status %q: the failure transition defaults to the success one", f.issues["OPS-42"].status)
	}
}

func TestDataCenterBearerAndFailureTransition(t *testing.T) {
	f, srv := newFakeJira(t, "Bearer pat-123", "/rest/api/2/search")
	j, err := New(spec(t, fmt.Sprintf(`name: dc
type: jira
url: %s/
token: {env: PAT}
project: OPS
issue_type: Change
success_transition: Done
failure_transition: "Won't Do"`, srv.URL)), func(string) string { return "pat-123" }, &memRecords{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := rollout()
	if err := j.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, r, "started")); err != nil {
		t.Fatal(err)
	}
	if got := f.issues["OPS-42"].fields["issuetype"]; mustJSON(got) != `{"name":"Change"}` {
		t.Errorf("issuetype %s", mustJSON(got))
	}
	r.State = patchpilot.RolloutRolledBack
	if err := j.Notify(ctx, note(9, patchpilot.TopicRolloutFinished, r, "rolled back")); err != nil {
		t.Fatal(err)
	}
	if got := f.issues["OPS-42"].status; got != "Won't Do" {
		t.Errorf("status %q, want Won't Do (matched by the status the transition leads to)", got)
	}
	if got := f.requests()[0]; got != "GET /rest/api/2/search" {
		t.Errorf("first request %q: Data Center searches with /rest/api/2/search", got)
	}
}

func TestUnknownTransitionNamesTheAvailableOnes(t *testing.T) {
	_, srv := newFakeJira(t, "Bearer pat-123", "/rest/api/2/search")
	j, err := New(spec(t, fmt.Sprintf(`name: dc
type: jira
url: %s
token: {env: PAT}
project: OPS
success_transition: Closed`, srv.URL)), func(string) string { return "pat-123" }, &memRecords{})
	if err != nil {
		t.Fatal(err)
	}
	r := rollout()
	ctx := context.Background()
	_ = j.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, r, "started"))
	r.State = patchpilot.RolloutSucceeded
	err = j.Notify(ctx, note(2, patchpilot.TopicRolloutFinished, r, "done"))
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(de.Message, `has no transition "Closed"; its transitions are: Abandon, Done, Start Progress`) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorAnswers(t *testing.T) {
	for _, c := range []struct {
		name      string
		answer    func(w http.ResponseWriter)
		retryable bool
		after     time.Duration
		mention   string
	}{
		{"bad credentials", nil, false, 0, "jira answered 401: POST " /* filled below */},
		{"forbidden", func(w http.ResponseWriter) {
			w.WriteHeader(403)
			fmt.Fprint(w, `{"errorMessages":["You do not have permission to create issues in this project."],"errors":{}}`)
		}, false, 0, "forbidden: the account lacks the permission; check the integration's user and token"},
		{"project unknown", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"errorMessages":[],"errors":{"project":"valid project is required"}}`)
		}, false, 0, "refused: project: valid project is required"},
		{"rate limited", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, true, 7 * time.Second, "rate limited"},
		{"down", func(w http.ResponseWriter) { w.WriteHeader(503) }, true, 0, "service error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
			token := "s3cr3t-token"
			if c.answer == nil {
				token = "wrong-token"
				c.mention = "jira answered 401: GET " + srv.URL + "/rest/api/2/search/jql: bad credentials; check the integration's user and token"
			} else {
				f.fail["POST /rest/api/2/issue"] = c.answer
			}
			j, err := New(spec(t, fmt.Sprintf(cloudSpec, srv.URL)), func(string) string { return token }, &memRecords{})
			if err != nil {
				t.Fatal(err)
			}
			err = j.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started"))
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a DeliveryError", err)
			}
			if de.Retryable != c.retryable || de.RetryAfter != c.after || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("err = %q (retryable %v, after %s), want retryable %v after %s mentioning %q", err, de.Retryable, de.RetryAfter, c.retryable, c.after, c.mention)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestTestEventChecksTheProject(t *testing.T) {
	f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
	j := newCloud(t, srv.URL, nil)
	if err := j.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicTest}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(); len(got) != 1 || got[0] != "GET /rest/api/2/project/OPS" {
		t.Errorf("requests %v", got)
	}
}

func TestSettingsErrors(t *testing.T) {
	env := func(string) string { return "x" }
	for _, c := range []struct{ src, want string }{
		{"name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: {env: T}", "pp.yaml:2: integrations: j: project: expected a project key"},
		{"name: j\ntype: jira\nurl: ftp://x\ntoken: {env: T}\nproject: OPS", "pp.yaml:4: integrations: j: url: expected an http or https URL without a query, such as https://example.atlassian.net, got \"ftp://x\""},
		{"name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: literal\nproject: OPS", "token: write the secret's source, not the secret"},
		{"name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: {env: T}\nproject: OPS\ntransition: Done", `unknown key "transition"`},
		{"name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: {env: T}\nproject: OPS\ndeployment: onprem", "pp.yaml:7: integrations: j: deployment: expected cloud or datacenter"},
		{"name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: {env: T}\nproject: OPS\nlabels: [a, 'b c']", `pp.yaml:7: integrations: j: labels[1]: expected a label without spaces, got "b c"`},
	} {
		_, err := New(spec(t, c.src), env, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v, want %q", c.src, err, c.want)
		}
	}
	_, err := New(spec(t, "name: j\ntype: jira\nurl: https://x.atlassian.net\ntoken: {env: JIRA_T}\nproject: OPS"), func(string) string { return "" }, nil)
	if err == nil || !strings.Contains(err.Error(), "pp.yaml:5: integrations: j: token: environment variable JIRA_T is not set") {
		t.Errorf("missing token: %v", err)
	}
}

func TestDryRunsOpenNoIssue(t *testing.T) {
	f, srv := newFakeJira(t, basic("ops@example.com", "s3cr3t-token"), "/rest/api/2/search/jql")
	j := newCloud(t, srv.URL, &memRecords{})
	r := rollout()
	r.DryRun = true
	for _, topic := range []patchpilot.Topic{patchpilot.TopicRolloutStarted, patchpilot.TopicStageDone, patchpilot.TopicRolloutFinished} {
		if err := j.Notify(context.Background(), note(1, topic, r, "dry run")); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests(); len(got) != 0 {
		t.Errorf("a dry run sent %v", got)
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	n := newCloud(t, u, nil)
	integrationstest.CheckRefused(t, n.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicTest}), reached)
	if _, seen := reached(); strings.Contains(seen, "s3cr3t") {
		t.Fatalf("the token reached the redirect's host: %q", seen)
	}
}

func TestErrorsHideTheURLQueryAndTheToken(t *testing.T) {
	// A service that repeats the request and its credentials in its
	// error, and a network failure: neither the token nor a query
	// (the url setting allows none, but a proxy or a rewritten base
	// could add one) reaches the error.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errorMessages": ["cannot serve %s for %s"]}`, r.URL.RequestURI(), r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	for _, srv := range []*httptest.Server{echo, drop} {
		n := newCloud(t, srv.URL, nil)
		n.base = srv.URL + "/?access_token=q-secret&p="
		err := n.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started"))
		if err == nil {
			t.Fatal("no error")
		}
		var de *patchpilot.DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("error %T %v", err, err)
		}
		for _, leak := range []string{"q-secret", "access_token", "s3cr3t-token", strings.TrimPrefix(basic("ops@example.com", "s3cr3t-token"), "Basic ")} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q holds %q", err, leak)
			}
		}
		if !strings.Contains(err.Error(), "GET "+srv.URL+"/: ") {
			t.Errorf("error %q does not name the request", err)
		}
	}
}
