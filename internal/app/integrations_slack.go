package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/slack"
)

func init() {
	integrationKinds[slack.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return slack.Build(s, o.Getenv)
		},
	}
}
