package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) historyCommand() *cobra.Command {
	var f patchpilot.OutcomeFilter
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List how each host's patches ended, oldest first",
		Long: `List one record per host and rollout: the packages changed, how it ended
and why, with the health gate results that decided it. JSON fields: time,
rollout, host, packages: [{name, from, to}], outcome (succeeded, failed,
rolled_back, rollback_failed or unreachable), reason, gate_results.`,
		Example: `  patchpilot history
  patchpilot history --host lab01 -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, a reader) error {
			recs, err := a.History(cmd.Context(), f)
			if err != nil {
				return err
			}
			return c.render(recs, func(w io.Writer) {
				if len(recs) == 0 {
					fmt.Fprintln(w, "No outcomes yet: they are recorded as rollouts finish hosts.")
					return
				}
				fmt.Fprintln(w, "TIME\tROLLOUT\tHOST\tPACKAGES\tOUTCOME\tREASON")
				for _, r := range recs {
					var pkgs []string
					for _, p := range r.Packages {
						pkgs = append(pkgs, fmt.Sprintf("%s %s→%s", p.Name, dash(p.From), dash(p.To)))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format(time.DateTime), r.Rollout, r.Host,
						strings.Join(pkgs, ", "), r.Outcome, truncate(r.Reason, 80))
				}
			})
		}),
	}
	cmd.Flags().StringVar(&f.Host, "host", "", "only this host")
	cmd.Flags().StringVar(&f.Rollout, "rollout", "", "only this rollout")
	cmd.Flags().StringVar(&f.Package, "package", "", "only outcomes that changed this package")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many records (0: all)")
	notNegative(cmd, "limit", &f.Limit)
	cmd.AddCommand(c.historyExportCommand(), c.historyImportCommand())
	return cmd
}

// checkHistoryFilter tells an empty history from a misspelt --host or
// --rollout: a host or rollout that is neither stored nor named by any
// outcome does not exist (exit 4). A removed host keeps its outcomes, so
// it is found by them.
func checkHistoryFilter(ctx context.Context, a *app.App, f patchpilot.OutcomeFilter) error {
	if f.Host != "" {
		if _, err := a.Store.Host(ctx, f.Host); patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Host: f.Host, Limit: 1})
			if err != nil {
				return err
			}
			if len(outs) == 0 {
				return patchpilot.Errorf(patchpilot.ENOTFOUND, "--host %q: no such host, and no history names it", f.Host).
					WithHint("list the hosts with 'patchpilot hosts'")
			}
		}
	}
	if f.Rollout != "" {
		if _, err := a.Store.Rollout(ctx, f.Rollout); patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Rollout: f.Rollout, Limit: 1})
			if err != nil {
				return err
			}
			if len(outs) == 0 {
				return patchpilot.Errorf(patchpilot.ENOTFOUND, "--rollout %q: no such rollout, and no history names it", f.Rollout).
					WithHint("list the rollouts with 'patchpilot rollout list'")
			}
		}
	}
	return nil
}
