package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Field names of the health section, in the order Marshal writes them.
var (
	healthFields       = []string{"http", "prometheus", "datadog", "alertmanager", "critical_units", "puppet"}
	datadogFields      = []string{"integration", "queries", "window", "step"}
	alertmanagerFields = []string{"url", "matchers"}
	httpProbeFields    = []string{"name", "url", "expect_status", "timeout", "max_latency"}
	prometheusFields   = []string{"url", "queries", "window", "step"}
)

// health decodes the health section. Each value is checked where it is
// read, so that an error names the line of the value at fault; the
// section's own Validate then runs as a last check.
func (d *decoder) health(n *yaml.Node) (patchpilot.HealthConfig, error) {
	var h patchpilot.HealthConfig
	f, err := d.mapping(n, "health", healthFields...)
	if err != nil {
		return h, err
	}
	if v, ok := f["http"]; ok {
		items, err := d.sequence(v.value, "health: http")
		if err != nil {
			return h, err
		}
		names := map[string]int{}
		for i, item := range items {
			p, err := d.httpProbe(item, i)
			if err != nil {
				return h, err
			}
			if line, dup := names[p.Name]; dup {
				return h, d.errorf(item, fmt.Sprintf("health: http[%d]", i), "probe name %q is used twice (first at line %d)", p.Name, line)
			}
			names[p.Name] = item.Line
			h.HTTP = append(h.HTTP, p)
		}
	}
	if v, ok := f["prometheus"]; ok {
		if h.Prometheus, err = d.prometheus(v.value); err != nil {
			return h, err
		}
	}
	if v, ok := f["datadog"]; ok {
		if h.Datadog, err = d.datadog(v.value); err != nil {
			return h, err
		}
		if p, ok := f["prometheus"]; ok {
			return h, d.errorf(p.key, "health", "prometheus and datadog are both given: the metric gates and the canary read one of them")
		}
	}
	if v, ok := f["alertmanager"]; ok {
		if h.Alertmanager, err = d.alertmanager(v.value); err != nil {
			return h, err
		}
	}
	if v, ok := f["critical_units"]; ok {
		if h.CriticalUnits, err = d.strings(v.value, "health: critical_units"); err != nil {
			return h, err
		}
		for i, u := range h.CriticalUnits {
			if err := health.ValidateConfig(patchpilot.HealthConfig{CriticalUnits: []string{u}}); err != nil {
				return h, d.errorf(v.value.Content[i], "health: critical_units", "%q is not a systemd unit name", u)
			}
		}
	}
	if v, ok := f["puppet"]; ok {
		if h.Puppet, err = d.puppet(v.value); err != nil {
			return h, err
		}
	}
	if err := health.ValidateConfig(h); err != nil {
		return h, d.errorf(n, "", "%s", message(err))
	}
	return h, nil
}

func (d *decoder) httpProbe(n *yaml.Node, i int) (patchpilot.HTTPProbe, error) {
	var p patchpilot.HTTPProbe
	what := fmt.Sprintf("health: http[%d]", i)
	f, err := d.mapping(n, what, httpProbeFields...)
	if err != nil {
		return p, err
	}
	for _, req := range []string{"name", "url"} {
		if _, ok := f[req]; !ok {
			return p, d.errorf(n, what, "missing field %q", req)
		}
	}
	if p.Name, err = d.scalar(f["name"].value, what+": name"); err != nil {
		return p, err
	}
	if !validName(p.Name) {
		return p, d.errorf(f["name"].value, what+": name", "invalid probe name %q: use letters, digits, '_', '-' and '.'", p.Name)
	}
	if p.URL, err = d.scalar(f["url"].value, what+": url"); err != nil {
		return p, err
	}
	if err := health.ValidateURLTemplate(p.URL); err != nil {
		return p, d.errorf(f["url"].value, what+": url", "%s", message(err))
	}
	if err := d.noUserinfo(f["url"].value, what+": url", p.URL); err != nil {
		return p, err
	}
	if v, ok := f["expect_status"]; ok {
		s, err := d.scalar(v.value, what+": expect_status")
		if err != nil {
			return p, err
		}
		code, err := strconv.Atoi(s)
		if err != nil || code < 100 || code > 599 {
			return p, d.errorf(v.value, what+": expect_status", "invalid status %q: expected an HTTP status such as 200", s)
		}
		p.ExpectStatus = code
	}
	if p.Timeout, err = d.optionalDuration(f, "timeout", what); err != nil {
		return p, err
	}
	if p.MaxLatency, err = d.optionalDuration(f, "max_latency", what); err != nil {
		return p, err
	}
	return p, nil
}

func (d *decoder) prometheus(n *yaml.Node) (patchpilot.PrometheusConfig, error) {
	var p patchpilot.PrometheusConfig
	what := "health: prometheus"
	f, err := d.mapping(n, what, prometheusFields...)
	if err != nil {
		return p, err
	}
	u, ok := f["url"]
	if !ok {
		return p, d.errorf(n, what, "missing field \"url\"")
	}
	if p.URL, err = d.scalar(u.value, what+": url"); err != nil {
		return p, err
	}
	if p.URL == "" || health.ValidateConfig(patchpilot.HealthConfig{Prometheus: patchpilot.PrometheusConfig{URL: p.URL}}) != nil {
		return p, d.errorf(u.value, what+": url", "%q is not an http or https URL: expected e.g. http://127.0.0.1:9090", p.URL)
	}
	if err := d.noUserinfo(u.value, what+": url", p.URL); err != nil {
		return p, err
	}
	if v, ok := f["queries"]; ok {
		qf, err := d.mapping(v.value, what+": queries", patchpilot.PrometheusMetrics()...)
		if err != nil {
			return p, err
		}
		p.Queries = map[string]string{}
		for name, q := range qf {
			text, err := d.scalar(q.value, what+": queries: "+name)
			if err != nil {
				return p, err
			}
			if _, err := health.RenderTemplate(name, text, health.TemplateData(patchpilot.Host{Name: "web01", Address: "192.0.2.1"})); err != nil {
				return p, d.errorf(q.value, what+": queries: "+name, "%s", message(err))
			}
			if strings.TrimSpace(text) == "" {
				return p, d.errorf(q.value, what+": queries: "+name, "the query is empty")
			}
			p.Queries[name] = text
		}
	}
	if p.Window, err = d.optionalDuration(f, "window", what); err != nil {
		return p, err
	}
	if p.Step, err = d.optionalDuration(f, "step", what); err != nil {
		return p, err
	}
	return p, nil
}

func (d *decoder) datadog(n *yaml.Node) (patchpilot.DatadogConfig, error) {
	var c patchpilot.DatadogConfig
	what := "health: datadog"
	f, err := d.mapping(n, what, datadogFields...)
	if err != nil {
		return c, err
	}
	v, ok := f["integration"]
	if !ok {
		return c, d.errorf(n, what, "missing field \"integration\": name the datadog integration of patchpilot.yaml that holds the site and the keys")
	}
	if c.Integration, err = d.scalar(v.value, what+": integration"); err != nil {
		return c, err
	}
	if !validName(c.Integration) {
		return c, d.errorf(v.value, what+": integration", "invalid integration name %q: expected the name of a datadog integration of patchpilot.yaml", c.Integration)
	}
	if v, ok := f["queries"]; ok {
		qf, err := d.mapping(v.value, what+": queries", patchpilot.PrometheusMetrics()...)
		if err != nil {
			return c, err
		}
		c.Queries = map[string]string{}
		for name, q := range qf {
			text, err := d.scalar(q.value, what+": queries: "+name)
			if err != nil {
				return c, err
			}
			if err := health.ValidateDatadogQuery(name, text); err != nil {
				return c, d.errorf(q.value, what+": queries: "+name, "%s", message(err))
			}
			c.Queries[name] = text
		}
	}
	if c.Window, err = d.optionalDuration(f, "window", what); err != nil {
		return c, err
	}
	if c.Step, err = d.optionalDuration(f, "step", what); err != nil {
		return c, err
	}
	if s, ok := f["step"]; ok {
		window := patchpilot.PrometheusConfig{Window: c.Window}.WithDefaults().Window
		switch {
		case c.Step <= 0:
			return c, d.errorf(s.value, what+": step", "expected a positive duration such as 15s (leave step out for the default, %s)", patchpilot.DefaultPrometheusStep)
		case c.Step > window:
			return c, d.errorf(s.value, what+": step", "%s is longer than the window, %s: a step is one point of the window", c.Step, window)
		}
	}
	return c, nil
}

func (d *decoder) alertmanager(n *yaml.Node) (patchpilot.AlertmanagerConfig, error) {
	var c patchpilot.AlertmanagerConfig
	what := "health: alertmanager"
	f, err := d.mapping(n, what, alertmanagerFields...)
	if err != nil {
		return c, err
	}
	u, ok := f["url"]
	if !ok {
		return c, d.errorf(n, what, "missing field \"url\"")
	}
	if c.URL, err = d.scalar(u.value, what+": url"); err != nil {
		return c, err
	}
	if c.URL == "" || health.ValidateConfig(patchpilot.HealthConfig{Alertmanager: patchpilot.AlertmanagerConfig{URL: c.URL}}) != nil {
		return c, d.errorf(u.value, what+": url", "%q is not an http or https URL: expected e.g. http://127.0.0.1:9093", c.URL)
	}
	if err := d.noUserinfo(u.value, what+": url", c.URL); err != nil {
		return c, err
	}
	if v, ok := f["matchers"]; ok {
		if c.Matchers, err = d.strings(v.value, what+": matchers"); err != nil {
			return c, err
		}
		if len(c.Matchers) == 0 {
			return c, d.errorf(v.value, what+": matchers", "the list is empty: leave it out for the default %s", patchpilot.DefaultAlertMatchers()[0])
		}
		for i, m := range c.Matchers {
			if err := health.ValidateAlertMatcher(m); err != nil {
				return c, d.errorf(v.value.Content[i], fmt.Sprintf("%s: matchers[%d]", what, i), "%s", message(err))
			}
		}
	}
	return c, nil
}

func (d *decoder) optionalDuration(f map[string]field, key, what string) (time.Duration, error) {
	v, ok := f[key]
	if !ok {
		return 0, nil
	}
	s, err := d.scalar(v.value, what+": "+key)
	if err != nil {
		return 0, err
	}
	dur, err := ParseDuration(s)
	if err != nil {
		return 0, d.errorf(v.value, what+": "+key, "%s", message(err))
	}
	return dur, nil
}

// marshalHealth renders the health section for Marshal; "" when the plan
// configures nothing.
func marshalHealth(h patchpilot.HealthConfig) string {
	var b strings.Builder
	if len(h.HTTP) == 0 && h.Prometheus.URL == "" && h.Datadog.Integration == "" && h.Alertmanager.URL == "" && len(h.CriticalUnits) == 0 && h.Puppet == (patchpilot.PuppetConfig{}) {
		return ""
	}
	b.WriteString("  health:\n")
	if len(h.HTTP) > 0 {
		b.WriteString("    http:\n")
		for _, p := range h.HTTP {
			pairs := []string{"name: " + scalar(p.Name), "url: " + strconv.Quote(p.URL)}
			if p.ExpectStatus != 0 {
				pairs = append(pairs, "expect_status: "+strconv.Itoa(p.ExpectStatus))
			}
			if p.Timeout != 0 {
				pairs = append(pairs, "timeout: "+FormatDuration(p.Timeout))
			}
			if p.MaxLatency != 0 {
				pairs = append(pairs, "max_latency: "+FormatDuration(p.MaxLatency))
			}
			b.WriteString("      - {" + strings.Join(pairs, ", ") + "}\n")
		}
	}
	if pr := h.Prometheus; pr.URL != "" {
		b.WriteString("    prometheus:\n      url: " + strconv.Quote(pr.URL) + "\n")
		if len(pr.Queries) > 0 {
			b.WriteString("      queries:\n")
			names := make([]string, 0, len(pr.Queries))
			for k := range pr.Queries {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				b.WriteString("        " + k + ": " + strconv.Quote(pr.Queries[k]) + "\n")
			}
		}
		if pr.Window != 0 {
			b.WriteString("      window: " + FormatDuration(pr.Window) + "\n")
		}
		if pr.Step != 0 {
			b.WriteString("      step: " + FormatDuration(pr.Step) + "\n")
		}
	}
	if dd := h.Datadog; dd.Integration != "" {
		b.WriteString("    datadog:\n      integration: " + scalar(dd.Integration) + "\n")
		if len(dd.Queries) > 0 {
			b.WriteString("      queries:\n")
			names := make([]string, 0, len(dd.Queries))
			for k := range dd.Queries {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				b.WriteString("        " + k + ": " + strconv.Quote(dd.Queries[k]) + "\n")
			}
		}
		if dd.Window != 0 {
			b.WriteString("      window: " + FormatDuration(dd.Window) + "\n")
		}
		if dd.Step != 0 {
			b.WriteString("      step: " + FormatDuration(dd.Step) + "\n")
		}
	}
	if am := h.Alertmanager; am.URL != "" {
		b.WriteString("    alertmanager:\n      url: " + strconv.Quote(am.URL) + "\n")
		if len(am.Matchers) > 0 {
			b.WriteString("      matchers: " + list(am.Matchers, strconv.Quote) + "\n")
		}
	}
	if len(h.CriticalUnits) > 0 {
		b.WriteString("    critical_units: " + list(h.CriticalUnits, scalar) + "\n")
	}
	b.WriteString(marshalPuppet(h.Puppet))
	return b.String()
}

// noUserinfo refuses a URL naming a user or password literally: a plan
// holds no secrets (it is stored, printed and shown on the dashboard). A
// userinfo written as a template is filled in per host at read time.
func (d *decoder) noUserinfo(n *yaml.Node, field, raw string) error {
	if !integrations.LiteralUserinfo(raw) {
		return nil
	}
	return d.errorf(n, field, "%s", integrations.URLUserinfoMessage).(*patchpilot.Error).
		WithHint("patchpilot sends no credentials to this address: let it answer patchpilot without them (an allowed source address, or a local proxy that adds them)")
}
