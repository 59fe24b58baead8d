package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// quarantineJSON is an entry of 'quarantine list -o json'.
type quarantineJSON struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Class   string `json:"class"`
	Rollout string `json:"rollout"`
	Host    string `json:"host"`
	Outcome string `json:"outcome"`
	Clear   string `json:"clear"`
}

// learningAssessJSON is what this test reads of 'assess -o json'.
type learningAssessJSON struct {
	ModelVersion string `json:"model_version"`
	Patches      []struct {
		Patch   string `json:"patch"`
		Summary struct {
			MaxProbability  float64 `json:"max_probability"`
			MeanProbability float64 `json:"mean_probability"`
		} `json:"summary"`
		Quarantined []struct {
			Host       string         `json:"host"`
			Quarantine quarantineJSON `json:"quarantine"`
		} `json:"quarantined"`
	} `json:"patches"`
}

// checkLearnedOnTheLab checks what a lab's fleet learned from its
// rollouts, with no 'model' command run: pp-demo-web 1.1.0 succeeded
// everywhere, then 1.1.3 (latency about 3x) was failed by the canary judge
// and rolled back on the canary hosts (rolledBack) in rollout bad. Then
// 'assess' ranks 1.1.3 above 1.1.0 (the stored outcomes teach the model by
// themselves), and 1.1.3 is quarantined for the host classes (OS release
// and role) it was rolled back on: 'quarantine list' names them, 'assess'
// marks exactly the hosts of those classes, and 'plan' leaves them out.
// The outcomes carry the predictions stored when each rollout started,
// which 'model status' measures.
func checkLearnedOnTheLab(t *testing.T, e *env, l *lab.Lab, all []string, bad string, rolledBack []string) {
	t.Helper()
	// The facts show the pending updates again after the rollbacks.
	e.mustRun("inventory", "collect", "-i", l.InventoryFile(), "--known-hosts", l.KnownHostsFile(), "-o", "json")

	// The class of each host, as the quarantine names it.
	classOf := map[string]string{}
	for _, h := range decodeJSON[[]struct {
		Name      string            `json:"name"`
		OSName    string            `json:"os_name"`
		OSVersion string            `json:"os_version"`
		Labels    map[string]string `json:"labels"`
	}](t, e.mustRun("hosts", "-o", "json")) {
		classOf[h.Name] = string(patchpilot.ClassOf(h.OSName+":"+h.OSVersion, h.Labels))
	}
	var badClasses []string
	for _, h := range rolledBack {
		if !slices.Contains(badClasses, classOf[h]) {
			badClasses = append(badClasses, classOf[h])
		}
	}
	slices.Sort(badClasses)
	var inBadClass []string
	for _, h := range all {
		if slices.Contains(badClasses, classOf[h]) {
			inBadClass = append(inBadClass, h)
		}
	}

	// Quarantined for the classes it was rolled back on, and only those.
	qs := decodeJSON[[]quarantineJSON](t, e.mustRun("quarantine", "list", "-o", "json"))
	var qClasses []string
	for _, q := range qs {
		if q.Package != "pp-demo-web" || q.Version != "1.1.3" || q.Rollout != bad || !slices.Contains(rolledBack, q.Host) {
			t.Errorf("quarantine %+v: want pp-demo-web 1.1.3 from rollout %s on one of %v", q, bad, rolledBack)
		}
		if !strings.Contains(q.Clear, "patchpilot quarantine clear pp-demo-web=1.1.3 --class "+q.Class) {
			t.Errorf("quarantine %+v: clear command %q", q, q.Clear)
		}
		qClasses = append(qClasses, q.Class)
	}
	slices.Sort(qClasses)
	if !slices.Equal(qClasses, badClasses) {
		t.Errorf("quarantined classes %v, want %v (the canary hosts' %v)", qClasses, badClasses, rolledBack)
	}

	// No 'model' command has run: assess learns from the outcomes alone.
	assess := func(spec string) (float64, []string) {
		t.Helper()
		a := decodeJSON[learningAssessJSON](t, e.mustRun("assess", "--patch", spec, "-o", "json"))
		if len(a.Patches) != 1 {
			t.Fatalf("assess %s: %d patches, want 1", spec, len(a.Patches))
		}
		var hosts []string
		for _, q := range a.Patches[0].Quarantined {
			hosts = append(hosts, q.Host)
		}
		slices.Sort(hosts)
		return a.Patches[0].Summary.MaxProbability, hosts
	}
	badP, badQ := assess("pp-demo-web=1.1.3")
	goodP, goodQ := assess("pp-demo-web=1.1.0")
	slices.Sort(inBadClass)
	if !slices.Equal(badQ, inBadClass) {
		t.Errorf("assess marks 1.1.3 quarantined on %v, want the hosts of %v: %v", badQ, badClasses, inBadClass)
	}
	if len(goodQ) != 0 {
		t.Errorf("1.1.0 is quarantined on %v", goodQ)
	}
	table := e.mustRun("assess", "--patch", "pp-demo-web=1.1.3")
	if !strings.Contains(table, "quarantined: pp-demo-web 1.1.3 rolled back on "+badClasses[0]+" (rollout "+bad) {
		t.Errorf("assess table lacks the quarantine line:\n%s", table)
	}

	// plan leaves the quarantined hosts out.
	pr := e.run("plan", "--patch", "pp-demo-web=1.1.3", "-o", "json")
	if len(inBadClass) == len(all) {
		if pr.code != patchpilot.ExitDenied {
			t.Errorf("plan with every host quarantined: exit %d, want %d\n%s", pr.code, patchpilot.ExitDenied, pr.stderr)
		}
	} else {
		if pr.code != 0 {
			t.Fatalf("plan: exit %d\n%s", pr.code, pr.stderr)
		}
		targets := decodeJSON[struct {
			Targets []string `json:"targets"`
		}](t, pr.stdout).Targets
		for _, h := range inBadClass {
			if slices.Contains(targets, h) {
				t.Errorf("plan targets %v include quarantined %s", targets, h)
			}
			if !strings.Contains(pr.stderr, "left out "+h+": quarantined: pp-demo-web 1.1.3") {
				t.Errorf("plan's stderr does not say %s is left out:\n%s", h, pr.stderr)
			}
		}
	}

	// The outcomes carry the predictions made when the rollouts started.
	ms := decodeJSON[struct {
		Fleet struct {
			Outcomes int `json:"outcomes"`
			Metrics  struct {
				N int `json:"n"`
			} `json:"metrics"`
		} `json:"fleet_calibration"`
	}](t, e.mustRun("model", "status", "-o", "json"))
	if ms.Fleet.Outcomes < len(all)+len(rolledBack) {
		t.Errorf("model status counts %d outcomes with a stored prediction, want at least %d (both rollouts')", ms.Fleet.Outcomes, len(all)+len(rolledBack))
	}

	// The ranking: the version that failed above the one that passed.
	if badP <= goodP {
		t.Errorf("assess: pp-demo-web 1.1.3 max p %.4f, 1.1.0 %.4f; want the version that failed riskier without a 'model' command", badP, goodP)
	}
	t.Logf("1.1.3 p=%.4f quarantined on %v (%v); 1.1.0 p=%.4f", badP, badQ, badClasses, goodP)
}
