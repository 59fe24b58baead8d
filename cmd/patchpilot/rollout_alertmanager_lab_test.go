package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// The Alertmanager rollout test has its own lab and subnet; Alertmanager
// listens on a free loopback port.
const (
	alertLabSubnet = "127.0.14"
	alertLabHosts  = 3
)

// alertLabPlan is a plan whose stages are gated by no_firing_alerts on the
// test's Alertmanager, selecting the host's critical and warning alerts.
func alertLabPlan(t *testing.T, amURL, pkg string, hosts []string, bake string) string {
	extra := fmt.Sprintf("    alertmanager:\n      url: %q\n      matchers: ['instance=\"{{.Instance}}\"', 'severity=~\"critical|warning\"']\n", amURL)
	criteria := "criteria: [services_running, http_ok, no_firing_alerts]"
	return writeLabPlan(t, "alerts-"+strings.ReplaceAll(pkg, "=", "-"), pkg, hosts, "", extra,
		"{name: canary, targets: 1, "+criteria+", bake: "+bake+", timeout: 3m, on_failure: rollback_and_alert}",
		"{name: rest, targets: rest, parallel: 2, "+criteria+", bake: 2s, timeout: 3m, on_failure: rollback_and_alert}")
}

// TestRolloutAlertmanagerLab runs rollouts gated by no_firing_alerts
// through the real binary, against Debian's Alertmanager: with only alerts
// the matchers do not select (another instance, severity info), every
// stage passes; an alert posted for the canary host while it bakes (as
// Prometheus posts them) fails the host's gate, and the host is rolled
// back and the rollout halted before the next stage.
func TestRolloutAlertmanagerLab(t *testing.T) {
	needRoot(t)
	labtest.Require(t, func() error { _, err := labtest.FindAlertmanager(); return err })
	rl := bootLab(t, lab.Options{Hosts: alertLabHosts, Subnet: alertLabSubnet})
	am := labtest.StartAlertmanager(t)
	var all []string
	for _, h := range rl.lab.Hosts() {
		all = append(all, h.Name)
	}
	e := rl.env(t, all...)
	instance := func(host string) string {
		return fmt.Sprintf("%s:%d", rl.hosts[host].Address, patchpilot.NodeExporterPort)
	}

	t.Run("alerts the matchers do not select pass", func(t *testing.T) {
		for _, h := range all {
			am.Fire(map[string]string{"alertname": "PatchpilotLabInfo", "instance": instance(h), "severity": "info"}, nil)
		}
		am.Fire(map[string]string{"alertname": "PatchpilotLabElsewhere", "instance": "192.0.2.1:9100", "severity": "critical"}, nil)
		plan := alertLabPlan(t, am.URL, "pp-demo-web=1.1.0", all, "10s")
		id, r := rl.startRollout(e, plan)
		events := e.mustRun("rollout", "events", id)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", r.code, r.stdout, r.stderr, events)
		}
		st := e.status(id)
		for h, state := range st.hostStates() {
			if state != "succeeded" || rl.version(h, "pp-demo-web") != "1.1.0" {
				t.Errorf("%s: %s, pp-demo-web %s", h, state, rl.version(h, "pp-demo-web"))
			}
		}
		// Every host's last gate results hold the alert gate's pass.
		for _, stage := range st.Stages {
			for _, h := range stage.Hosts {
				found := false
				for _, g := range h.Gates {
					var gr patchpilot.GateResult
					if json.Unmarshal(g, &gr) == nil && gr.Gate == patchpilot.CriterionNoFiringAlerts {
						found = gr.Outcome == patchpilot.GatePass
					}
				}
				if !found {
					t.Errorf("%s: no passing no_firing_alerts in %s", h.Name, h.Gates)
				}
			}
		}
	})
	rl.reset(all...)

	t.Run("an alert during the bake rolls the host back", func(t *testing.T) {
		plan := alertLabPlan(t, am.URL, "pp-demo-web=1.1.0", all, "2m")
		b := e.background(append([]string{"rollout", "start", plan}, rl.rolloutFlags()...)...)
		id := b.rolloutID(t)
		st := e.waitFor(id, "the canary host baking", 3*time.Minute, func(s rolloutStatus) bool {
			for _, h := range s.stageHosts("canary") {
				if s.hostStates()[h] == string(patchpilot.HostVerify) {
					return true
				}
			}
			return false
		})
		canary := st.stageHosts("canary")[0]
		alert := map[string]string{"alertname": "PatchpilotLabDemoDown", "instance": instance(canary), "severity": "critical"}
		am.Fire(alert, map[string]string{"summary": "pp-demo-web answers 5xx"})
		// The gate fails the host, which is rolled back; once it is, the
		// alert resolves, as Prometheus would see the service recover,
		// and the rolled-back host settles.
		e.waitFor(id, "the canary host rolling back", 2*time.Minute, func(s rolloutStatus) bool {
			st := s.hostStates()[canary]
			return st == "rolling_back" || st == "rolled_back" || st == "rollback_failed"
		})
		am.Resolve(alert)
		select {
		case <-b.done:
		case <-time.After(4 * time.Minute):
			t.Fatalf("the rollout did not end after the alert; stderr:\n%s", b.stderr.String())
		}
		events := e.mustRun("rollout", "events", id)
		if b.code != patchpilot.ExitHalted {
			t.Fatalf("exit %d, want %d (halted)\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", b.code, patchpilot.ExitHalted,
				b.cmd.Stdout.(*syncWriter).String(), b.cmd.Stderr.(*syncWriter).String(), events)
		}
		st = e.status(id)
		if got := st.hostStates()[canary]; got != "rolled_back" {
			t.Errorf("canary host %s: %s, want rolled_back", canary, got)
		}
		if v := rl.version(canary, "pp-demo-web"); v != "1.0.0" || !rl.healthy(canary) {
			t.Errorf("canary host %s after rollback: %s, healthy %v", canary, v, rl.healthy(canary))
		}
		for _, h := range st.stageHosts("rest") {
			if got := st.hostStates()[h]; (got != "skipped" && got != "pending") || rl.version(h, "pp-demo-web") != "1.0.0" {
				t.Errorf("%s was touched: %s, %s", h, got, rl.version(h, "pp-demo-web"))
			}
		}
		if !strings.Contains(events, "unhealthy: critical: no_firing_alerts") {
			t.Errorf("events do not show the gate failing the host:\n%s", events)
		}
		if len(st.Incidents) != 1 || !strings.Contains(string(st.Incidents[0].Evidence), "no_firing_alerts") ||
			!strings.Contains(string(st.Incidents[0].Evidence), "PatchpilotLabDemoDown") {
			t.Errorf("incidents %+v, want one whose evidence names no_firing_alerts and the alert", st.Incidents)
		}
	})
}
