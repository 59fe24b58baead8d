package app

import (
	"maps"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// integrationKind is what app knows of one integration type of
// patchpilot.yaml's integrations: section.
type integrationKind struct {
	// notifier builds the Notifier of a spec, reading its settings with
	// integrations.DecodeSettings and its secrets through o.Getenv; nil
	// for types that are not told of events.
	notifier func(s integrations.Spec, o Options) (patchpilot.Notifier, error)
	// reports builds how integrations of the type send reports (the KPI
	// report) and on which schedule; nil for types that send none.
	reports func(s integrations.Spec, o Options) (reportSender, error)
	// topics are the topics an integration of the type is told when its
	// spec lists none; nil for every topic.
	topics []patchpilot.Topic
	// storeNotifier, when set, builds the Notifier with the app's store
	// (change records, host runs); it is preferred to notifier (see
	// App.notifier).
	storeNotifier func(s integrations.Spec, a *App) (patchpilot.Notifier, error)
	// inventorySource builds the inventory source of a spec, for types
	// that say which hosts there are; nil for the others.
	inventorySource func(s integrations.Spec, o Options) (integrations.HostSource, error)
	// changeApprover builds the external approval the rollouts' gated
	// stages wait for, with how often it is asked; a nil approver when
	// the spec does not ask to wait. nil for types without approvals.
	changeApprover func(s integrations.Spec, a *App) (patchpilot.ChangeApprover, time.Duration, error)
}

// integrationKinds are the integration types, by the name written in
// "type:". Each service's package adds its entry in a file of its own.
var integrationKinds = map[string]integrationKind{}

// IntegrationTypes lists the integration types patchpilot.yaml may name.
func IntegrationTypes() []string {
	return slices.Sorted(maps.Keys(integrationKinds))
}

// IntegrationNotified reports whether integrations of the type are told
// of events (have a Notifier).
func IntegrationNotified(typ string) bool {
	k := integrationKinds[typ]
	return k.notifier != nil || k.storeNotifier != nil
}

// IntegrationTopics lists the topics an integration is told: its topics:,
// or its type's default (nil: every topic).
func IntegrationTopics(s integrations.Spec) []patchpilot.Topic {
	if len(s.Topics) > 0 {
		return s.Topics
	}
	return integrationKinds[s.Type].topics
}
