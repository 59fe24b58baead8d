package main

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// The overlap between stages on real hosts: the second wave's preflights
// run while the first wave changes its host. A good update changes no
// host of the second wave before the first wave has finished, and each of
// them says its dry run ran ahead; a bad one halts the rollout after the
// first wave and leaves the prepared hosts exactly as they were.
func TestRolloutOverlapOnTheLab(t *testing.T) {
	needRoot(t)
	rl := bootLab(t, lab.Options{Hosts: 4, Subnet: "127.0.61"})
	hosts := []string{"lab01", "lab02", "lab03", "lab04"}
	stages := []string{
		"{name: wave_1, targets: 1, " + labCriteria + ", bake: 0s, timeout: 3m, on_failure: rollback_and_alert}",
		"{name: wave_2, targets: rest, parallel: 3, " + labCriteria + ", bake: 0s, timeout: 3m, on_failure: rollback_and_alert}",
	}

	t.Run("good update", func(t *testing.T) {
		e := rl.env(t, hosts...)
		started := time.Now().Truncate(time.Second)
		id, r := rl.startRollout(e, labPlan(t, "pp-demo-web=1.1.0", hosts, "", stages...))
		if r.code != 0 {
			t.Fatalf("rollout start: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		st := e.status(id)
		if st.State != "succeeded" || len(st.Stages) != 2 || len(st.Stages[0].Hosts) != 1 {
			t.Fatalf("status: %s with %d stages, want succeeded with 2", st.State, len(st.Stages))
		}
		firstDone := st.Stages[0].Hosts[0].FinishedAt
		events := e.mustRun("rollout", "events", id)
		for _, h := range st.Stages[1].Hosts {
			if h.State != "succeeded" || h.StartedAt == nil || firstDone == nil || h.StartedAt.Before(*firstDone) {
				t.Errorf("%s: %s, started %v, before the first wave ended at %v", h.Name, h.State, h.StartedAt, firstDone)
			}
			// dpkg.log's time has a resolution of a second.
			for _, line := range strings.Split(rl.sh(h.Name, "grep", "-h", " upgrade pp-demo-web:", "/var/log/dpkg.log"), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				at, err := time.ParseInLocation("2006-01-02 15:04:05", f[0]+" "+f[1], time.Local)
				if err == nil && !at.Before(started) && at.Before(firstDone.Truncate(time.Second)) {
					t.Errorf("%s: dpkg upgraded pp-demo-web at %s, before the first wave ended at %s", h.Name, at, firstDone)
				}
			}
			if !strings.Contains(events, h.Name+" preflight: the dry run ran ahead of the stage") {
				t.Errorf("%s: no preflight event saying its dry run ran ahead:\n%s", h.Name, events)
			}
			if v := rl.version(h.Name, "pp-demo-web"); v != "1.1.0" {
				t.Errorf("%s runs pp-demo-web %s, want 1.1.0", h.Name, v)
			}
		}
		rl.reset(hosts...)
	})

	t.Run("halted rollout leaves prepared hosts unchanged", func(t *testing.T) {
		e := rl.env(t, hosts...)
		type before struct{ dpkgLog, kept string }
		was := map[string]before{}
		for _, h := range hosts {
			was[h] = before{rl.sh(h, "cat", "/var/log/dpkg.log"), rl.sh(h, "sh", "-c", "ls -lR /var/lib/patchpilot 2>/dev/null; true")}
		}
		// 1.1.1 exits at start: the first wave's gates fail and the rollout
		// halts after rolling it back.
		id, r := rl.startRollout(e, labPlan(t, "pp-demo-web=1.1.1", hosts, "", stages...))
		if r.code != patchpilot.ExitHalted {
			t.Fatalf("exit %d, want %d (halted)\nstdout:\n%s\nstderr:\n%s", r.code, patchpilot.ExitHalted, r.stdout, r.stderr)
		}
		st := e.status(id)
		if st.State != "halted" || len(st.Stages) != 2 {
			t.Fatalf("status: %s, want halted", st.State)
		}
		if h := st.Stages[0].Hosts[0]; h.State != "rolled_back" {
			t.Errorf("first wave's %s: %s, want rolled_back", h.Name, h.State)
		}
		for _, h := range st.Stages[1].Hosts {
			if h.State != "skipped" {
				t.Errorf("%s: %s, want skipped", h.Name, h.State)
			}
			if v := rl.version(h.Name, "pp-demo-web"); v != "1.0.0" {
				t.Errorf("%s runs pp-demo-web %s, want 1.0.0", h.Name, v)
			}
			if got := rl.sh(h.Name, "cat", "/var/log/dpkg.log"); got != was[h.Name].dpkgLog {
				t.Errorf("%s: dpkg.log changed:\n%s", h.Name, strings.TrimPrefix(got, was[h.Name].dpkgLog))
			}
			if got := rl.sh(h.Name, "sh", "-c", "ls -lR /var/lib/patchpilot 2>/dev/null; true"); got != was[h.Name].kept {
				t.Errorf("%s: /var/lib/patchpilot changed:\nbefore:\n%s\nafter:\n%s", h.Name, was[h.Name].kept, got)
			}
			if !rl.healthy(h.Name) {
				t.Errorf("%s: the demo service is not healthy", h.Name)
			}
		}
		rl.reset(hosts...)
	})
}
