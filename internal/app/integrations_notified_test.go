package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestOnlyIntegrationsToldOfEventsAreNotified: a servicenow_cmdb without
// write_back: true and an http_inventory are not notified (list, status,
// the dispatcher), and topics: or min_level: on them is refused with
// file:line.
func TestOnlyIntegrationsToldOfEventsAreNotified(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrationsConfig(t, `
services:
  - {name: cmdb, type: servicenow_cmdb, url: "https://x.service-now.com", user: pp, password: {env: SN_PW}}
  - {name: cmdb-w, type: servicenow_cmdb, url: "https://x.service-now.com", user: pp, password: {env: SN_PW}, write_back: true}
  - {name: inv, type: http_inventory, url: "https://inv.example.com"}
  - {name: hook, type: webhook, url: "https://hook.example.com", secret: {env: HOOK_SECRET}}
`)
	want := map[string]bool{"cmdb": false, "cmdb-w": true, "inv": false, "hook": true}
	for _, s := range a.Options.Integrations.Items {
		if got := SpecNotified(s); got != want[s.Name] {
			t.Errorf("SpecNotified(%s) = %v, want %v", s.Name, got, want[s.Name])
		}
	}
	st, err := a.IntegrationStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Notified != want[s.Name] {
			t.Errorf("status of %s: notified %v, want %v", s.Name, s.Notified, want[s.Name])
		}
	}
	// The dispatcher tells the webhook and the cmdb that writes back;
	// the other cmdb gets no cursor.
	a.Options.Integrations.Items = a.Options.Integrations.Items[:1:1]
	a.Options.Integrations.Items = append(a.Options.Integrations.Items, integrationsConfig(t, `
services:
  - {name: hook, type: webhook, url: "https://hook.example.com", secret: {env: HOOK_SECRET}}
`).Items...)
	d, err := a.NewDispatcher(DispatcherOptions{Notifiers: []patchpilot.Notifier{&recorder{name: "hook"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Notified() != 1 || d.targetNames() != "hook" {
		t.Errorf("dispatcher tells %d: %s; want hook only", d.Notified(), d.targetNames())
	}
	if _, err := a.TestIntegration(ctx, "cmdb"); patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "without write_back: true is not told of events") {
		t.Errorf("integrations test cmdb: %v", err)
	}

	for _, c := range []struct{ service, want string }{
		{`{name: inv, type: http_inventory, url: "https://inv.example.com", topics: [halted]}`, ":3: integrations: inv: topics: http_inventory is not told of events; remove topics"},
		{"name: cmdb\n      type: servicenow_cmdb\n      url: https://x.service-now.com\n      user: pp\n      password: {env: SN_PW}\n      min_level: critical",
			":8: integrations: cmdb: min_level: servicenow_cmdb without write_back: true is not told of events; remove min_level"},
		{`{name: j, type: jira, url: "https://example.atlassian.net", user: a@example.com, token: {env: T}, project: OPS, topics: [halted, schedule_run]}`,
			":3: integrations: j: topics: jira is never told schedule_run: an issue is a rollout's, and a scheduled run is not one; remove it"},
		{"name: snow\n      type: servicenow\n      url: https://x.service-now.com\n      user: pp\n      password: {env: SN_PW}\n      topics: [schedule_run]",
			":8: integrations: snow: topics: servicenow is never told schedule_run: a change request is a rollout's, and a scheduled run is not one; remove it"},
	} {
		path := writeConfig(t, fmt.Sprintf("integrations:\n  services:\n    - %s\n", c.service))
		if _, err := LoadConfig(path, false); err == nil || !strings.Contains(err.Error(), path+c.want) {
			t.Errorf("LoadConfig with %s: %v; want %q", c.service, err, path+c.want)
		}
	}
	path := writeConfig(t, "integrations:\n  services:\n    - {name: cmdb, type: servicenow_cmdb, url: \"https://x.service-now.com\", user: pp, password: {env: SN_PW}, write_back: true, topics: [halted]}\n")
	if _, err := LoadConfig(path, false); err != nil {
		t.Errorf("topics on a cmdb that writes back: %v", err)
	}
}
