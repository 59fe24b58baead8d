package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// Regime is a compliance regime's rules (an entry of the policy's
// "compliance:" section). Hosts fall under it by their compliance label
// (patchpilot.LabelCompliance, "compliance=pci" or "pci,hipaa"); a host
// gets the strictest of its group's rules and those of its regimes.
type Regime struct {
	// SLA are the regime's patch deadlines: for each severity, the
	// shorter of the group's deadline and the regime's applies.
	SLA SLA `json:"sla"`
	// ApprovalRequired makes every stage holding a host of the regime
	// wait for a person ("approval: required").
	ApprovalRequired bool `json:"approval_required,omitempty"`
	// TwoApprovers makes such a stage wait for two distinct approvers;
	// it implies ApprovalRequired.
	TwoApprovers bool `json:"two_approvers,omitempty"`
	// MaxLevel caps the automation level of the regime's hosts: a host in
	// an autopilot group under a regime capped at supervised is
	// supervised. "" caps nothing.
	MaxLevel Level `json:"max_level,omitempty"`
}

// RuleCompliance is the rule name of compliance regimes in reports; each
// finding's reason starts with "compliance REGIME:".
const RuleCompliance = "compliance"

// Keys of a regime and the values of its approval key.
var (
	regimeKeys     = []string{"sla", "approval", "two_approvers", "max_level"}
	approvalValues = []string{"required", "none"}
)

// regimeName is what a regime may be called: a label value's word.
var regimeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// ComplianceLabel reads a host's compliance label: the regimes it names,
// lower-cased, without duplicates, sorted.
func ComplianceLabel(h patchpilot.Host) []string {
	var out []string
	for _, item := range strings.Split(h.Labels[patchpilot.LabelCompliance], ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	slices.Sort(out)
	return out
}

// RegimesOf returns the regimes the host's compliance label names that the
// policy defines, and those it does not define (reported as warnings).
func (p Policy) RegimesOf(h planner.HostView) (known, unknown []string) {
	for _, name := range ComplianceLabel(h.Host) {
		if _, ok := p.Compliance[name]; ok {
			known = append(known, name)
		} else {
			unknown = append(unknown, name)
		}
	}
	return known, unknown
}

// HostSLA is the SLA that applies to a host: its group's (SLAOf), each
// deadline shortened to the shortest of its regimes' deadlines for that
// severity. It returns the regimes that apply.
func (p Policy) HostSLA(h planner.HostView) (SLA, []string) {
	regimes, _ := p.RegimesOf(h)
	return p.SLAUnder(p.GroupOf(h), regimes), regimes
}

// SLAUnder is the SLA of a group's hosts under the given regimes.
func (p Policy) SLAUnder(g Group, regimes []string) SLA {
	s := p.SLAOf(g)
	for _, name := range regimes {
		s = s.Stricter(p.Compliance[name].SLA)
	}
	return s
}

// Stricter returns, for each severity, the shorter of s's and o's
// deadlines; a deadline only one of them sets applies as it is.
func (s SLA) Stricter(o SLA) SLA {
	for _, f := range []struct{ dst, src *time.Duration }{
		{&s.Critical, &o.Critical}, {&s.High, &o.High}, {&s.Medium, &o.Medium},
		{&s.Low, &o.Low}, {&s.Unrated, &o.Unrated},
	} {
		if *f.src > 0 && (*f.dst == 0 || *f.src < *f.dst) {
			*f.dst = *f.src
		}
	}
	return s
}

// String renders the deadlines set as policies write them: "critical 3d,
// high 14d".
func (s SLA) String() string {
	var parts []string
	for _, k := range slaKeys {
		if d := *slaField(&s, k); d > 0 {
			parts = append(parts, k+" "+FormatDuration(d))
		}
	}
	return strings.Join(parts, ", ")
}

// HostLevel is a host's automation level: its group's, capped by the
// MaxLevel of each of its regimes.
func (p Policy) HostLevel(g Group, regimes []string) Level {
	l := g.Level
	if l == "" {
		l = Advisor
	}
	for _, name := range regimes {
		if m := p.Compliance[name].MaxLevel; m != "" && m.rank() < l.rank() {
			l = m
		}
	}
	return l
}

// describe says what the regime asks of a host of group g, for reports.
func (r Regime) describe(name string, g Group, groupSLA SLA) string {
	var parts []string
	switch {
	case r.TwoApprovers:
		parts = append(parts, "approval required by two distinct approvers")
	case r.ApprovalRequired:
		parts = append(parts, "approval required")
	}
	if r.MaxLevel != "" {
		gl := g.Level
		if gl == "" {
			gl = Advisor
		}
		if r.MaxLevel.rank() < gl.rank() {
			parts = append(parts, fmt.Sprintf("level at most %s (group %s is %s)", r.MaxLevel, g.Name, gl))
		} else {
			parts = append(parts, fmt.Sprintf("level at most %s", r.MaxLevel))
		}
	}
	if tight := groupSLA.Stricter(r.SLA); tight != groupSLA {
		parts = append(parts, "deadlines "+r.SLA.String()+" (stricter than group "+g.Name+"'s where shorter)")
	} else if r.SLA != (SLA{}) {
		parts = append(parts, "deadlines "+r.SLA.String()+" (group "+g.Name+"'s are as strict)")
	}
	if len(parts) == 0 {
		parts = append(parts, "no rule beyond the group's")
	}
	return "compliance " + name + ": " + strings.Join(parts, "; ")
}

func (r Regime) validate(what string) error {
	switch r.MaxLevel {
	case "", Advisor, Supervised, Autopilot:
	default:
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: max_level %q: expected advisor, supervised or autopilot", what, r.MaxLevel)
	}
	return r.SLA.validate(what)
}

func (d decoder) compliance(n *yamlNode) (map[string]Regime, error) {
	const what = "policy: compliance"
	if n.Kind != yamlMapping {
		return nil, d.errorf(n, what, "expected a mapping of regimes to their rules, such as pci: {approval: required, sla: {critical: 3d}}")
	}
	out := map[string]Regime{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !regimeName.MatchString(name) {
			return nil, d.errorf(k, what, "regime name %q: expected a lower-case word of letters, digits, '.', '-' or '_', as hosts' compliance labels name it (compliance=pci)", name)
		}
		if line, ok := lines[name]; ok {
			return nil, d.errorf(k, what, "regime %q already defined at line %d", name, line)
		}
		lines[name] = k.Line
		r, err := d.regime(v, what+": "+name)
		if err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, nil
}

func (d decoder) regime(n *yamlNode, what string) (Regime, error) {
	var r Regime
	f, err := d.mapping(n, what, regimeKeys)
	if err != nil {
		return r, err
	}
	if len(f) == 0 {
		return r, d.errorf(n, what, "the regime sets no rule; give it sla, approval, two_approvers or max_level")
	}
	if v, ok := f["sla"]; ok {
		if r.SLA, err = d.sla(v, what+": sla"); err != nil {
			return r, err
		}
	}
	if v, ok := f["approval"]; ok {
		s, err := d.scalar(v, what+": approval")
		if err != nil {
			return r, err
		}
		if !slices.Contains(approvalValues, s) {
			return r, d.errorf(v, what+": approval", "%q: expected required or none", s)
		}
		r.ApprovalRequired = s == "required"
	}
	if v, ok := f["two_approvers"]; ok {
		s, err := d.scalar(v, what+": two_approvers")
		if err != nil {
			return r, err
		}
		if r.TwoApprovers, err = strconv.ParseBool(s); err != nil {
			return r, d.errorf(v, what+": two_approvers", "%q: expected true or false", s)
		}
		if r.TwoApprovers {
			if a, ok := f["approval"]; ok && !r.ApprovalRequired {
				return r, d.errorf(a, what, "two_approvers: true asks for approvals, but approval is none")
			}
			r.ApprovalRequired = true
		}
	}
	if v, ok := f["max_level"]; ok {
		s, err := d.scalar(v, what+": max_level")
		if err != nil {
			return r, err
		}
		r.MaxLevel = Level(s)
		if !slices.Contains(Levels(), r.MaxLevel) {
			return r, d.errorf(v, what+": max_level", "%q: expected advisor, supervised or autopilot", s)
		}
	}
	return r, nil
}
