package patchpilot

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"text/template"
	"time"
)

// HealthConfig says how a plan's health gates reach what they probe: HTTP
// endpoints, a Prometheus server with its queries, and the units that must
// be active whatever ran before. It is the "health:" section of a plan.
// The zero value configures no HTTP probe and no Prometheus: criteria that
// need them cannot be evaluated and fail closed.
type HealthConfig struct {
	HTTP       []HTTPProbe      `json:"http"`
	Prometheus PrometheusConfig `json:"prometheus"`
	// CriticalUnits are systemd units that must be active after the
	// change even if they were not before ("nginx.service"; a name
	// without a suffix means a service).
	CriticalUnits []string `json:"critical_units"`
}

// Defaults of HTTP probes and Prometheus queries.
const (
	DefaultHTTPTimeout      = 5 * time.Second
	DefaultHTTPMaxLatency   = 2 * time.Second
	DefaultPrometheusWindow = 2 * time.Minute
	DefaultPrometheusStep   = 15 * time.Second
)

// HTTPProbe is one HTTP GET a host must answer during the bake.
type HTTPProbe struct {
	Name string `json:"name"`
	// URL is a text/template rendered per host with HealthTemplateData,
	// such as "http://{{.Address}}:8080/health".
	URL string `json:"url"`
	// ExpectStatus is the status the probe wants; 0 means any 2xx.
	ExpectStatus int `json:"expect_status"`
	// Timeout bounds the request; 0 means DefaultHTTPTimeout.
	Timeout time.Duration `json:"timeout"`
	// MaxLatency is the slowest acceptable answer; 0 means
	// DefaultHTTPMaxLatency.
	MaxLatency time.Duration `json:"max_latency"`
}

// PrometheusConfig names the Prometheus server of the metric gates and the
// queries that produce each metric, templated per host.
type PrometheusConfig struct {
	// URL is the server's base URL, "http://prometheus:9090"; empty means
	// no Prometheus, and the metric gates fail closed.
	URL string `json:"url"`
	// Queries map a metric (see PrometheusMetrics) to a PromQL
	// text/template rendered with HealthTemplateData. cpu and memory have
	// node_exporter defaults; error_rate and latency_p99 depend on the
	// service and must be given to be evaluated.
	Queries map[string]string `json:"queries"`
	// Window is how far back a metric is averaged, before the change for
	// the baseline and before each check afterwards; 0 means
	// DefaultPrometheusWindow.
	Window time.Duration `json:"window"`
	// Step is the resolution of the range queries over Window; 0 means
	// DefaultPrometheusStep.
	Step time.Duration `json:"step"`
}

// Metrics the Prometheus queries produce, and the criterion each feeds.
const (
	MetricCPU        = "cpu"         // percent of CPU time busy, 0 to 100: cpu_increase
	MetricMemory     = "memory"      // percent of memory in use, 0 to 100: memory
	MetricErrorRate  = "error_rate"  // errors per request, 0 to 1: error_rate_increase
	MetricLatencyP99 = "latency_p99" // 99th percentile latency in seconds: latency_p99
)

// PrometheusMetrics lists the metric names queries may define.
func PrometheusMetrics() []string {
	return []string{MetricCPU, MetricMemory, MetricErrorRate, MetricLatencyP99}
}

// HealthTemplateData is what URL and query templates see for a host.
type HealthTemplateData struct {
	Host    string // the host's name, "web01"
	Address string // the address patchpilot reaches it at, "10.0.0.5"
	// Instance is the host's node_exporter instance label: Address with
	// the exporter's default port 9100.
	Instance string
}

// NodeExporterPort is the port of Instance.
const NodeExporterPort = 9100

// TemplateDataFor returns the template data of a host.
func TemplateDataFor(h Host) HealthTemplateData {
	addr := h.Target()
	inst := addr
	if strings.Contains(addr, ":") {
		inst = "[" + addr + "]"
	}
	return HealthTemplateData{Host: h.Name, Address: addr, Instance: fmt.Sprintf("%s:%d", inst, NodeExporterPort)}
}

// RenderHealthTemplate renders a URL or query template for a host. Missing
// keys are errors, so that a typo such as {{.Adress}} never renders "".
func RenderHealthTemplate(name, text string, data HealthTemplateData) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", Errorf(EINVALID, "template %s: %w", name, err).
			WithHint("use Go template syntax with {{.Host}}, {{.Address}} or {{.Instance}}")
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", Errorf(EINVALID, "template %s: %w", name, err).
			WithHint("use only {{.Host}}, {{.Address}} and {{.Instance}}")
	}
	return b.String(), nil
}

// sampleTemplateData checks templates at validation time.
func sampleTemplateData() HealthTemplateData {
	return HealthTemplateData{Host: "web01", Address: "192.0.2.1", Instance: "192.0.2.1:9100"}
}

// Validate reports the first field that cannot work, naming it as in plans
// ("health: http[0]: url: ...").
func (c HealthConfig) Validate() error {
	names := map[string]bool{}
	for i, p := range c.HTTP {
		if err := p.validate(); err != nil {
			return Errorf(EINVALID, "health: http[%d]: %w", i, err).WithHint(ErrorHint(err))
		}
		if names[p.Name] {
			return Errorf(EINVALID, "health: http[%d]: name %q is used twice", i, p.Name)
		}
		names[p.Name] = true
	}
	if err := c.Prometheus.validate(); err != nil {
		return Errorf(EINVALID, "health: prometheus: %w", err).WithHint(ErrorHint(err))
	}
	for i, u := range c.CriticalUnits {
		if !validUnitName(u) {
			return Errorf(EINVALID, "health: critical_units[%d]: %q is not a systemd unit name", i, u).
				WithHint(`name units as systemctl does, such as "nginx.service" or "nginx"`)
		}
	}
	return nil
}

func (p HTTPProbe) validate() error {
	if p.Name == "" {
		return Errorf(EINVALID, "name: expected a name for the probe")
	}
	if err := ValidateHealthURLTemplate(p.URL); err != nil {
		return Errorf(EINVALID, "url: %w", err).WithHint(ErrorHint(err))
	}
	if p.ExpectStatus != 0 && (p.ExpectStatus < 100 || p.ExpectStatus > 599) {
		return Errorf(EINVALID, "expect_status: %d is not an HTTP status", p.ExpectStatus)
	}
	if p.Timeout < 0 || p.MaxLatency < 0 {
		return Errorf(EINVALID, "timeout and max_latency must not be negative")
	}
	return nil
}

// ValidateHealthURLTemplate checks that a probe URL template parses and
// renders an absolute http or https URL.
func ValidateHealthURLTemplate(text string) error {
	s, err := RenderHealthTemplate("url", text, sampleTemplateData())
	if err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EINVALID, "%q is not an http or https URL", text).
			WithHint("write a URL such as http://{{.Address}}:8080/health")
	}
	return nil
}

func (p PrometheusConfig) validate() error {
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(p.URL, "{{") {
			return Errorf(EINVALID, "url: %q is not an http or https URL", p.URL).
				WithHint("write the server's base URL, such as http://127.0.0.1:9090")
		}
	}
	if len(p.Queries) > 0 && p.URL == "" {
		return Errorf(EINVALID, "queries need a url").WithHint("add the Prometheus server's url")
	}
	keys := make([]string, 0, len(p.Queries))
	for k := range p.Queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		known := false
		for _, m := range PrometheusMetrics() {
			known = known || k == m
		}
		if !known {
			return Errorf(EINVALID, "queries: unknown metric %q (known metrics: %s)", k, strings.Join(PrometheusMetrics(), ", "))
		}
		q, err := RenderHealthTemplate(k, p.Queries[k], sampleTemplateData())
		if err != nil {
			return Errorf(EINVALID, "queries: %s: %w", k, err).WithHint(ErrorHint(err))
		}
		if strings.TrimSpace(q) == "" {
			return Errorf(EINVALID, "queries: %s: the query is empty", k)
		}
	}
	if p.Window < 0 || p.Step < 0 {
		return Errorf(EINVALID, "window and step must not be negative")
	}
	if p.Step > 0 && p.Window > 0 && p.Step > p.Window {
		return Errorf(EINVALID, "step %s is longer than window %s", p.Step, p.Window)
	}
	return nil
}

// WithDefaults returns the probe with its zero durations filled in.
func (p HTTPProbe) WithDefaults() HTTPProbe {
	if p.Timeout == 0 {
		p.Timeout = DefaultHTTPTimeout
	}
	if p.MaxLatency == 0 {
		p.MaxLatency = DefaultHTTPMaxLatency
	}
	return p
}

// WithDefaults returns the configuration with its zero window and step
// filled in. Queries are left as written: default queries are the health
// package's business, so that plans show only what their author wrote.
func (p PrometheusConfig) WithDefaults() PrometheusConfig {
	if p.Window == 0 {
		p.Window = DefaultPrometheusWindow
	}
	if p.Step == 0 {
		p.Step = DefaultPrometheusStep
	}
	return p
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
