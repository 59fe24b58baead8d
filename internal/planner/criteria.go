package planner

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// thresholdKind says what threshold a criterion takes.
type thresholdKind int

const (
	noThreshold       thresholdKind = iota // a pass/fail check: services_running
	durationThreshold                      // boot_time<120s
	percentThreshold                       // cpu_increase<15%
	rateThreshold                          // error_rate_increase<0.05 or <5%
	latencyThreshold                       // latency_p99<2x or <500ms
	baselineThreshold                      // mean_cpu_usage<baseline+15% or <80%; bare means the default
	factorThreshold                        // disk_io_within_normal<3x; bare means the default
	plainThreshold                         // load<2
)

// criterionSpec describes one known criterion.
type criterionSpec struct {
	name    string
	kind    thresholdKind
	example string
}

// criterionSpecs lists the criteria the health package implements, in the
// order error messages list them.
func criterionSpecs() []criterionSpec {
	return []criterionSpec{
		{patchpilot.CriterionBootTime, durationThreshold, "boot_time<120s"},
		{patchpilot.CriterionServicesRunning, noThreshold, "services_running"},
		{patchpilot.CriterionNoFailedUnits, noThreshold, "no_failed_units"},
		{patchpilot.CriterionNoNewErrors, noThreshold, "no_new_errors"},
		{patchpilot.CriterionPortsListening, noThreshold, "ports_listening"},
		{patchpilot.CriterionSameAsPrevious, noThreshold, "same_as_previous"},
		{patchpilot.CriterionHTTPOK, noThreshold, "http_ok"},
		{patchpilot.CriterionCPUIncrease, percentThreshold, "cpu_increase<15%"},
		{patchpilot.CriterionMemory, percentThreshold, "memory<90%"},
		{patchpilot.CriterionErrorRateIncrease, rateThreshold, "error_rate_increase<0.05"},
		{patchpilot.CriterionLatencyP99, latencyThreshold, "latency_p99<2x"},
		{patchpilot.CriterionNoFiringAlerts, noThreshold, "no_firing_alerts"},
		{patchpilot.CriterionPuppetNoop, noThreshold, "puppet_noop"},
		{patchpilot.CriterionDependentsReachable, noThreshold, "dependents_reachable"},
		{patchpilot.CriterionMeanCPUUsage, baselineThreshold, "mean_cpu_usage<baseline+15%"},
		{patchpilot.CriterionDiskIO, factorThreshold, "disk_io_within_normal<2x"},
		{patchpilot.CriterionNetworkConnectivity, noThreshold, "network_connectivity"},
		{patchpilot.CriterionLoad, plainThreshold, "load<2"},
	}
}

// KnownCriteria returns the names of the criteria plans may use.
func KnownCriteria() []string {
	var out []string
	for _, s := range criterionSpecs() {
		out = append(out, s.name)
	}
	return out
}

func lookupCriterion(name string) (criterionSpec, bool) {
	for _, s := range criterionSpecs() {
		if s.name == name {
			return s, true
		}
	}
	return criterionSpec{}, false
}

// ParseCriterion reads a criterion such as "boot_time<120s",
// "services_running" or "latency_p99<2x". Thresholds are upper bounds, with
// "<" or "<="; each criterion accepts the units that make sense for it.
// mean_cpu_usage also takes a margin over the host's baseline,
// "mean_cpu_usage<baseline+15%". Blanks are ignored: "mean_cpu_usage <
// baseline + 15%" is the same criterion.
func ParseCriterion(s string) (patchpilot.Criterion, error) {
	s = strings.Join(strings.Fields(s), "")
	name, rest := s, ""
	if i := strings.IndexAny(s, "<>=!"); i >= 0 {
		name, rest = s[:i], s[i:]
	}
	spec, ok := lookupCriterion(name)
	if !ok {
		return patchpilot.Criterion{}, patchpilot.Errorf(patchpilot.EINVALID,
			"unknown criterion %q: known criteria are %s", name, strings.Join(KnownCriteria(), ", "))
	}
	c := patchpilot.Criterion{Name: name}
	if rest == "" && (spec.kind == baselineThreshold || spec.kind == factorThreshold) {
		return c, nil
	}
	if spec.kind == noThreshold {
		if rest != "" {
			return c, patchpilot.Errorf(patchpilot.EINVALID, "criterion %q takes no threshold: write %s", s, spec.example)
		}
		return c, nil
	}
	bad := func() (patchpilot.Criterion, error) {
		return patchpilot.Criterion{}, patchpilot.Errorf(patchpilot.EINVALID,
			"invalid criterion %q: expected a threshold such as %s", s, spec.example)
	}
	switch {
	case strings.HasPrefix(rest, "<="):
		c.Op, rest = "<=", rest[2:]
	case strings.HasPrefix(rest, "<"):
		c.Op, rest = "<", rest[1:]
	default:
		return bad()
	}
	if spec.kind == baselineThreshold {
		if after, ok := strings.CutPrefix(rest, "baseline+"); ok {
			c.OverBaseline, rest = true, after
		}
	}
	num := strings.TrimRight(rest, "abcdefghijklmnopqrstuvwxyz%")
	c.Unit = rest[len(num):]
	if num == "" || strings.ContainsAny(num, "+-_") {
		return bad()
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !finite(v) || v < 0 {
		return bad()
	}
	c.Value = v
	if !unitAllowed(spec.kind, c.Unit) {
		return bad()
	}
	if c.Unit == "%" && (spec.name == patchpilot.CriterionMemory || spec.kind == baselineThreshold) && v > 100 {
		return bad()
	}
	if spec.kind == factorThreshold && v < 1 {
		return patchpilot.Criterion{}, patchpilot.Errorf(patchpilot.EINVALID,
			"invalid criterion %q: the factor over the baseline must be at least 1, such as %s", s, spec.example)
	}
	return c, nil
}

func unitAllowed(kind thresholdKind, unit string) bool {
	durations := []string{"ms", "s", "m", "h"}
	switch kind {
	case durationThreshold:
		return contains(durations, unit)
	case percentThreshold:
		return unit == "%"
	case rateThreshold:
		return unit == "" || unit == "%"
	case latencyThreshold:
		return unit == "x" || contains(durations, unit)
	case baselineThreshold:
		return unit == "%"
	case factorThreshold:
		return unit == "x"
	case plainThreshold:
		return unit == ""
	}
	return false
}

// sameAsPrevious replaces a same_as_previous criterion with the criteria of
// the stage before (earlier, already expanded), so that a stage that says
// "same as previous" is gated by exactly what gated the stage before it,
// thresholds included. A criterion the stage also names itself keeps the
// stage's own threshold: the explicit one is what its reader sees. It is
// an error in the first stage, which has no previous stage to copy.
func (d *decoder) sameAsPrevious(n *yaml.Node, what string, criteria []patchpilot.Criterion, earlier []patchpilot.Stage) ([]patchpilot.Criterion, error) {
	at := -1
	own := map[string]bool{}
	for i, c := range criteria {
		if c.Name == patchpilot.CriterionSameAsPrevious {
			if at >= 0 {
				return nil, d.errorf(criteriaNode(n), what+": criteria", "same_as_previous is listed twice")
			}
			at = i
			continue
		}
		own[c.Name] = true
	}
	if at < 0 {
		return criteria, nil
	}
	if len(earlier) == 0 {
		return nil, d.errorf(criteriaNode(n), what+": criteria",
			"same_as_previous copies the criteria of the stage before, but this is the first stage: list its criteria instead")
	}
	prev := earlier[len(earlier)-1]
	out := make([]patchpilot.Criterion, 0, len(criteria)+len(prev.Criteria))
	out = append(out, criteria[:at]...)
	for _, c := range prev.Criteria {
		if !own[c.Name] {
			out = append(out, c)
		}
	}
	return append(out, criteria[at+1:]...), nil
}

// criteriaNode is the criteria value of a stage's mapping node, for error
// positions; the stage itself when it cannot be found.
func criteriaNode(stage *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(stage.Content); i += 2 {
		if stage.Content[i].Value == "criteria" {
			return stage.Content[i+1]
		}
	}
	return stage
}
