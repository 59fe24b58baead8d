package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// prometheusConfig scrapes every host's node_exporter and demo service, with
// the host's name and labels on every series.
func prometheusConfig(s *State, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by patchpilot lab up.\nglobal:\n  scrape_interval: %[1]ds\n  evaluation_interval: %[1]ds\nscrape_configs:\n", int(interval/time.Second))
	for _, job := range []struct {
		name string
		port int
	}{{"node", NodeExporterPort}, {"pp-demo-web", DemoWebPort}} {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n", job.name)
		for _, h := range s.Hosts {
			fmt.Fprintf(&b, "      - targets: ['%s:%d']\n        labels: {host: %s, role: %s, env: %s, criticality: %s}\n",
				h.Address, job.port, h.Name, h.Labels["role"], h.Labels["env"], h.Labels["criticality"])
		}
	}
	return b.String()
}

// startPrometheus starts Debian's prometheus on addr, detached,
// with its configuration and storage in the lab directory.
func startPrometheus(ctx context.Context, s *State, addr string, interval time.Duration) error {
	s.PrometheusAddress = addr
	if listening(ctx, s.PrometheusAddress, 300*time.Millisecond) {
		return patchpilot.Errorf(patchpilot.ECONFLICT, "%s is already in use", s.PrometheusAddress).
			WithHint("stop the other Prometheus, or start the lab without --prometheus")
	}
	dir := filepath.Join(s.Dir, prometheusDir)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "create %s: %w", dir, err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(prometheusConfig(s, interval)), 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write %s: %w", cfg, err)
	}
	bin, err := lookPath("prometheus")
	if err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus not found (install with: apt-get install -y prometheus)").WithHint("apt-get install -y prometheus")
	}
	logf, err := os.OpenFile(filepath.Join(dir, "prometheus.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "open prometheus log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=2d", "--web.listen-address="+s.PrometheusAddress, "--web.enable-lifecycle")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = detach()
	if err := cmd.Start(); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "start prometheus: %w", err)
	}
	s.PrometheusPID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	if err := s.save(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.PrometheusAddress+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !alive(s.PrometheusPID) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
	return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus did not become ready: %s", tail(string(log), 800))
}

// stopPrometheus stops the lab's Prometheus, if it still runs.
func stopPrometheus(ctx context.Context, s *State) error {
	pid := s.PrometheusPID
	if pid == 0 || !alive(pid) || !cmdlineHas(pid, filepath.Join(s.Dir, prometheusDir)) {
		s.PrometheusPID = 0
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	one := func() []int { return []int{pid} }
	if !waitGone(ctx, 10*time.Second, one) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(context.Background(), killGrace, one) {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "prometheus (pid %d) survives SIGKILL", pid)
		}
	}
	s.PrometheusPID = 0
	return nil
}
