package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) integrationsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "integrations",
		Short: "List, test and retry the services patchpilot tells of rollouts; show how far each is told",
		Long: `Integrations are the services of the integrations: section of patchpilot.yaml
(docs/integrations.md): chat, paging, tickets, webhooks. The server tells each
of them the events of the log it is routed (topics, min_level), in order,
from the moment it is first configured: each integration has a cursor in
the database, moved after each event is delivered. A service that fails is
retried with growing waits; one that refuses, or still fails after the
attempts (an hour of retries), is given up for that event, recorded, and
shown by 'integrations status'; 'integrations retry' sends it once more.`,
	}
	cmd.AddCommand(c.integrationsListCommand(), c.integrationsStatusCommand(), c.integrationsTestCommand(), c.integrationsReportCommand(),
		c.integrationsRetryCommand())
	return cmd
}

func (c *cli) integrationsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the configured integrations with their type and routing",
		Long: `List the integrations of patchpilot.yaml: name, type, and what each is told
(its topics, or every topic; its least level, or every level).

It checks the section as the server does (each type's settings, URLs,
durations, keys present), except that it reads no secret: it exits 2 naming
the file and line of the first problem. It does not open the database.

JSON fields per integration: name, type, topics, min_level (info when not
set: every level), notified (whether its type is told of events),
unset_secrets (the environment variables its secrets are read from that
are not set where the command runs, also said under the table; their
values are never shown).`,
		Example: `  patchpilot integrations list
  patchpilot integrations list -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withConfig(func(cmd *cobra.Command, _ []string, a *app.App) error {
			if err := a.CheckIntegrations(); err != nil {
				return err
			}
			views := integrationViews(a)
			return c.render(views, func(w io.Writer) {
				if len(views) == 0 {
					fmt.Fprintln(w, noIntegrations)
					return
				}
				fmt.Fprintln(w, "NAME\tTYPE\tTOPICS\tMIN LEVEL")
				for _, v := range views {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.Name, v.Type, topicsText(v.Topics, v.Notified), levelText(v.MinLevel, v.Notified))
				}
				for _, v := range views {
					for _, e := range v.UnsetSecrets {
						fmt.Fprintf(w, "%s: %s\n", v.Name, unsetSecretText(e))
					}
				}
			})
		}),
	}
}

const noIntegrations = "no integrations are configured (see docs/integrations.md for the integrations: section of patchpilot.yaml)"

type integrationView struct {
	Name     string             `json:"name"`
	Type     string             `json:"type"`
	Topics   []patchpilot.Topic `json:"topics"`
	MinLevel patchpilot.Level   `json:"min_level"`
	Notified bool               `json:"notified"`
	// UnsetSecrets are the environment variables its secrets are read
	// from that are not set where the command runs.
	UnsetSecrets []string `json:"unset_secrets,omitempty"`
}

// unsetSecretText says that a secret's variable is unset, naming the
// variable only.
func unsetSecretText(env string) string {
	return "secret variable " + env + " is not set in this environment"
}

func integrationViews(a *app.App) []integrationView {
	out := []integrationView{}
	for _, s := range a.Options.Integrations.Items {
		level := s.MinLevel
		if level == "" {
			level = patchpilot.LevelInfo
		}
		out = append(out, integrationView{Name: s.Name, Type: s.Type, Topics: append([]patchpilot.Topic{}, app.IntegrationTopics(s)...),
			MinLevel: level, Notified: app.SpecNotified(s), UnsetSecrets: a.UnsetSecrets(s)})
	}
	return out
}

// withConfig runs a command that reads patchpilot.yaml only: the app is
// built without opening the database.
func (c *cli) withConfig(run func(cmd *cobra.Command, args []string, a *app.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		o, err := c.options(cmd)
		if err != nil {
			return err
		}
		if _, err := parseFormat(c.output); err != nil {
			return err
		}
		a, err := app.NewWithoutStore(o)
		if err != nil {
			return err
		}
		return run(cmd, args, a)
	}
}

func topicsText(ts []patchpilot.Topic, notified bool) string {
	if !notified {
		return "-"
	}
	if len(ts) == 0 {
		return "all"
	}
	var s []string
	for _, t := range ts {
		s = append(s, string(t))
	}
	return strings.Join(s, ",")
}

func levelText(l patchpilot.Level, notified bool) string {
	switch {
	case !notified:
		return "-"
	case l == "":
		return "info"
	}
	return string(l)
}

func (c *cli) integrationsStatusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show how far each integration has been told of the events, and what was given up",
		Long: `Show, for each configured integration told of events: its cursor (the last
event of the log handled: delivered, not routed to it, or given up), how many
events of the log are after it (behind), the last event the service accepted
and when, the delivery being retried (its event, the attempts so far, the
last error and the next try: waiting to retry, not stuck), and the
deliveries given up with the error the service answered. A cursor is made
when a server naming the integration starts, at the end of the log: it is
not told of the events before. A secret read from an environment variable
that is not set where the command runs is named (never its value): the
server runs in an environment of its own, which may differ.

JSON fields per integration: name, type, topics, min_level, notified,
unset_secrets (the variables of its secrets not set here), cursor
(integration, event_id, delivered_event_id, delivered_at, behind, retrying:
{event_id, attempts, error, next_try} while a failed delivery waits for its
next try; absent before the cursor is made), given_up (id, integration, event_id, topic, attempts,
error, time, and after 'integrations retry': redelivery (requested, sending,
redelivered, failed), redelivery_error, redelivered_at; the newest 20),
given_up_total.`,
		Example: `  patchpilot integrations status
  patchpilot integrations status --json | jq '.[] | {name, behind: .cursor.behind}'`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			if asJSON {
				c.output = "json"
			}
			st, err := a.IntegrationStatuses(cmd.Context())
			if err != nil {
				return err
			}
			if st == nil {
				st = []app.IntegrationStatus{}
			}
			return c.render(st, func(w io.Writer) { writeIntegrationStatus(w, st) })
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, as -o json does")
	return cmd
}

func writeIntegrationStatus(w io.Writer, st []app.IntegrationStatus) {
	if len(st) == 0 {
		fmt.Fprintln(w, noIntegrations)
		return
	}
	for i, s := range st {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\t%s\n", s.Name, s.Type)
		for _, e := range s.UnsetSecrets {
			fmt.Fprintf(w, "  %s\n", unsetSecretText(e))
		}
		if !s.Notified {
			fmt.Fprintln(w, "  not told of events")
			continue
		}
		c := s.Cursor
		if c == nil {
			fmt.Fprintln(w, "  cursor:\tnone yet (a server naming it starts it at the end of the log when it starts)")
		} else {
			fmt.Fprintf(w, "  cursor:\tevent %d, %d behind\n", c.EventID, c.Behind)
			if c.DeliveredEventID == 0 {
				fmt.Fprintln(w, "  last delivery:\tnone yet")
			} else {
				fmt.Fprintf(w, "  last delivery:\tevent %d at %s\n", c.DeliveredEventID, c.DeliveredAt.UTC().Format(time.RFC3339))
			}
			if r := c.Retrying; r != nil {
				fmt.Fprintf(w, "  retrying:\tevent %d, %d attempt%s failed, next try at %s: %s\n", r.EventID, r.Attempts,
					map[bool]string{true: "", false: "s"}[r.Attempts == 1], r.NextTry.UTC().Format(time.RFC3339), r.Error)
			}
		}
		if s.Redelivered > 0 {
			fmt.Fprintf(w, "  last redelivery:\tevent %d at %s\n", s.LastRedeliveryEventID, s.LastRedelivery.UTC().Format(time.RFC3339))
		}
		if s.GivenUpTotal == 0 {
			fmt.Fprintln(w, "  given up:\tnone")
			continue
		}
		if s.StillGivenUp == 0 {
			fmt.Fprintln(w, "  given up:\tnone left")
		} else {
			fmt.Fprintf(w, "  given up:\t%d\n", s.StillGivenUp)
		}
		if s.Redelivered > 0 {
			fmt.Fprintf(w, "  redelivered:\t%d\n", s.Redelivered)
		}
		for _, f := range s.GivenUp {
			fmt.Fprintf(w, "    event %d (%s) at %s after %d attempt%s: %s\n", f.EventID, f.Topic, f.Time.UTC().Format(time.RFC3339),
				f.Attempts, map[bool]string{true: "", false: "s"}[f.Attempts == 1], f.Error)
			if r := redeliveryText(f); r != "" {
				fmt.Fprintf(w, "      %s\n", r)
			}
		}
		if s.GivenUpTotal > len(s.GivenUp) {
			fmt.Fprintf(w, "    and %d older\n", s.GivenUpTotal-len(s.GivenUp))
		}
	}
}

func (c *cli) integrationsTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test NAME",
		Short: "Send a test notification to one integration and show what the service answered",
		Long: `Build the integration NAME of patchpilot.yaml (reading its secrets) and send
it a notification of topic "test" (routing does not apply). It prints what
was sent when the service accepted it; otherwise the service's answer or why
the integration could not be built, and exits non-zero. It does not open
the database: nothing is recorded.`,
		Example: `  patchpilot integrations test ops-webhook`,
		Args:    exactArgs(1, "the name of an integration"),
		RunE: c.withConfig(func(cmd *cobra.Command, args []string, a *app.App) error {
			n, err := a.TestIntegration(cmd.Context(), args[0])
			var de *patchpilot.DeliveryError
			if errors.As(err, &de) {
				what := "refused"
				if de.Retryable {
					what = "failed (this may pass when tried again)"
				}
				return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "integration %s: the test notification %s: %v", args[0], what, de)
			}
			if err != nil {
				return err
			}
			return c.render(n, func(w io.Writer) {
				fmt.Fprintf(w, "%s accepted the test notification: %s\n", args[0], n.Summary)
			})
		}),
	}
}

// redeliveryText tells where a given-up delivery's redelivery stands.
func redeliveryText(f patchpilot.DeliveryFailure) string {
	switch f.Redelivery {
	case patchpilot.RedeliveryRequested:
		return "redelivery requested: the server holding the delivery lease sends it"
	case patchpilot.RedeliverySending:
		return "redelivery cut off while sending (it may have arrived); it is not sent again"
	case patchpilot.RedeliveryDone:
		return "redelivered at " + f.RedeliveredAt.UTC().Format(time.RFC3339) + " (resolved)"
	case patchpilot.RedeliveryFailed:
		return "redelivery at " + f.RedeliveredAt.UTC().Format(time.RFC3339) + " failed too: " + f.RedeliveryError
	}
	return ""
}

func (c *cli) integrationsRetryCommand() *cobra.Command {
	var event int64
	cmd := &cobra.Command{
		Use:   "retry NAME",
		Short: "Send an integration's given-up deliveries once more",
		Long: `Send once more the deliveries given up for the integration NAME (all of
those never retried, or the one of --event), in the order they happened.
Each given-up delivery is retried at most once, whatever its outcome; the
outcome is recorded and shown by 'integrations status' (redelivered, or
failed with the service's answer).

The redeliveries are marked in the database. When no server holds the
delivery lease, this command takes it and sends them itself (it reads the
integration's secrets, as 'integrations test' does); otherwise the server
holding the lease sends them at its next pass (within seconds). Either way
each is claimed in the database before it is sent, so it is never sent
twice.

JSON fields: requested (the given-up deliveries marked), delivered (whether
this command sent them), holder (the server that sends them otherwise),
results (those deliveries as they stand: redelivery, redelivery_error,
redelivered_at).`,
		Example: `  patchpilot integrations retry ops-hook
  patchpilot integrations retry ops-hook --event 812`,
		Args: exactArgs(1, "the name of an integration"),
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) (err error) {
			if event < 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "--event: expected an event id, got %d", event)
			}
			res, err := a.RetryDeliveries(cmd.Context(), args[0], event)
			if err != nil {
				return err
			}
			failed := 0
			for _, f := range res.Results {
				if f.Redelivery == patchpilot.RedeliveryFailed {
					failed++
				}
			}
			defer func() {
				if failed > 0 && err == nil {
					err = patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%d of %d redeliveries to %s failed; they are not retried again", failed, len(res.Results), args[0])
				}
			}()
			return c.render(res, func(w io.Writer) {
				if len(res.Requested) == 0 {
					fmt.Fprintf(w, "%s has no given-up delivery left to retry (each is retried at most once; see 'patchpilot integrations status')\n", args[0])
					return
				}
				if !res.Delivered {
					fmt.Fprintf(w, "marked %d given-up deliver%s of %s for a redelivery; %s, holding the delivery lease, sends them (see 'patchpilot integrations status')\n",
						len(res.Requested), map[bool]string{true: "y", false: "ies"}[len(res.Requested) == 1], args[0], res.Holder)
					return
				}
				for _, f := range res.Results {
					fmt.Fprintf(w, "event %d (%s): %s\n", f.EventID, f.Topic, redeliveryText(f))
				}
			})
		}),
	}
	cmd.Flags().Int64Var(&event, "event", 0, "retry only the given-up delivery of this event id")
	return cmd
}
