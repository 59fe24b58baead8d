package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// reportDoc is 'report -o json': the period's KPIReport, with the fleet's
// standing now and the hosts out of their SLA.
type reportDoc struct {
	app.KPIReport
	ComplianceNow app.ComplianceTotals `json:"compliance_now"`
	OutOfSLA      []app.HostCompliance `json:"out_of_sla"`
	// Unrated are the hosts with pending security updates that have no
	// severity and so no deadline, most first.
	Unrated []app.HostCompliance `json:"unrated"`
}

func (c *cli) reportCommand() *cobra.Command {
	var since, until, format, out string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the patching KPIs of a period and the hosts out of their SLA",
		Long: `Write a report of a period (by default the last 30 days) for people who
will not run patchpilot: the fleet's standing against its patch SLAs now,
every host out of its SLA with the updates past their deadline, and the
KPIs of the period (docs/kpis.md defines each):

  - time to patch: mean and 90th percentile of the time from an update's
    availability to its installation, by severity;
  - compliance over time: the share of hosts within their SLA each day;
  - change failure rate, rollbacks, reboot and unhealthy downtime;
  - the share of host patches that needed no person;
  - hosts patched per week.

Formats (-o): table (the default, for a terminal), md (GitHub markdown),
html (one self-contained file with inline SVG charts, no external request:
mail it as is) and json (the KPIs as GET /api/v1/kpis returns them, with
compliance_now, out_of_sla and unrated: the hosts with security updates
that have no severity, which the SLA gives no deadline and so does not
measure; the report counts them next to the in-SLA figure).

Reads the local store, or a server's API with --server like the other read
commands.`,
		Example: `  patchpilot report
  patchpilot report --since 90d -o html --out patching-q3.html
  patchpilot report --since 2026-06-01T00:00:00Z --until 2026-07-01T00:00:00Z -o md
  patchpilot report --server https://pp.example.com:8443 -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, r reader) error {
			f, err := parseReportFormat(format)
			if err != nil {
				return err
			}
			now := time.Now()
			q := app.KPIQuery{}
			// --until alone ends the default period there: 30 days up to it.
			if until == "" || cmd.Flags().Changed("since") {
				if q.From, err = app.ParseSince("--since", since, now); err != nil {
					return err
				}
			}
			if until != "" {
				if q.To, err = app.ParseSince("--until", until, now); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			kpis, err := r.KPIs(ctx, q)
			if err != nil {
				return err
			}
			comp, err := r.Compliance(ctx)
			if err != nil {
				return err
			}
			doc := reportDoc{KPIReport: kpis, ComplianceNow: comp.Totals, OutOfSLA: comp.OutOfSLA()}
			doc.Unrated = comp.Unrated()
			if doc.OutOfSLA == nil {
				doc.OutOfSLA = []app.HostCompliance{}
			}
			if doc.Unrated == nil {
				doc.Unrated = []app.HostCompliance{}
			}
			var buf bytes.Buffer
			if err := writeReport(&buf, f, doc); err != nil {
				return err
			}
			if out == "" {
				w := io.Writer(c.stdout)
				if f == "table" {
					w = escapingWriter{c.stdout}
				}
				_, err := w.Write(buf.Bytes())
				return err
			}
			if err := writeOutFile("--out", out, buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(escapingWriter{c.stderr}, "wrote the %s report of %s to %s to %s\n", f,
				doc.From.Format(time.DateOnly), doc.To.Format(time.DateOnly), out)
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "30d", "start of the period: a duration back from now (30d, 72h) or an RFC 3339 time (default: 30 days before --until)")
	fl.StringVar(&until, "until", "", "end of the period, in the same forms (default: now)")
	fl.StringVarP(&format, "output", "o", "table", "report format: table, json, md or html")
	fl.StringVar(&out, "out", "", "write the report to FILE (default: standard output)")
	return cmd
}

func parseReportFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case "table", "json", "html":
		return f, nil
	case "md", "markdown":
		return "md", nil
	}
	err := patchpilot.Errorf(patchpilot.EINVALID, "--output %q: expected table, json, md or html", s)
	if strings.ContainsAny(s, "./") {
		return "", err.WithHint("-o is the report's format; write to a file with --out FILE")
	}
	return "", err
}

func writeReport(w io.Writer, format string, doc reportDoc) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case "md":
		writeReportMarkdown(w, doc)
		return nil
	case "html":
		return writeReportHTML(w, doc)
	}
	writeReportTable(w, doc)
	return nil
}

// reportRows are the report's tables as rows of cells, shared by every
// format: the KPIs, time to patch, the hosts out of their SLA and the weeks.
type reportRows struct {
	title     string
	period    string
	summary   [][2]string
	ttp       [][]string
	outOfSLA  [][]string
	weeks     [][]string
	lastShare string
}

var (
	ttpHeader = []string{"SEVERITY", "PATCHES", "MEAN", "P90"}
	slaHeader = []string{"HOST", "GROUP", "PACKAGE", "VERSION", "SEVERITY", "DEADLINE", "OVERDUE BY"}
	wkHeader  = []string{"WEEK OF", "HOSTS PATCHED", "HOST PATCHES"}
)

func rowsOf(doc reportDoc) reportRows {
	r := reportRows{
		title:  "Patching report",
		period: fmt.Sprintf("%s to %s (UTC)", doc.From.UTC().Format("2006-01-02 15:04"), doc.To.UTC().Format("2006-01-02 15:04")),
	}
	n := doc.ComplianceNow
	r.summary = [][2]string{
		{"Hosts within their SLA now", n.InSLAFigure()},
		{"Unrated security updates", app.ComplianceReport{Totals: n, Hosts: doc.Unrated}.UnratedFigure(app.MaxNamedUnrated)},
		{"Updates past their deadline", fmt.Sprint(n.OverdueUpdates)},
		{"Host patches", app.FormatPatchCounts(doc.Patches)},
		{"Change failure rate", app.FormatShare(doc.ChangeFailureRate)},
		{"Rollbacks", fmt.Sprintf("%d host patches in %d rollouts", doc.Rollbacks, doc.RolledBackRollouts)},
		{"Downtime from reboots", fmt.Sprintf("%s over %d reboots", app.FormatSeconds(doc.Downtime.RebootSeconds), doc.Downtime.Reboots)},
		{"Downtime unhealthy", fmt.Sprintf("%s over %d host patches", app.FormatSeconds(doc.Downtime.UnhealthySeconds), doc.Downtime.Unhealthy)},
		{"Patches that needed no person", fmt.Sprintf("%d (%s)", doc.Unattended, app.FormatShare(doc.UnattendedShare))},
	}
	if len(doc.Compliance) > 0 {
		last := doc.Compliance[len(doc.Compliance)-1]
		first := doc.Compliance[0]
		share := func(d app.ComplianceDay) string {
			if d.Share == nil {
				return "no host collected yet on " + d.Day.Format(time.DateOnly)
			}
			return app.FormatShare(*d.Share) + " on " + d.Day.Format(time.DateOnly)
		}
		r.lastShare = share(first) + ", " + share(last)
		r.summary = append(r.summary, [2]string{"Hosts within their SLA over the period", r.lastShare})
	}
	for _, t := range doc.TimeToPatch {
		if t.Count == 0 && t.Severity != "all" {
			continue
		}
		r.ttp = append(r.ttp, []string{t.Severity, fmt.Sprint(t.Count), app.FormatSeconds(t.MeanSeconds), app.FormatSeconds(t.P90Seconds)})
	}
	for _, h := range doc.OutOfSLA {
		for _, u := range h.Overdue {
			r.outOfSLA = append(r.outOfSLA, []string{h.Host, h.Group, u.Package, u.Version, dash(string(u.Severity)),
				u.Deadline.UTC().Format("2006-01-02 15:04"), app.FormatSeconds(float64(u.OverdueSeconds))})
		}
	}
	for _, w := range doc.Weekly {
		r.weeks = append(r.weeks, []string{w.Week.Format(time.DateOnly), fmt.Sprint(w.Hosts), fmt.Sprint(w.Patches)})
	}
	return r
}

func writeReportTable(w io.Writer, doc reportDoc) {
	r := rowsOf(doc)
	fmt.Fprintf(w, "%s, %s\n\n", r.title, r.period)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range r.summary {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	table := func(title string, header []string, rows [][]string, empty string) {
		fmt.Fprintf(w, "\n%s\n", title)
		if len(rows) == 0 {
			fmt.Fprintln(w, "  "+empty)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
		for _, row := range rows {
			fmt.Fprintln(tw, "  "+strings.Join(row, "\t"))
		}
		tw.Flush()
	}
	table("Time from availability to installation", ttpHeader, r.ttp, "")
	table("Hosts out of their SLA", slaHeader, r.outOfSLA, "none")
	table("Hosts patched per week", wkHeader, r.weeks, "")
}

// mdCell escapes text for a markdown table cell.
func mdCell(s string) string {
	var b strings.Builder
	for _, r := range escapeControls(s, false) {
		switch r {
		case '|', '\\', '`', '*', '_', '[', ']', '<', '>', '#', '~':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func writeReportMarkdown(w io.Writer, doc reportDoc) {
	r := rowsOf(doc)
	fmt.Fprintf(w, "# %s\n\n%s\n\n", r.title, mdCell(r.period))
	fmt.Fprintln(w, "| KPI | Value |\n|---|---|")
	for _, kv := range r.summary {
		fmt.Fprintf(w, "| %s | %s |\n", mdCell(kv[0]), mdCell(kv[1]))
	}
	table := func(title string, header []string, rows [][]string, empty string) {
		fmt.Fprintf(w, "\n## %s\n\n", title)
		if len(rows) == 0 {
			fmt.Fprintln(w, empty)
			return
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, row := range rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = mdCell(c)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	table("Time from availability to installation", ttpHeader, r.ttp, "No update was installed in the period.")
	table("Hosts out of their SLA", slaHeader, r.outOfSLA, "None: every collected host is within its SLA.")
	table("Hosts patched per week", wkHeader, r.weeks, "")
	fmt.Fprintln(w, "\nDefinitions: docs/kpis.md. Generated by patchpilot at "+doc.GeneratedAt.UTC().Format(time.RFC3339)+".")
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Rows.Title}}, {{.Rows.Period}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left; }
th { background: #f4f4f4; }
.charts svg { display: block; margin: 1em 0; max-width: 100%; height: auto; }
.muted { color: #666; }
</style>
</head>
<body>
<h1>{{.Rows.Title}}</h1>
<p class="muted">{{.Rows.Period}}</p>
<table>
{{range .Rows.Summary}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
<div class="charts">
{{.Compliance}}
{{.TimeToPatch}}
{{.Weekly}}
</div>
<h2>Hosts out of their SLA</h2>
{{if .Rows.OutOfSLA}}<table>
<tr>{{range .SLAHeader}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows.OutOfSLA}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{else}}<p>None: every collected host is within its SLA.</p>{{end}}
<h2>Time from availability to installation</h2>
{{if .Rows.TTP}}<table>
<tr>{{range .TTPHeader}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows.TTP}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<p class="muted">Definitions: docs/kpis.md in patchpilot's documentation. Generated at {{.Generated}}.</p>
</body>
</html>
`))

func writeReportHTML(w io.Writer, doc reportDoc) error {
	r := rowsOf(doc)
	ch := doc.Charts()
	return reportTemplate.Execute(w, map[string]any{
		"Rows":      map[string]any{"Title": r.title, "Period": r.period, "Summary": r.summary, "OutOfSLA": r.outOfSLA, "TTP": r.ttp},
		"SLAHeader": slaHeader, "TTPHeader": ttpHeader,
		"Compliance": ch.Compliance.SVG(), "TimeToPatch": ch.TimeToPatch.SVG(), "Weekly": ch.Weekly.SVG(),
		"Generated": doc.GeneratedAt.UTC().Format(time.RFC3339),
	})
}
