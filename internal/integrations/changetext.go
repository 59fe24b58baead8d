package integrations

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Risk is the risk model's assessment of a rollout's patch on its hosts,
// for change records: the level and the lines that explain it.
type Risk struct {
	Level patchpilot.RiskLevel
	Lines []string
}

// RiskFunc assesses a rollout's patch; the app gives it to the change
// integrations.
type RiskFunc func(ctx context.Context, r patchpilot.Rollout) (Risk, error)

// AssessRisk runs f on the rollout, nil when f is nil; a failure is told
// in the lines rather than stopping the record.
func AssessRisk(ctx context.Context, f RiskFunc, r *patchpilot.Rollout) *Risk {
	if f == nil || r == nil {
		return nil
	}
	rk, err := f(ctx, *r)
	if err != nil {
		return &Risk{Lines: []string{"the risk could not be assessed: " + err.Error()}}
	}
	return &rk
}

// PlanText describes a rollout's plan for a change record, in plain text:
// its name, packages, targets, stages (size, approval and the reasons the
// policy gave for it), the risk model's assessment when rk is not nil, and
// the stage assignment and notes of the rollout_started event when n is
// one.
func PlanText(n patchpilot.Notification, rk *Risk) string {
	r := n.Rollout
	if r == nil {
		return n.Summary
	}
	p := r.Plan
	var b strings.Builder
	fmt.Fprintf(&b, "patchpilot rollout %s", r.ID)
	if p.Name != "" {
		fmt.Fprintf(&b, " of plan %s", p.Name)
	}
	if r.CreatedBy != "" {
		fmt.Fprintf(&b, ", started by %s", r.CreatedBy)
	}
	if r.DryRun {
		b.WriteString(" (dry run: no host is changed)")
	}
	b.WriteString(".\n\n")
	b.WriteString("Packages: ")
	var pkgs []string
	for _, pin := range p.Patch.Packages {
		pkgs = append(pkgs, pin.String())
	}
	if p.Patch.SecurityAll {
		pkgs = append(pkgs, "every pending security update")
	}
	if len(pkgs) == 0 {
		pkgs = append(pkgs, "(none)")
	}
	b.WriteString(strings.Join(pkgs, ", ") + "\n")
	var tg []string
	if p.Targets.Selector != "" {
		tg = append(tg, "selector "+p.Targets.Selector)
	}
	if len(p.Targets.Hosts) > 0 {
		tg = append(tg, "hosts "+strings.Join(p.Targets.Hosts, ", "))
	}
	if len(tg) > 0 {
		b.WriteString("Targets: " + strings.Join(tg, "; ") + "\n")
	}
	hosts := map[string]int{}
	for _, s := range r.Stages {
		hosts[s.Name] = len(s.Hosts)
	}
	b.WriteString("Stages:\n")
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "- %s: %d hosts", s.Name, hosts[s.Name])
		if s.Parallel > 1 {
			fmt.Fprintf(&b, ", %d at once", s.Parallel)
		}
		if s.Bake > 0 {
			fmt.Fprintf(&b, ", bake %s", s.Bake)
		}
		if s.Approval == patchpilot.ApprovalRequired {
			b.WriteString(", needs approval")
			if s.ApprovalReason != "" {
				b.WriteString(" (" + s.ApprovalReason + ")")
			}
		}
		b.WriteString("\n")
	}
	if len(p.Windows) > 0 {
		b.WriteString("Maintenance windows: " + windowsText(p.Windows) + "\n")
	}
	if rk != nil {
		if rk.Level != "" {
			b.WriteString("Risk: " + string(rk.Level) + "\n")
		}
		for _, l := range rk.Lines {
			b.WriteString("  " + l + "\n")
		}
	}
	if n.Topic == patchpilot.TopicRolloutStarted && len(n.Event.Data) > 0 {
		var d patchpilot.RolloutCreatedData
		if json.Unmarshal(n.Event.Data, &d) == nil {
			if len(d.Stages) > 0 {
				b.WriteString("Assignment:\n")
				for _, s := range d.Stages {
					b.WriteString("- " + s + "\n")
				}
			}
			for _, note := range d.Notes {
				b.WriteString("Note: " + note + "\n")
			}
		}
	}
	if n.URL != "" {
		b.WriteString("\n" + n.URL + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func windowsText(ws []patchpilot.MaintenanceWindow) string {
	var out []string
	for _, w := range ws {
		var days []string
		for _, d := range w.Days {
			days = append(days, d.String()[:3])
		}
		tz := w.TZ
		if tz == "" {
			tz = "UTC"
		}
		out = append(out, fmt.Sprintf("%s %v-%v %s", strings.Join(days, ","), w.Start, w.End, tz))
	}
	return strings.Join(out, "; ")
}

// OutcomeText is the outcome of a finished rollout for a change record:
// its state, reason and each stage's end.
func OutcomeText(n patchpilot.Notification) string {
	r := n.Rollout
	if r == nil {
		return n.Summary
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Rollout %s ended %s", r.ID, r.State)
	if r.Reason != "" {
		b.WriteString(": " + r.Reason)
	}
	b.WriteString(".\n")
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "- stage %s: %s", s.Name, s.State)
		if s.Reason != "" {
			b.WriteString(" (" + s.Reason + ")")
		}
		b.WriteString("\n")
	}
	if n.URL != "" {
		b.WriteString("\n" + n.URL + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Marker is the line that names the event a comment or work note was
// written for, so that a retried notification finds it and does not
// write it twice.
func Marker(n patchpilot.Notification) string {
	return fmt.Sprintf("(patchpilot event %d)", n.Event.ID)
}

// Succeeded reports whether a finished rollout succeeded.
func Succeeded(r *patchpilot.Rollout) bool {
	return r != nil && r.State == patchpilot.RolloutSucceeded
}

// Timestamp formats t as "2006-01-02 15:04:05" in UTC, as ServiceNow's
// Table API reads dates.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
