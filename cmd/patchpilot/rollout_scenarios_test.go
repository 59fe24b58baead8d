package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestRolloutLab runs the rollout scenarios on one lab of eight hosts:
// first every host through four stages, then scenarios on disjoint host
// subsets side by side, each with its own database.
func TestRolloutLab(t *testing.T) {
	rl := upRolloutLab(t)
	all := []string{"lab01", "lab02", "lab03", "lab04", "lab05", "lab06", "lab07", "lab08"}

	t.Run("all succeed through validation, canary and two waves", func(t *testing.T) { rl.allSucceed(t, all) })
	rl.reset(all...)

	t.Run("group", func(t *testing.T) {
		t.Run("validation host fails and is rolled back", func(t *testing.T) {
			t.Parallel()
			rl.validationFails(t, []string{"lab01", "lab02", "lab03"})
		})
		t.Run("canaries caught during the bake roll back in reverse order", func(t *testing.T) {
			t.Parallel()
			rl.canaryCaught(t, []string{"lab04", "lab05", "lab06"})
		})
		t.Run("failing maintainer script rolled back and verified", func(t *testing.T) {
			t.Parallel()
			rl.postinstFails(t, "lab07")
		})
		t.Run("kernel update reboots with a new boot id", func(t *testing.T) {
			t.Parallel()
			rl.kernelReboot(t, "lab08")
		})
	})
	rl.reset(all...)

	t.Run("group", func(t *testing.T) {
		t.Run("killed controller resumed applies each host once", func(t *testing.T) {
			t.Parallel()
			rl.killAndResume(t, []string{"lab01", "lab02", "lab03", "lab04"})
		})
		t.Run("unreachable host counts against max_failures", func(t *testing.T) {
			t.Parallel()
			rl.unreachable(t, []string{"lab05", "lab06", "lab07"})
		})
		t.Run("approval wait then approve", func(t *testing.T) {
			t.Parallel()
			rl.approval(t, "lab08")
		})
	})
}

func (rl *rolloutLab) allSucceed(t *testing.T, hosts []string) {
	e := rl.env(t, hosts...)
	plan := labPlan(t, "pp-demo-web=1.1.0", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 3s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: canary, targets: 2, parallel: 2, "+labCriteria+", bake: 3s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: wave_1, targets: 2, parallel: 2, "+labCriteria+", bake: 2s, timeout: 3m, max_failures: 1, on_failure: rollback_wave_and_hold}",
		"{name: wave_2, targets: rest, parallel: 3, "+labCriteria+", bake: 2s, timeout: 3m, max_failures: 1, on_failure: rollback_wave_and_hold}")
	id, r := rl.startRollout(e, plan)
	if r.code != 0 {
		t.Fatalf("rollout start: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "validation") || !strings.Contains(r.stderr, "gates healthy") {
		t.Errorf("no live progress on stderr:\n%s", r.stderr)
	}
	st := e.status(id)
	if st.State != "succeeded" || len(st.Stages) != 4 || st.Plan == "" {
		t.Fatalf("status: %s with %d stages, want succeeded with 4", st.State, len(st.Stages))
	}
	for _, s := range st.Stages {
		if s.State != "succeeded" {
			t.Errorf("stage %s: %s", s.Name, s.State)
		}
		for _, h := range s.Hosts {
			if h.State != "succeeded" || h.FromVersions["pp-demo-web"] != "1.0.0" || h.ToVersions["pp-demo-web"] != "1.1.0" ||
				h.StartedAt == nil || h.FinishedAt == nil || len(h.Gates) == 0 {
				t.Errorf("%s: %+v", h.Name, h)
			}
		}
	}
	for _, h := range hosts {
		if v := rl.version(h, "pp-demo-web"); v != "1.1.0" {
			t.Errorf("%s runs pp-demo-web %s, want 1.1.0", h, v)
		}
	}
	hist := decodeJSON[[]struct {
		Rollout  string `json:"rollout"`
		Host     string `json:"host"`
		Outcome  string `json:"outcome"`
		Packages []struct {
			Name, From, To string
		} `json:"packages"`
		Gates []patchpilot.GateResult `json:"gate_results"`
	}](t, e.mustRun("history", "-o", "json"))
	if len(hist) != len(hosts) {
		t.Fatalf("history has %d records, want %d", len(hist), len(hosts))
	}
	for _, rec := range hist {
		if rec.Rollout != id || rec.Outcome != "succeeded" || len(rec.Packages) == 0 || rec.Packages[0].To != "1.1.0" || len(rec.Gates) == 0 {
			t.Errorf("history record %+v", rec)
		}
		for _, g := range rec.Gates {
			if g.Outcome != patchpilot.GatePass {
				t.Errorf("%s: gate %s %s: %s", rec.Host, g.Gate, g.Outcome, g.Reason)
			}
		}
	}
	events := e.mustRun("rollout", "events", id)
	for _, want := range []string{"rollout.created", "rollout.stage", "rollout.host", "rollout.gate"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %s:\n%s", want, events)
		}
	}
	if list := e.mustRun("rollout", "list"); !strings.Contains(list, id) {
		t.Errorf("rollout list lacks %s:\n%s", id, list)
	}
}

func (rl *rolloutLab) validationFails(t *testing.T, hosts []string) {
	e := rl.env(t, hosts...)
	before := map[string]int{}
	for _, h := range hosts {
		before[h] = rl.upgrades(h, "pp-demo-web", "1.1.1")
	}
	plan := labPlan(t, "pp-demo-web=1.1.1", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 3s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: rest, targets: rest, parallel: 2, "+labCriteria+", bake: 2s, timeout: 3m}")
	id, r := rl.startRollout(e, plan)
	if r.code != patchpilot.ExitHalted {
		t.Fatalf("exit %d, want %d (halted)\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitHalted, r.stdout, r.stderr)
	}
	st := e.status(id)
	v := st.stageHosts("validation")[0]
	if got := st.hostStates()[v]; got != "rolled_back" {
		t.Errorf("validation host %s: %s, want rolled_back", v, got)
	}
	if ver := rl.version(v, "pp-demo-web"); ver != "1.0.0" || !rl.healthy(v) {
		t.Errorf("validation host %s after rollback: pp-demo-web %s, healthy %v; want 1.0.0 and healthy", v, ver, rl.healthy(v))
	}
	// The host's record keeps the gates that decided its rollback next to
	// the check after it, and the start table says why each gate failed.
	var failedGates, afterRollback int
	for _, s := range st.Stages {
		for _, h := range s.Hosts {
			if h.Name != v {
				continue
			}
			for _, raw := range h.Gates {
				var g patchpilot.GateResult
				if err := json.Unmarshal(raw, &g); err != nil {
					t.Fatalf("gate result %s: %v", raw, err)
				}
				switch {
				case g.Phase == patchpilot.GateAfterRollback:
					afterRollback++
				case g.Outcome != patchpilot.GatePass:
					failedGates++
					if want := g.Gate + " " + gateOutcomeWords(g.Outcome) + ": "; !strings.Contains(r.stdout, want) {
						t.Errorf("the start table lacks %q under %s:\n%s", want, v, r.stdout)
					}
				}
			}
		}
	}
	if failedGates == 0 || afterRollback == 0 {
		t.Errorf("%s keeps %d failed gates that decided and %d results after the rollback, want some of both", v, failedGates, afterRollback)
	}
	events := e.mustRun("rollout", "events", id)
	snapshots := 0
	for _, line := range strings.Split(events, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), " "+v+" snapshot") {
			snapshots++
		}
	}
	if snapshots != 1 {
		t.Errorf("%d snapshot events of %s, want 1:\n%s", snapshots, v, events)
	}
	for _, h := range st.stageHosts("rest") {
		if got := st.hostStates()[h]; got != "skipped" || rl.upgrades(h, "pp-demo-web", "1.1.1") != before[h] || rl.version(h, "pp-demo-web") != "1.0.0" {
			t.Errorf("%s was touched: state %s, version %s", h, got, rl.version(h, "pp-demo-web"))
		}
	}
	if st.State != "halted" || len(st.Incidents) != 1 || len(st.Incidents[0].Hosts) == 0 || st.Incidents[0].Hosts[0] != v {
		t.Errorf("rollout %s with incidents %+v, want halted with one incident naming %s", st.State, st.Incidents, v)
	} else if inc := st.Incidents[0].Reason; !strings.Contains(inc, v+": unhealthy: ") || !strings.Contains(inc, " critical: ") {
		// The incident names the rule that fired on the host, with the
		// failing gate's own words.
		t.Errorf("incident reason %q, want %s's rule: unhealthy, with the critical gate's result", inc, v)
	}
	hist := e.mustRun("history", "-o", "json")
	if !strings.Contains(hist, `"outcome": "rolled_back"`) {
		t.Errorf("history lacks the rolled_back outcome:\n%s", hist)
	}
}

func (rl *rolloutLab) canaryCaught(t *testing.T, hosts []string) {
	e := rl.env(t, hosts...)
	plan := labPlan(t, "pp-demo-web=1.1.2", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 2s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: canary, targets: rest, parallel: 2, "+labCriteria+", bake: 75s, timeout: 3m, on_failure: rollback_and_alert}")
	id, r := rl.startRollout(e, plan)
	if r.code != patchpilot.ExitHalted {
		t.Fatalf("exit %d, want %d (halted)\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitHalted, r.stdout, r.stderr)
	}
	st := e.status(id)
	var canaries []string
	order := map[string]int{}
	finished := map[string]time.Time{}
	for _, s := range st.Stages {
		if s.Name != "canary" {
			continue
		}
		for _, h := range s.Hosts {
			canaries = append(canaries, h.Name)
			order[h.Name] = h.Order
			if h.FinishedAt != nil {
				finished[h.Name] = *h.FinishedAt
			}
			if h.State != "rolled_back" || !strings.Contains(h.Reason, "unhealthy") {
				t.Errorf("canary %s: %s (%s), want rolled_back after an unhealthy verdict", h.Name, h.State, h.Reason)
			}
		}
	}
	if len(canaries) != 2 {
		t.Fatalf("canaries %v", canaries)
	}
	first, second := canaries[0], canaries[1]
	if order[first] > order[second] {
		first, second = second, first
	}
	// The last deployed rolls back first.
	if !finished[second].Before(finished[first]) {
		t.Errorf("canary %s (order %d) finished rollback at %v, %s (order %d) at %v: want reverse order of deployment",
			second, order[second], finished[second], first, order[first], finished[first])
	}
	for _, h := range canaries {
		if v := rl.version(h, "pp-demo-web"); v != "1.0.0" {
			t.Errorf("%s runs %s after rollback", h, v)
		}
	}
	if len(st.Incidents) != 1 || !strings.Contains(string(st.Incidents[0].Evidence), "http_ok") {
		t.Errorf("incidents %+v, want one with the HTTP gate's evidence", st.Incidents)
	}
}

func (rl *rolloutLab) postinstFails(t *testing.T, host string) {
	e := rl.env(t, host)
	plan := labPlan(t, "pp-demo-web=1.1.4", []string{host}, "",
		"{name: single, targets: rest, "+labCriteria+", bake: 2s, timeout: 3m, on_failure: rollback_and_alert}")
	id, r := rl.startRollout(e, plan)
	if r.code != patchpilot.ExitHalted {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitHalted, r.stdout, r.stderr)
	}
	st := e.status(id)
	h := st.Stages[0].Hosts[0]
	if h.State != "rolled_back" || !strings.Contains(h.Reason, "apply") {
		t.Errorf("%s: %s (%s), want rolled_back after the failed apply", host, h.State, h.Reason)
	}
	if len(st.Incidents) != 1 || !strings.Contains(st.Incidents[0].Reason, host+": ") || !strings.Contains(st.Incidents[0].Reason, "exited with status") {
		t.Errorf("incidents %+v, want one naming %s's failed apply and its exit status", st.Incidents, host)
	}
	if v := rl.version(host, "pp-demo-web"); v != "1.0.0" || !rl.healthy(host) {
		t.Errorf("%s after rollback: %s, healthy %v", host, v, rl.healthy(host))
	}
	status := strings.TrimSpace(rl.sh(host, "dpkg-query", "-W", "-f", "${Status}", "pp-demo-web"))
	if status != "install ok installed" {
		t.Errorf("dpkg status of pp-demo-web on %s: %q", host, status)
	}
}

func (rl *rolloutLab) kernelReboot(t *testing.T, host string) {
	e := rl.env(t, host)
	bootBefore := strings.TrimSpace(rl.sh(host, "cat", "/proc/sys/kernel/random/boot_id"))
	plan := labPlan(t, "pp-kernel-demo=1.1.0", []string{host}, "",
		"{name: single, targets: rest, criteria: [services_running, http_ok], bake: 2s, timeout: 3m, on_failure: rollback_and_alert}")
	id, r := rl.startRollout(e, plan)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	h := e.status(id).Stages[0].Hosts[0]
	bootAfter := strings.TrimSpace(rl.sh(host, "cat", "/proc/sys/kernel/random/boot_id"))
	if h.State != "succeeded" || h.BootIDBefore != bootBefore || h.BootIDAfter != bootAfter || bootAfter == bootBefore {
		t.Errorf("%s: %s, boot ids recorded %q → %q, on the host %q → %q; want a new boot id", host, h.State, h.BootIDBefore, h.BootIDAfter, bootBefore, bootAfter)
	}
	if v := rl.version(host, "pp-kernel-demo"); v != "1.1.0" {
		t.Errorf("pp-kernel-demo %s", v)
	}
}

func (rl *rolloutLab) killAndResume(t *testing.T, hosts []string) {
	e := rl.env(t, hosts...)
	before := map[string]int{}
	for _, h := range hosts {
		before[h] = rl.upgrades(h, "pp-demo-web", "1.1.0")
	}
	plan := labPlan(t, "pp-demo-web=1.1.0", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 1s, timeout: 3m}",
		"{name: wave_1, targets: rest, parallel: 2, "+labCriteria+", bake: 5s, timeout: 3m}")
	bg := e.background(append([]string{"rollout", "start", plan}, rl.rolloutFlags()...)...)
	id := bg.rolloutID(t)
	// Kill the controller once the wave has changed a host.
	e.waitFor(id, "a wave host in apply", 2*time.Minute, func(st rolloutStatus) bool {
		for _, s := range st.Stages {
			for _, h := range s.Hosts {
				if s.Name == "wave_1" && (h.State == "apply" || h.State == "verify") {
					return true
				}
			}
		}
		return false
	})
	signalKill(bg)
	<-bg.done
	st := e.status(id)
	if st.State != "running" {
		t.Fatalf("after SIGKILL the rollout is %s, want running", st.State)
	}
	// The dead controller ran on this machine and its process is gone:
	// its lease is taken over at once, without waiting for it to expire.
	r := e.run(append([]string{"rollout", "resume", id}, rl.rolloutFlags()...)...)
	if r.code != 0 {
		t.Fatalf("rollout resume: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if events := e.mustRun("rollout", "events", id); !strings.Contains(events, "took over the lease") {
		t.Errorf("rollout events do not say the dead controller's lease was taken over:\n%s", events)
	}
	for h, s := range e.status(id).hostStates() {
		if s != "succeeded" {
			t.Errorf("%s: %s after resume", h, s)
		}
	}
	for _, h := range hosts {
		if n := rl.upgrades(h, "pp-demo-web", "1.1.0") - before[h]; n != 1 {
			t.Errorf("%s: dpkg.log shows the upgrade to 1.1.0 %d times, want exactly once", h, n)
		}
	}
}

func (rl *rolloutLab) unreachable(t *testing.T, hosts []string) {
	e := rl.env(t, hosts...)
	plan := labPlan(t, "pp-demo-web=1.1.0", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 1s, timeout: 3m}",
		"{name: wave_1, targets: rest, parallel: 1, "+labCriteria+", bake: 4s, timeout: 3m, max_failures: 0, on_failure: halt_and_alert}")
	bg := e.background(append([]string{"rollout", "start", plan}, rl.rolloutFlags()...)...)
	id := bg.rolloutID(t)
	st := e.waitFor(id, "the validation stage to succeed", 2*time.Minute, func(st rolloutStatus) bool {
		return st.Stages[0].State == "succeeded"
	})
	wave := st.stageHosts("wave_1")
	victim := wave[len(wave)-1]
	if err := rl.lab.Fault(context.Background(), victim, "net-drop"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rl.lab.Heal(context.Background(), victim); err != nil {
			t.Errorf("heal %s: %v", victim, err)
		}
	}()
	select {
	case <-bg.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("rollout did not end")
	}
	if bg.code != patchpilot.ExitHalted {
		t.Errorf("exit %d, want %d (halted)\nstderr:\n%s", bg.code, patchpilot.ExitHalted, bg.cmd.Stderr.(*syncWriter).String())
	}
	st = e.status(id)
	if got := st.hostStates()[victim]; got != "unreachable" {
		t.Errorf("%s: %s, want unreachable", victim, got)
	}
	if st.State != "halted" || !strings.Contains(st.Reason, "max_failures 0") {
		t.Errorf("rollout %s (%s), want halted because max_failures 0 was exceeded", st.State, st.Reason)
	}
	hist := e.mustRun("history", "-o", "json")
	if !strings.Contains(hist, `"outcome": "unreachable"`) {
		t.Errorf("history lacks the unreachable outcome:\n%s", hist)
	}
}

func (rl *rolloutLab) approval(t *testing.T, host string) {
	e := rl.env(t, host)
	plan := labPlan(t, "pp-demo-web=1.1.0", []string{host}, "{allow_reboot: true, require_rollback: true}",
		"{name: final, targets: rest, "+labCriteria+", bake: 1s, timeout: 3m, approval: required}")
	// A dry run changes nothing and tells what would be installed; it
	// asks for no approval.
	dry, r := rl.startRollout(e, plan, "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if h := e.status(dry).Stages[0].Hosts[0]; h.State != "skipped" || !strings.Contains(h.Reason, "would install pp-demo-web 1.0.0→1.1.0") {
		t.Errorf("dry run host: %s (%s)", h.State, h.Reason)
	}
	if v := rl.version(host, "pp-demo-web"); v != "1.0.0" {
		t.Fatalf("the dry run changed %s: %s", host, v)
	}
	id, r := rl.startRollout(e, plan)
	if r.code != patchpilot.ExitWaitingApproval {
		t.Fatalf("exit %d, want %d (waiting for approval)\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitWaitingApproval, r.stdout, r.stderr)
	}
	if v := rl.version(host, "pp-demo-web"); v != "1.0.0" {
		t.Fatalf("%s changed before approval: %s", host, v)
	}
	if st := e.status(id); st.State != "waiting_approval" || st.Stages[0].State != "waiting_approval" {
		t.Fatalf("status %s / %s, want waiting_approval", st.State, st.Stages[0].State)
	}
	r = e.run(append([]string{"rollout", "approve", id}, rl.rolloutFlags()...)...)
	if r.code != 0 {
		t.Fatalf("rollout approve: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if v := rl.version(host, "pp-demo-web"); v != "1.1.0" {
		t.Errorf("%s after approval: %s", host, v)
	}
	events := decodeJSON[[]patchpilot.Event](t, e.mustRun("rollout", "events", id, "-o", "json"))
	found := false
	for _, ev := range events {
		if ev.Kind == "rollout.approved" && strings.Contains(ev.Message, "user:root") {
			found = true
		}
	}
	if !found {
		data, _ := json.Marshal(events)
		t.Errorf("no approval event by user:root: %s", data)
	}
	// A person rolls the host back afterwards.
	r = e.run(append([]string{"rollout", "rollback", id, "--hosts", host}, rl.rolloutFlags()...)...)
	if r.code != patchpilot.ExitRolledBack {
		t.Fatalf("rollout rollback: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitRolledBack, r.stdout, r.stderr)
	}
	if v := rl.version(host, "pp-demo-web"); v != "1.0.0" || !rl.healthy(host) {
		t.Errorf("%s after the requested rollback: %s, healthy %v", host, v, rl.healthy(host))
	}
	if st := e.status(id); st.State != "rolled_back" || st.Stages[0].Hosts[0].State != "rolled_back" {
		t.Errorf("after rollback: rollout %s, host %s", st.State, st.Stages[0].Hosts[0].State)
	}
}
