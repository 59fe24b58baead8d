package servicenow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// ChangeType is the integration type of change requests.
const ChangeType = "servicenow"

// DefaultPollInterval is how often a waiting stage asks for the change's
// approval; MinPollInterval the shortest poll_interval taken, so that a
// waiting rollout does not hammer the instance.
const (
	DefaultPollInterval = time.Minute
	MinPollInterval     = 10 * time.Second
)

// ChangeSettings are the servicenow type's keys.
type ChangeSettings struct {
	Connection `yaml:",inline"`
	// ChangeType is the change_request's type: normal (default),
	// standard or emergency.
	ChangeType string `yaml:"change_type"`
	// Category, AssignmentGroup, Risk and Impact are written to the
	// fields of the same name when set (the values the instance takes:
	// a category name, a group's sys_id or name, risk 2-4, impact 1-3).
	Category        string `yaml:"category"`
	AssignmentGroup string `yaml:"assignment_group"`
	Risk            string `yaml:"risk"`
	Impact          string `yaml:"impact"`
	// PlannedDuration is end_date minus start_date when the plan has no
	// maintenance windows. Default 4h.
	PlannedDuration string `yaml:"planned_duration"`
	// WaitForApproval holds the rollout's gated stages until the
	// change's approval field is "approved"; "rejected" halts the
	// rollout. PollInterval is how often it is asked (default 1m).
	WaitForApproval bool   `yaml:"wait_for_approval"`
	PollInterval    string `yaml:"poll_interval"`
	// RequestApprovalState, when set, is the state the new change is
	// moved to right after it is created, as the "Request Approval"
	// action does ("-4", Assess, for a normal change), so that its
	// approvers are asked.
	RequestApprovalState string `yaml:"request_approval_state"`
	// CloseState is the state written when the rollout ends (default
	// "3", Closed); SuccessCode and FailureCode the close_code
	// (defaults "successful" and "unsuccessful").
	CloseState  string `yaml:"close_state"`
	SuccessCode string `yaml:"success_code"`
	FailureCode string `yaml:"failure_code"`
}

// Change is a servicenow integration: a Notifier that keeps the rollout's
// change request, and, when it waits for approvals, a ChangeApprover.
type Change struct {
	c       *client
	s       ChangeSettings
	planned time.Duration
	poll    time.Duration
	records patchpilot.ChangeRecordStore
	Now     func() time.Time
	// Risk, when set, assesses the rollout's patch: the description
	// tells it, and without a risk setting it sets the change's risk
	// (high 2, medium 3, low 4).
	Risk integrations.RiskFunc
	mu   sync.Mutex // one creation at a time
}

// NewChange builds the integration of a spec. records keeps the rollout's
// change; nil finds it by correlation_id each time.
func NewChange(spec integrations.Spec, getenv func(string) string, records patchpilot.ChangeRecordStore) (*Change, error) {
	var s ChangeSettings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	switch s.ChangeType {
	case "":
		s.ChangeType = "normal"
	case "normal", "standard", "emergency":
	default:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected normal, standard or emergency, got %q", spec.At("change_type"), s.ChangeType)
	}
	ch := &Change{s: s, records: records, Now: time.Now, planned: 4 * time.Hour, poll: DefaultPollInterval}
	for _, d := range []struct {
		key, v string
		dst    *time.Duration
	}{{"planned_duration", s.PlannedDuration, &ch.planned}, {"poll_interval", s.PollInterval, &ch.poll}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive duration such as 4h or 30s, got %q", spec.At(d.key), d.v)
		}
		if d.key == "poll_interval" && v < MinPollInterval {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected at least %s (such as 1m), got %q", spec.At(d.key), MinPollInterval, d.v)
		}
		*d.dst = v
	}
	if ch.s.CloseState == "" {
		ch.s.CloseState = "3"
	}
	if ch.s.SuccessCode == "" {
		ch.s.SuccessCode = "successful"
	}
	if ch.s.FailureCode == "" {
		ch.s.FailureCode = "unsuccessful"
	}
	c, err := newClient(spec, s.Connection, getenv)
	if err != nil {
		return nil, err
	}
	ch.c = c
	return ch, nil
}

// Name is the integration's name.
func (ch *Change) Name() string { return ch.c.name }

// WaitsForApproval reports whether the rollout's gated stages wait for
// the change's approval.
func (ch *Change) WaitsForApproval() bool { return ch.s.WaitForApproval }

// PollInterval is how often a waiting stage asks for the approval.
func (ch *Change) PollInterval() time.Duration { return ch.poll }

// SetHTTPClient replaces the HTTP client (tests).
func (ch *Change) SetHTTPClient(hc *http.Client) { ch.c.HTTP = hc }

// CorrelationID marks the change request of a rollout.
func CorrelationID(rollout string) string { return "patchpilot-" + rollout }

type changeRow struct {
	SysID    string `json:"sys_id"`
	Number   string `json:"number"`
	Approval string `json:"approval"`
	State    string `json:"state"`
}

// UnmarshalJSON reads a change_request record; a field of another JSON
// type than a string is an error naming the change, the field and what
// was expected, instead of the decoder's Go types.
func (r *changeRow) UnmarshalJSON(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("ServiceNow answered a change_request that is not a JSON object: %s", kindOfJSON(data))
	}
	change, _ := m["number"].(string)
	if change == "" {
		change, _ = m["sys_id"].(string)
	}
	if change == "" {
		change = "(no number)"
	}
	for _, f := range []struct {
		key, example string
		dst          *string
	}{{"sys_id", "", &r.SysID}, {"number", "CHG0030001", &r.Number}, {"approval", "approved", &r.Approval}, {"state", "-5", &r.State}} {
		switch v := m[f.key].(type) {
		case nil:
			*f.dst = ""
		case string:
			*f.dst = v
		default:
			want := "a string"
			if f.example != "" {
				want += fmt.Sprintf(" such as %q", f.example)
			}
			return fmt.Errorf("ServiceNow answered change %s: %s: expected %s, got %s", change, f.key, want, jsonKind(v))
		}
	}
	return nil
}

// kindOfJSON names the JSON type of a value for an error.
func kindOfJSON(data []byte) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return "not JSON"
	}
	if v == nil {
		return "null"
	}
	return jsonKind(v)
}

// Notify creates the rollout's change request when it starts, adds work
// notes as it goes and closes it with the outcome.
func (ch *Change) Notify(ctx context.Context, n patchpilot.Notification) error {
	if n.Topic == patchpilot.TopicTest {
		q := url.Values{"sysparm_limit": {"1"}, "sysparm_fields": {"sys_id,number"}}
		var rows []changeRow
		return ch.c.list(ctx, "change_request", q, &rows)
	}
	if n.Rollout == nil || n.Rollout.DryRun || n.Topic == patchpilot.TopicScheduleRun {
		// A dry run changes nothing: there is no change to record. A
		// scheduled run is no change either, even one that started a
		// rollout: that rollout's own notifications record it.
		return nil
	}
	rec, err := ch.change(ctx, n)
	if err != nil {
		return err
	}
	switch n.Topic {
	case patchpilot.TopicRolloutStarted:
		return nil
	case patchpilot.TopicRolloutFinished:
		if rec.State == patchpilot.ChangeRecordClosed {
			return nil
		}
		code := ch.s.SuccessCode
		if !integrations.Succeeded(n.Rollout) {
			code = ch.s.FailureCode
		}
		body := map[string]string{"state": ch.s.CloseState, "close_code": code, "close_notes": integrations.OutcomeText(n)}
		if err := ch.c.one(ctx, http.MethodPatch, "change_request/"+rec.ExternalID, nil, body, &json.RawMessage{}); err != nil {
			return err
		}
		rec.State, rec.UpdatedAt = patchpilot.ChangeRecordClosed, ch.Now()
		return ch.save(ctx, rec)
	}
	return ch.workNote(ctx, rec, n)
}

// workNote appends the notification to the change's work notes, unless
// a work note with its marker is already there (a retry).
func (ch *Change) workNote(ctx context.Context, rec patchpilot.ChangeRecord, n patchpilot.Notification) error {
	marker := integrations.Marker(n)
	q := url.Values{
		"sysparm_query":  {"element_id=" + rec.ExternalID + "^element=work_notes^valueLIKE" + marker},
		"sysparm_fields": {"sys_id"},
		"sysparm_limit":  {"1"},
	}
	var notes []struct {
		SysID string `json:"sys_id"`
	}
	err := ch.c.list(ctx, "sys_journal_field", q, &notes)
	var de *patchpilot.DeliveryError
	switch {
	case err == nil && len(notes) > 0:
		return nil
	case err != nil && !(errors.As(err, &de) && de.Status == http.StatusForbidden):
		// An account that may not read the journal writes the note
		// without the check; any other failure is the delivery's.
		return err
	}
	text := n.Summary
	if n.URL != "" {
		text += "\n" + n.URL
	}
	return ch.c.one(ctx, http.MethodPatch, "change_request/"+rec.ExternalID, nil,
		map[string]string{"work_notes": text + "\n" + marker}, &json.RawMessage{})
}

func (ch *Change) save(ctx context.Context, rec patchpilot.ChangeRecord) error {
	if ch.records == nil {
		return nil
	}
	if err := ch.records.SaveChangeRecord(ctx, rec); err != nil {
		return fmt.Errorf("servicenow: record change %s of rollout %s: %w", rec.Key, rec.Rollout, err)
	}
	return nil
}

// change returns the rollout's change request: the stored record, or
// the change_request whose correlation_id names the rollout, or a new
// one.
func (ch *Change) change(ctx context.Context, n patchpilot.Notification) (patchpilot.ChangeRecord, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	id := n.Rollout.ID
	if ch.records != nil {
		rec, err := ch.records.ChangeRecord(ctx, ch.c.name, id)
		if err == nil {
			return rec, nil
		}
		if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
			return rec, err
		}
	}
	rec := patchpilot.ChangeRecord{Integration: ch.c.name, Rollout: id, State: patchpilot.ChangeRecordOpen}
	q := url.Values{
		"sysparm_query":  {"correlation_id=" + CorrelationID(id)},
		"sysparm_fields": {"sys_id,number,approval,state"},
		"sysparm_limit":  {"1"},
	}
	var rows []changeRow
	if err := ch.c.list(ctx, "change_request", q, &rows); err != nil {
		return rec, err
	}
	var row changeRow
	if len(rows) > 0 {
		row = rows[0]
	} else {
		start, end := Schedule(n.Rollout.Plan.Windows, ch.Now(), ch.planned)
		rk := integrations.AssessRisk(ctx, ch.Risk, n.Rollout)
		body := map[string]string{
			"short_description":   shortDescription(n.Rollout),
			"description":         integrations.PlanText(n, rk),
			"type":                ch.s.ChangeType,
			"correlation_id":      CorrelationID(id),
			"correlation_display": "patchpilot",
			"start_date":          integrations.Timestamp(start),
			"end_date":            integrations.Timestamp(end),
		}
		risk := ch.s.Risk
		if risk == "" && rk != nil {
			risk = map[patchpilot.RiskLevel]string{patchpilot.RiskHigh: "2", patchpilot.RiskMedium: "3", patchpilot.RiskLow: "4"}[rk.Level]
		}
		for k, v := range map[string]string{"category": ch.s.Category, "assignment_group": ch.s.AssignmentGroup,
			"risk": risk, "impact": ch.s.Impact} {
			if v != "" {
				body[k] = v
			}
		}
		if err := ch.c.one(ctx, http.MethodPost, "change_request", nil, body, &row); err != nil {
			return rec, err
		}
		if row.SysID == "" {
			return rec, &patchpilot.DeliveryError{Service: "servicenow", Status: http.StatusCreated, Message: "the created change_request's answer has no sys_id"}
		}
	}
	// A change still new (created now, or by an attempt that failed
	// before asking) has its approval requested before it is recorded.
	if ch.s.RequestApprovalState != "" && (row.State == "" || row.State == "-5") {
		if err := ch.c.one(ctx, http.MethodPatch, "change_request/"+row.SysID, nil,
			map[string]string{"state": ch.s.RequestApprovalState}, &json.RawMessage{}); err != nil {
			return rec, fmt.Errorf("request the approval of change %s: %w", row.Number, err)
		}
	}
	rec.ExternalID, rec.Key, rec.UpdatedAt = row.SysID, row.Number, ch.Now()
	return rec, ch.save(ctx, rec)
}

func shortDescription(r *patchpilot.Rollout) string {
	var pkgs []string
	for _, p := range r.Plan.Patch.Packages {
		pkgs = append(pkgs, p.String())
	}
	if r.Plan.Patch.SecurityAll {
		pkgs = append(pkgs, "security updates")
	}
	hosts := 0
	for _, s := range r.Stages {
		hosts += len(s.Hosts)
	}
	s := fmt.Sprintf("Patch %d hosts", hosts)
	if len(pkgs) > 0 {
		s += ": " + strings.Join(pkgs, ", ")
	}
	s += " (patchpilot " + r.ID + ")"
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// Approval asks the instance for the approval of the rollout's change,
// creating the change first when the rollout_started notification has not
// (yet) done so. approval "approved" is approved; "rejected", or a change
// cancelled (state 4), is rejected; anything else is pending.
func (ch *Change) Approval(ctx context.Context, r patchpilot.Rollout, stage string) (patchpilot.ChangeApproval, error) {
	rec, err := ch.change(ctx, patchpilot.Notification{Topic: patchpilot.TopicRolloutStarted, Rollout: &r,
		Summary: "rollout " + r.ID + " started"})
	if err != nil {
		return patchpilot.ChangeApproval{}, fmt.Errorf("the change request could not be created or found: %w", err)
	}
	var raw json.RawMessage
	q := url.Values{"sysparm_fields": {"sys_id,number,approval,state"}}
	if err := ch.c.one(ctx, http.MethodGet, "change_request/"+rec.ExternalID, q, nil, &raw); err != nil {
		return patchpilot.ChangeApproval{Change: rec.Key}, err
	}
	var row changeRow
	if err := json.Unmarshal(raw, &row); err != nil {
		return patchpilot.ChangeApproval{Change: rec.Key}, err
	}
	a := patchpilot.ChangeApproval{Change: row.Number, State: patchpilot.ChangePending, Detail: "approval " + row.Approval}
	if a.Change == "" {
		a.Change = rec.Key
	}
	switch {
	case row.Approval == "approved":
		a.State = patchpilot.ChangeApproved
	case row.Approval == "rejected":
		a.State, a.Detail = patchpilot.ChangeRejected, "approval rejected"
	case row.State == "4":
		a.State, a.Detail = patchpilot.ChangeRejected, "change canceled"
	}
	return a, nil
}

// Schedule is the change's planned start and end: the next opening of
// the plan's maintenance windows at or after now, to that window's end;
// now to now+planned without windows (or when none opens within a week).
func Schedule(ws []patchpilot.MaintenanceWindow, now time.Time, planned time.Duration) (time.Time, time.Time) {
	var best, bestEnd time.Time
	for _, w := range ws {
		loc := time.UTC
		if w.TZ != "" {
			if l, err := time.LoadLocation(w.TZ); err == nil {
				loc = l
			}
		}
		local := now.In(loc)
		for d := -1; d <= 7; d++ {
			day := time.Date(local.Year(), local.Month(), local.Day()+d, 0, 0, 0, 0, loc)
			if len(w.Days) > 0 && !containsDay(w.Days, day.Weekday()) {
				continue
			}
			start := day.Add(time.Duration(w.Start) * time.Minute)
			end := day.Add(time.Duration(w.End) * time.Minute)
			if !end.After(start) {
				end = end.Add(24 * time.Hour)
			}
			if !end.After(now) {
				continue
			}
			if start.Before(now) {
				start = now
			}
			if best.IsZero() || start.Before(best) {
				best, bestEnd = start, end
			}
		}
	}
	if best.IsZero() {
		return now, now.Add(planned)
	}
	return best, bestEnd
}

func containsDay(days []time.Weekday, d time.Weekday) bool {
	for _, x := range days {
		if x == d {
			return true
		}
	}
	return false
}
