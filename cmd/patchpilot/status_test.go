package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// rollout status is where hints send people to see why a host failed: a
// reason too long for the table's column is cut there and given whole
// after the table; a short one is not repeated.
func TestRolloutStatusGivesLongReasonsWhole(t *testing.T) {
	long := "health gates fail before any change, so the rollout would roll this host back: services_running: " +
		"the baseline could not be taken: systemctl exited with status 1: System has not been booted with systemd"
	st := app.RolloutStatus{ID: "r-1", State: patchpilot.RolloutHalted, Stages: []app.StageStatus{{
		Hosts: []patchpilot.HostRun{
			{Host: "web-1", State: patchpilot.HostFailed, Reason: long},
			{Host: "web-2", State: patchpilot.HostSkipped, Reason: "dry run: would install web 1.0→1.1"},
		},
	}}}
	st.Stages[0].Name = "all"
	var b bytes.Buffer
	writeRolloutStatus(&b, st)
	out := b.String()
	if !strings.Contains(out, "web-1: "+long+"\n") {
		t.Errorf("status lacks web-1's whole reason:\n%s", out)
	}
	if strings.Count(out, "dry run: would install web 1.0→1.1") != 1 {
		t.Errorf("status repeats or drops web-2's short reason:\n%s", out)
	}
}
