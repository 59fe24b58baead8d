package canary

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/judge"
)

// Describe renders a canary gate result as one line an operator reads in
// 'rollout events': the gate, its verdict, the estimated change with its
// interval and the margin, as percentages for relative margins:
//
//	canary:latency_mean fail (critical): +182% in [+151%, +214%], margin +10%, 24 samples since the change
//
// ok is false for a result that is not a canary gate's.
func Describe(gr patchpilot.GateResult) (line string, ok bool) {
	if !strings.HasPrefix(gr.Gate, GatePrefix) {
		return "", false
	}
	var v judge.Verdict
	if len(gr.Evidence) == 0 || json.Unmarshal(gr.Evidence, &v) != nil || v.Metric == "" {
		return fmt.Sprintf("%s %s: %s", gr.Gate, gr.Outcome, gr.Reason), true
	}
	head := gr.Gate + " " + string(v.Outcome)
	if v.Critical {
		head += " (critical)"
	}
	if v.Outcome == judge.NoData || math.IsNaN(float64(v.Estimate)) {
		return head + ": " + v.Reason, true
	}
	rel := v.Unit == judge.Relative
	line = fmt.Sprintf("%s: %s in [%s, %s], margin %s", head, signed(float64(v.Estimate), rel),
		signed(float64(v.Lower), rel), signed(float64(v.Upper), rel), signed(v.Margin, rel))
	if v.Classification != "" {
		line += ", classified " + v.Classification
	}
	if v.Looks > 0 {
		line += ", " + strconv.Itoa(v.Looks) + " samples since the change"
	}
	if t := v.Evidence.Trend; t != nil && t.Fail {
		line += fmt.Sprintf(", trend %s a minute in [%s, %s] (limit %s)", signedRate(float64(t.Slope), rel),
			signedRate(float64(t.Lower), rel), signedRate(float64(t.Upper), rel), signedRate(t.Limit, rel))
	}
	for _, h := range v.Evidence.SetAside {
		line += ", control " + h + " set aside"
	}
	return line, true
}

// signedRate renders a slope of the transformed scale (the logarithm for
// relative margins) as a change per minute.
func signedRate(x float64, relative bool) string {
	if relative {
		x = math.Expm1(x)
	}
	return signed(x, relative)
}

// signed renders a change with its sign, as a percentage when relative;
// an unbounded end of an interval is "inf".
func signed(x float64, relative bool) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return "+inf"
	case math.IsInf(x, -1):
		return "-inf"
	case relative:
		return fmt.Sprintf("%+.3g%%", x*100)
	}
	return fmt.Sprintf("%+.4g", x)
}
