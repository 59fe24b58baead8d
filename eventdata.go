package patchpilot

import (
	"encoding/json"
	"time"
)

// The payloads of the event kinds (Event.Data), one type per kind. Their
// JSON is a stored format: fields are only ever added, so that events
// written by older versions still decode (eventdata_test.go keeps payloads
// as older versions wrote them).

// FactsCollectedData is the payload of EventFactsCollected.
type FactsCollectedData struct {
	Packages        int    `json:"packages"`
	Updates         int    `json:"updates"`
	SecurityUpdates int    `json:"security_updates"`
	Source          string `json:"source"` // how the facts were collected, e.g. "ssh" or "local"
}

// CollectFailedData is the payload of EventCollectFailed.
type CollectFailedData struct {
	Code Code `json:"code"`
}

// FactsPrunedData is the payload of EventFactsPruned.
type FactsPrunedData struct {
	Keep    int `json:"keep"`
	Deleted int `json:"deleted"`
}

// HostsRemovedData is the payload of EventHostsRemoved.
type HostsRemovedData struct {
	Hosts []string `json:"hosts"`
}

// AdvisoriesImportedData is the payload of EventAdvisoriesImported.
type AdvisoriesImportedData struct {
	Path    string `json:"path"`
	Read    int    `json:"read"`
	Written int    `json:"written"`
}

// HistoryImportedData is the payload of EventHistoryImported.
type HistoryImportedData struct {
	File     string `json:"file"`
	Records  int    `json:"records"`
	Failures int    `json:"failures"`
	Written  int    `json:"written"`
}

// ModelTrainedData is the payload of EventModelTrained.
type ModelTrainedData struct {
	ModelVersion string        `json:"model_version"`
	Training     ModelTraining `json:"training"`
	// Trigger says what started an automatic retrain ("" for
	// 'patchpilot model train'), and Comparison how the new model scored
	// against the one it replaced.
	Trigger    string           `json:"trigger,omitempty"`
	Comparison *ModelComparison `json:"comparison,omitempty"`
}

// ModelComparison is how a candidate model and the active one scored on
// the newest outcomes, which the candidate was not trained on: Brier score
// and log loss (lower is better) of each.
type ModelComparison struct {
	Newest           int     `json:"newest"`
	NewestFailures   int     `json:"newest_failures"`
	CurrentVersion   string  `json:"current_version"`
	CurrentBrier     float64 `json:"current_brier"`
	CurrentLogLoss   float64 `json:"current_log_loss"`
	CandidateBrier   float64 `json:"candidate_brier"`
	CandidateLogLoss float64 `json:"candidate_log_loss"`
	// Margin is the standard error of the Brier scores' difference: a
	// candidate is refused only when it is worse by more.
	Margin float64 `json:"margin"`
}

// ModelRefusedData is the payload of EventModelRefused: an automatic
// retrain whose candidate scored worse than the active model, which stays.
type ModelRefusedData struct {
	Trigger    string          `json:"trigger"`
	Records    int             `json:"records"`
	Comparison ModelComparison `json:"comparison"`
}

// ModelUsedData is the payload of EventModelUsed.
type ModelUsedData struct {
	ModelVersion string `json:"model_version"`
	Previous     string `json:"previous,omitempty"`
}

// ModelTraining is what a risk model was trained on.
type ModelTraining struct {
	Source      string    `json:"source,omitempty"`
	Records     int       `json:"records"`
	Failures    int       `json:"failures"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	FitRecords  int       `json:"fit_records"`
	CalibRecord int       `json:"calibration_records"`
	// Regression is false when there was too little data to fit the
	// regression, and the model is the cold-start model over the fleet's
	// history.
	Regression bool `json:"regression"`
	Calibrated bool `json:"calibrated"`
}

// RolloutCreatedData is the payload of EventRolloutCreated.
type RolloutCreatedData struct {
	Plan   string   `json:"plan"`
	Stages []string `json:"stages"` // "stage: host1,host2", in order
	Notes  []string `json:"notes"`
	DryRun bool     `json:"dry_run"`
	// StageReasons are each stage's reasons, in the order of Stages (the
	// planner's: canary coverage, the dependency order, the budgets that
	// hold its hosts, approvals); Warnings what looks mistaken in the
	// plan against its targets (a budget covering none of them).
	StageReasons [][]string `json:"stage_reasons,omitempty"`
	Warnings     []string   `json:"warnings,omitempty"`
}

// IncidentData is the payload of EventIncident and the evidence stored
// with the incident.
type IncidentData struct {
	// ID is the stored incident's (Incident.ID); 0 in events older
	// versions wrote, whose message names it ("incident 3 in stage ...").
	ID    int64          `json:"id,omitempty"`
	Hosts []IncidentHost `json:"hosts"`
	// RolledBack names the hosts rolled back by the stage's failure
	// action.
	RolledBack []string `json:"rolled_back,omitempty"`
	// Adaptive holds the numbers behind an adaptive halt.
	Adaptive *AdaptiveData `json:"adaptive,omitempty"`
}

// IncidentHost is one failed or rolled back host of an incident.
type IncidentHost struct {
	Host        string       `json:"host"`
	Stage       string       `json:"stage,omitempty"`
	State       HostState    `json:"state"`
	Reason      string       `json:"reason"`
	GateResults []GateResult `json:"gate_results,omitempty"`
	// Rule says which rule rolled the host back, with its numbers: the
	// host's reason and the gates of the deciding check that did not pass
	// ("unhealthy: critical: error_rate_increase<0.05
	// (error_rate_increase<0.05 critical: error rate 0.11 vs baseline 0.01
	// = +0.1 errors per request, limit +0.05; error rate 0.11 > 0.10:
	// critical)").
	Rule string `json:"rule,omitempty"`
}

// AdaptiveData is the payload of EventAdaptive: the adaptive planner's
// prior when a rollout starts, and its look at the evidence after each
// stage (posterior, budget, decision).
type AdaptiveData struct {
	// Prior is the prior probability that the patch breaks a host.
	Prior float64 `json:"prior"`
	// PriorModelVersion and PriorReasons say where the prior comes from;
	// Strength is its weight in hosts. The first event of a rollout has
	// them.
	PriorModelVersion string   `json:"prior_model_version,omitempty"`
	PriorReasons      []string `json:"prior_reasons,omitempty"`
	Strength          float64  `json:"strength,omitempty"`

	Posterior float64 `json:"posterior_mean"`
	Upper     float64 `json:"posterior_upper"`
	Failures  int     `json:"failures"`
	Patched   int     `json:"patched"`
	Remaining int     `json:"remaining"`
	Budget    int     `json:"budget"`
	NextWave  int     `json:"next_wave"`
	Decision  string  `json:"decision,omitempty"`
}

// UnmarshalJSON also reads the prior event as older versions wrote it,
// with the prior as an object: {"prior": {"probability": ...,
// "model_version": ..., "reasons": [...]}, "strength": ..., "budget": ...}.
func (d *AdaptiveData) UnmarshalJSON(b []byte) error {
	type plain AdaptiveData
	var raw struct {
		plain
		Prior json.RawMessage `json:"prior"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*d = AdaptiveData(raw.plain)
	if len(raw.Prior) == 0 || string(raw.Prior) == "null" {
		return nil
	}
	if raw.Prior[0] != '{' {
		return json.Unmarshal(raw.Prior, &d.Prior)
	}
	var old struct {
		Probability  float64  `json:"probability"`
		ModelVersion string   `json:"model_version"`
		Reasons      []string `json:"reasons"`
	}
	if err := json.Unmarshal(raw.Prior, &old); err != nil {
		return err
	}
	d.Prior, d.PriorModelVersion, d.PriorReasons = old.Probability, old.ModelVersion, old.Reasons
	return nil
}

// ScheduleRunData is the payload of the schedule events: which run of
// which schedule, and how it stands.
type ScheduleRunData struct {
	Schedule string          `json:"schedule"`
	Kind     ScheduleKind    `json:"kind"`
	Due      time.Time       `json:"due"`
	Outcome  ScheduleOutcome `json:"outcome"`
	Plan     string          `json:"plan,omitempty"`
	// WindowOpens is when a waiting run's maintenance window opens.
	WindowOpens time.Time `json:"window_opens,omitzero"`
	// Missed counts the runs a missed event stands for.
	Missed int `json:"missed,omitempty"`
	// Held are the targets of a patch run that unfinished rollouts hold,
	// by rollout: left out of its plan, or, when it was skipped, all of
	// them.
	Held []HeldHostsData `json:"held,omitempty"`
	// Brief is the event's message without the held hosts, when Held
	// names some: a notification names a few of them after it. Events
	// written before it was recorded have none.
	Brief string `json:"brief,omitempty"`
}

// HeldHostsData names hosts that an unfinished rollout holds (see
// HoldsHosts), with the rollout's state and reason.
type HeldHostsData struct {
	Rollout string       `json:"rollout"`
	State   RolloutState `json:"state"`
	Reason  string       `json:"reason,omitempty"`
	Hosts   []string     `json:"hosts"`
}

// NewEventData returns a pointer to a zero payload of the event kind, to
// decode Event.Data into, or nil for a kind without payload or unknown to
// this version.
func NewEventData(kind string) any {
	switch kind {
	case EventFactsCollected:
		return new(FactsCollectedData)
	case EventCollectFailed:
		return new(CollectFailedData)
	case EventFactsPruned:
		return new(FactsPrunedData)
	case EventHostsRemoved:
		return new(HostsRemovedData)
	case EventAdvisoriesImported:
		return new(AdvisoriesImportedData)
	case EventHistoryImported:
		return new(HistoryImportedData)
	case EventModelTrained:
		return new(ModelTrainedData)
	case EventModelRefused:
		return new(ModelRefusedData)
	case EventModelUsed:
		return new(ModelUsedData)
	case EventRolloutCreated:
		return new(RolloutCreatedData)
	case EventGateVerdict:
		return new(HealthReport)
	case EventIncident:
		return new(IncidentData)
	case EventAdaptive:
		return new(AdaptiveData)
	case EventHook:
		return new(HookData)
	case EventScheduleStarted, EventScheduleWaiting, EventScheduleFinished, EventScheduleMissed:
		return new(ScheduleRunData)
	case EventApproval:
		return new(ApprovalData)
	case EventRolloutState:
		return new(RolloutStateData)
	case EventStageState:
		return new(StageStateData)
	case EventReportSent:
		return new(ReportSentData)
	}
	return nil
}

// ApprovalData is one approval of a stage: who approved, the distinct
// approvers so far and how many the stage needs. The stage starts when
// Approvers reaches Required.
type ApprovalData struct {
	Stage     string   `json:"stage"`
	Approver  string   `json:"approver"`
	Approvers []string `json:"approvers"`
	Required  int      `json:"required"`
}

// RolloutStateData is the payload of EventRolloutState: the state the
// rollout entered, why, and the state it left (so that a rollout running
// again after a halt or a pause can be told). Older versions wrote these
// events without payload.
type RolloutStateData struct {
	State    RolloutState `json:"state"`
	Reason   string       `json:"reason,omitempty"`
	Previous RolloutState `json:"previous,omitempty"`
}

// StageStateData is the payload of EventStageState: the stage, the state
// it entered and why. Older versions wrote these events without payload,
// and a stage waiting for its maintenance window writes one without.
type StageStateData struct {
	Stage  string     `json:"stage"`
	State  StageState `json:"state"`
	Reason string     `json:"reason,omitempty"`
}

// ReportSentData is the payload of EventReportSent: a report (Report
// "kpi") of a period sent by an integration, on its schedule or on
// demand; Error is why it could not be sent, empty when it was.
type ReportSentData struct {
	Integration string    `json:"integration"`
	Report      string    `json:"report"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Scheduled   bool      `json:"scheduled"`
	Error       string    `json:"error,omitempty"`
}
