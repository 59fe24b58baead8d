package planner

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// Field names of the plan format, in the order Marshal writes them.
var (
	rolloutFields = []string{"name", "patch", "targets", "stages", "budgets", "windows", "policy", "health", "canary", "apply", "hooks", "order"}
	patchFields   = []string{"packages", "security"}
	targetFields  = []string{"selector", "hosts"}
	stageFields   = []string{"name", "targets", "parallel", "criteria", "bake", "timeout", "max_failures", "on_failure", "approval", "canary"}
	budgetFields  = []string{"group", "selector", "service", "max_unavailable"}
	orderFields   = []string{"dependencies"}
	windowFields  = []string{"days", "start", "end", "tz"}
	policyFields  = []string{"allow_reboot", "require_rollback", "adaptive", "allow_downgrade", "max_broken_hosts"}
)

// waivedField is the plan key that once let a plan start stages holding
// critical hosts without approval. Plans stored with it still load (the
// store reads patchpilot.Policy.CriticalWithoutApproval) but it is never
// honoured, and a new plan that names it is refused.
const waivedField = "critical_without_approval"

// securityAll is the value of patch.security that selects every pending
// security update.
const securityAll = "all"

func (d *decoder) top(root *yaml.Node) (patchpilot.Plan, error) {
	var p patchpilot.Plan
	fields, err := d.mapping(root, "", "rollout")
	if err != nil {
		return p, err
	}
	ro, ok := fields["rollout"]
	if !ok {
		return p, d.errorf(root, "", "missing field \"rollout\"")
	}
	f, err := d.mapping(ro.value, "rollout", rolloutFields...)
	if err != nil {
		return p, err
	}
	if v, ok := f["name"]; ok {
		if p.Name, err = d.scalar(v.value, "name"); err != nil {
			return p, err
		}
	}
	// Fields are decoded before missing ones are reported, so that an
	// error inside a field comes first.
	if v, ok := f["patch"]; ok {
		if p.Patch, err = d.patch(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["targets"]; ok {
		if p.Targets, err = d.targets(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["stages"]; ok {
		if p.Stages, err = d.stages(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["budgets"]; ok {
		if p.Budgets, err = d.budgets(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["windows"]; ok {
		if p.Windows, err = d.windows(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["policy"]; ok {
		if p.Policy, err = d.policy(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["health"]; ok {
		if p.Health, err = d.health(v.value); err != nil {
			return p, err
		}
	}
	if u, ok := d.needs[patchpilot.CriterionNoFiringAlerts]; ok && p.Health.Alertmanager.URL == "" {
		return p, d.errorf(u.node, u.what, "no_firing_alerts needs health.alertmanager.url: add Alertmanager to the health section, such as alertmanager: {url: \"http://127.0.0.1:9093\"}")
	}
	if v, ok := f["canary"]; ok {
		if p.Canary, err = d.canary(v.value, p.Health); err != nil {
			return p, err
		}
	}
	if v, ok := f["apply"]; ok {
		if p.Apply, err = d.apply(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["hooks"]; ok {
		if p.Hooks, err = d.hooks(v.value); err != nil {
			return p, err
		}
	}
	if v, ok := f["order"]; ok {
		if p.Order, err = d.order(v.value); err != nil {
			return p, err
		}
	}
	for _, req := range []string{"patch", "targets", "stages"} {
		if _, ok := f[req]; !ok {
			return p, d.errorf(ro.value, "rollout", "missing field %q", req)
		}
	}
	return p, nil
}

func (d *decoder) patch(n *yaml.Node) (patchpilot.PatchSpec, error) {
	var spec patchpilot.PatchSpec
	f, err := d.mapping(n, "patch", patchFields...)
	if err != nil {
		return spec, err
	}
	pk, hasPackages := f["packages"]
	sec, hasSecurity := f["security"]
	switch {
	case hasPackages && hasSecurity:
		return spec, d.errorf(sec.key, "patch", "give either packages or security, not both")
	case hasSecurity:
		s, err := d.scalar(sec.value, "patch: security")
		if err != nil {
			return spec, err
		}
		if s != securityAll {
			return spec, d.errorf(sec.value, "patch: security", "expected %q, got %q", securityAll, s)
		}
		spec.SecurityAll = true
		return spec, nil
	case !hasPackages:
		return spec, d.errorf(n, "patch", "expected packages: [name=version, ...] or security: all")
	}
	items, err := d.sequence(pk.value, "patch: packages")
	if err != nil {
		return spec, err
	}
	if len(items) == 0 {
		return spec, d.errorf(pk.value, "patch: packages", "the list is empty")
	}
	seen := map[string]int{}
	for _, item := range items {
		s, err := d.scalar(item, "patch: packages")
		if err != nil {
			return spec, err
		}
		pin, err := ParsePin(s)
		if err != nil {
			return spec, d.errorf(item, "patch: packages", "%s", message(err))
		}
		if line, dup := seen[pin.Name]; dup {
			return spec, d.errorf(item, "patch: packages", "package %q is pinned twice (first at line %d)", pin.Name, line)
		}
		seen[pin.Name] = item.Line
		spec.Packages = append(spec.Packages, pin)
	}
	return spec, nil
}

func (d *decoder) targets(n *yaml.Node) (patchpilot.TargetSelector, error) {
	var t patchpilot.TargetSelector
	f, err := d.mapping(n, "targets", targetFields...)
	if err != nil {
		return t, err
	}
	sel, hasSel := f["selector"]
	hosts, hasHosts := f["hosts"]
	if !hasSel && !hasHosts {
		return t, d.errorf(n, "targets", `expected selector: "key=value,..." or hosts: [name, ...]`)
	}
	if hasSel {
		if t.Selector, err = d.scalar(sel.value, "targets: selector"); err != nil {
			return t, err
		}
		if _, err := ParseSelector(t.Selector); err != nil {
			return t, d.errorf(sel.value, "targets: selector", "%s", message(err))
		}
	}
	if hasHosts {
		if t.Hosts, err = d.strings(hosts.value, "targets: hosts"); err != nil {
			return t, err
		}
		for i, h := range t.Hosts {
			if h == "" {
				return t, d.errorf(hosts.value.Content[i], "targets: hosts", "empty host name")
			}
		}
	}
	return t, nil
}

func (d *decoder) stages(n *yaml.Node) ([]patchpilot.Stage, error) {
	items, err := d.sequence(n, "stages")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.errorf(n, "stages", "at least one stage is required")
	}
	var out []patchpilot.Stage
	names := map[string]int{}
	percent := 0.0
	for i, item := range items {
		s, err := d.stage(item, i)
		if err != nil {
			return nil, err
		}
		what := fmt.Sprintf("stage %q", s.Name)
		if ref := d.refs[i]; ref != nil {
			if s.Criteria, err = d.resolveRef(ref, what, out); err != nil {
				return nil, err
			}
		}
		if s.Criteria, err = d.sameAsPrevious(item, what, s.Criteria, out); err != nil {
			return nil, err
		}
		if line, dup := names[s.Name]; dup {
			return nil, d.errorf(item, what, "duplicate stage name (first at line %d)", line)
		}
		names[s.Name] = item.Line
		if s.Targets.IsRest() && i != len(items)-1 {
			return nil, d.errorf(item, what+": targets", "rest is only allowed in the last stage")
		}
		if s.Targets.IsPercent() {
			percent += s.Targets.Percent
			if percent > 100+1e-9 {
				return nil, d.errorf(item, what+": targets", "percentages of the stages add up to %g%%, more than 100%%", percent)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (d *decoder) stage(n *yaml.Node, index int) (patchpilot.Stage, error) {
	var s patchpilot.Stage
	what := fmt.Sprintf("stage %d", index+1)
	// Name the stage in every error, even one found before its name field.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && validName(v.Value) {
				what = fmt.Sprintf("stage %q", v.Value)
			}
		}
	}
	f, err := d.mapping(n, what, stageFields...)
	if err != nil {
		return s, err
	}
	name, ok := f["name"]
	if !ok {
		return s, d.errorf(n, what, "missing field \"name\"")
	}
	if s.Name, err = d.scalar(name.value, what+": name"); err != nil {
		return s, err
	}
	if !validName(s.Name) {
		what = fmt.Sprintf("stage %d", index+1)
		return s, d.errorf(name.value, what+": name", "invalid stage name %q: use letters, digits, '_', '-' and '.'", s.Name)
	}
	what = fmt.Sprintf("stage %q", s.Name)
	if _, ok := f["targets"]; !ok {
		return s, d.errorf(n, what, "missing field \"targets\"")
	}
	val := func(key string) (string, *yaml.Node, bool, error) {
		v, ok := f[key]
		if !ok {
			return "", nil, false, nil
		}
		str, err := d.scalar(v.value, what+": "+key)
		return str, v.value, true, err
	}
	str, node, _, err := val("targets")
	if err != nil {
		return s, err
	}
	if s.Targets, err = ParseTargetCount(str); err != nil {
		return s, d.errorf(node, what+": targets", "%s", message(err))
	}
	if str, node, ok, err := val("parallel"); err != nil {
		return s, err
	} else if ok {
		if s.Parallel, err = parseCount(str, 1); err != nil {
			return s, d.errorf(node, what+": parallel", "invalid parallel %q: expected a whole number of at least 1", str)
		}
	}
	if v, ok := f["criteria"]; ok && v.value.Kind == yaml.MappingNode {
		ref, err := d.readCriteriaRef(v.value, what)
		if err != nil {
			return s, err
		}
		if d.refs == nil {
			d.refs = map[int]*criteriaRef{}
		}
		d.refs[index] = ref
	} else if ok {
		items, err := d.strings(v.value, what+": criteria")
		if err != nil {
			return s, err
		}
		for i, item := range items {
			c, err := ParseCriterion(item)
			if err != nil {
				return s, d.errorf(v.value.Content[i], what+": criteria", "%s", message(err))
			}
			s.Criteria = append(s.Criteria, c)
			if c.Name == patchpilot.CriterionNoFiringAlerts {
				d.use(c.Name, v.value.Content[i], what+": criteria")
			}
		}
	}
	for _, key := range []string{"bake", "timeout"} {
		str, node, ok, err := val(key)
		if err != nil {
			return s, err
		}
		if !ok {
			continue
		}
		dur, err := ParseDuration(str)
		if err == nil && key == "timeout" && dur == 0 {
			err = fmt.Errorf("timeout must be longer than 0")
		}
		if err != nil {
			return s, d.errorf(node, what+": "+key, "%s", message(err))
		}
		if key == "bake" {
			s.Bake = dur
		} else {
			s.Timeout = dur
		}
	}
	if str, node, ok, err := val("max_failures"); err != nil {
		return s, err
	} else if ok {
		if s.MaxFailures, err = ParseLimit(str, 0); err != nil {
			return s, d.errorf(node, what+": max_failures", "%s", message(err))
		}
	}
	if str, node, ok, err := val("on_failure"); err != nil {
		return s, err
	} else if ok {
		s.OnFailure = patchpilot.FailureAction(str)
		if !s.OnFailure.Valid() {
			return s, d.errorf(node, what+": on_failure", "unknown action %q (known: %s)", str, joinActions())
		}
	}
	if str, node, ok, err := val("approval"); err != nil {
		return s, err
	} else if ok {
		s.Approval = patchpilot.Approval(str)
		if s.Approval != patchpilot.ApprovalNone && s.Approval != patchpilot.ApprovalRequired {
			return s, d.errorf(node, what+": approval", "expected none or required, got %q", str)
		}
	}
	if v, ok := f["canary"]; ok {
		on, err := d.boolean(v.value, what+": canary")
		if err != nil {
			return s, err
		}
		s.NoCanary = !on
	}
	return s, nil
}

func (d *decoder) budgets(n *yaml.Node) ([]patchpilot.DisruptionBudget, error) {
	items, err := d.sequence(n, "budgets")
	if err != nil {
		return nil, err
	}
	var out []patchpilot.DisruptionBudget
	for i, item := range items {
		what := fmt.Sprintf("budget %d", i+1)
		f, err := d.mapping(item, what, budgetFields...)
		if err != nil {
			return nil, err
		}
		var b patchpilot.DisruptionBudget
		if v, ok := f["group"]; ok {
			if b.Group, err = d.scalar(v.value, what+": group"); err != nil {
				return nil, err
			}
			if !validKey(b.Group) {
				return nil, d.errorf(v.value, what+": group", "invalid label key %q", b.Group)
			}
		}
		if v, ok := f["selector"]; ok {
			if b.Selector, err = d.scalar(v.value, what+": selector"); err != nil {
				return nil, err
			}
			if _, err := ParseSelector(b.Selector); err != nil {
				return nil, d.errorf(v.value, what+": selector", "%s", message(err))
			}
		}
		if v, ok := f["service"]; ok {
			if b.Service, err = d.scalar(v.value, what+": service"); err != nil {
				return nil, err
			}
			if _, err := ParseServiceSpec(b.Service); err != nil {
				e := d.errorf(v.value, what+": service", "%s", err.Error())
				var bare BarePortError
				var pe *patchpilot.Error
				if errors.As(err, &bare) && errors.As(e, &pe) {
					e = pe.WithHint(bare.Hint())
				}
				return nil, e
			}
		}
		if b.Group == "" && b.Selector == "" && b.Service == "" {
			return nil, d.errorf(item, what, "expected group: label-key, selector: \"key=value,...\" or service: \"unit:port\"")
		}
		mu, ok := f["max_unavailable"]
		if !ok {
			return nil, d.errorf(item, what, "missing field \"max_unavailable\"")
		}
		str, err := d.scalar(mu.value, what+": max_unavailable")
		if err != nil {
			return nil, err
		}
		if b.MaxUnavailable, err = ParseLimit(str, 1); err != nil {
			return nil, d.errorf(mu.value, what+": max_unavailable", "%s", message(err))
		}
		out = append(out, b)
	}
	return out, nil
}

func (d *decoder) windows(n *yaml.Node) ([]patchpilot.MaintenanceWindow, error) {
	items, err := d.sequence(n, "windows")
	if err != nil {
		return nil, err
	}
	var out []patchpilot.MaintenanceWindow
	for i, item := range items {
		w, err := d.window(item, fmt.Sprintf("window %d", i+1), "")
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// window reads one maintenance window: days, start, end and tz, which
// defaults to tz.
func (d *decoder) window(item *yaml.Node, what, tz string) (patchpilot.MaintenanceWindow, error) {
	f, err := d.mapping(item, what, windowFields...)
	if err != nil {
		return patchpilot.MaintenanceWindow{}, err
	}
	w := patchpilot.MaintenanceWindow{TZ: tz}
	if v, ok := f["days"]; ok {
		days, err := d.strings(v.value, what+": days")
		if err != nil {
			return w, err
		}
		for j, s := range days {
			day, err := ParseWeekday(s)
			if err != nil {
				return w, d.errorf(v.value.Content[j], what+": days", "%s", message(err))
			}
			if contains(w.Days, day) {
				return w, d.errorf(v.value.Content[j], what+": days", "day %q is repeated", s)
			}
			w.Days = append(w.Days, day)
		}
	}
	for _, key := range []string{"start", "end"} {
		v, ok := f[key]
		if !ok {
			return w, d.errorf(item, what, "missing field %q", key)
		}
		s, err := d.scalar(v.value, what+": "+key)
		if err != nil {
			return w, err
		}
		t, err := patchpilot.ParseTimeOfDay(s)
		if err != nil {
			return w, d.errorf(v.value, what+": "+key, "%s; expected a 24-hour time such as \"02:00\"", message(err))
		}
		if key == "start" {
			w.Start = t
		} else {
			w.End = t
		}
	}
	if v, ok := f["tz"]; ok {
		if w.TZ, err = d.scalar(v.value, what+": tz"); err != nil {
			return w, err
		}
		if _, err := WindowLocation(w); err != nil {
			return w, d.errorf(v.value, what+": tz", "%s; expected an IANA zone such as \"Europe/Berlin\"", message(err))
		}
	}
	return w, nil
}

// DecodeWindow reads a maintenance window written as a plan writes one
// ({days, start, end, tz}) from a YAML node of another file (source names
// it in errors, with the line and column); tz is the zone when the window
// names none.
func DecodeWindow(source string, n *yaml.Node, what, tz string) (patchpilot.MaintenanceWindow, error) {
	d := &decoder{source: source}
	w, err := d.window(n, what, tz)
	var pe *patchpilot.Error
	if errors.As(err, &pe) {
		err = pe.WithHint("")
	}
	return w, err
}

func (d *decoder) policy(n *yaml.Node) (patchpilot.Policy, error) {
	var p patchpilot.Policy
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value == waivedField {
				return p, d.errorf(k, "policy: "+waivedField, "a plan cannot waive approval: critical hosts always need a person, and approval rules live in the server's policy (the policy: section of patchpilot.yaml, owned by admins); remove this key")
			}
		}
	}
	f, err := d.mapping(n, "policy", policyFields...)
	if err != nil {
		return p, err
	}
	// The switches, in the order of policyFields.
	targets := []*bool{&p.AllowReboot, &p.RequireRollback, &p.Adaptive, &p.AllowDowngrade}
	for i, ptr := range targets {
		key := policyFields[i]
		if v, ok := f[key]; ok {
			if *ptr, err = d.boolean(v.value, "policy: "+key); err != nil {
				return p, err
			}
		}
	}
	// max_broken_hosts is the adaptive planner's failure budget; at least
	// one host, since a budget of none leaves nothing to adapt.
	if v, ok := f["max_broken_hosts"]; ok {
		str, err := d.scalar(v.value, "policy: max_broken_hosts")
		if err != nil {
			return p, err
		}
		if p.MaxBrokenHosts, err = ParseLimit(str, 1); err != nil {
			return p, d.errorf(v.value, "policy: max_broken_hosts", "%s", message(err))
		}
	}
	return p, nil
}

// dependencyOrders are the values of order: dependencies.
var dependencyOrders = []string{patchpilot.OrderDependentsFirst, patchpilot.OrderProvidersFirst, patchpilot.OrderIgnore}

// order reads the order section: how the dependency map orders hosts.
func (d *decoder) order(n *yaml.Node) (patchpilot.OrderConfig, error) {
	var o patchpilot.OrderConfig
	f, err := d.mapping(n, "order", orderFields...)
	if err != nil {
		return o, err
	}
	v, ok := f["dependencies"]
	if !ok {
		return o, d.errorf(n, "order", "missing field \"dependencies\" (%s)", strings.Join(dependencyOrders, ", "))
	}
	s, err := d.scalar(v.value, "order: dependencies")
	if err != nil {
		return o, err
	}
	if !contains(dependencyOrders, s) {
		return o, d.errorf(v.value, "order: dependencies", "expected %s, got %q", strings.Join(dependencyOrders, ", "), s)
	}
	o.Dependencies = s
	return o, nil
}

// parseCount reads a whole number of at least min.
func parseCount(s string, min int) (int, error) {
	n, err := parseInt(s)
	if err != nil || n < min {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return n, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// use records the first place a criterion that needs a health source is
// named.
func (d *decoder) use(name string, n *yaml.Node, what string) {
	if d.needs == nil {
		d.needs = map[string]criterionUse{}
	}
	if _, ok := d.needs[name]; !ok {
		d.needs[name] = criterionUse{node: n, what: what}
	}
}
