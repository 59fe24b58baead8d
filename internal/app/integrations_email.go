package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/email"
)

func init() {
	integrationKinds[email.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return email.Build(s, o.Getenv, o.Now)
		},
	}
}
