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
