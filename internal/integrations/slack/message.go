package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Payload is the JSON body of an incoming webhook: a plain-text fallback
// (shown in notifications and where blocks cannot be) and the blocks.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is one Block Kit layout block; the fields a type does not use are
// left out.
type Block struct {
	Type     string    `json:"type"` // header, section, actions, context, divider
	Text     *Text     `json:"text,omitempty"`
	Fields   []Text    `json:"fields,omitempty"`
	Elements []Element `json:"elements,omitempty"`
}

// Text is a text object: plain_text or mrkdwn.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Element is an element of an actions block (a button) or of a context
// block (mrkdwn text).
type Element struct {
	Type     string `json:"type"`
	Text     any    `json:"text"` // *Text for a button, string for mrkdwn
	URL      string `json:"url,omitempty"`
	Style    string `json:"style,omitempty"`
	ActionID string `json:"action_id,omitempty"`
}

// Block Kit's limits (characters): a header's text, a section's text, a
// field, a button's text.
const (
	maxHeader  = 150
	maxSection = 3000
	maxField   = 2000
	maxButton  = 75
	maxFailed  = 10 // failed hosts listed by name
)

// Escape escapes Slack's mrkdwn control characters (&, <, >) so that text
// from hosts and plans cannot form links, mentions or broadcasts.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Message builds the Block Kit message of a notification.
func Message(n patchpilot.Notification) Payload {
	f := integrations.RolloutFacts(n)
	summary := integrations.OneLine(n.Summary)
	if summary == "" {
		summary = n.Event.Message
	}
	title := titleOf(n)
	p := Payload{Text: integrations.Clip(Escape(title+": "+summary), maxSection)}
	p.Blocks = append(p.Blocks,
		Block{Type: "header", Text: &Text{Type: "plain_text", Text: integrations.Clip(title, maxHeader), Emoji: true}},
		Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: integrations.Clip(Escape(summary), maxSection)}},
	)
	if f.Rollout != "" {
		field := func(name, value string) Text {
			return Text{Type: "mrkdwn", Text: integrations.Clip("*"+name+"*\n"+Escape(integrations.OneLine(value)), maxField)}
		}
		fields := []Text{field("Rollout", f.Rollout), field("Plan", orDefault(f.Plan, "(unnamed)")), field("State", string(f.State))}
		if f.Stage != "" {
			fields = append(fields, field("Stage", f.Stage))
		}
		fields = append(fields, field("Hosts", f.HostLine()))
		if f.Reason != "" {
			fields = append(fields, field("Reason", f.Reason))
		}
		p.Blocks = append(p.Blocks, Block{Type: "section", Fields: fields})
	}
	if len(f.FailedHosts) > 0 {
		var b strings.Builder
		b.WriteString("*Hosts that did not succeed*")
		for i, h := range f.FailedHosts {
			if i == maxFailed {
				fmt.Fprintf(&b, "\n…and %d more", len(f.FailedHosts)-maxFailed)
				break
			}
			fmt.Fprintf(&b, "\n• `%s` (%s, %s)", Escape(integrations.OneLine(h.Host)), Escape(h.Stage), h.State)
			if h.Reason != "" {
				b.WriteString(": " + Escape(integrations.Clip(integrations.OneLine(h.Reason), 200)))
			}
		}
		p.Blocks = append(p.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: integrations.Clip(b.String(), maxSection)}})
	}
	if n.URL != "" {
		label, style := "Open in patchpilot", ""
		if n.Topic == patchpilot.TopicApprovalNeeded {
			label, style = "Review and approve", "primary"
			if f.Stage != "" {
				label = integrations.Clip("Review and approve "+f.Stage, maxButton)
			}
		}
		p.Blocks = append(p.Blocks, Block{Type: "actions", Elements: []Element{{
			Type: "button", Text: &Text{Type: "plain_text", Text: label}, URL: n.URL, Style: style,
			ActionID: "patchpilot-open",
		}}})
	}
	ctx := []string{"patchpilot", string(n.Topic)}
	if n.Event.ID != 0 {
		ctx = append(ctx, fmt.Sprintf("event %d", n.Event.ID))
	}
	if !n.Event.Time.IsZero() {
		ctx = append(ctx, n.Event.Time.UTC().Format(time.DateTime)+" UTC")
	}
	if n.Event.Actor != "" {
		ctx = append(ctx, "by "+Escape(integrations.OneLine(n.Event.Actor)))
	}
	p.Blocks = append(p.Blocks, Block{Type: "context", Elements: []Element{{Type: "mrkdwn", Text: strings.Join(ctx, " · ")}}})
	return p
}

// titleOf is the message's header: what happened, with an emoji for the
// level.
func titleOf(n patchpilot.Notification) string {
	what := map[patchpilot.Topic]string{
		patchpilot.TopicRolloutStarted:  "Rollout started",
		patchpilot.TopicStageDone:       "Stage done",
		patchpilot.TopicApprovalNeeded:  "Approval needed",
		patchpilot.TopicHalted:          "Rollout halted",
		patchpilot.TopicRolledBack:      "Hosts rolled back",
		patchpilot.TopicRollbackFailed:  "Rollback failed",
		patchpilot.TopicIncident:        "Incident",
		patchpilot.TopicRecovered:       "Rollout running again",
		patchpilot.TopicRolloutFinished: "Rollout finished",
		patchpilot.TopicScheduleRun:     "Scheduled run",
		patchpilot.TopicTest:            "Test notification",
	}[n.Topic]
	if what == "" {
		what = "patchpilot: " + string(n.Topic)
	}
	if n.Rollout != nil && n.Rollout.Plan.Name != "" && n.Topic != patchpilot.TopicTest {
		what += ": " + integrations.OneLine(n.Rollout.Plan.Name)
	}
	switch n.Level {
	case patchpilot.LevelCritical:
		return ":red_circle: " + what
	case patchpilot.LevelWarning:
		return ":warning: " + what
	}
	return what
}
