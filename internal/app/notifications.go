package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// ClassifyEvent says what an event of the log is for the integrations:
// the notification they are told, or false when the event is not one they
// hear of. r is the event's rollout as it stands in the store (nil when
// the event concerns none, or it is gone); dashboardURL is the
// dashboard's external base URL, "" for notifications without links.
//
// One event makes at most one notification: a rollout that ends halted,
// rolled back or failed is told as halted, rolled_back or
// rollback_failed, and rollout_finished tells the other ends (succeeded,
// aborted). A stage waiting for approval is told once, by the stage's
// event; the rollout's own waiting_approval event is not told again.
// Every notification of a dry-run rollout is of level info, its summary
// starting "dry run: ".
//
// A scheduled run is told as schedule_run when a person should know of
// it (see scheduleRun); r is then the rollout the run started, if any.
func ClassifyEvent(e patchpilot.Event, r *patchpilot.Rollout, dashboardURL string) (patchpilot.Notification, bool) {
	n := patchpilot.Notification{Event: e, Rollout: r}
	if e.Kind == patchpilot.EventScheduleFinished || e.Kind == patchpilot.EventScheduleMissed {
		return scheduleRun(n, dashboardURL)
	}
	name := "rollout " + e.Rollout
	if r != nil && r.Plan.Name != "" {
		name += " (" + r.Plan.Name + ")"
	}
	switch e.Kind {
	case patchpilot.EventRolloutCreated:
		var d patchpilot.RolloutCreatedData
		_ = json.Unmarshal(e.Data, &d)
		n.Topic, n.Level = patchpilot.TopicRolloutStarted, patchpilot.LevelInfo
		n.Summary = fmt.Sprintf("%s started by %s", name, actorOr(e.Actor, r))
		if len(d.Stages) > 0 {
			n.Summary += fmt.Sprintf(": %d stage%s", len(d.Stages), plural(len(d.Stages)))
		}
	case patchpilot.EventStageState:
		d, ok := stageState(e)
		if !ok {
			return n, false
		}
		switch d.State {
		case patchpilot.StageWaitingApproval:
			n.Topic, n.Level = patchpilot.TopicApprovalNeeded, patchpilot.LevelWarning
			n.Summary = fmt.Sprintf("%s: stage %s waits for approval", name, d.Stage)
		case patchpilot.StageSucceeded, patchpilot.StageSkipped:
			n.Topic, n.Level = patchpilot.TopicStageDone, patchpilot.LevelInfo
			n.Summary = fmt.Sprintf("%s: stage %s %s", name, d.Stage, words(string(d.State)))
		case patchpilot.StageFailed, patchpilot.StageRolledBack:
			n.Topic, n.Level = patchpilot.TopicStageDone, patchpilot.LevelWarning
			n.Summary = fmt.Sprintf("%s: stage %s %s", name, d.Stage, words(string(d.State)))
		default:
			return n, false
		}
		n.Summary = withReason(n.Summary, d.Reason)
	case patchpilot.EventRolloutState:
		d, ok := rolloutState(e)
		if !ok {
			return n, false
		}
		switch d.State {
		case patchpilot.RolloutRunning:
			if d.Previous != patchpilot.RolloutHalted && d.Previous != patchpilot.RolloutPaused {
				return n, false
			}
			n.Topic, n.Level = patchpilot.TopicRecovered, patchpilot.LevelInfo
			n.Summary = fmt.Sprintf("%s runs again after being %s", name, words(string(d.Previous)))
		case patchpilot.RolloutHalted:
			// A hold (no window opens in time, the disruption budgets
			// let no host go) is a wait, not a failure.
			n.Topic, n.Level = patchpilot.TopicHalted, patchpilot.LevelCritical
			if strings.HasPrefix(d.Reason, "held") {
				n.Level = patchpilot.LevelWarning
			}
			n.Summary = withReason(name+" halted", d.Reason)
		case patchpilot.RolloutRolledBack:
			n.Topic, n.Level = patchpilot.TopicRolledBack, patchpilot.LevelWarning
			n.Summary = withReason(name+" rolled back", d.Reason)
		case patchpilot.RolloutFailed:
			n.Topic, n.Level = patchpilot.TopicRollbackFailed, patchpilot.LevelCritical
			n.Summary = withReason(name+" failed: a rollback did not restore every host", d.Reason)
		case patchpilot.RolloutSucceeded:
			n.Topic, n.Level = patchpilot.TopicRolloutFinished, patchpilot.LevelInfo
			n.Summary = withReason(name+" succeeded", d.Reason)
		case patchpilot.RolloutAborted:
			n.Topic, n.Level = patchpilot.TopicRolloutFinished, patchpilot.LevelWarning
			n.Summary = withReason(name+" aborted", d.Reason)
		default:
			return n, false
		}
	case patchpilot.EventIncident:
		n.Topic, n.Level = patchpilot.TopicIncident, patchpilot.LevelCritical
		n.Summary = name + ": " + strings.TrimSpace(e.Message)
		var d patchpilot.IncidentData
		if json.Unmarshal(e.Data, &d) == nil {
			for _, h := range d.Hosts {
				if h.State == patchpilot.HostRollbackFailed {
					n.Summary += "; the rollback of " + h.Host + " failed"
				}
			}
		}
	default:
		return n, false
	}
	// A dry run changes nothing: its halt or failure is news, not a
	// page.
	if r != nil && r.DryRun {
		n.Level = patchpilot.LevelInfo
		// The reasons a dry run gives its rollout often say "dry
		// run: " already; the summary says it once.
		n.Summary = "dry run: " + strings.Replace(n.Summary, ": dry run: ", ": ", 1)
	}
	n.URL = rolloutURL(dashboardURL, e.Rollout, n.Topic)
	return n, true
}

// scheduleRun is the notification of a scheduled run's end, or false when
// nobody needs to hear of it. A run that failed, was interrupted or was
// missed is a warning: nothing was installed by it, so no host may be
// broken (critical is kept for that), but the fleet stays unpatched until
// someone looks. A run skipped because unfinished rollouts hold every
// target is a warning too. A run that launched or proposed its plan but
// left held hosts out is info. Every other end (launched, proposed,
// succeeded, nothing to do) is not told: the rollout it started is told
// on its own.
func scheduleRun(n patchpilot.Notification, dashboardURL string) (patchpilot.Notification, bool) {
	e := n.Event
	var d patchpilot.ScheduleRunData
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &d)
	}
	if e.Kind == patchpilot.EventScheduleMissed && d.Outcome == "" {
		d.Outcome = patchpilot.ScheduleMissed
	}
	n.Topic = patchpilot.TopicScheduleRun
	switch d.Outcome {
	case patchpilot.ScheduleFailed, patchpilot.ScheduleInterrupted, patchpilot.ScheduleMissed, patchpilot.ScheduleSkipped:
		n.Level = patchpilot.LevelWarning
	case patchpilot.ScheduleLaunched, patchpilot.ScheduleProposed:
		if len(d.Held) == 0 {
			return n, false
		}
		n.Level = patchpilot.LevelInfo
	default:
		return n, false
	}
	n.Summary = scheduleSummary(e, d)
	if e.Rollout != "" {
		n.URL = rolloutURL(dashboardURL, e.Rollout, n.Topic)
	}
	return n, true
}

// Bounds of the held hosts a schedule_run summary names.
const (
	summaryHolders   = 3 // rollouts
	summaryHeldHosts = 3 // hosts of each
)

// scheduleSummary is the line of a schedule_run notification: the
// schedule, its run's due time and outcome and message (the event's
// message says them), the rollout it started or the plan it proposed,
// and the hosts unfinished rollouts held, a few by name.
func scheduleSummary(e patchpilot.Event, d patchpilot.ScheduleRunData) string {
	// The run's message names the held hosts too, in full; the payload
	// has it without them, so that the summary names a few and a run
	// held by many rollouts stays one line. An event written before the
	// payload had it names them in its message alone.
	s, few := strings.TrimSpace(d.Brief), len(d.Held) > 0
	if s == "" {
		s, few = strings.TrimSpace(e.Message), false
	}
	if s == "" {
		s = fmt.Sprintf("schedule %s: run %s", d.Schedule, words(string(d.Outcome)))
	}
	if d.Outcome == patchpilot.ScheduleProposed && d.Plan != "" && !strings.Contains(s, d.Plan) {
		s += "; proposed plan " + d.Plan
	}
	if e.Rollout != "" && !strings.Contains(s, e.Rollout) {
		s += "; started rollout " + e.Rollout
	} else if d.Plan != "" && !strings.Contains(s, d.Plan) {
		s += "; plan " + d.Plan
	}
	if !few {
		return s
	}
	var parts []string
	for i, h := range d.Held {
		if i == summaryHolders {
			parts = append(parts, fmt.Sprintf("and %d more rollout%s", len(d.Held)-i, plural(len(d.Held)-i)))
			break
		}
		names := h.Hosts
		more := ""
		if len(names) > summaryHeldHosts {
			names, more = names[:summaryHeldHosts], fmt.Sprintf(" and %d more", len(h.Hosts)-summaryHeldHosts)
		}
		state := words(patchpilot.HolderState(h.State, h.Reason))
		parts = append(parts, fmt.Sprintf("%s%s in rollout %s (%s)", strings.Join(names, ", "), more, h.Rollout, state))
	}
	what := "left out hosts that unfinished rollouts hold: "
	if d.Outcome == patchpilot.ScheduleSkipped {
		what = "unfinished rollouts hold every target: "
	}
	return s + "; " + what + strings.Join(parts, ", ")
}

// rolloutURL is the dashboard page of a rollout, at its approval form for
// an approval; "" without a dashboard URL or a rollout.
func rolloutURL(base, id string, t patchpilot.Topic) string {
	if base == "" || id == "" {
		return ""
	}
	u := strings.TrimRight(base, "/") + "/ui/rollouts/" + url.PathEscape(id)
	if t == patchpilot.TopicApprovalNeeded {
		u += "#approve"
	}
	return u
}

// rolloutState reads a rollout.state event: its payload, or for events
// written without one, its message "rollout STATE[: reason]".
func rolloutState(e patchpilot.Event) (patchpilot.RolloutStateData, bool) {
	var d patchpilot.RolloutStateData
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil && d.State != "" {
		return d, true
	}
	rest, ok := strings.CutPrefix(e.Message, "rollout ")
	if !ok {
		return d, false
	}
	state, reason, _ := strings.Cut(rest, ": ")
	d.State, d.Reason = patchpilot.RolloutState(state), reason
	return d, !strings.Contains(state, " ")
}

// stageState reads a rollout.stage event: its payload, or for events
// written without one, its message "stage NAME STATE[: reason]". A
// stage waiting for its window ("stage NAME waits for ...") is none.
func stageState(e patchpilot.Event) (patchpilot.StageStateData, bool) {
	var d patchpilot.StageStateData
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil && d.State != "" {
		return d, true
	}
	rest, ok := strings.CutPrefix(e.Message, "stage ")
	if !ok {
		return d, false
	}
	head, reason, _ := strings.Cut(rest, ": ")
	f := strings.Fields(head)
	if len(f) != 2 {
		return d, false
	}
	d.Stage, d.State, d.Reason = f[0], patchpilot.StageState(f[1]), reason
	return d, true
}

func actorOr(actor string, r *patchpilot.Rollout) string {
	if r != nil && r.CreatedBy != "" {
		return r.CreatedBy
	}
	if actor == "" {
		return "someone"
	}
	return actor
}

func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + ": " + reason
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
