package main

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/lab"
)

// The risk lab test has its own subnet and Prometheus port so that it can
// boot beside the other packages' labs.
const (
	riskLabSubnet     = "127.0.8"
	riskLabPrometheus = "127.0.0.1:9198"
	riskLabHosts      = 3
)

func upRiskLab(t *testing.T) *rolloutLab {
	return bootLab(t, lab.Options{Hosts: riskLabHosts, Subnet: riskLabSubnet, PrometheusAddress: riskLabPrometheus})
}

// TestRiskOnTheLab assesses the lab's real pending updates, then learns
// from real rollouts: after bad pp-demo-web versions failed and a good one
// succeeded, the trained model scores a bad version above the good one
// and warns that it already failed here.
func TestRiskOnTheLab(t *testing.T) {
	rl := upRiskLab(t)
	var names []string
	for _, h := range rl.lab.Hosts() {
		names = append(names, h.Name)
	}
	e := rl.env(t, names...)

	// Every pending pp-* update has reasons; pp-agent 2.0.0 conflicts
	// with pp-agent-legacy, and the dry run's removal is a warning.
	cold := decodeJSON[assessJSON](t, e.mustRun("assess", "-o", "json"))
	if !cold.ColdStart || len(cold.Patches) < 4 {
		t.Fatalf("assess: cold start %v, %d patches; want the cold-start model over the pp-* updates", cold.ColdStart, len(cold.Patches))
	}
	removal := false
	for _, p := range cold.Patches {
		for _, h := range p.Hosts {
			if len(h.Reasons) == 0 || h.ModelVersion == "" || h.Strategy == "" {
				t.Errorf("patch %s on %s: reasons %v, model %q, strategy %q; want all three", p.Patch, h.Host, h.Reasons, h.ModelVersion, h.Strategy)
			}
			for _, w := range h.Warnings {
				if strings.HasPrefix(p.Patch, "pp-agent=") && w.Kind == "removals" && strings.Contains(w.Text, "pp-agent-legacy") {
					removal = true
				}
			}
		}
	}
	if !removal {
		t.Errorf("no patch of pp-agent warns that the dry run removes pp-agent-legacy: %+v", cold.Patches)
	}

	// One host per version keeps the test short: the bad versions fail
	// (1.1.4's maintainer script at apply, 1.1.1 at the health check)
	// and are rolled back; 1.1.0 succeeds on every host.
	host := names[0]
	for _, c := range []struct {
		version string
		hosts   []string
		want    string
	}{
		{"1.1.4", []string{host}, "halted"},
		{"1.1.1", []string{host}, "halted"},
		{"1.1.0", names, "succeeded"},
	} {
		plan := labPlan(t, "pp-demo-web="+c.version, c.hosts, "",
			"{name: only, targets: rest, parallel: 3, "+labCriteria+", bake: 3s, on_failure: rollback_and_alert}")
		id, res := rl.startRollout(e, plan)
		st := e.status(id)
		if c.version == "1.1.0" {
			// The two failures of pp-demo-web taught the model by
			// themselves (no 'model' command has run): the package is
			// now high risk on the host it failed on, which the default
			// policy gives a person to approve.
			if st.State != "waiting_approval" || !strings.Contains(st.Reason, "high_risk: "+host) {
				t.Fatalf("rollout of 1.1.0 after two failures: %s (%s), want waiting_approval for high risk on %s\nstderr:\n%s", st.State, st.Reason, host, res.stderr)
			}
			res = e.run(append([]string{"rollout", "approve", id}, rl.rolloutFlags()...)...)
			st = e.status(id)
		}
		if st.State != c.want {
			t.Fatalf("rollout of %s: %s (%s), want %s\nstderr:\n%s", c.version, st.State, st.Reason, c.want, res.stderr)
		}
		if c.want == "succeeded" {
			rl.reset(c.hosts...)
		}
	}
	// The facts must show the pending updates again after the resets.
	e.mustRun("inventory", "collect", "-i", rl.lab.InventoryFile(), "--known-hosts", rl.lab.KnownHostsFile(), "-o", "json")

	st := decodeJSON[struct {
		ModelVersion string `json:"model_version"`
		Records      int    `json:"records"`
		Failures     int    `json:"failures"`
	}](t, e.mustRun("model", "train", "-o", "json"))
	if st.Records < 5 || st.Failures < 2 {
		t.Fatalf("model trained on %d records with %d failures; want the rollouts' outcomes", st.Records, st.Failures)
	}
	assess := func(spec string) (float64, []string) {
		t.Helper()
		a := decodeJSON[assessJSON](t, e.mustRun("assess", "--patch", spec, "--host", host, "-o", "json"))
		if len(a.Patches) != 1 || len(a.Patches[0].Hosts) != 1 || a.ModelVersion != st.ModelVersion {
			t.Fatalf("assess %s: %+v; want one patch on %s by model %s", spec, a, host, st.ModelVersion)
		}
		var warnings []string
		for _, w := range a.Patches[0].Hosts[0].Warnings {
			warnings = append(warnings, w.Kind+": "+w.Text)
		}
		return a.Patches[0].Hosts[0].Probability, warnings
	}
	badP, badW := assess("pp-demo-web=1.1.4")
	goodP, _ := assess("pp-demo-web=1.1.0")
	if badP <= goodP {
		t.Errorf("pp-demo-web 1.1.4 scores %.3f, 1.1.0 %.3f; want the version that failed riskier", badP, goodP)
	}
	if w := strings.Join(badW, "; "); !strings.Contains(w, "version_failed: pp-demo-web 1.1.4 already failed") {
		t.Errorf("1.1.4 warnings %q; want that it already failed in this fleet", w)
	}
	t.Logf("pp-demo-web 1.1.4: p=%.3f %v; 1.1.0: p=%.3f", badP, badW, goodP)
}
