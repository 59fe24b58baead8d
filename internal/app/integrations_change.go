package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/httpinventory"
	"github.com/patchpilot/patchpilot/internal/integrations/jira"
	"github.com/patchpilot/patchpilot/internal/integrations/servicenow"
	"github.com/patchpilot/patchpilot/internal/inventory"
)

// The change-management and inventory-source types: jira, servicenow,
// servicenow_cmdb and http_inventory (docs/integrations.md).
func init() {
	integrationKinds[jira.Type] = integrationKind{
		// One issue per rollout: a scheduled run is none of its
		// business (its Notify ignores schedule_run).
		topics: integrations.RolloutTopics(), handles: integrations.RolloutTopics(),
		why: "an issue is a rollout's, and a scheduled run is not one",
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return jira.New(s, o.Getenv, nil)
		},
		storeNotifier: func(s integrations.Spec, a *App) (patchpilot.Notifier, error) {
			j, err := jira.New(s, a.Options.Getenv, a.Store)
			if err != nil {
				return nil, err
			}
			if a.Options.Now != nil {
				j.Now = a.Options.Now
			}
			j.Risk = a.rolloutRisk
			return j, nil
		},
	}
	integrationKinds[servicenow.ChangeType] = integrationKind{
		// One change request per rollout: a scheduled run is none of its
		// business (its Notify ignores schedule_run).
		topics: integrations.RolloutTopics(), handles: integrations.RolloutTopics(),
		why: "a change request is a rollout's, and a scheduled run is not one",
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return servicenow.NewChange(s, o.Getenv, nil)
		},
		storeNotifier: func(s integrations.Spec, a *App) (patchpilot.Notifier, error) {
			return a.serviceNowChange(s)
		},
		changeApprover: func(s integrations.Spec, a *App) (patchpilot.ChangeApprover, time.Duration, error) {
			ch, err := a.serviceNowChange(s)
			if err != nil {
				return nil, 0, err
			}
			if !ch.WaitsForApproval() {
				return nil, 0, nil
			}
			return ch, ch.PollInterval(), nil
		},
	}
	integrationKinds[servicenow.CMDBType] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return servicenow.NewCMDB(s, o.Getenv, nil)
		},
		storeNotifier: func(s integrations.Spec, a *App) (patchpilot.Notifier, error) {
			if a.Store == nil {
				return servicenow.NewCMDB(s, a.Options.Getenv, nil)
			}
			return servicenow.NewCMDB(s, a.Options.Getenv, a.Store.HostRuns)
		},
		inventorySource: func(s integrations.Spec, o Options) (integrations.HostSource, error) {
			return servicenow.NewCMDB(s, o.Getenv, nil)
		},
		// It is told of events only to write the patch state back.
		toldOfEvents: func(s integrations.Spec) bool { return specBool(s, "write_back") },
	}
	integrationKinds[httpinventory.Type] = integrationKind{
		inventorySource: func(s integrations.Spec, o Options) (integrations.HostSource, error) {
			return httpinventory.New(s, o.Getenv)
		},
	}
}

// serviceNowChange builds a servicenow integration on the app's store and
// clock, once per spec: the notifier and the approver share it.
func (a *App) serviceNowChange(s integrations.Spec) (*servicenow.Change, error) {
	ch, err := servicenow.NewChange(s, a.Options.Getenv, a.Store)
	if err != nil {
		return nil, err
	}
	if a.Options.Now != nil {
		ch.Now = a.Options.Now
	}
	ch.Risk = a.rolloutRisk
	return ch, nil
}

// rolloutRisk is the risk model's assessment of a rollout's patch on its
// hosts, as a proposed plan's header tells it, for change records.
func (a *App) rolloutRisk(ctx context.Context, r patchpilot.Rollout) (integrations.Risk, error) {
	var hosts []string
	for _, s := range r.Stages {
		hosts = append(hosts, s.Hosts...)
	}
	pr, err := a.AssessPatchOn(ctx, r.Plan.Patch, hosts)
	if err != nil {
		return integrations.Risk{}, err
	}
	return integrations.Risk{Level: pr.Level, Lines: riskHeader(pr)}, nil
}

// brokenApprover stands for a change approval that could not be set up
// (a missing secret, say): gated stages fail closed with its reason.
type brokenApprover struct {
	name string
	err  error
}

func (b brokenApprover) Name() string { return b.name }
func (b brokenApprover) Approval(context.Context, patchpilot.Rollout, string) (patchpilot.ChangeApproval, error) {
	return patchpilot.ChangeApproval{}, fmt.Errorf("integration %s cannot check approvals: %w", b.name, b.err)
}

// changeApprovers are the external approvals the configured integrations
// ask gated stages to wait for, and the shortest interval they are asked
// at (0 when none asks).
func (a *App) changeApprovers() ([]patchpilot.ChangeApprover, time.Duration) {
	var out []patchpilot.ChangeApprover
	var every time.Duration
	for _, s := range a.Options.Integrations.Items {
		k := integrationKinds[s.Type]
		if k.changeApprover == nil {
			continue
		}
		ca, d, err := k.changeApprover(s, a)
		switch {
		case err != nil:
			out = append(out, brokenApprover{name: s.Name, err: err})
		case ca != nil:
			out = append(out, ca)
			if every == 0 || d < every {
				every = d
			}
		}
	}
	return out, every
}

// InventorySource is an integration that says which hosts there are.
type InventorySource struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// InventorySources lists the configured integrations 'inventory collect
// --source' can read hosts from, by name.
func (a *App) InventorySources() []InventorySource {
	var out []InventorySource
	for _, s := range a.Options.Integrations.Items {
		if integrationKinds[s.Type].inventorySource != nil {
			out = append(out, InventorySource{Name: s.Name, Type: s.Type})
		}
	}
	return out
}

// SourceHosts reads the hosts of the inventory source named name and
// applies a --limit pattern. Their facts come from the hosts themselves
// (Collect), stored under the names the source gives.
func (a *App) SourceHosts(ctx context.Context, name, limit string) ([]patchpilot.Host, error) {
	var names []string
	for _, s := range a.Options.Integrations.Items {
		k := integrationKinds[s.Type]
		if k.inventorySource == nil {
			continue
		}
		names = append(names, s.Name)
		if s.Name != name {
			continue
		}
		src, err := k.inventorySource(s, a.Options)
		if err != nil {
			return nil, err
		}
		hosts, err := src.Hosts(ctx)
		if err != nil {
			return nil, err
		}
		if len(hosts) == 0 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "inventory source %s returned no hosts", name)
		}
		for _, h := range hosts {
			if err := inventory.CheckHostText(h); err != nil {
				return nil, err
			}
		}
		if limit != "" {
			if hosts, err = inventory.Limit(hosts, limit); err != nil {
				return nil, err
			}
			if len(hosts) == 0 {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "limit %q matches no host of inventory source %s", limit, name)
			}
		}
		return hosts, nil
	}
	err := patchpilot.Errorf(patchpilot.ENOTFOUND, "no inventory source named %q in the integrations of patchpilot.yaml", name)
	if len(names) == 0 {
		return nil, err.WithHint("configure one: an integration of type " + sourceTypes())
	}
	return nil, err.WithHint("the inventory sources are: " + joinNames(names))
}

func sourceTypes() string {
	var ts []string
	for t, k := range integrationKinds {
		if k.inventorySource != nil {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return joinNames(ts)
}

func joinNames(ns []string) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
