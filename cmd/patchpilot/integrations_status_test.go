package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// TestIntegrationStatusShowsRetry: the status tells a delivery waiting
// for its next try apart from one that is stuck.
func TestIntegrationStatusShowsRetry(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	writeIntegrationStatus(&b, []app.IntegrationStatus{{Name: "hook", Type: "webhook", Notified: true,
		Cursor: &patchpilot.DeliveryCursor{Integration: "hook", EventID: 811, Behind: 3,
			Retrying: &patchpilot.DeliveryRetry{EventID: 812, Attempts: 4, Error: "webhook answered 503: unavailable", NextTry: at}}}})
	want := "  retrying:\tevent 812, 4 attempts failed, next try at 2026-03-01T12:00:00Z: webhook answered 503: unavailable\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("status =\n%s\nwant a line %q", b.String(), want)
	}
	b.Reset()
	writeIntegrationStatus(&b, []app.IntegrationStatus{{Name: "hook", Type: "webhook", Notified: true, GivenUpTotal: 2,
		GivenUp: []patchpilot.DeliveryFailure{
			{EventID: 9, Topic: patchpilot.TopicHalted, Attempts: 20, Error: "503", Time: at, Redelivery: patchpilot.RedeliveryDone, RedeliveredAt: at},
			{EventID: 8, Topic: patchpilot.TopicIncident, Attempts: 1, Error: "401", Time: at, Redelivery: patchpilot.RedeliveryFailed, RedeliveredAt: at, RedeliveryError: "webhook answered 401"},
		}}})
	for _, want := range []string{"redelivered at 2026-03-01T12:00:00Z (resolved)", "redelivery at 2026-03-01T12:00:00Z failed too: webhook answered 401"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status =\n%s\nwant %q", b.String(), want)
		}
	}
	// Every given-up delivery redelivered: none is left given up.
	b.Reset()
	writeIntegrationStatus(&b, []app.IntegrationStatus{{Name: "hook", Type: "webhook", Notified: true, GivenUpTotal: 3,
		Redelivered: 3, LastRedeliveryEventID: 42, LastRedelivery: at,
		GivenUp: []patchpilot.DeliveryFailure{{EventID: 42, Topic: patchpilot.TopicHalted, Attempts: 20, Error: "503", Time: at, Redelivery: patchpilot.RedeliveryDone, RedeliveredAt: at}}}})
	if strings.Contains(b.String(), "given up:\t3") {
		t.Errorf("status =\n%s\nwants no \"given up: 3\" once all were redelivered", b.String())
	}
	for _, want := range []string{"  given up:\tnone left\n", "  redelivered:\t3\n", "  last redelivery:\tevent 42 at 2026-03-01T12:00:00Z\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status =\n%s\nwant %q", b.String(), want)
		}
	}
}

// TestIntegrationsListChecksWithoutDatabase: list checks what test and
// server check (bar the secrets) and exits 2 naming file:line; list and
// test do not open the database (an unreadable one does not stop them);
// list -o json always has min_level.
func TestIntegrationsListChecksWithoutDatabase(t *testing.T) {
	e := newEnv(t)
	rec, hook := newReceiver(t)
	rec.set(http.StatusOK)
	// The database is a file that is no database.
	db := filepath.Join(e.home, "pp.db")
	writeFile(t, db, "not a database")
	good := filepath.Join(e.home, "good.yaml")
	writeFile(t, good, fmt.Sprintf(`db: %s
integrations:
  services:
    - {name: hook, type: webhook, url: %q, secret: {env: HOOK_SECRET}}
    - {name: pd, type: pagerduty, routing_key: {file: /nonexistent/pd.key}, min_level: critical}
`, db, hook.URL))
	e.vars = append(e.vars, "HOOK_SECRET="+hookSecret)
	views := decodeJSON[[]map[string]any](t, e.mustRun("--config", good, "integrations", "list", "-o", "json"))
	if len(views) != 2 || views[0]["min_level"] != "info" || views[1]["min_level"] != "critical" {
		t.Errorf("integrations list -o json = %v; want min_level info and critical", views)
	}
	if out := e.mustRun("--config", good, "integrations", "test", "hook"); !strings.Contains(out, "hook accepted the test notification") {
		t.Errorf("integrations test hook: %s", out)
	}
	for _, c := range []struct{ service, want string }{
		{`{name: hook, type: webhook, url: "ftp://x", secret: {env: HOOK_SECRET}}`, "bad.yaml:4: integrations: hook: url"},
		{`{name: hook, type: webhook, url: "https://x.example", secret: {env: HOOK_SECRET}, timeout: soon}`, "bad.yaml:4: integrations: hook: timeout"},
		{`{name: pd, type: pagerduty, routing_key: {env: PD_KEY}, url: "ftp://events"}`, "bad.yaml:4: integrations: pd: url"},
	} {
		bad := filepath.Join(e.home, "bad.yaml")
		writeFile(t, bad, fmt.Sprintf("db: %s\nintegrations:\n  services:\n    - %s\n", db, c.service))
		r := e.run("--config", bad, "integrations", "list")
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("integrations list with %s: code %d, stderr %s; want 2 and %q", c.service, r.code, r.stderr, c.want)
		}
	}
}

// An integration whose secret is read from a variable unset where the
// command runs is said to lack it, by list and status, in text and JSON,
// naming the variable, never a secret's value; one whose variables are
// set is not, nor a secret read from a file.
func TestIntegrationsSayUnsetSecretVariables(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.home, "unset.yaml")
	writeFile(t, cfg, fmt.Sprintf(`db: %s
integrations:
  services:
    - {name: hook, type: webhook, url: "https://hooks.example.com/x", secret: {env: HOOK_SECRET}}
    - {name: set, type: webhook, url: "https://hooks.example.com/y", secret: {env: SET_SECRET}}
    - {name: pd, type: pagerduty, routing_key: {file: /nonexistent/pd.key}}
`, filepath.Join(e.home, "pp.db")))
	e.vars = append(e.vars, "SET_SECRET=v3ry-s3cret", "HOOK_SECRET=")
	said := "secret variable HOOK_SECRET is not set in this environment"
	for _, args := range [][]string{{"integrations", "list"}, {"integrations", "status"}} {
		out := e.mustRun(append([]string{"--config", cfg}, args...)...)
		if strings.Count(out, said) != 1 || strings.Contains(out, "SET_SECRET") || strings.Contains(out, "v3ry-s3cret") || strings.Contains(out, "pd.key") {
			t.Errorf("%s:\n%s\nwant %q once, and nothing of the other secrets", strings.Join(args, " "), out, said)
		}
		views := decodeJSON[[]map[string]any](t, e.mustRun(append([]string{"--config", cfg, "-o", "json"}, args...)...))
		if len(views) != 3 || fmt.Sprint(views[0]["unset_secrets"]) != "[HOOK_SECRET]" || views[1]["unset_secrets"] != nil || views[2]["unset_secrets"] != nil {
			t.Errorf("%s -o json = %v; want unset_secrets [HOOK_SECRET] on hook alone", strings.Join(args, " "), views)
		}
	}
}
