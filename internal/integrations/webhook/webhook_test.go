package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

const secret = "s3cret-shared-with-the-receiver"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// spec reads one integration from YAML as patchpilot.yaml would.
func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n"+src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{"webhook"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func getenv(k string) string {
	if k == "HOOK_SECRET" {
		return secret
	}
	return ""
}

func notification() patchpilot.Notification {
	at := time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
	return patchpilot.Notification{
		Event: patchpilot.Event{ID: 42, Time: at, Actor: "controller", Kind: patchpilot.EventRolloutState, Rollout: "r-1",
			Message: "rollout halted: stage canary failed", Data: json.RawMessage(`{"state":"halted","reason":"stage canary failed","previous":"running"}`)},
		Topic: patchpilot.TopicHalted, Level: patchpilot.LevelCritical, Summary: "rollout r-1 (openssl) halted: stage canary failed",
		URL: "https://pp.example.com/ui/rollouts/r-1",
		Rollout: &patchpilot.Rollout{ID: "r-1", Plan: patchpilot.Plan{Name: "openssl"}, State: patchpilot.RolloutHalted, Reason: "stage canary failed",
			CreatedBy: "user:alice", CreatedAt: at, PlanSource: "name: openssl\n",
			Stages: []patchpilot.StageRun{{Name: "canary", State: patchpilot.StageFailed, Hosts: []string{"web-1", "web-2"}, Reason: "1 of 2 hosts failed"}}},
	}
}

// TestNotify: the exact request (path, method, headers, signature, body)
// and the answers a receiver may give.
func TestNotify(t *testing.T) {
	var got *http.Request
	var body []byte
	answer := func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		answer(w)
	}))
	defer srv.Close()
	w, err := New(spec(t, fmt.Sprintf("  - {name: hook, type: webhook, url: %q, secret: {env: HOOK_SECRET}}\n", srv.URL+"/hooks/pp?token=abc")),
		getenv, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if w.Name() != "hook" {
		t.Errorf("Name = %q", w.Name())
	}
	if err := w.Notify(context.Background(), notification()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got.Method != "POST" || got.URL.Path != "/hooks/pp" || got.URL.Query().Get("token") != "abc" {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "patchpilot-webhook/1",
		"X-Patchpilot-Topic": "halted", "Idempotency-Key": "patchpilot-event-42"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	sig := got.Header.Get("X-Patchpilot-Signature")
	if !strings.HasPrefix(sig, fmt.Sprintf("t=%d,v1=", now.Unix())) {
		t.Errorf("signature header %q", sig)
	}
	// The receiver verifies it with the shared secret.
	if err := Verify([]byte(secret), sig, body, now.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// The exact body.
	want := `{"version":1,"id":"patchpilot-event-42","topic":"halted","level":"critical",` +
		`"summary":"rollout r-1 (openssl) halted: stage canary failed","url":"https://pp.example.com/ui/rollouts/r-1",` +
		`"event":{"id":42,"time":"2026-03-01T11:59:00Z","kind":"rollout.state","actor":"controller","rollout":"r-1",` +
		`"message":"rollout halted: stage canary failed","data":{"state":"halted","reason":"stage canary failed","previous":"running"}},` +
		`"rollout":{"id":"r-1","plan":"openssl","state":"halted","reason":"stage canary failed","created_by":"user:alice",` +
		`"created_at":"2026-03-01T11:59:00Z","stages":[{"name":"canary","state":"failed","hosts":2,"reason":"1 of 2 hosts failed"}]}}`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	if strings.Contains(string(body), secret) || strings.Contains(sig, secret) {
		t.Error("the secret is in the request")
	}

	cases := []struct {
		name       string
		answer     func(http.ResponseWriter)
		status     int
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{"429", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
			io.WriteString(w, "too many")
		}, 429, true, 30 * time.Second, "rate limited: too many"},
		{"429 with a date", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat))
			w.WriteHeader(429)
		}, 429, true, 2 * time.Minute, "rate limited"},
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503); io.WriteString(w, "maintenance\n") }, 503, true, 0, "maintenance"},
		{"401", func(w http.ResponseWriter) { w.WriteHeader(401); io.WriteString(w, "bad signature") }, 401, false, 0, "check that it verifies with the same secret: bad signature"},
		{"404", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404, false, 0, "check the url"},
		{"400", func(w http.ResponseWriter) { w.WriteHeader(400); io.WriteString(w, "no") }, 400, false, 0, "refused the notification: no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			answer = c.answer
			err := w.Notify(context.Background(), notification())
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want a DeliveryError", err)
			}
			if de.Service != "webhook" || de.Status != c.status || de.Retryable != c.retryable || de.RetryAfter != c.retryAfter || !strings.Contains(de.Message, c.says) {
				t.Errorf("DeliveryError = %+v, want status %d retryable %v after %s saying %q", de, c.status, c.retryable, c.retryAfter, c.says)
			}
		})
	}

	// A receiver that is down: retryable, and the error does not repeat
	// the URL's query.
	srv.Close()
	err = w.Notify(context.Background(), notification())
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.Status != 0 || strings.Contains(de.Message, "token=abc") {
		t.Errorf("receiver down: %v (%+v)", err, de)
	}
}

// TestVerify: what a receiver rejects.
func TestVerify(t *testing.T) {
	body := []byte(`{"version":1}`)
	sig := Sign([]byte(secret), now, body)
	cases := []struct {
		name   string
		secret string
		header string
		body   string
		at     time.Time
		err    string
	}{
		{"good", secret, sig, string(body), now.Add(4 * time.Minute), ""},
		{"rotated secret: one of two v1", secret, sig[:strings.Index(sig, ",")] + ",v1=00," + sig[strings.Index(sig, ",")+1:], string(body), now, ""},
		{"replayed late", secret, sig, string(body), now.Add(6 * time.Minute), "beyond the tolerance"},
		{"from the future", secret, sig, string(body), now.Add(-6 * time.Minute), "beyond the tolerance"},
		{"changed body", secret, sig, `{"version":2}`, now, "does not match"},
		{"other secret", "other", sig, string(body), now, "does not match"},
		{"no signature", secret, "t=1", string(body), now, "expected t=UNIX,v1=HEX"},
		{"garbage", secret, "hello", string(body), now, "expected t=UNIX,v1=HEX"},
		{"bad time", secret, "t=x,v1=00", string(body), now, "not a Unix time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify([]byte(c.secret), c.header, []byte(c.body), c.at, 0)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("Verify = %v, want %q", err, c.err)
			}
		})
	}
}

// TestNew: bad settings are refused with the file, line and key.
func TestNew(t *testing.T) {
	cases := []struct{ src, err string }{
		{"  - {name: h, type: webhook, secret: {env: HOOK_SECRET}}\n", "patchpilot.yaml:2: integrations: h: url: expected the http or https URL"},
		{"  - {name: h, type: webhook, url: ftp://x, secret: {env: HOOK_SECRET}}\n", "url: expected the http or https URL"},
		{"  - {name: h, type: webhook, url: 'https://x/'}\n", "secret: no secret given"},
		{"  - {name: h, type: webhook, url: 'https://x/', secret: {env: UNSET}}\n", "environment variable UNSET is not set"},
		{"  - {name: h, type: webhook, url: 'https://x/', secret: literal}\n", "write the secret's source"},
		{"  - {name: h, type: webhook, url: 'https://x/', secret: {env: HOOK_SECRET}, timeout: soon}\n", "timeout: expected a positive duration"},
		{"  - {name: h, type: webhook, url: 'https://x/', secret: {env: HOOK_SECRET}, urls: x}\n", `unknown key "urls"`},
	}
	// a user or password in the url is refused when patchpilot.yaml is read
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n  - {name: h, type: webhook, url: 'https://u:p@x/', secret: {env: HOOK_SECRET}}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := integrations.Decode("patchpilot.yaml", doc.Content[0], []string{"webhook"}); err == nil ||
		!strings.Contains(err.Error(), "patchpilot.yaml:2: integrations: h: url: a user or password in the URL is not allowed") {
		t.Errorf("url with a password: %v", err)
	}
	for _, c := range cases {
		_, err := New(spec(t, c.src), getenv, nil)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("New(%s) = %v, want %q", strings.TrimSpace(c.src), err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the secret is in the error: %v", err)
		}
	}
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	w, err := New(spec(t, fmt.Sprintf("  - {name: hook, type: webhook, url: %q, secret: {env: HOOK_SECRET}}\n", u+"/hooks/pp?token=QSECRET")), getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Notify(context.Background(), notification())
	integrationstest.CheckRefused(t, err, reached)
	if strings.Contains(err.Error(), "QSECRET") {
		t.Fatalf("error %q repeats the url's query", err)
	}
}
