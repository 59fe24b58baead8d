package app

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/datadog"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

func init() {
	integrationKinds[datadog.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return datadog.New(s, o.Getenv, datadog.Options{})
		},
	}
}

// metricsSource returns where a plan's metric gates and canary metrics are
// read: the Datadog integration its health section names, else its
// Prometheus (nil when it names none).
func (a *App) metricsSource(h patchpilot.HealthConfig) (health.MetricsSource, error) {
	if h.Datadog.Integration != "" {
		spec, ok := a.integration(h.Datadog.Integration)
		if !ok || spec.Type != datadog.Type {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "health: datadog: integration %q: no integration of type datadog has that name in patchpilot.yaml", h.Datadog.Integration).
				WithHint("add it to integrations.services with type: datadog, its site, api_key and app_key")
		}
		c, err := datadog.New(spec, a.Options.Getenv, datadog.Options{})
		if err != nil {
			return nil, err
		}
		if err := c.CanReadMetrics(); err != nil {
			return nil, err
		}
		return health.DatadogSource(c), nil
	}
	if h.Prometheus.URL == "" {
		return nil, nil
	}
	return prometheus.New(h.Prometheus.URL, prometheus.Options{})
}

// integration finds a configured integration by name.
func (a *App) integration(name string) (integrations.Spec, bool) {
	for _, s := range a.Options.Integrations.Items {
		if s.Name == name {
			return s, true
		}
	}
	return integrations.Spec{}, false
}
