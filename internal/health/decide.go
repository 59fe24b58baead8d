package health

import (
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Decide applies the starting rule to one check's results:
// a critical gate, or a gate that could not be evaluated, or two breaches
// mean rollback; one breach, or an inconclusive gate, means under review
// (bake longer); otherwise healthy. The reason names the gates that decided.
func Decide(results []patchpilot.GateResult) (patchpilot.HealthVerdict, string) {
	var critical, errs, breaches, inconclusive []string
	for _, r := range results {
		switch r.Outcome {
		case patchpilot.GateCritical:
			critical = append(critical, r.Gate)
		case patchpilot.GateError:
			errs = append(errs, r.Gate)
		case patchpilot.GateBreach:
			breaches = append(breaches, r.Gate)
		case patchpilot.GateInconclusive:
			inconclusive = append(inconclusive, r.Gate)
		case patchpilot.GatePass:
		default:
			// An outcome this rule does not know fails closed.
			errs = append(errs, r.Gate)
		}
	}
	switch {
	case len(critical) > 0:
		return patchpilot.Unhealthy, "critical: " + strings.Join(critical, ", ") + also(errs, breaches)
	case len(errs) > 0:
		return patchpilot.Unhealthy, "cannot be evaluated: " + strings.Join(errs, ", ") + also(nil, breaches)
	case len(breaches) >= 2:
		return patchpilot.Unhealthy, fmt.Sprintf("%d gates breached: %s", len(breaches), strings.Join(breaches, ", "))
	case len(breaches) == 1:
		return patchpilot.UnderReview, "one gate breached: " + breaches[0]
	case len(inconclusive) > 0:
		return patchpilot.UnderReview, "inconclusive: " + strings.Join(inconclusive, ", ")
	}
	switch len(results) {
	case 0:
		return patchpilot.Healthy, "no gate to check"
	case 1:
		return patchpilot.Healthy, "its one gate passed: " + results[0].Gate
	}
	return patchpilot.Healthy, fmt.Sprintf("all %d gates passed", len(results))
}

func also(errs, breaches []string) string {
	var s string
	if len(errs) > 0 {
		s += "; cannot be evaluated: " + strings.Join(errs, ", ")
	}
	if len(breaches) > 0 {
		s += "; breached: " + strings.Join(breaches, ", ")
	}
	return s
}
