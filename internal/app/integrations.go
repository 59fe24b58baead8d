package app

import (
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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
	// handles are the topics the type acts on, when not every one: a
	// spec's topics: listing another is refused, as it would do nothing.
	// why says why ("an issue is a rollout's").
	handles []patchpilot.Topic
	why     string
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
	// toldOfEvents, when set, says whether an integration of the type
	// with a Notifier is told of events as written (servicenow_cmdb only
	// with write_back); nil: every one is.
	toldOfEvents func(s integrations.Spec) bool
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

// SpecNotified reports whether the integration, as written, is told of
// events: its type has a Notifier and its settings ask for one (a
// servicenow_cmdb without write_back: true is not).
func SpecNotified(s integrations.Spec) bool {
	k := integrationKinds[s.Type]
	if k.notifier == nil && k.storeNotifier == nil {
		return false
	}
	return k.toldOfEvents == nil || k.toldOfEvents(s)
}

// notToldWhat names, in errors, what is not told of events: the type, or
// the type without the setting that would make it told.
func notToldWhat(s integrations.Spec) string {
	if IntegrationNotified(s.Type) {
		return s.Type + " without write_back: true"
	}
	return "type " + s.Type
}

// checkRouting refuses topics: or min_level: on an integration that is
// not told of events, and a topic its type does not act on: they would
// route nothing.
func checkRouting(c integrations.Config) error {
	for _, s := range c.Items {
		if SpecNotified(s) {
			if k := integrationKinds[s.Type]; k.handles != nil {
				for _, t := range s.Topics {
					if !slices.Contains(k.handles, t) {
						return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s is never told %s: %s; remove it", s.At("topics"), s.Type, t, k.why)
					}
				}
			}
			continue
		}
		what := strings.TrimPrefix(notToldWhat(s), "type ")
		for _, key := range []string{"topics", "min_level"} {
			if (key == "topics" && len(s.Topics) > 0) || (key == "min_level" && s.MinLevel != "") {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s is not told of events; remove %s", s.At(key), what, key)
			}
		}
	}
	return nil
}

// specBool is the boolean setting key of s; false when it is not written
// or not a boolean (the type's own decoding refuses that).
func specBool(s integrations.Spec, key string) bool {
	if s.Node == nil || s.Node.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(s.Node.Content); i += 2 {
		if s.Node.Content[i].Value == key {
			var b bool
			return s.Node.Content[i+1].Decode(&b) == nil && b
		}
	}
	return false
}

// IntegrationTopics lists the topics an integration is told: its topics:,
// or its type's default (nil: every topic).
func IntegrationTopics(s integrations.Spec) []patchpilot.Topic {
	if len(s.Topics) > 0 {
		return s.Topics
	}
	return integrationKinds[s.Type].topics
}
