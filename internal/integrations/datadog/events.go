package datadog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// DefaultSourceTypeName is the events' source_type_name when the
// integration names none: Datadog's source for a team's own applications.
const DefaultSourceTypeName = "my_apps"

// Limits of the events API.
const (
	maxTitle          = 100
	maxText           = 4000
	maxAggregationKey = 100
)

// Event is the body of POST /api/v1/events.
type Event struct {
	Title          string   `json:"title"`
	Text           string   `json:"text"`
	Tags           []string `json:"tags,omitempty"`
	AlertType      string   `json:"alert_type"`
	AggregationKey string   `json:"aggregation_key,omitempty"`
	SourceTypeName string   `json:"source_type_name"`
	DateHappened   int64    `json:"date_happened"`
	Priority       string   `json:"priority"`
}

var _ patchpilot.Notifier = (*Client)(nil)

// Notify posts the notification as a Datadog event: one per moment of a
// rollout (start, stage boundaries, approvals, halts, rollbacks,
// incidents, finish), grouped by the rollout's aggregation key and tagged
// rollout:ID and patchpilot_topic:TOPIC, so that a dashboard can overlay a
// rollout's events on its graphs.
func (c *Client) Notify(ctx context.Context, n patchpilot.Notification) error {
	ev := c.event(n)
	body, err := json.Marshal(ev)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "datadog event: %w", err)
	}
	_, err = c.do(ctx, http.MethodPost, "/api/v1/events", nil, body, false)
	return err
}

// event builds the event of a notification.
func (c *Client) event(n patchpilot.Notification) Event {
	rollout := n.Event.Rollout
	if n.Rollout != nil {
		rollout = n.Rollout.ID
	}
	title := "patchpilot: " + n.Summary
	if n.Summary == "" {
		title = fmt.Sprintf("patchpilot: %s", n.Topic)
	}
	var text strings.Builder
	text.WriteString(n.Summary)
	if n.Event.Message != "" && n.Event.Message != n.Summary {
		text.WriteString("\n" + n.Event.Message)
	}
	if n.Rollout != nil {
		fmt.Fprintf(&text, "\nrollout %s (%s): %s", n.Rollout.ID, n.Rollout.Plan.Name, n.Rollout.State)
		if n.Rollout.Reason != "" {
			text.WriteString(" - " + n.Rollout.Reason)
		}
	}
	if n.URL != "" {
		text.WriteString("\n" + n.URL)
	}
	tags := []string{"source:patchpilot", "patchpilot_topic:" + string(n.Topic)}
	if rollout != "" {
		tags = append(tags, "rollout:"+rollout)
	}
	if n.Event.Host != "" {
		tags = append(tags, "host:"+n.Event.Host)
	}
	tags = append(tags, c.tags...)
	ev := Event{Title: trim(title, maxTitle), Text: trim(text.String(), maxText), Tags: tags,
		AlertType: alertType(n), SourceTypeName: c.sourceType, Priority: "normal"}
	if !n.Event.Time.IsZero() {
		ev.DateHappened = n.Event.Time.Unix()
	}
	if rollout != "" {
		ev.AggregationKey = trim("patchpilot-"+rollout, maxAggregationKey)
	}
	return ev
}

// alertType maps a notification to the event's alert_type: halts, failed
// rollbacks and incidents are errors, rollbacks warnings, a recovery and a
// rollout that finished at level info successes, the rest info.
func alertType(n patchpilot.Notification) string {
	switch n.Topic {
	case patchpilot.TopicHalted, patchpilot.TopicRollbackFailed, patchpilot.TopicIncident:
		return "error"
	case patchpilot.TopicRolledBack:
		return "warning"
	case patchpilot.TopicRecovered:
		return "success"
	case patchpilot.TopicRolloutFinished:
		if n.Level == patchpilot.LevelInfo {
			return "success"
		}
	}
	switch n.Level {
	case patchpilot.LevelCritical:
		return "error"
	case patchpilot.LevelWarning:
		return "warning"
	}
	return "info"
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
