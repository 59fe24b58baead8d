package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
)

func (c *cli) historyCommand() *cobra.Command {
	var f patchpilot.OutcomeFilter
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List how each host's patches ended, oldest first",
		Long: `List one record per host and rollout: the packages changed, how it ended
and why, with the health gate results that decided it. JSON fields: time,
rollout, host, packages: [{name, from, to}], outcome (succeeded, failed,
rolled_back, rollback_failed or unreachable), reason, unrelated (on a failed
outcome, why it is not the patch's fault, such as "fault injected"; "" when
it is: the table's outcome then reads "rolled_back (unrelated: ...)"),
predicted and predicted_by (the risk model's failure probability for the
host's patch when the rollout started and the model version; absent when
none was stored), gate_results.`,
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
					outcome := string(r.Outcome)
					if r.Unrelated != "" {
						outcome += " (unrelated: " + truncate(r.Unrelated, 40) + ")"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format(time.DateTime), r.Rollout, r.Host,
						strings.Join(pkgs, ", "), outcome, truncate(r.Reason, 80))
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
