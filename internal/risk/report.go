package risk

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteReport prints an evaluation report as plain tables: the summary
// figures of each scorer, then each one's calibration table.
func WriteReport(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCORER\tAUC\tBRIER\tLOG_LOSS\tECE")
	for _, m := range []Metrics{rep.Model, rep.Baseline, rep.BaseRate} {
		fmt.Fprintf(tw, "%s\t%.3f\t%.4f\t%.4f\t%.4f\n", m.Name, m.AUC, m.Brier, m.LogLoss, m.ECE)
	}
	tw.Flush()
	if len(rep.Periods) > 0 {
		fmt.Fprintln(w, "\nby period: the model against the moving base rate (worse: the model's probabilities mislead there)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PERIOD\tN\tFAILURES\tRATE\tBASE_RATE\tMODEL_BRIER\tBASE_RATE_BRIER\t")
		for _, p := range rep.Periods {
			flag := ""
			if p.Worse {
				flag = "WORSE"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%.4f\t%.5f\t%.5f\t%s\n", p.Period, p.N, p.Failures, p.Rate, p.BaseRate,
				p.ModelBrier, p.BaseRateBrier, flag)
		}
		tw.Flush()
	}
	for _, m := range []Metrics{rep.Model, rep.Baseline, rep.BaseRate} {
		fmt.Fprintf(w, "\ncalibration: %s\n", m.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BIN\tN\tPREDICTED\tOBSERVED")
		for _, b := range m.Calibration {
			fmt.Fprintf(tw, "[%.2f, %.2f)\t%d\t%.4f\t%.4f\n", b.Lo, b.Hi, b.N, b.Predicted, b.Observed)
		}
		tw.Flush()
	}
}
