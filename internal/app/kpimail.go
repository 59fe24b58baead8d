package app

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// ReportKPI names the KPI report in EventReportSent's payload.
const ReportKPI = "kpi"

// reportMail is a report to mail: its subject, plain text and optional
// HTML, and the left part of its Message-ID.
type reportMail struct {
	Subject, Text, HTML, ID string
}

// reportSender is how an integration sends reports (an email
// integration); schedule is nil when it sends them only on demand.
type reportSender struct {
	send     func(ctx context.Context, m reportMail) error
	html     bool
	schedule *reportSchedule
}

// reportSchedule is when an integration sends the KPI report by itself.
type reportSchedule struct {
	// due says whether a report is due at now, given the last one sent
	// on schedule (zero: none) and whether that attempt failed.
	due func(now, last time.Time, failed bool) bool
	// window is the period the report due at now covers.
	window func(now time.Time) (from, to time.Time)
	// lookback bounds how far back the last report is looked for.
	lookback time.Duration
	text     string
}

// KPIReportSent is a KPI report an integration sent.
type KPIReportSent struct {
	Integration string    `json:"integration"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Subject     string    `json:"subject"`
}

// reportSender builds the named integration's report sender.
func (a *App) reportSender(name string) (string, reportSender, error) {
	s, err := a.Integration(name)
	if err != nil {
		return "", reportSender{}, err
	}
	k := integrationKinds[s.Type]
	if k.reports == nil {
		return "", reportSender{}, patchpilot.Errorf(patchpilot.EINVALID, "integration %s: type %s sends no reports; the KPI report is mailed by an integration of type email", s.Name, s.Type)
	}
	rs, err := k.reports(s, a.Options)
	if err != nil {
		return "", reportSender{}, buildError(s, err)
	}
	return s.Name, rs, nil
}

// SendKPIReport mails the KPI report of the period from..to (zero: as
// KPIs fills them, the 30 days up to now) through the named integration,
// which must send reports (type email), and records the attempt in the
// event log (EventReportSent, not scheduled). The error is the mail
// server's answer (a *patchpilot.DeliveryError) or why the report could
// not be made.
func (a *App) SendKPIReport(ctx context.Context, name string, from, to time.Time) (KPIReportSent, error) {
	name, rs, err := a.reportSender(name)
	if err != nil {
		return KPIReportSent{}, err
	}
	return a.sendKPIReport(ctx, name, rs, KPIQuery{From: from, To: to}, false)
}

func (a *App) sendKPIReport(ctx context.Context, name string, rs reportSender, q KPIQuery, scheduled bool) (KPIReportSent, error) {
	rep, err := a.KPIs(ctx, q)
	if err != nil {
		return KPIReportSent{}, err
	}
	comp, err := a.Compliance(ctx)
	if err != nil {
		return KPIReportSent{}, err
	}
	m := kpiReportMail(rep, comp, rs.html)
	m.ID = fmt.Sprintf("patchpilot.kpi.%s.%s.%s", name, rep.From.UTC().Format("20060102T1504"), rep.To.UTC().Format("20060102T1504"))
	sent := KPIReportSent{Integration: name, From: rep.From, To: rep.To, Subject: m.Subject}
	sendErr := rs.send(ctx, m)
	d := patchpilot.ReportSentData{Integration: name, Report: ReportKPI, From: rep.From, To: rep.To, Scheduled: scheduled}
	msg := fmt.Sprintf("sent the KPI report of %s to %s by integration %s", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), name)
	if sendErr != nil {
		d.Error = sendErr.Error()
		msg = fmt.Sprintf("could not send the KPI report of %s to %s by integration %s: %v", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), name, sendErr)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return sent, err
	}
	actor := "cli"
	if scheduled {
		actor = "dispatcher"
	}
	if err := a.record(context.WithoutCancel(ctx), patchpilot.Event{Time: a.now(), Actor: actor, Kind: patchpilot.EventReportSent, Message: msg, Data: data}); err != nil {
		if sendErr != nil {
			return sent, sendErr
		}
		return sent, fmt.Errorf("the KPI report was sent, but recording it failed: %w", err)
	}
	return sent, sendErr
}

// lastScheduledReport finds the last KPI report the integration sent on
// its schedule, within lookback of now: its time and whether it failed;
// zero when there is none.
func (a *App) lastScheduledReport(ctx context.Context, name string, lookback time.Duration) (time.Time, bool, error) {
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventReportSent, Since: a.now().Add(-lookback)})
	if err != nil {
		return time.Time{}, false, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		var d patchpilot.ReportSentData
		if json.Unmarshal(evs[i].Data, &d) != nil || d.Integration != name || d.Report != ReportKPI || !d.Scheduled {
			continue
		}
		return evs[i].Time, d.Error != "", nil
	}
	return time.Time{}, false, nil
}

// kpiReportMail renders the KPI report as mail, for people who will not
// run patchpilot: the fleet's standing now, the KPIs of the period, time
// to patch by severity, the hosts out of their SLA and the weeks; as
// `patchpilot report` writes them.
func kpiReportMail(rep KPIReport, comp ComplianceReport, html bool) reportMail {
	period := fmt.Sprintf("%s to %s (UTC)", rep.From.UTC().Format("2006-01-02 15:04"), rep.To.UTC().Format("2006-01-02 15:04"))
	n := comp.Totals
	summary := [][2]string{
		{"Hosts within their SLA now", n.InSLAFigure()},
		{"Unrated security updates", comp.UnratedFigure(MaxNamedUnrated)},
		{"Updates past their deadline", fmt.Sprint(n.OverdueUpdates)},
		{"Host patches", FormatPatchCounts(rep.Patches)},
		{"Change failure rate", FormatShare(rep.ChangeFailureRate)},
		{"Rollbacks", fmt.Sprintf("%d host patches in %d rollouts", rep.Rollbacks, rep.RolledBackRollouts)},
		{"Downtime from reboots", fmt.Sprintf("%s over %d reboots", FormatSeconds(rep.Downtime.RebootSeconds), rep.Downtime.Reboots)},
		{"Downtime unhealthy", fmt.Sprintf("%s over %d host patches", FormatSeconds(rep.Downtime.UnhealthySeconds), rep.Downtime.Unhealthy)},
		{"Patches that needed no person", fmt.Sprintf("%d (%s)", rep.Unattended, FormatShare(rep.UnattendedShare))},
	}
	var ttp [][]string
	for _, t := range rep.TimeToPatch {
		if t.Count == 0 && t.Severity != "all" {
			continue
		}
		ttp = append(ttp, []string{t.Severity, fmt.Sprint(t.Count), FormatSeconds(t.MeanSeconds), FormatSeconds(t.P90Seconds)})
	}
	var out [][]string
	for _, h := range comp.OutOfSLA() {
		for _, u := range h.Overdue {
			sev := string(u.Severity)
			if sev == "" {
				sev = "-"
			}
			out = append(out, []string{h.Host, h.Group, u.Package, u.Version, sev, u.Deadline.UTC().Format("2006-01-02 15:04"), FormatSeconds(float64(u.OverdueSeconds))})
		}
	}
	shown := out[:min(len(out), maxMailedOverdue)]
	var weeks [][]string
	for _, w := range rep.Weekly {
		weeks = append(weeks, []string{w.Week.Format(time.DateOnly), fmt.Sprint(w.Hosts), fmt.Sprint(w.Patches)})
	}
	m := reportMail{Subject: fmt.Sprintf("[patchpilot] Patching report %s to %s: %s of hosts within their SLA, %d out",
		rep.From.UTC().Format(time.DateOnly), rep.To.UTC().Format(time.DateOnly), FormatShare(n.InSLAShare()), n.OutOfSLA)}
	if n.UnratedUpdates > 0 {
		m.Subject += fmt.Sprintf(", %d security update%s without a severity", n.UnratedUpdates, plural(n.UnratedUpdates))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Patching report, %s\n\n", period)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, kv := range summary {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], integrations.OneLine(kv[1]))
	}
	_ = tw.Flush()
	table := func(title string, header []string, rows [][]string, empty string) {
		fmt.Fprintf(&b, "\n%s\n", title)
		if len(rows) == 0 {
			fmt.Fprintf(&b, "  %s\n", empty)
			return
		}
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
		for _, row := range rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = integrations.OneLine(c)
			}
			fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
		}
		_ = tw.Flush()
	}
	table("Time from availability to installation", mailTTPHeader, ttp, "no update was installed in the period")
	table("Hosts out of their SLA", mailSLAHeader, shown, "none: every collected host is within its SLA")
	if len(out) > len(shown) {
		fmt.Fprintf(&b, "  ... and %d more updates past their deadline ('patchpilot report' lists them all)\n", len(out)-len(shown))
	}
	table("Hosts patched per week", mailWeekHeader, weeks, "none")
	fmt.Fprintf(&b, "\n-- \npatchpilot, generated at %s; the KPIs are defined in docs/kpis.md\n", rep.GeneratedAt.UTC().Format(time.RFC3339))
	m.Text = b.String()
	if html {
		var h strings.Builder
		err := kpiMailHTML.Execute(&h, map[string]any{
			"Period": period, "Summary": summary, "TTPHeader": mailTTPHeader, "TTP": ttp,
			"SLAHeader": mailSLAHeader, "OutOfSLA": shown, "More": len(out) - len(shown),
			"WeekHeader": mailWeekHeader, "Weeks": weeks, "Generated": rep.GeneratedAt.UTC().Format(time.RFC3339),
		})
		if err == nil {
			m.HTML = h.String()
		}
	}
	return m
}

// MaxNamedUnrated bounds the hosts a report names in its figure of
// security updates without a severity.
const MaxNamedUnrated = 10

// maxMailedOverdue bounds the overdue updates a mailed report lists.
const maxMailedOverdue = 200

var (
	mailTTPHeader  = []string{"SEVERITY", "PATCHES", "MEAN", "P90"}
	mailSLAHeader  = []string{"HOST", "GROUP", "PACKAGE", "VERSION", "SEVERITY", "DEADLINE", "OVERDUE BY"}
	mailWeekHeader = []string{"WEEK OF", "HOSTS PATCHED", "HOST PATCHES"}
)

var kpiMailHTML = template.Must(template.New("kpi").Funcs(template.FuncMap{
	"dict": func(h []string, r [][]string) map[string]any { return map[string]any{"H": h, "R": r} },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Patching report, {{.Period}}</title></head>
<body style="font-family:sans-serif;color:#222">
<h2>Patching report</h2>
<p style="color:#666">{{.Period}}</p>
<table cellpadding="4" style="border-collapse:collapse">
{{range .Summary}}<tr><th align="left">{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{define "table"}}<table cellpadding="4" border="1" style="border-collapse:collapse">
<tr>{{range .H}}<th>{{.}}</th>{{end}}</tr>
{{range .R}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<h3>Time from availability to installation</h3>
{{if .TTP}}{{template "table" (dict .TTPHeader .TTP)}}{{else}}<p>No update was installed in the period.</p>{{end}}
<h3>Hosts out of their SLA</h3>
{{if .OutOfSLA}}{{template "table" (dict .SLAHeader .OutOfSLA)}}{{if .More}}<p>... and {{.More}} more updates past their deadline.</p>{{end}}{{else}}<p>None: every collected host is within its SLA.</p>{{end}}
<h3>Hosts patched per week</h3>
{{if .Weeks}}{{template "table" (dict .WeekHeader .Weeks)}}{{else}}<p>None.</p>{{end}}
<p style="color:#666;font-size:small">patchpilot, generated at {{.Generated}}; the KPIs are defined in docs/kpis.md</p>
</body></html>
`))

// FormatPatchCounts writes the host patches of a period by how they
// ended, as the reports show them.
func FormatPatchCounts(c PatchCounts) string {
	failed := fmt.Sprintf("%d failed", c.Failed)
	if c.FailedBeforeChange > 0 {
		failed += fmt.Sprintf(" (%d before any change)", c.FailedBeforeChange)
	}
	return fmt.Sprintf("%d: %d succeeded, %s, %d rolled back, %d rollback failed, %d unreachable",
		c.Total, c.Succeeded, failed, c.RolledBack, c.RollbackFailed, c.Unreachable)
}

// FormatShare formats a share as a percentage, "12.5%"; "n/a" for none
// (NaN: no host). The KPI report by e-mail and `patchpilot report` use it.
func FormatShare(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

// FormatSeconds is a duration for people: "3d 4h", "5h 20m", "45m",
// "30s". The KPI report by e-mail and `patchpilot report` use it.
func FormatSeconds(seconds float64) string {
	if seconds <= 0 || math.IsNaN(seconds) {
		return "0"
	}
	d := time.Duration(seconds * float64(time.Second))
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", int(math.Round(seconds)))
}
