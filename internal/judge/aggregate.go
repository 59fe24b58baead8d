package judge

import (
	"fmt"
	"strings"
)

// aggregate sets the gate outcome from the metric verdicts:
//   - any NoData fails the gate (fail closed);
//   - a critical Fail, or maxFails or more Fails, fails it;
//   - fewer Fails put it under review: Inconclusive, the bake goes on;
//   - it passes (promote early) when every continuous metric passes and no
//     count metric fails;
//   - otherwise it is Inconclusive, and at the final look the plan's policy
//     decides.
func aggregate(res *Result, in Input, maxFails int) {
	kind := make(map[string]Kind, len(in.Metrics))
	for _, m := range in.Metrics {
		kind[m.Name] = m.Kind
	}
	var fails, critical, nodata, notPassed []string
	for _, v := range res.Verdicts {
		switch v.Outcome {
		case NoData:
			nodata = append(nodata, v.Metric)
		case Fail:
			fails = append(fails, v.Metric)
			if v.Critical {
				critical = append(critical, v.Metric)
			}
		case Inconclusive:
			if kind[v.Metric] != Count {
				notPassed = append(notPassed, v.Metric)
			}
		}
	}
	list := func(xs []string) string { return strings.Join(xs, ", ") }
	switch {
	case len(nodata) > 0:
		res.Outcome, res.Reason = Fail, "no usable data for "+list(nodata)
	case len(critical) > 0:
		res.Outcome, res.Reason = Fail, "critical metric beyond its margin: "+list(critical)
	case len(fails) >= maxFails:
		res.Outcome, res.Reason = Fail, fmt.Sprintf("%d metrics beyond their margins: %s", len(fails), list(fails))
	case len(fails) > 0:
		res.Outcome, res.Reason = Inconclusive, "under review, one metric beyond its margin: "+list(fails)
	case len(notPassed) == 0:
		res.Outcome, res.Reason = Pass, "every metric is within its margin"
	default:
		res.Outcome, res.Reason = Inconclusive, "not yet decided: "+list(notPassed)
	}
	resolveFinal(res, in)
}

// resolveFinal applies the plan's policy to a gate still inconclusive at
// the bake limit.
func resolveFinal(res *Result, in Input) {
	if !in.Final || res.Outcome != Inconclusive {
		return
	}
	policy := in.OnInconclusive
	if policy == "" {
		policy = Fail
	}
	res.Outcome = policy
	res.Reason = fmt.Sprintf("bake limit reached while inconclusive (%s); plan policy: %s", res.Reason, policy)
}
