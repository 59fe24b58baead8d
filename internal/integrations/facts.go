package integrations

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/patchpilot/patchpilot"
)

// Facts are what messages show of a notification's rollout: its plan,
// state and stage, how its hosts stand and why the failed ones failed.
// Notifiers render them each in their service's format.
type Facts struct {
	Rollout string
	Plan    string
	State   patchpilot.RolloutState
	Reason  string
	// Stage is the stage the notification is about: the one waiting for
	// approval, the running one, or the last one that started.
	Stage  string
	Stages []StageFacts
	// Hosts counts the rollout's hosts; the other counts are known only
	// when HostsKnown (the notification carried the host pipelines).
	Hosts          int
	HostsKnown     bool
	Succeeded      int
	Failed         int // failed before any change, or unreachable
	RolledBack     int
	RollbackFailed int
	Skipped        int
	InProgress     int
	// FailedHosts are the hosts that failed, were rolled back or whose
	// rollback failed, in rollout order.
	FailedHosts []HostFacts
	Incidents   []patchpilot.Incident
}

// StageFacts is one stage: its name, state and number of hosts.
type StageFacts struct {
	Name  string
	State patchpilot.StageState
	Hosts int
}

// HostFacts is one host that did not succeed.
type HostFacts struct {
	Host   string
	Stage  string
	State  patchpilot.HostState
	Reason string
}

// RolloutFacts gathers the facts of n's rollout; the zero Facts when n has
// none.
func RolloutFacts(n patchpilot.Notification) Facts {
	var f Facts
	r := n.Rollout
	if r == nil {
		return f
	}
	f.Rollout, f.Plan, f.State, f.Reason = r.ID, r.Plan.Name, r.State, r.Reason
	f.Incidents = n.Incidents
	for _, s := range r.Stages {
		f.Stages = append(f.Stages, StageFacts{Name: s.Name, State: s.State, Hosts: len(s.Hosts)})
		f.Hosts += len(s.Hosts)
	}
	f.Stage = currentStage(r)
	if len(n.Hosts) > 0 {
		f.HostsKnown = true
		f.Hosts = len(n.Hosts)
		for _, h := range n.Hosts {
			switch h.State {
			case patchpilot.HostSucceeded:
				f.Succeeded++
			case patchpilot.HostFailed, patchpilot.HostUnreachable:
				f.Failed++
			case patchpilot.HostRolledBack:
				f.RolledBack++
			case patchpilot.HostRollbackFailed:
				f.RollbackFailed++
			case patchpilot.HostSkipped:
				f.Skipped++
			case patchpilot.HostPending:
			default:
				f.InProgress++
			}
			switch h.State {
			case patchpilot.HostFailed, patchpilot.HostUnreachable, patchpilot.HostRolledBack, patchpilot.HostRollbackFailed:
				f.FailedHosts = append(f.FailedHosts, HostFacts{Host: h.Host, Stage: h.Stage, State: h.State, Reason: h.Reason})
			}
		}
	}
	return f
}

// Pending counts the hosts not started yet (when HostsKnown).
func (f Facts) Pending() int {
	return f.Hosts - f.Succeeded - f.Failed - f.RolledBack - f.RollbackFailed - f.Skipped - f.InProgress
}

// HostLine says in one line how the hosts stand: "3 of 10 succeeded, 1
// failed, 1 rolled back, 5 pending", or "10 hosts in 3 stages" when the
// host pipelines are not known.
func (f Facts) HostLine() string {
	if !f.HostsKnown {
		return fmt.Sprintf("%d hosts in %d stages", f.Hosts, len(f.Stages))
	}
	parts := []string{fmt.Sprintf("%d of %d succeeded", f.Succeeded, f.Hosts)}
	for _, c := range []struct {
		n    int
		what string
	}{
		{f.Failed, "failed"}, {f.RolledBack, "rolled back"}, {f.RollbackFailed, "rollback failed"},
		{f.Skipped, "skipped"}, {f.InProgress, "in progress"}, {f.Pending(), "pending"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

func currentStage(r *patchpilot.Rollout) string {
	last := ""
	for _, s := range r.Stages {
		switch s.State {
		case patchpilot.StageWaitingApproval, patchpilot.StageRunning:
			return s.Name
		case patchpilot.StagePending:
		default:
			last = s.Name
		}
	}
	return last
}

// IncidentOf reads the incident a notification of an incident event is
// about: its payload, and the stored incident's ID (from the payload, or
// from the message older versions wrote, "incident 3 in stage ..."); 0
// when neither names it.
func IncidentOf(e patchpilot.Event) (patchpilot.IncidentData, int64) {
	var d patchpilot.IncidentData
	if e.Kind != patchpilot.EventIncident {
		return d, 0
	}
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &d) // a payload that does not decode names nothing
	}
	if d.ID > 0 {
		return d, d.ID
	}
	var id int64
	if _, err := fmt.Sscanf(e.Message, "incident %d ", &id); err == nil && id > 0 {
		return d, id
	}
	return d, 0
}

// Clip shortens s to at most max bytes of valid UTF-8, ending in "…" when
// it was cut.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// OneLine replaces control characters (CR, LF, tabs, ...) with spaces, for
// text from hosts and plans that goes into a single-line field.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == 0x85 {
			return ' '
		}
		return r
	}, s)
}
