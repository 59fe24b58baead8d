package planner

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// maxFlowWidth is the longest line a stage is written on in flow style, as
// in the README's example; longer stages are written as block mappings.
const maxFlowWidth = 160

// Marshal writes a plan in the YAML format Parse reads, in the style of
// the README's example: one line per stage where it fits. Defaults are filled in
// first, and fields at their default value are left out (except on_failure,
// which reviewers should always see), so Parse(Marshal(p)) equals
// p.WithDefaults(). The plan is validated the same way Parse validates it.
func Marshal(p patchpilot.Plan) ([]byte, error) {
	p = p.WithDefaults()
	var b bytes.Buffer
	b.WriteString("rollout:\n")
	if p.Name != "" {
		b.WriteString("  name: " + scalar(p.Name) + "\n")
	}
	if p.Patch.SecurityAll {
		b.WriteString("  patch: {security: all}\n")
	} else {
		var pins []string
		for _, pin := range p.Patch.Packages {
			pins = append(pins, strconv.Quote(pin.String()))
		}
		b.WriteString("  patch: {packages: [" + strings.Join(pins, ", ") + "]}\n")
	}
	var tf []string
	if p.Targets.Selector != "" || len(p.Targets.Hosts) == 0 {
		tf = append(tf, "selector: "+strconv.Quote(p.Targets.Selector))
	}
	if len(p.Targets.Hosts) > 0 {
		tf = append(tf, "hosts: "+list(p.Targets.Hosts, scalar))
	}
	b.WriteString("  targets: {" + strings.Join(tf, ", ") + "}\n")
	b.WriteString("  stages:\n")
	for _, s := range p.Stages {
		writeItem(&b, stagePairs(s))
	}
	if len(p.Budgets) > 0 {
		b.WriteString("  budgets:\n")
		for _, bu := range p.Budgets {
			var pairs [][2]string
			if bu.Group != "" {
				pairs = append(pairs, [2]string{"group", scalar(bu.Group)})
			}
			if bu.Selector != "" {
				pairs = append(pairs, [2]string{"selector", strconv.Quote(bu.Selector)})
			}
			if bu.Service != "" {
				pairs = append(pairs, [2]string{"service", strconv.Quote(bu.Service)})
			}
			pairs = append(pairs, [2]string{"max_unavailable", bu.MaxUnavailable.String()})
			writeItem(&b, pairs)
		}
	}
	if len(p.Windows) > 0 {
		b.WriteString("  windows:\n")
		for _, w := range p.Windows {
			var pairs [][2]string
			if len(w.Days) > 0 {
				var days []string
				for _, d := range w.Days {
					days = append(days, weekdayName(d))
				}
				pairs = append(pairs, [2]string{"days", "[" + strings.Join(days, ", ") + "]"})
			}
			pairs = append(pairs, [2]string{"start", strconv.Quote(w.Start.String())}, [2]string{"end", strconv.Quote(w.End.String())})
			if w.TZ != "" {
				pairs = append(pairs, [2]string{"tz", strconv.Quote(w.TZ)})
			}
			writeItem(&b, pairs)
		}
	}
	var pol []string
	for i, on := range []bool{p.Policy.AllowReboot, p.Policy.RequireRollback, p.Policy.Adaptive, p.Policy.AllowDowngrade} {
		if on {
			pol = append(pol, policyFields[i]+": true")
		}
	}
	if m := p.Policy.MaxBrokenHosts; m.Kind == patchpilot.SizePercent || m.Count > 0 {
		pol = append(pol, "max_broken_hosts: "+scalar(m.String()))
	}
	if len(pol) > 0 {
		b.WriteString("  policy: {" + strings.Join(pol, ", ") + "}\n")
	}
	b.WriteString(marshalHealth(p.Health))
	b.WriteString(marshalCanary(p.Canary))
	b.WriteString(marshalApply(p.Apply))
	b.WriteString(marshalHooks(p.Hooks))
	if p.Order.Dependencies != "" {
		b.WriteString("  order: {dependencies: " + scalar(p.Order.Dependencies) + "}\n")
	}
	// Validate what was written by reading it back, so that Marshal never
	// produces a file Parse would refuse.
	if _, err := Parse(b.Bytes(), "marshalled plan"); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func stagePairs(s patchpilot.Stage) [][2]string {
	pairs := [][2]string{{"name", scalar(s.Name)}, {"targets", s.Targets.String()}}
	if s.Parallel != patchpilot.DefaultParallel {
		pairs = append(pairs, [2]string{"parallel", strconv.Itoa(s.Parallel)})
	}
	if len(s.Criteria) > 0 {
		var cs []string
		for _, c := range s.Criteria {
			cs = append(cs, scalar(c.String()))
		}
		pairs = append(pairs, [2]string{"criteria", "[" + strings.Join(cs, ", ") + "]"})
	}
	if s.Bake != 0 {
		pairs = append(pairs, [2]string{"bake", FormatDuration(s.Bake)})
	}
	if s.Timeout != patchpilot.DefaultStageTimeout {
		pairs = append(pairs, [2]string{"timeout", FormatDuration(s.Timeout)})
	}
	if s.MaxFailures != patchpilot.LimitCount(0) {
		pairs = append(pairs, [2]string{"max_failures", s.MaxFailures.String()})
	}
	pairs = append(pairs, [2]string{"on_failure", scalar(string(s.OnFailure))})
	if s.Approval != patchpilot.DefaultApproval {
		pairs = append(pairs, [2]string{"approval", scalar(string(s.Approval))})
	}
	if s.NoCanary {
		pairs = append(pairs, [2]string{"canary", "false"})
	}
	return pairs
}

// writeItem writes one list item of a mapping, on one line in flow style
// when it fits and as a block otherwise.
func writeItem(b *bytes.Buffer, pairs [][2]string) {
	var flow []string
	for _, kv := range pairs {
		flow = append(flow, kv[0]+": "+kv[1])
	}
	line := "    - {" + strings.Join(flow, ", ") + "}"
	if len(line) <= maxFlowWidth {
		b.WriteString(line + "\n")
		return
	}
	for i, kv := range pairs {
		prefix := "      "
		if i == 0 {
			prefix = "    - "
		}
		b.WriteString(prefix + kv[0] + ": " + kv[1] + "\n")
	}
}

func list(items []string, f func(string) string) string {
	var out []string
	for _, s := range items {
		out = append(out, f(s))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// plainScalar matches strings that YAML reads back as the same string when
// written unquoted, in flow and block context alike.
var plainScalar = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./~+<=%-]*$`)

// scalar writes a string plain when that is safe, and double-quoted
// otherwise.
func scalar(s string) string {
	if plainScalar.MatchString(s) && !reserved(s) {
		return s
	}
	return strconv.Quote(s)
}

// reserved reports whether YAML would read s as something other than a
// string (a boolean or null in YAML 1.1 or 1.2).
func reserved(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf":
		return true
	}
	return false
}
