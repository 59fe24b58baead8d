package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// ColdStartMeaning says in words what a cold-start model is, for every
// place that shows one.
const ColdStartMeaning = risk.ColdStartMeaning

// DescribeGateResult renders a canary gate's verdict as one line (its
// estimate, interval and margin); ok is false for gates that are not
// canary gates.
func DescribeGateResult(gr patchpilot.GateResult) (line string, ok bool) { return canary.Describe(gr) }

// AssessmentLines renders one host's assessment of a patch: a head line
// with the probability, level, strategy and packages, then one line per
// reason and per warning, indented.
func AssessmentLines(patch string, a risk.Assessment) []string {
	on := ""
	if a.Host != "" {
		on = " on " + a.Host
	}
	lines := []string{fmt.Sprintf("%s%s: %.1f%% %s, %s (%s)", patch, on, 100*a.Probability, a.Level, a.Strategy,
		strings.Join(a.Packages, ", "))}
	for _, r := range a.Reasons {
		lines = append(lines, "  "+r.String())
	}
	for _, x := range a.Warnings {
		lines = append(lines, "  warning: "+x.Text)
	}
	return lines
}

// WriteTables prints the evaluation report as plain tables: each scorer's
// summary figures, then each one's calibration table.
func (r EvalResult) WriteTables(w io.Writer) { risk.WriteReport(w, r.Report) }
