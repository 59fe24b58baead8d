package app

import (
	"maps"
	"slices"

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
	return integrationKinds[typ].notifier != nil
}

// IntegrationTopics lists the topics an integration is told: its topics:,
// or its type's default (nil: every topic).
func IntegrationTopics(s integrations.Spec) []patchpilot.Topic {
	if len(s.Topics) > 0 {
		return s.Topics
	}
	return integrationKinds[s.Type].topics
}
