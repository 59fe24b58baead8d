package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

func (c *cli) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Show the patch and inventory schedules of the configuration",
		Long: `Schedules live in patchpilot.yaml: "schedules:" start patch rollouts (a cron
expression or a Patch-Tuesday rule, a host selector, an update selector and
a maintenance window), "inventory_schedules:" collect an inventory every so
often. The server runs them; see docs/scheduling.md.`,
	}
	cmd.AddCommand(c.scheduleListCommand())
	return cmd
}

func (c *cli) scheduleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List each schedule with its next five run times and its last run",
		Long: `List the configured schedules, patch schedules first, each with its next
five run times in its time zone and in UTC, and its last recorded run. An
inventory schedule's runs follow its last run by its interval; one that
never ran runs when the server starts.

JSON fields per schedule: name, kind (patch or inventory), when, timezone,
hosts, updates (security, min_severity, packages), window (days, start, end,
tz), inventory, every, updates_text, window_text, next (in the schedule's
zone), next_utc, starts (when each next run starts: its time, or the
opening of its window), last (id, schedule, kind, due, started, finished, outcome,
message, plan, rollout).`,
		Example: `  patchpilot schedule list
  patchpilot schedule list -o json | jq '.[] | {name, next_utc}'`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.orRemote(func(cmd *cobra.Command, _ []string, cl *server.Client) error {
			views, err := cl.Schedules(cmd.Context())
			if err != nil {
				return err
			}
			return c.render(views, func(w io.Writer) { writeScheduleList(w, views) })
		}, c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			views, err := a.Schedules(cmd.Context())
			if err != nil {
				return err
			}
			return c.render(views, func(w io.Writer) { writeScheduleList(w, views) })
		})),
	}
}

func writeScheduleList(w io.Writer, items []app.ScheduleView) {
	if len(items) == 0 {
		fmt.Fprintln(w, "no schedules are configured (see docs/scheduling.md for the schedules: and inventory_schedules: sections of patchpilot.yaml)")
		return
	}
	for i, it := range items {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\t%s\n", it.Name, it.Kind)
		if it.Kind == patchpilot.SchedulePatch {
			zone := it.Timezone
			if zone == "" {
				zone = "UTC"
			}
			fmt.Fprintf(w, "  when:\t%s (%s)\n", it.When, zone)
			hosts := it.Hosts
			if hosts == "" {
				hosts = "every host collected once"
			}
			fmt.Fprintf(w, "  hosts:\t%s\n", hosts)
			fmt.Fprintf(w, "  updates:\t%s\n", it.UpdatesText)
			if it.Window != nil {
				fmt.Fprintf(w, "  window:\t%s\n", it.WindowText)
			}
			if it.Inventory != "" {
				fmt.Fprintf(w, "  collects:\t%s\n", it.Inventory)
			}
		} else {
			fmt.Fprintf(w, "  every:\t%s\n", it.EveryText)
			fmt.Fprintf(w, "  inventory:\t%s\n", it.Inventory)
		}
		for j, t := range it.Next {
			label := ""
			if j == 0 {
				label = "next:"
			}
			line := fmt.Sprintf("  %s\t%s\t%s", label, t.Format("Mon 2006-01-02 15:04 MST"), it.NextUTC[j].Format("2006-01-02 15:04Z"))
			if start := it.Starts[j]; !start.Equal(t) {
				line += "\twaits for the window: starts " + start.Format("Mon 2006-01-02 15:04 MST")
			}
			fmt.Fprintln(w, line)
		}
		if it.Last == nil {
			fmt.Fprintf(w, "  last:\tnever ran\n")
			continue
		}
		last := fmt.Sprintf("due %s: %s", it.Last.Due.In(it.Location()).Format("2006-01-02 15:04 MST"), strings.ReplaceAll(string(it.Last.Outcome), "_", " "))
		if it.Last.Message != "" {
			last += " (" + it.Last.Message + ")"
		}
		fmt.Fprintf(w, "  last:\t%s\n", last)
	}
}
