// Package health implements patchpilot.HealthChecker: the gates a host must
// pass during a stage's bake, over SSH (systemd units, the journal, boot
// time, listening sockets), HTTP probes, and Prometheus queries compared
// with the host's own baseline from before the change.
//
// # Gates
//
// Baseline runs before the change and records what the comparing gates
// need; Check runs during the bake. SSH commands are argument lists run
// through the target's Runner; their parsers are pure and tested on
// transcripts captured from a lab host (testdata).
//
//	criterion            how                                                   outcome when it fails
//	services_running     systemctl list-units --type=service --state=active:   critical
//	                     every service active before is active; and systemctl
//	                     show of health.critical_units: each is active
//	no_failed_units      systemctl list-units --state=failed: no new ones       breach
//	no_new_errors        journalctl -p err --since @APPLY -o json: no entries   breach
//	                     (sshd, sudo, dpkg and apt entries are ignored, below)
//	boot_time<120s       systemd-analyze time; while the boot is unfinished,   critical
//	                     PID 1's age (/proc/1/stat against /proc/uptime)
//	ports_listening      ss -Htln: every TCP socket listening before listens    breach
//	http_ok              GET each health.http URL: refused, reset or 5xx       critical
//	                     other status than expected, or slower than max_latency breach
//	                     timeout or other transport failure                     error
//	cpu_increase<25%     Prometheus: (busy now - baseline) / baseline, the      breach
//	                     baseline at least 5% (CPUBaselineFloor)
//	memory<90%           Prometheus: mean percent of memory in use now          breach
//	error_rate_increase  Prometheus: mean error ratio now minus baseline        breach;
//	                     (critical when the error rate is above 0.10)          critical
//	latency_p99<2x       Prometheus: mean p99 now over baseline (or < a duration) breach
//	no_firing_alerts     Alertmanager GET /api/v2/alerts with the host's        critical
//	                     matchers: an alert firing that did not at the
//	                     baseline (Alertmanager unreachable: error)
//	same_as_previous     the planner replaces it with the previous stage's        error
//	                     criteria; unresolved, it cannot be evaluated
//
// The critical gates are services_running, http_ok failing outright,
// boot_time and an error_rate_increase breach whose error rate is above
// 0.10 (ErrorRateCritical): each alone means rollback.
//
// # Decision rule
//
// The starting rule (Decide): one critical gate, or one gate
// that cannot be evaluated (probe failed, no data, NaN, stale data,
// unparsable output, no baseline), means rollback; so do two breaches. One
// breach, or an inconclusive gate, means under review: bake longer. No
// breach means healthy. Thresholds default to cpu +25% of the baseline,
// memory 90%, error rate +0.05 absolute and p99 latency twice the
// baseline; a criterion's own value overrides them.
//
// # Prometheus
//
// Queries are text/templates rendered per host with {{.Host}},
// {{.Address}} and {{.Instance}} (Address:9100, node_exporter's instance).
// cpu and memory default to node_exporter queries (DefaultCPUQuery,
// DefaultMemoryQuery); error_rate and latency_p99 depend on the service and
// are only evaluated when the plan configures them. Without a Prometheus
// URL, metric criteria fail closed with "no prometheus configured for X".
// Each metric is averaged over health.prometheus.window: before the change
// for the baseline, and before each check (but not before the change)
// afterwards. A query must return exactly one series.
//
// The metric gates read Datadog instead when the plan's health section
// names a datadog integration (health.datadog): the same criteria, with
// Datadog queries (DefaultDatadogCPUQuery, DefaultDatadogMemoryQuery) and
// a staleness bound longer by DatadogIngestDelay. MetricsSource is what
// both answer.
//
// # Journal
//
// The journal after a change holds errors that are not the change's: every
// SSH login of the controller logs pam_env and kex errors at priority err
// on stock Debian, and dpkg or apt complaints belong to the apply step,
// which judges them itself. Entries whose syslog identifier is sshd, sudo,
// dpkg, apt, apt-get, apt-listchanges, unattended-upgrade or needrestart
// are counted as ignored in the evidence and do not breach. Entries of the
// service, systemd and the kernel count.
//
// # Listening sockets
//
// Sockets on the host's address and wildcard sockets belong to the host.
// Loopback sockets belong to it too, unless the host is itself reached on a
// loopback address: then it shares the network namespace with others (as
// the lab's containers do) and loopback sockets are not its own.
//
// # Boot time
//
// systemd-analyze answers once the boot has finished, in containers too
// ("Startup finished in 246ms (userspace)"). While it has not, PID 1's age
// bounds the boot time from below: past the limit that is critical, within
// it inconclusive. Without systemd the gate cannot be evaluated.
package health
