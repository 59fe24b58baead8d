package planner

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// A stage's criteria may copy an earlier stage's and relax their
// thresholds, in the mapping form of criteria:
//
//	criteria: {same_as: wave_1, relax: 1.5, add: [http_ok]}
//
// The copied criteria are the earlier stage's as resolved (its own
// same_as and relax applied); relax scales each threshold's margin
// (RelaxCriterion); add lists more criteria, and one of the same name
// replaces the copied one. The plan's stored and shown form carries the
// resolved criteria.

// criteriaRef is a stage's criteria mapping, read by stage and resolved
// by stages once the earlier stages are known.
type criteriaRef struct {
	node   *yaml.Node
	sameAs string
	relax  float64
	add    []patchpilot.Criterion
}

var criteriaRefFields = []string{"same_as", "relax", "add"}

// readCriteriaRef reads the mapping form of a stage's criteria.
func (d *decoder) readCriteriaRef(n *yaml.Node, what string) (*criteriaRef, error) {
	what += ": criteria"
	f, err := d.mapping(n, what, criteriaRefFields...)
	if err != nil {
		return nil, err
	}
	ref := &criteriaRef{node: n, relax: 1}
	v, ok := f["same_as"]
	if !ok {
		return nil, d.errorf(n, what, "missing field \"same_as\": name the earlier stage whose criteria this stage takes, as in {same_as: wave_1, relax: 1.5}")
	}
	if ref.sameAs, err = d.scalar(v.value, what+": same_as"); err != nil {
		return nil, err
	}
	if v, ok := f["relax"]; ok {
		str, err := d.scalar(v.value, what+": relax")
		if err != nil {
			return nil, err
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
		if err != nil || !finite(r) || r < 1 {
			return nil, d.errorf(v.value, what+": relax",
				"invalid factor %q: expected a number of at least 1 (1.5 lets each margin over the baseline grow by half; below 1 would tighten)", str)
		}
		ref.relax = r
	}
	if v, ok := f["add"]; ok {
		items, err := d.strings(v.value, what+": add")
		if err != nil {
			return nil, err
		}
		for i, item := range items {
			c, err := ParseCriterion(item)
			if err == nil && c.Name == patchpilot.CriterionSameAsPrevious {
				err = patchpilot.Errorf(patchpilot.EINVALID, "same_as_previous cannot be added to same_as")
			}
			if err != nil {
				return nil, d.errorf(v.value.Content[i], what+": add", "%s", message(err))
			}
			if c.Name == patchpilot.CriterionNoFiringAlerts {
				d.use(c.Name, v.value.Content[i], what+": add")
			}
			ref.add = append(ref.add, c)
		}
	}
	return ref, nil
}

// resolveRef gives a stage whose criteria are a same_as mapping the
// criteria of the named earlier stage, relaxed, with its own added.
func (d *decoder) resolveRef(ref *criteriaRef, what string, earlier []patchpilot.Stage) ([]patchpilot.Criterion, error) {
	what += ": criteria: same_as"
	var from *patchpilot.Stage
	for i := range earlier {
		if earlier[i].Name == ref.sameAs {
			from = &earlier[i]
		}
	}
	if from == nil {
		names := make([]string, 0, len(earlier))
		for _, s := range earlier {
			names = append(names, s.Name)
		}
		known := "this is the first stage, there is none before it"
		if len(names) > 0 {
			known = "the stages before this one are " + strings.Join(names, ", ")
		}
		return nil, d.errorf(ref.node, what, "no earlier stage is named %q: a stage can take the criteria of a stage before it only (%s)", ref.sameAs, known)
	}
	own := map[string]bool{}
	for _, c := range ref.add {
		own[c.Name] = true
	}
	out := make([]patchpilot.Criterion, 0, len(from.Criteria)+len(ref.add))
	for _, c := range from.Criteria {
		if !own[c.Name] {
			out = append(out, RelaxCriterion(c, ref.relax))
		}
	}
	return append(out, ref.add...), nil
}

// RelaxCriterion scales a criterion's margin by factor (at least 1):
//   - a margin over the baseline grows by the factor: cpu_increase<25%
//     becomes <37.5% with 1.5, mean_cpu_usage<baseline+15% becomes
//     <baseline+22.5%, error_rate_increase<0.05 becomes <0.075;
//   - a multiple of the baseline grows its part above 1: latency_p99<2x
//     becomes <2.5x, disk_io_within_normal (2x) becomes <2.5x;
//   - a level in percent of a whole (memory<90%, mean_cpu_usage<80%)
//     keeps its headroom to 100% divided by the factor: memory<90%
//     becomes <93.33%;
//   - other thresholds (boot_time<120s, latency_p99<500ms, load<2) are
//     scaled themselves.
//
// Criteria without a threshold are returned as they are.
func RelaxCriterion(c patchpilot.Criterion, factor float64) patchpilot.Criterion {
	if factor <= 1 || !finite(factor) {
		return c
	}
	spec, ok := lookupCriterion(c.Name)
	if !ok || spec.kind == noThreshold {
		return c
	}
	if c.Op == "" {
		switch c.Name {
		case patchpilot.CriterionMeanCPUUsage:
			c.Op, c.Value, c.Unit, c.OverBaseline = "<", 15, "%", true
		case patchpilot.CriterionDiskIO:
			c.Op, c.Value, c.Unit = "<", 2, "x"
		default:
			return c
		}
	}
	switch {
	case c.Unit == "x":
		c.Value = 1 + (c.Value-1)*factor
	case c.Unit == "%" && !c.OverBaseline && (c.Name == patchpilot.CriterionMemory || c.Name == patchpilot.CriterionMeanCPUUsage):
		c.Value = 100 - (100-c.Value)/factor
	default:
		c.Value *= factor
	}
	// Four significant digits: 93.33%, 0.075, 22.5%.
	c.Value, _ = strconv.ParseFloat(strconv.FormatFloat(c.Value, 'g', 4, 64), 64)
	return c
}
