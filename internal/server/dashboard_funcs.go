package server

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot/internal/app"
)

// countTable is a titled table of outcome counts.
type countTable struct {
	Title string
	Rows  []app.OutcomeCount
}

// templateFuncs are the helpers the dashboard's templates use.
var templateFuncs = template.FuncMap{
	"pct": func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", v*100)
	},
	"num": func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "–"
		}
		return fmt.Sprintf("%.3g", v)
	},
	"numptr": func(v *float64) string {
		if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
			return "–"
		}
		return fmt.Sprintf("%.3g", *v)
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenptr": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	// plural picks the singular or plural words for a count shown
	// beside them.
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"neg": func(n int) int { return -n },
	"add": func(ns ...int) int {
		sum := 0
		for _, n := range ns {
			sum += n
		}
		return sum
	},
	// days writes a number of seconds as days (hours under a day).
	"days": func(secs any) string {
		var d time.Duration
		switch v := secs.(type) {
		case int64:
			d = time.Duration(v) * time.Second
		case float64:
			d = time.Duration(v * float64(time.Second))
		}
		if d < 24*time.Hour {
			return fmt.Sprintf("%.1f hours", d.Hours())
		}
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	},
	// badge is the CSS class of a state, outcome, verdict or level.
	"badge": func(v any) string {
		s := strings.ToLower(fmt.Sprint(v))
		switch s {
		case "compliant", "within_sla":
			return "badge good"
		case "out_of_sla":
			return "badge bad"
		case "succeeded", "pass", "healthy", "up to date", "low", "ok", "allow", "approve_auto", "immediate_full_deploy", "live":
			return "badge good"
		case "running", "pending", "waiting_approval", "paused", "preflight", "snapshot", "apply", "reboot", "verify",
			"inconclusive", "under_review", "updates pending", "medium", "canary", "approve", "skipped", "stale":
			return "badge warn"
		case "failed", "halted", "rolled_back", "rollback_failed", "aborted", "breach", "critical", "rollback",
			"error", "high", "security updates pending", "unreachable", "refuse", "manual_review_required", "rolling_back":
			return "badge bad"
		}
		return "badge"
	},
	// dict2 passes a titled table of outcome counts to a template.
	"dict2": func(title string, rows []app.OutcomeCount) countTable { return countTable{Title: title, Rows: rows} },
	"words": func(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") },
}

// counted writes a count with its noun: "1 host", "2 hosts".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
