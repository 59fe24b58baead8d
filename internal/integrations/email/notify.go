package email

import (
	"context"
	"fmt"
	"html/template"
	"net/mail"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Notifier mails notifications to an integration's recipients.
type Notifier struct {
	Config
	now  func() time.Time
	dial Dialer
}

// Build checks a spec (see Check) and returns its notifier; now is the
// clock of the Date header (nil: time.Now).
func Build(s integrations.Spec, getenv func(string) string, now func() time.Time) (*Notifier, error) {
	c, err := Check(s, getenv)
	if err != nil {
		return nil, err
	}
	return New(c, now, nil), nil
}

// New returns the notifier of a checked configuration; dial nil is a TCP
// dialer.
func New(c Config, now func() time.Time, dial Dialer) *Notifier {
	if now == nil {
		now = time.Now
	}
	return &Notifier{Config: c, now: now, dial: dial}
}

// Name is the integration's name.
func (n *Notifier) Name() string { return n.Config.Name }

// Handles reports whether the integration mails notifications of topic:
// its configured topics, or DefaultTopics; test notifications always.
func (n *Notifier) Handles(t patchpilot.Topic) bool {
	return t == patchpilot.TopicTest || slices.Contains(n.Topics, t)
}

// Notify mails the notification's summary; topics the integration does
// not handle send nothing.
func (n *Notifier) Notify(ctx context.Context, no patchpilot.Notification) error {
	if !n.Handles(no.Topic) {
		return nil
	}
	return n.Send(ctx, Summary(no, n.Config.Name, n.HTML), nil)
}

// Send mails m to to (nil: the integration's recipients).
func (n *Notifier) Send(ctx context.Context, m Mail, to []*mail.Address) error {
	if len(to) == 0 {
		to = n.To
	}
	msg := Compose(n.From, to, m, n.now())
	return n.Config.send(ctx, n.dial, to, msg)
}

// Summary is the mail of a notification: a subject naming the rollout and
// what happened, and a body with the summary, the rollout's facts, its
// stages, the hosts that did not succeed, its incidents and the link to
// the dashboard. name is the integration's (in the Message-ID).
func Summary(no patchpilot.Notification, name string, html bool) Mail {
	f := integrations.RolloutFacts(no)
	summary := integrations.OneLine(no.Summary)
	if summary == "" {
		summary = integrations.OneLine(no.Event.Message)
	}
	m := Mail{Subject: "[patchpilot] " + summary}
	if no.Event.ID != 0 {
		m.ID = fmt.Sprintf("patchpilot.e%d.%s", no.Event.ID, name)
	}
	if f.Rollout != "" {
		m.Thread = "patchpilot.rollout." + f.Rollout
		m.Headers = [][2]string{{"X-Patchpilot-Rollout", f.Rollout}}
	}
	// Mail filters route on the topic, with or without a rollout (a
	// scheduled run has none).
	if no.Topic != "" {
		m.Headers = append(m.Headers, [2]string{"X-Patchpilot-Topic", string(no.Topic)})
	}
	d := summaryDoc{Title: title(no, f), Summary: summary, F: f, URL: no.URL, Topic: no.Topic, Event: no.Event}
	d.URLText = "Open the rollout on the dashboard"
	if no.Topic == patchpilot.TopicApprovalNeeded {
		d.URLText = "Review and approve stage " + f.Stage
	}
	var t strings.Builder
	d.text(&t)
	m.Text = t.String()
	if html {
		var h strings.Builder
		if err := htmlSummary.Execute(&h, d); err == nil {
			m.HTML = h.String()
		}
	}
	return m
}

func title(no patchpilot.Notification, f integrations.Facts) string {
	if no.Topic == patchpilot.TopicScheduleRun {
		return "patchpilot: scheduled run"
	}
	if f.Rollout == "" {
		return "patchpilot: " + strings.ReplaceAll(string(no.Topic), "_", " ")
	}
	what := map[patchpilot.Topic]string{
		patchpilot.TopicRolloutStarted: "started", patchpilot.TopicStageDone: "finished a stage",
		patchpilot.TopicApprovalNeeded: "waits for approval", patchpilot.TopicHalted: "halted",
		patchpilot.TopicRolledBack: "rolled hosts back", patchpilot.TopicRollbackFailed: "could not roll a host back",
		patchpilot.TopicIncident: "had an incident", patchpilot.TopicRecovered: "runs again",
		patchpilot.TopicRolloutFinished: "finished: " + string(f.State),
	}[no.Topic]
	if what == "" {
		what = string(no.Topic)
	}
	t := "Rollout " + f.Rollout + " " + what
	if f.Plan != "" {
		t += " (plan " + integrations.OneLine(f.Plan) + ")"
	}
	return t
}

type summaryDoc struct {
	Title   string
	Summary string
	F       integrations.Facts
	URL     string
	URLText string
	Topic   patchpilot.Topic
	Event   patchpilot.Event
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func (d summaryDoc) text(b *strings.Builder) {
	fmt.Fprintf(b, "%s\n%s\n\n%s\n", d.Title, strings.Repeat("=", min(len(d.Title), 72)), d.Summary)
	f := d.F
	if f.Rollout != "" {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, integrations.OneLine(v)) }
		row("Rollout:", f.Rollout)
		row("Plan:", f.Plan)
		state := string(f.State)
		if f.Reason != "" {
			state += " (" + f.Reason + ")"
		}
		row("State:", state)
		if f.Stage != "" {
			row("Stage:", f.Stage)
		}
		row("Hosts:", f.HostLine())
		if len(f.Incidents) > 0 {
			row("Incidents:", fmt.Sprint(len(f.Incidents)))
		}
		_ = tw.Flush()
		if len(f.Stages) > 0 {
			b.WriteString("\nStages\n")
			tw = tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
			for i, s := range f.Stages {
				fmt.Fprintf(tw, "  %d. %s\t%s\t%s\n", i+1, integrations.OneLine(s.Name), s.State, plural(s.Hosts, "host"))
			}
			_ = tw.Flush()
		}
		if len(f.FailedHosts) > 0 {
			b.WriteString("\nHosts that did not succeed\n")
			tw = tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
			for _, h := range f.FailedHosts {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", integrations.OneLine(h.Host), integrations.OneLine(h.Stage), h.State, integrations.Clip(integrations.OneLine(h.Reason), 300))
			}
			_ = tw.Flush()
		}
		if len(f.Incidents) > 0 {
			b.WriteString("\nIncidents\n")
			for _, inc := range f.Incidents {
				fmt.Fprintf(b, "  #%d %s, stage %s: %s (hosts %s)\n", inc.ID, inc.Time.UTC().Format("2006-01-02 15:04 UTC"),
					integrations.OneLine(inc.Stage), integrations.Clip(integrations.OneLine(inc.Reason), 300), integrations.OneLine(strings.Join(inc.Hosts, ", ")))
			}
		}
	}
	if d.URL != "" {
		fmt.Fprintf(b, "\n%s:\n%s\n", d.URLText, d.URL)
	}
	fmt.Fprintf(b, "\n-- \npatchpilot, %s", d.Topic)
	if d.Event.ID != 0 {
		fmt.Fprintf(b, ", event %d at %s", d.Event.ID, d.Event.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	b.WriteString("\n")
}

var htmlSummary = template.Must(template.New("summary").Funcs(template.FuncMap{"plural": plural}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif;color:#1f2328">
<h2 style="margin:0 0 8px">{{.Title}}</h2>
<p>{{.Summary}}</p>
{{with .F}}{{if .Rollout}}<table cellpadding="4" style="border-collapse:collapse">
<tr><th align="left">Rollout</th><td><code>{{.Rollout}}</code></td></tr>
<tr><th align="left">Plan</th><td>{{.Plan}}</td></tr>
<tr><th align="left">State</th><td>{{.State}}{{if .Reason}} ({{.Reason}}){{end}}</td></tr>
{{if .Stage}}<tr><th align="left">Stage</th><td>{{.Stage}}</td></tr>{{end}}
<tr><th align="left">Hosts</th><td>{{.HostLine}}</td></tr>
</table>
{{if .Stages}}<h3>Stages</h3><table cellpadding="4" border="1" style="border-collapse:collapse">
<tr><th>Stage</th><th>State</th><th>Hosts</th></tr>
{{range .Stages}}<tr><td>{{.Name}}</td><td>{{.State}}</td><td align="right">{{.Hosts}}</td></tr>
{{end}}</table>{{end}}
{{if .FailedHosts}}<h3>Hosts that did not succeed</h3><table cellpadding="4" border="1" style="border-collapse:collapse">
<tr><th>Host</th><th>Stage</th><th>State</th><th>Reason</th></tr>
{{range .FailedHosts}}<tr><td><code>{{.Host}}</code></td><td>{{.Stage}}</td><td>{{.State}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}
{{if .Incidents}}<h3>Incidents</h3><ul>
{{range .Incidents}}<li>#{{.ID}} {{.Time.UTC.Format "2006-01-02 15:04 UTC"}}, stage {{.Stage}}: {{.Reason}}</li>
{{end}}</ul>{{end}}{{end}}{{end}}
{{if .URL}}<p><a href="{{.URL}}">{{.URLText}}</a></p>{{end}}
<p style="color:#656d76;font-size:small">patchpilot, {{.Topic}}{{if .Event.ID}}, event {{.Event.ID}}{{end}}</p>
</body></html>
`))
