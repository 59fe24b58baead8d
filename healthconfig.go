package patchpilot

import "time"

// HealthConfig says how a plan's health gates reach what they probe: HTTP
// endpoints, a Prometheus server with its queries, and the units that must
// be active whatever ran before. It is the "health:" section of a plan.
// The zero value configures no HTTP probe and no Prometheus: criteria that
// need them cannot be evaluated and fail closed.
type HealthConfig struct {
	HTTP       []HTTPProbe      `json:"http"`
	Prometheus PrometheusConfig `json:"prometheus"`
	// Datadog reads the metric gates from Datadog instead of Prometheus;
	// a plan names one of the two.
	Datadog DatadogConfig `json:"datadog"`
	// Alertmanager is where no_firing_alerts looks for the host's alerts.
	Alertmanager AlertmanagerConfig `json:"alertmanager"`
	// CriticalUnits are systemd units that must be active after the
	// change even if they were not before ("nginx.service"; a name
	// without a suffix means a service).
	CriticalUnits []string `json:"critical_units"`
	// Puppet configures the puppet_noop criterion.
	Puppet PuppetConfig `json:"puppet,omitzero"`
	// Dependents are, per target host, the hosts that depend on it and
	// the ports they use, for the dependents_reachable criterion. They
	// are resolved from the dependency map when a rollout is created and
	// stored with its plan, so that a resumed rollout checks the same
	// hosts; plan files cannot set them.
	Dependents map[string][]HealthDependent `json:"dependents,omitempty"`
	// Providers are, per target host, the hosts it depends on and their
	// ports, for the network_connectivity criterion; resolved and stored
	// like Dependents, never written in plan files.
	Providers map[string][]HealthProvider `json:"providers,omitempty"`
}

// HealthProvider is a host the host under check depends on: the
// network_connectivity gate connects from the host to Address on Ports.
type HealthProvider struct {
	Host    string `json:"host"`
	Address string `json:"address"`
	Ports   []int  `json:"ports"`
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
	MetricDiskIO     = "disk_io"     // percent of time the busiest disk is busy, 0 to 100: disk_io_within_normal
	MetricNetErrors  = "net_errors"  // interface errors and drops per second, all interfaces: network_connectivity
	MetricNetUp      = "net_up"      // one series per interface, 1 up and 0 down: network_connectivity
	MetricLoad       = "load"        // 1-minute load average per CPU: load
)

// PrometheusMetrics lists the metric names queries may define.
func PrometheusMetrics() []string {
	return []string{MetricCPU, MetricMemory, MetricErrorRate, MetricLatencyP99, MetricDiskIO, MetricNetErrors, MetricNetUp, MetricLoad}
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

// DatadogConfig reads the metric gates and the canary metrics from Datadog's
// metrics query API. The site and the keys are those of a datadog
// integration of patchpilot.yaml: plans name it and carry no secret.
type DatadogConfig struct {
	// Integration names a "type: datadog" integration of patchpilot.yaml;
	// empty means no Datadog.
	Integration string `json:"integration"`
	// Queries map a metric (see PrometheusMetrics) to a Datadog query
	// text/template rendered with HealthTemplateData, such as
	// "avg:system.cpu.user{host:{{.Host}}}".
	Queries map[string]string `json:"queries"`
	// Window and Step are as in PrometheusConfig; 0 means
	// DefaultPrometheusWindow and DefaultPrometheusStep.
	Window time.Duration `json:"window"`
	Step   time.Duration `json:"step"`
}

// AlertmanagerConfig names the Alertmanager of the no_firing_alerts gate and
// the matchers that select a host's alerts.
type AlertmanagerConfig struct {
	// URL is Alertmanager's base URL, "http://alertmanager:9093"; empty
	// means none, and no_firing_alerts fails closed.
	URL string `json:"url"`
	// Matchers select the host's alerts, each a text/template rendered
	// with HealthTemplateData in Alertmanager's matcher syntax:
	// `instance="{{.Instance}}"`, `severity=~"critical|warning"`. Empty
	// means DefaultAlertMatchers.
	Matchers []string `json:"matchers"`
}

// DefaultAlertMatchers select the alerts of a host's node_exporter target.
func DefaultAlertMatchers() []string { return []string{`instance="{{.Instance}}"`} }

// MetricsWindow returns the metric gates' window and step, from the
// Datadog section when it is configured, else from the Prometheus one,
// defaults filled in.
func (h HealthConfig) MetricsWindow() (window, step time.Duration) {
	if h.Datadog.Integration != "" {
		p := PrometheusConfig{Window: h.Datadog.Window, Step: h.Datadog.Step}.WithDefaults()
		return p.Window, p.Step
	}
	p := h.Prometheus.WithDefaults()
	return p.Window, p.Step
}
