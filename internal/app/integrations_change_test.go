package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/jira"
	"github.com/patchpilot/patchpilot/internal/integrations/servicenow"
)

func integrationsConfig(t *testing.T, src string) integrations.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("patchpilot.yaml", doc.Content[0], IntegrationTypes())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The engine waits for the servicenow integrations that ask it to, at
// their poll interval; one whose secret is missing fails closed.
func TestEngineWaitsForConfiguredChangeApprovals(t *testing.T) {
	_, a, _ := openTestApp(t)
	a.Options.Env = append(a.Options.Env, "SN_PW=pw")
	a.Options.Integrations = integrationsConfig(t, `
services:
  - {name: cab, type: servicenow, url: "https://x.service-now.com", user: pp, password: {env: SN_PW}, wait_for_approval: true, poll_interval: 45s}
  - {name: cab2, type: servicenow, url: "https://y.service-now.com", user: pp, password: {env: SN_PW}, wait_for_approval: true, poll_interval: 2m}
  - {name: notes, type: servicenow, url: "https://x.service-now.com", user: pp, password: {env: SN_PW}}
  - {name: broken, type: servicenow, url: "https://x.service-now.com", user: pp, password: {env: SN_MISSING}, wait_for_approval: true}
  - {name: tickets, type: jira, url: "https://x.atlassian.net", token: {env: SN_PW}, project: OPS}
`)
	e := a.Engine(EngineOptions{})
	var names []string
	for _, ca := range e.ChangeApprovers {
		names = append(names, ca.Name())
	}
	if strings.Join(names, ",") != "cab,cab2,broken" || e.ChangePollInterval != 45*time.Second {
		t.Fatalf("approvers %v every %s; want cab,cab2,broken every 45s", names, e.ChangePollInterval)
	}
	_, err := e.ChangeApprovers[2].Approval(context.Background(), patchpilot.Rollout{ID: "r-1"}, "final")
	if err == nil || !strings.Contains(err.Error(), "integration broken cannot check approvals") || !strings.Contains(err.Error(), "SN_MISSING is not set") {
		t.Errorf("broken approver: %v", err)
	}
	for _, s := range a.Options.Integrations.Items {
		n, err := a.notifier(s)
		if (s.Name == "broken") != (err != nil) {
			t.Errorf("%s: notifier error %v", s.Name, err)
		}
		if err == nil && (n == nil || n.Name() != s.Name) {
			t.Errorf("%s: notifier %v", s.Name, n)
		}
	}
}

func TestInventorySourcesAndTheirHosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/evil" {
			fmt.Fprint(w, `[{"name": "web1", "labels": {"role": "web\u001b[31m"}}]`)
			return
		}
		fmt.Fprint(w, `[{"name": "web1", "labels": {"role": "web"}}, {"name": "web2"}, {"name": "db1"}]`)
	}))
	defer srv.Close()
	ctx, a, _ := openTestApp(t)
	a.Options.Integrations = integrationsConfig(t, fmt.Sprintf(`
services:
  - {name: fleet, type: http_inventory, url: "%s"}
  - {name: evil, type: http_inventory, url: "%[1]s/evil"}
  - {name: cmdb, type: servicenow_cmdb, url: "https://x.service-now.com", user: pp, password: {env: SN_PW}}
  - {name: tickets, type: jira, url: "https://x.atlassian.net", token: {env: T}, project: OPS}
`, srv.URL))
	got := a.InventorySources()
	if fmt.Sprint(got) != "[{fleet http_inventory} {evil http_inventory} {cmdb servicenow_cmdb}]" {
		t.Errorf("sources %v", got)
	}
	hosts, err := a.SourceHosts(ctx, "fleet", "web*")
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Name != "web1" || hosts[0].Labels["role"] != "web" || hosts[1].Name != "web2" {
		t.Errorf("hosts %+v", hosts)
	}
	if _, err := a.SourceHosts(ctx, "fleet", "nomatch"); err == nil || !strings.Contains(err.Error(), `"nomatch" matches no host`) {
		t.Errorf("limit: %v", err)
	}
	if _, err := a.SourceHosts(ctx, "evil", ""); err == nil || !strings.Contains(err.Error(), `host "web1"`) || !strings.Contains(err.Error(), `labels["role"]`) {
		t.Errorf("a control character from a source: %v", err)
	}
	if _, err := a.SourceHosts(ctx, "tickets", ""); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || patchpilot.ErrorHint(err) != "the inventory sources are: fleet, evil, cmdb" {
		t.Errorf("a jira integration as a source: %v (%s)", err, patchpilot.ErrorHint(err))
	}
}

// Change records carry the risk model's assessment of the rollout's patch
// on its hosts, as a proposed plan's header does.
func TestChangeRecordsCarryTheRisk(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	seedWebHosts(t, ctx, a)
	r := patchpilot.Rollout{ID: "r-1", Plan: patchpilot.Plan{Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "linux-image-amd64", Version: "6.1.2"}}}},
		Stages: []patchpilot.StageRun{{Name: "canary", Hosts: []string{"web1"}}, {Name: "rest", Hosts: []string{"web2", "web3"}}}}
	rk, err := a.rolloutRisk(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if rk.Level == "" || len(rk.Lines) < 2 || !strings.HasPrefix(rk.Lines[0], "risk model ") || !strings.Contains(rk.Lines[1], "probability of failure per host") {
		t.Errorf("risk %+v", rk)
	}
	a.Options.Env = append(a.Options.Env, "T=x")
	a.Options.Integrations = integrationsConfig(t, `
services:
  - {name: tickets, type: jira, url: "https://x.atlassian.net", token: {env: T}, project: OPS}
  - {name: cab, type: servicenow, url: "https://x.service-now.com", user: pp, password: {env: T}}
`)
	for _, s := range a.Options.Integrations.Items {
		n, err := a.notifier(s)
		if err != nil {
			t.Fatal(err)
		}
		var risk integrations.RiskFunc
		switch v := n.(type) {
		case *jira.Notifier:
			risk = v.Risk
		case *servicenow.Change:
			risk = v.Risk
		}
		if risk == nil {
			t.Errorf("%s: no risk assessment", s.Name)
		}
	}
}
