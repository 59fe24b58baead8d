package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/grafana"
)

func init() {
	integrationKinds[grafana.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return grafana.New(s, o.Getenv, grafana.Options{})
		},
	}
}
