package planner

import (
	"strconv"
	"strings"

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
func ParseCriterion(s string) (patchpilot.Criterion, error) {
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
	if c.Unit == "%" && spec.name == patchpilot.CriterionMemory && v > 100 {
		return bad()
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
	}
	return false
}
