package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) assessCommand() *cobra.Command {
	var q app.AssessQuery
	cmd := &cobra.Command{
		Use:   "assess",
		Short: "Predict which pending updates will break which hosts",
		Long: `Score the pending updates of each host's latest snapshot with the active risk
model (the cold-start model of public priors when none is trained). Updates
are grouped into patches by source package and candidate version, or form
one patch given with --patch "pkg=version,pkg2=version" (a name matches a
package or its source package). For each patch and host: the probability of
failure, its level (low below 2%, medium below 10%, high), the main reasons
with their size, warnings from facts (the dry run removes or holds
packages, the version already failed in this fleet, the host's last patch
was rolled back) and the recommended strategy. Patches are listed riskiest
first. See docs/risk.md.

JSON fields: model_version, cold_start, patches: [{patch, packages,
summary: {hosts, max_probability, mean_probability, expected_failures,
level, strategy, warnings, model_version}, hosts: [{host, packages,
probability, level, reasons: [{feature, text, direction, effect}],
warnings: [{kind, text}], strategy, model_version, baseline_score}]}],
held: [{host, package, installed_version, version, release}] (the hosts
--patch leaves out because they hold a pinned package, which the package
manager then neither lists as an update nor changes; 'plan' keeps them and
warns that their apply is refused). strategy is immediate_full_deploy,
canary or manual_review_required. quarantined: [{host, quarantine:
{package, version, source_package, class, rollout, host, time, outcome,
reason, failures, clear}}] are the hosts on whose class (OS release and
role) a version of the patch failed in an earlier rollout: the patch is not
offered to them ('plan' leaves them out) until 'patchpilot quarantine clear'
lifts it; the table's strategy then says "quarantined" (every host) or how
many hosts are, and each such host's lines end with the reason and the
command that clears it.

Exit code 4 when no pending update matches --patch; the hint names the
hosts that hold the package and the command that releases the hold.`,
		Example: `  patchpilot assess
  patchpilot assess --patch openssl=3.0.15-1~deb12u1 -o json
  patchpilot assess --host web-1`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, a reader) error {
			res, err := a.Assess(cmd.Context(), q)
			if err != nil {
				return err
			}
			// A host never collected has no pending update known, which
			// is not the same as none pending.
			uncollected := false
			if f, _ := parseFormat(c.output); q.Host != "" && len(res.Patches) == 0 && f == formatTable {
				sums, err := a.HostSummaries(cmd.Context())
				if err != nil {
					return err
				}
				for _, s := range sums {
					if s.Name == q.Host && s.CollectedAt == nil {
						uncollected = true
					}
				}
			}
			return c.render(res, func(w io.Writer) {
				if uncollected {
					fmt.Fprintf(w, "No facts were ever collected from %s: its pending updates are unknown; collect them with 'patchpilot inventory collect'.\n", q.Host)
					return
				}
				writeAssessResult(w, res)
			})
		}),
	}
	cmd.Flags().StringVar(&q.Patch, "patch", "", `only these updates, as one patch: "pkg=version,pkg2=version"`)
	cmd.Flags().StringVar(&q.Host, "host", "", "only this host")
	return cmd
}

func writeAssessResult(w io.Writer, res app.AssessResult) {
	fmt.Fprintf(w, "model %s%s\n", res.ModelVersion, coldStartNote(res.ColdStart))
	for _, h := range res.Held {
		fmt.Fprintf(w, "note: %s\n", escapeControls(h.Text(), false))
	}
	if len(res.Patches) == 0 {
		fmt.Fprintln(w, "No pending updates.")
		return
	}
	fmt.Fprintln(w, "\nPATCH\tHOSTS\tMAX P\tMEAN P\tEXPECTED FAILURES\tLEVEL\tSTRATEGY\tWARNINGS")
	for _, p := range res.Patches {
		s := p.Summary
		strategy := string(s.Strategy)
		switch n := len(p.Quarantined); {
		case n > 0 && n == len(p.Hosts):
			strategy = "quarantined"
		case n > 0:
			strategy += fmt.Sprintf(" (%d quarantined)", n)
		}
		fmt.Fprintf(w, "%s\t%d\t%.1f%%\t%.1f%%\t%.2f\t%s\t%s\t%d\n", p.Patch, s.Hosts, 100*s.MaxProbability,
			100*s.MeanProbability, s.ExpectedFailures, s.Level, strategy, s.Warnings)
	}
	for _, p := range res.Patches {
		quarantined := map[string]app.Quarantine{}
		for _, q := range p.Quarantined {
			quarantined[q.Host] = q.Quarantine
		}
		for _, h := range p.Hosts {
			fmt.Fprintln(w)
			writeLines(w, app.AssessmentLines(p.Patch, h))
			if q, ok := quarantined[h.Host]; ok {
				fmt.Fprintf(w, "  %s\n", escapeControls(q.Text(), false))
			}
		}
	}
}

// writeLines prints lines, each ended by a newline.
func writeLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
