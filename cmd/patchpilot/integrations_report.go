package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) integrationsReportCommand() *cobra.Command {
	var since, until string
	cmd := &cobra.Command{
		Use:   "report NAME",
		Short: "Mail the KPI report of a period now through an email integration",
		Long: `Mail the KPI report (as 'patchpilot report' writes it: the fleet's standing
against its SLAs, the KPIs of the period, time to patch, the hosts out of
their SLA, the hosts patched per week) through the email integration NAME,
to its kpi_report's recipients (or its own). A kpi_report: setting makes the
server send it on a schedule by itself; this command sends one at once and
does not move that schedule. The attempt is recorded in the event log.

It exits non-zero with the mail server's answer when the report was not
accepted.`,
		Example: `  patchpilot integrations report ops-mail
  patchpilot integrations report ops-mail --since 7d
  patchpilot integrations report ops-mail --since 2026-06-01T00:00:00Z --until 2026-07-01T00:00:00Z`,
		Args: exactArgs(1, "the name of an email integration"),
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			now := time.Now()
			var from, to time.Time
			var err error
			if until == "" || cmd.Flags().Changed("since") {
				if from, err = app.ParseSince("--since", since, now); err != nil {
					return err
				}
			}
			if until != "" {
				if to, err = app.ParseSince("--until", until, now); err != nil {
					return err
				}
				if !cmd.Flags().Changed("since") {
					from = to.Add(-7 * 24 * time.Hour)
				}
			}
			sent, err := a.SendKPIReport(cmd.Context(), args[0], from, to)
			var de *patchpilot.DeliveryError
			if errors.As(err, &de) {
				what := "refused"
				if de.Retryable {
					what = "deferred (this may pass when tried again)"
				}
				return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "integration %s: the mail server %s the KPI report: %v", args[0], what, de)
			}
			if err != nil {
				return err
			}
			return c.render(sent, func(w io.Writer) {
				fmt.Fprintf(w, "%s sent the KPI report of %s to %s: %s\n", sent.Integration,
					sent.From.UTC().Format(time.RFC3339), sent.To.UTC().Format(time.RFC3339), sent.Subject)
			})
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "7d", "start of the period: a duration back from now (7d, 72h) or an RFC 3339 time (default: 7 days before --until)")
	fl.StringVar(&until, "until", "", "end of the period, in the same forms (default: now)")
	return cmd
}
