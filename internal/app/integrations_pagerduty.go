package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/pagerduty"
)

func init() {
	integrationKinds[pagerduty.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return pagerduty.Build(s, o.Getenv)
		},
	}
}
