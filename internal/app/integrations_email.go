package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/email"
)

func init() {
	integrationKinds[email.Type] = integrationKind{
		notifier: func(s integrations.Spec, o Options) (patchpilot.Notifier, error) {
			return email.Build(s, o.Getenv, o.Now)
		},
		reports: func(s integrations.Spec, o Options) (reportSender, error) {
			n, err := email.Build(s, o.Getenv, o.Now)
			if err != nil {
				return reportSender{}, err
			}
			return emailReports(n), nil
		},
		topics: email.DefaultTopics(),
	}
}

// emailReports mails reports to the kpi_report's recipients (or the
// integration's), on the kpi_report's schedule when one is set.
func emailReports(n *email.Notifier) reportSender {
	to := n.To
	if n.KPI != nil {
		to = n.KPI.To
	}
	rs := reportSender{
		html: n.HTML,
		send: func(ctx context.Context, m reportMail) error {
			return n.Send(ctx, email.Mail{Subject: m.Subject, Text: m.Text, HTML: m.HTML, ID: m.ID,
				Headers: [][2]string{{"X-Patchpilot-Report", ReportKPI}}}, to)
		},
	}
	if k := n.KPI; k != nil {
		rs.schedule = &reportSchedule{due: k.Due, window: k.Window, lookback: k.Lookback(), text: k.String()}
	}
	return rs
}
