package health

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/alertmanager"
	"github.com/patchpilot/patchpilot/internal/integrations/datadog"
)

// A plan's health section (patchpilot.HealthConfig): the templates its
// URLs and queries are written in, and its validation.

// TemplateData returns what URL and query templates see for a host.
func TemplateData(h patchpilot.Host) patchpilot.HealthTemplateData {
	addr := h.Target()
	inst := addr
	if strings.Contains(addr, ":") {
		inst = "[" + addr + "]"
	}
	return patchpilot.HealthTemplateData{Host: h.Name, Address: addr, Instance: fmt.Sprintf("%s:%d", inst, patchpilot.NodeExporterPort)}
}

// RenderTemplate renders a URL or query template for a host. Missing
// keys are errors, so that a typo such as {{.Adress}} never renders "".
func RenderTemplate(name, text string, data patchpilot.HealthTemplateData) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "template %s: %w", name, err).
			WithHint("use Go template syntax with {{.Host}}, {{.Address}} or {{.Instance}}")
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "template %s: %w", name, err).
			WithHint("use only {{.Host}}, {{.Address}} and {{.Instance}}")
	}
	return b.String(), nil
}

// SampleTemplateData is the host templates are checked with when a plan is
// read.
func SampleTemplateData() patchpilot.HealthTemplateData {
	return patchpilot.HealthTemplateData{Host: "web01", Address: "192.0.2.1", Instance: "192.0.2.1:9100"}
}

// ValidateConfig reports the first field of a health section that cannot
// work, naming it as in plans ("health: http[0]: url: ...").
func ValidateConfig(c patchpilot.HealthConfig) error {
	names := map[string]bool{}
	for i, p := range c.HTTP {
		if err := validateProbe(p); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "health: http[%d]: %w", i, err).WithHint(patchpilot.ErrorHint(err))
		}
		if names[p.Name] {
			return patchpilot.Errorf(patchpilot.EINVALID, "health: http[%d]: name %q is used twice", i, p.Name)
		}
		names[p.Name] = true
	}
	if err := validatePrometheus(c.Prometheus); err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: prometheus: %w", err).WithHint(patchpilot.ErrorHint(err))
	}
	if err := validateDatadog(c.Datadog); err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: datadog: %w", err).WithHint(patchpilot.ErrorHint(err))
	}
	if c.Datadog.Integration != "" && c.Prometheus.URL != "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: prometheus and datadog are both given: the metric gates read one of them").
			WithHint("keep the section of the metrics provider the gates should read")
	}
	if err := validateAlertmanager(c.Alertmanager); err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: alertmanager: %w", err).WithHint(patchpilot.ErrorHint(err))
	}
	for i, u := range c.CriticalUnits {
		if !validUnitName(u) {
			return patchpilot.Errorf(patchpilot.EINVALID, "health: critical_units[%d]: %q is not a systemd unit name", i, u).
				WithHint(`name units as systemctl does, such as "nginx.service" or "nginx"`)
		}
	}
	return validatePuppet(c.Puppet)
}

func validateProbe(p patchpilot.HTTPProbe) error {
	if p.Name == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "name: expected a name for the probe")
	}
	if err := ValidateURLTemplate(p.URL); err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "url: %w", err).WithHint(patchpilot.ErrorHint(err))
	}
	if p.ExpectStatus != 0 && (p.ExpectStatus < 100 || p.ExpectStatus > 599) {
		return patchpilot.Errorf(patchpilot.EINVALID, "expect_status: %d is not an HTTP status", p.ExpectStatus)
	}
	if p.Timeout < 0 || p.MaxLatency < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "timeout and max_latency must not be negative")
	}
	return nil
}

// ValidateURLTemplate checks that a probe URL template parses and
// renders an absolute http or https URL.
func ValidateURLTemplate(text string) error {
	s, err := RenderTemplate("url", text, SampleTemplateData())
	if err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "%q is not an http or https URL", text).
			WithHint("write a URL such as http://{{.Address}}:8080/health")
	}
	return nil
}

func validatePrometheus(p patchpilot.PrometheusConfig) error {
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(p.URL, "{{") {
			return patchpilot.Errorf(patchpilot.EINVALID, "url: %q is not an http or https URL", p.URL).
				WithHint("write the server's base URL, such as http://127.0.0.1:9090")
		}
	}
	if len(p.Queries) > 0 && p.URL == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "queries need a url").WithHint("add the Prometheus server's url")
	}
	keys := make([]string, 0, len(p.Queries))
	for k := range p.Queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		known := false
		for _, m := range patchpilot.PrometheusMetrics() {
			known = known || k == m
		}
		if !known {
			return patchpilot.Errorf(patchpilot.EINVALID, "queries: unknown metric %q (known metrics: %s)", k, strings.Join(patchpilot.PrometheusMetrics(), ", "))
		}
		q, err := RenderTemplate(k, p.Queries[k], SampleTemplateData())
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "queries: %s: %w", k, err).WithHint(patchpilot.ErrorHint(err))
		}
		if strings.TrimSpace(q) == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "queries: %s: the query is empty", k)
		}
	}
	if p.Window < 0 || p.Step < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "window and step must not be negative")
	}
	if p.Step > 0 && p.Window > 0 && p.Step > p.Window {
		return patchpilot.Errorf(patchpilot.EINVALID, "step %s is longer than window %s", p.Step, p.Window)
	}
	return nil
}

func validateDatadog(d patchpilot.DatadogConfig) error {
	if d.Integration == "" {
		if len(d.Queries) > 0 || d.Window != 0 || d.Step != 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "integration: expected the name of a datadog integration of patchpilot.yaml")
		}
		return nil
	}
	keys := make([]string, 0, len(d.Queries))
	for k := range d.Queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ValidateDatadogQuery(k, d.Queries[k]); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "queries: %s: %w", k, err).WithHint(patchpilot.ErrorHint(err))
		}
	}
	return validateWindow(d.Window, d.Step)
}

// ValidateDatadogQuery checks that a Datadog query template is for a
// known metric and renders, for a sample host, a query of Datadog's shape.
func ValidateDatadogQuery(metric, text string) error {
	if !slices.Contains(patchpilot.PrometheusMetrics(), metric) {
		return patchpilot.Errorf(patchpilot.EINVALID, "unknown metric %q (known metrics: %s)", metric, strings.Join(patchpilot.PrometheusMetrics(), ", "))
	}
	return ValidateDatadogTemplate(text)
}

// ValidateDatadogTemplate checks that a Datadog query template renders,
// for a sample host, a query of Datadog's shape.
func ValidateDatadogTemplate(text string) error {
	q, err := RenderTemplate("query", text, SampleTemplateData())
	if err != nil {
		return err
	}
	return datadog.ValidateQuery(q)
}

func validateWindow(window, step time.Duration) error {
	if window < 0 || step < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "window and step must not be negative")
	}
	if step > 0 && window > 0 && step > window {
		return patchpilot.Errorf(patchpilot.EINVALID, "step %s is longer than window %s", step, window)
	}
	return nil
}

func validateAlertmanager(a patchpilot.AlertmanagerConfig) error {
	if a.URL == "" {
		if len(a.Matchers) > 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "matchers need a url").WithHint("add Alertmanager's url")
		}
		return nil
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(a.URL, "{{") {
		return patchpilot.Errorf(patchpilot.EINVALID, "url: %q is not an http or https URL", a.URL).
			WithHint("write Alertmanager's base URL, such as http://127.0.0.1:9093")
	}
	for i, m := range a.Matchers {
		if err := ValidateAlertMatcher(m); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "matchers[%d]: %w", i, err).WithHint(patchpilot.ErrorHint(err))
		}
	}
	return nil
}

// ValidateAlertMatcher checks that an Alertmanager matcher template
// renders, for a sample host, a matcher Alertmanager accepts.
func ValidateAlertMatcher(text string) error {
	s, err := RenderTemplate("matcher", text, SampleTemplateData())
	if err != nil {
		return err
	}
	_, err = alertmanager.ParseMatcher(s)
	return err
}

// validUnitName accepts the characters systemd allows in unit names.
func validUnitName(s string) bool {
	if s == "" || len(s) > 255 || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)) {
			return false
		}
	}
	return true
}
