package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

const hookPath = "/services/T0001/B0002/sEcReTtOkEn"

func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func notification() patchpilot.Notification {
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	r := &patchpilot.Rollout{
		ID: "r-20261206-ab12", Plan: patchpilot.Plan{Name: "openssl <urgent> & co"}, State: patchpilot.RolloutHalted,
		Reason: "stage canary failed",
		Stages: []patchpilot.StageRun{
			{Name: "canary", State: patchpilot.StageFailed, Hosts: []string{"web-1", "<!channel>"}},
			{Name: "rest", State: patchpilot.StagePending, Hosts: []string{"web-3", "web-4"}},
		},
	}
	return patchpilot.Notification{
		Event:   patchpilot.Event{ID: 42, Time: now, Actor: "controller", Kind: patchpilot.EventRolloutState, Rollout: r.ID},
		Topic:   patchpilot.TopicHalted,
		Level:   patchpilot.LevelCritical,
		Summary: "rollout r-20261206-ab12 halted in stage canary: 1 of 2 hosts failed",
		Rollout: r,
		URL:     "https://pp.example.com/rollouts/r-20261206-ab12",
		Hosts: []patchpilot.HostRun{
			{Stage: "canary", Host: "web-1", State: patchpilot.HostSucceeded},
			{Stage: "canary", Host: "<!channel>", State: patchpilot.HostRolledBack, Reason: "nginx failed <@U123>"},
			{Stage: "rest", Host: "web-3", State: patchpilot.HostPending},
			{Stage: "rest", Host: "web-4", State: patchpilot.HostPending},
		},
	}
}

// hook is a Slack incoming webhook on loopback: it checks the request as
// Slack reads it and answers with status and body.
type hook struct {
	t      *testing.T
	status int
	body   string
	header http.Header
	got    chan Payload
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != hookPath {
		h.t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, hookPath)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Errorf("Content-Type = %q, want application/json", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		h.t.Errorf("body does not decode: %v\n%s", err, raw)
	}
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(h.status)
	io.WriteString(w, h.body)
	h.got <- p
}

func serve(t *testing.T, status int, body string, header http.Header) (*Notifier, *hook) {
	h := &hook{t: t, status: status, body: body, header: header, got: make(chan Payload, 1)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return New("ops-slack", srv.URL+hookPath, srv.Client()), h
}

func TestNotifyPostsBlockKitMessage(t *testing.T) {
	n, h := serve(t, 200, "ok", nil)
	if err := n.Notify(context.Background(), notification()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	p := <-h.got
	if !strings.Contains(p.Text, "Rollout halted") || !strings.Contains(p.Text, "1 of 2 hosts failed") {
		t.Errorf("fallback text = %q", p.Text)
	}
	types := []string{}
	for _, b := range p.Blocks {
		types = append(types, b.Type)
	}
	if got := strings.Join(types, ","); got != "header,section,section,section,actions,context" {
		t.Fatalf("blocks = %s", got)
	}
	if hd := p.Blocks[0].Text; hd.Type != "plain_text" || hd.Text != ":red_circle: Rollout halted: openssl <urgent> & co" {
		t.Errorf("header = %+v", hd)
	}
	fields := map[string]string{}
	for _, f := range p.Blocks[2].Fields {
		name, value, _ := strings.Cut(f.Text, "\n")
		fields[name] = value
		if f.Type != "mrkdwn" {
			t.Errorf("field %q type %q", name, f.Type)
		}
	}
	want := map[string]string{
		"*Rollout*": "r-20261206-ab12", "*Plan*": "openssl &lt;urgent&gt; &amp; co", "*State*": "halted",
		"*Stage*": "canary", "*Hosts*": "1 of 4 succeeded, 1 rolled back, 2 pending", "*Reason*": "stage canary failed",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, fields[k], v)
		}
	}
	failed := p.Blocks[3].Text.Text
	if !strings.Contains(failed, "`&lt;!channel&gt;` (canary, rolled_back): nginx failed &lt;@U123&gt;") {
		t.Errorf("failed hosts = %q", failed)
	}
	var rawb strings.Builder
	enc := json.NewEncoder(&rawb)
	enc.SetEscapeHTML(false)
	enc.Encode(p)
	raw := rawb.String()
	for _, bad := range []string{"<!channel>", "<@U123>"} {
		if strings.Contains(raw, bad) {
			t.Errorf("message carries unescaped %q: %s", bad, raw)
		}
	}
	btn := p.Blocks[4].Elements[0]
	if btn.Type != "button" || btn.URL != "https://pp.example.com/rollouts/r-20261206-ab12" || btn.Style != "" {
		t.Errorf("button = %+v", btn)
	}
	if c := p.Blocks[5].Elements[0].Text; c != "patchpilot · halted · event 42 · 2026-12-06 20:00:00 UTC · by controller" {
		t.Errorf("context = %q", c)
	}
}

func TestApprovalNeededLinksToTheApprovalForm(t *testing.T) {
	n, h := serve(t, 200, "ok", nil)
	no := notification()
	no.Topic, no.Level = patchpilot.TopicApprovalNeeded, patchpilot.LevelInfo
	no.Rollout.State = patchpilot.RolloutWaitingApproval
	no.Rollout.Stages[0].State = patchpilot.StageSucceeded
	no.Rollout.Stages[1].State = patchpilot.StageWaitingApproval
	no.URL = "https://pp.example.com/rollouts/r-20261206-ab12/approve?stage=rest"
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	p := <-h.got
	var btn *Element
	for _, b := range p.Blocks {
		if b.Type == "actions" {
			btn = &b.Elements[0]
		}
	}
	if btn == nil {
		t.Fatalf("no actions block: %+v", p.Blocks)
	}
	txt, _ := json.Marshal(btn.Text)
	if btn.URL != no.URL || btn.Style != "primary" || !strings.Contains(string(txt), "Review and approve rest") {
		t.Errorf("button = %+v %s", btn, txt)
	}
	if p.Blocks[0].Text.Text != "Approval needed: openssl <urgent> & co" {
		t.Errorf("header = %q", p.Blocks[0].Text.Text)
	}
}

func TestNoLinkWithoutDashboardAndLimitsKept(t *testing.T) {
	no := notification()
	no.URL = ""
	no.Summary = strings.Repeat("x", 5000)
	no.Rollout.Plan.Name = strings.Repeat("é", 200)
	p := Message(no)
	for _, b := range p.Blocks {
		if b.Type == "actions" {
			t.Errorf("actions block without a dashboard URL: %+v", b)
		}
		if b.Type == "header" && len([]rune(b.Text.Text)) > maxHeader {
			t.Errorf("header of %d characters", len([]rune(b.Text.Text)))
		}
		if b.Text != nil && len([]rune(b.Text.Text)) > maxSection {
			t.Errorf("%s text of %d characters", b.Type, len([]rune(b.Text.Text)))
		}
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
		{400, "invalid_payload", nil, false, 0, "invalid_payload: Slack could not read the message"},
		{400, "invalid_blocks", nil, false, 0, "invalid_blocks: Slack refused the message's blocks"},
		{403, "action_prohibited", nil, false, 0, "action_prohibited: an admin restricted posting"},
		{403, "invalid_token", nil, false, 0, "invalid_token: the webhook's token is no longer valid"},
		{404, "no_service", nil, false, 0, "no_service: the webhook was removed"},
		{404, "channel_not_found", nil, false, 0, "channel_not_found: the webhook's channel was deleted"},
		{410, "channel_is_archived", nil, false, 0, "channel_is_archived: the webhook's channel is archived"},
		{429, "rate_limited", http.Header{"Retry-After": {"30"}}, true, 30 * time.Second, "rate limited"},
		{500, "rollup_error", nil, true, 0, "rollup_error: Slack failed"},
		{503, "", nil, true, 0, "server error: Slack failed"},
		{200, "<html>login</html>", nil, false, 0, "unexpected answer"},
		{401, "something_new", nil, false, 0, "something_new: Slack refused"},
	} {
		t.Run(c.body+"-"+http.StatusText(c.status), func(t *testing.T) {
			n, h := serve(t, c.status, c.body, c.header)
			err := n.Notify(context.Background(), notification())
			<-h.got
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want a DeliveryError", err)
			}
			if de.Service != "slack" || de.Status != c.status || de.Retryable != c.retryable || de.RetryAfter != c.retryAfter {
				t.Errorf("error = %+v", de)
			}
			if !strings.Contains(de.Message, c.message) {
				t.Errorf("message %q, want it to contain %q", de.Message, c.message)
			}
			if strings.Contains(err.Error(), "sEcReT") {
				t.Errorf("error shows the webhook URL: %v", err)
			}
		})
	}
}

func TestUnreachableIsRetryableAndHidesTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + hookPath
	srv.Close()
	err := New("ops-slack", u, nil).Notify(context.Background(), notification())
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.Status != 0 {
		t.Fatalf("Notify = %#v, want a retryable DeliveryError", err)
	}
	if strings.Contains(err.Error(), "sEcReT") || strings.Contains(err.Error(), hookPath) {
		t.Errorf("error shows the webhook URL: %v", err)
	}
}

func TestBuild(t *testing.T) {
	env := map[string]string{
		"HOOK":      "https://hooks.slack.com/services/T0001/B0002/sEcReTtOkEn",
		"PLAIN":     "http://hooks.slack.com/services/T0001/B0002/sEcReTtOkEn",
		"LOCAL":     "http://127.0.0.1:8080/services/x",
		"NOPATH":    "https://hooks.slack.com",
		"FTP":       "ftp://hooks.slack.com/sEcReT",
		"WITH_USER": "https://u:sEcReT@hooks.slack.com/services/x",
	}
	getenv := func(k string) string { return env[k] }
	build := func(extra string) (*Notifier, error) {
		return Build(spec(t, "services:\n  - name: ops-slack\n    type: slack\n"+extra), getenv)
	}
	n, err := build("    webhook_url: {env: HOOK}\n")
	if err != nil || n.Name() != "ops-slack" || n.url != env["HOOK"] {
		t.Fatalf("Build = %+v, %v", n, err)
	}
	if _, err := build("    webhook_url: {env: LOCAL}\n"); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
	for _, c := range []struct{ extra, want string }{
		{"", "pp.yaml:2: integrations: ops-slack: webhook_url: missing"},
		{"    webhook_url: {env: PLAIN}\n", "pp.yaml:4: integrations: ops-slack: webhook_url (from $PLAIN): expected an https URL"},
		{"    webhook_url: {env: NOPATH}\n", "with a host and a path"},
		{"    webhook_url: {env: FTP}\n", `got scheme "ftp"`},
		{"    webhook_url: {env: WITH_USER}\n", "expected no user:password@"},
		{"    webhook_url: {env: UNSET}\n", "environment variable UNSET is not set"},
		{"    webhook_url: https://hooks.slack.com/services/x\n", "write the secret's source, not the secret"},
		{"    webhook_url: {env: HOOK}\n    channel: '#ops'\n", `unknown key "channel"`},
	} {
		_, err := build(c.extra)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%q) = %v, want %q", c.extra, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "sEcReT") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	if d := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d <= 0 || d > time.Hour {
		t.Errorf("retryAfter(date) = %s", d)
	}
	if d := retryAfter("soon"); d != 0 {
		t.Errorf("retryAfter(soon) = %s", d)
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	for _, c := range []*http.Client{nil, http.DefaultClient} {
		err := New("ops-slack", u+"/services/T0/B0/SECRET", c).Notify(context.Background(), notification())
		integrationstest.CheckRefused(t, err, reached)
		if strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("error %q repeats the webhook's path", err)
		}
	}
}
