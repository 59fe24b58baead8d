package health

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// nodeExporterSeries are a host's node_exporter series, as node_exporter
// 1.5 names and labels them, sampled every 15 s: two CPUs idle half and
// all of the time, a quarter of memory available, two disks busy 25% and
// 50% of the time, eth0 with 1 receive error and 2 receive drops a second
// (lo and a veth pair dropping more, which do not count), eth0 up and
// eth1 down, and a load of 3.
const nodeExporterSeries = `
      - {series: 'node_cpu_seconds_total{instance="192.0.2.1:9100",cpu="0",mode="idle"}', values: '0+7.5x40'}
      - {series: 'node_cpu_seconds_total{instance="192.0.2.1:9100",cpu="1",mode="idle"}', values: '0+15x40'}
      - {series: 'node_cpu_seconds_total{instance="192.0.2.1:9100",cpu="0",mode="user"}', values: '0+7.5x40'}
      - {series: 'node_cpu_seconds_total{instance="192.0.2.9:9100",cpu="0",mode="idle"}', values: '0+0x40'}
      - {series: 'node_memory_MemAvailable_bytes{instance="192.0.2.1:9100"}', values: '2147483648x40'}
      - {series: 'node_memory_MemTotal_bytes{instance="192.0.2.1:9100"}', values: '8589934592x40'}
      - {series: 'node_disk_io_time_seconds_total{instance="192.0.2.1:9100",device="vda"}', values: '0+3.75x40'}
      - {series: 'node_disk_io_time_seconds_total{instance="192.0.2.1:9100",device="sda"}', values: '0+7.5x40'}
      - {series: 'node_network_receive_errs_total{instance="192.0.2.1:9100",device="eth0"}', values: '0+15x40'}
      - {series: 'node_network_transmit_errs_total{instance="192.0.2.1:9100",device="eth0"}', values: '0+0x40'}
      - {series: 'node_network_receive_drop_total{instance="192.0.2.1:9100",device="eth0"}', values: '0+30x40'}
      - {series: 'node_network_transmit_drop_total{instance="192.0.2.1:9100",device="eth0"}', values: '0+0x40'}
      - {series: 'node_network_receive_drop_total{instance="192.0.2.1:9100",device="lo"}', values: '0+150x40'}
      - {series: 'node_network_receive_drop_total{instance="192.0.2.1:9100",device="veth12ab"}', values: '0+150x40'}
      - {series: 'node_network_up{instance="192.0.2.1:9100",device="eth0"}', values: '1x40'}
      - {series: 'node_network_up{instance="192.0.2.1:9100",device="eth1"}', values: '0x40'}
      - {series: 'node_network_up{instance="192.0.2.1:9100",device="lo"}', values: '0x40'}
      - {series: 'node_load1{instance="192.0.2.1:9100"}', values: '3x40'}
`

// TestDefaultQueriesPromQL evaluates the built-in Prometheus queries,
// rendered for a host, with Prometheus' own engine (promtool test rules)
// over node_exporter series, and checks each value.
func TestDefaultQueriesPromQL(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: install prometheus (scripts/deps.sh)")
		}
		t.Skip("promtool not found (Debian package prometheus)")
	}
	want := []struct {
		metric string
		labels string
		value  string
	}{
		{patchpilot.MetricCPU, "{}", "25"},
		{patchpilot.MetricMemory, `{instance="192.0.2.1:9100"}`, "75"},
		{patchpilot.MetricDiskIO, "{}", "50"},
		{patchpilot.MetricNetErrors, "{}", "3"},
		{patchpilot.MetricLoad, `{instance="192.0.2.1:9100"}`, "1.5"},
	}
	var b strings.Builder
	b.WriteString("tests:\n  - interval: 15s\n    input_series:" + nodeExporterSeries + "    promql_expr_test:\n")
	for _, w := range want {
		q, _ := DefaultQuery("prometheus", w.metric)
		r, err := RenderTemplate(w.metric, q, SampleTemplateData())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "      - expr: %q\n        eval_time: 5m\n        exp_samples: [{labels: %q, value: %s}]\n", r, w.labels, w.value)
	}
	q, _ := DefaultQuery("prometheus", patchpilot.MetricNetUp)
	r, err := RenderTemplate("net_up", q, SampleTemplateData())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "      - expr: %q\n        eval_time: 5m\n        exp_samples:\n", r)
	fmt.Fprintf(&b, "          - {labels: %q, value: 1}\n", `node_network_up{instance="192.0.2.1:9100",device="eth0"}`)
	fmt.Fprintf(&b, "          - {labels: %q, value: 0}\n", `node_network_up{instance="192.0.2.1:9100",device="eth1"}`)
	path := filepath.Join(t.TempDir(), "queries_test.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s\n%s", err, out, b.String())
	}
}
