package app

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/schedule"
)

// InventoryLocal is the inventory of a schedule that collects the
// controller's own machine, as 'inventory collect --local' does.
const InventoryLocal = "local"

// MinScheduleEvery is the shortest interval of an inventory schedule.
const MinScheduleEvery = time.Minute

// Schedule is a configured schedule: a patch schedule (from the
// "schedules:" section of patchpilot.yaml) or an inventory schedule (from
// "inventory_schedules:"). LoadConfig checks every field; a Schedule built
// in code is checked by CheckSchedules.
type Schedule struct {
	Name string                  `json:"name"`
	Kind patchpilot.ScheduleKind `json:"kind"`
	// When is the rule of a patch schedule: a cron expression or a
	// Patch-Tuesday rule (internal/schedule).
	When string `json:"when,omitempty"`
	// Timezone is the IANA zone of When, and of Window when the window
	// names none; "" is UTC.
	Timezone string `json:"timezone,omitempty"`
	// Hosts is the target selector of a patch schedule, as plans take it.
	Hosts string `json:"hosts,omitempty"`
	// Updates selects what a patch schedule installs.
	Updates UpdateSelector `json:"updates"`
	// Window, when set, is the maintenance window a patch schedule's runs
	// wait for, and the window of the plan it proposes.
	Window *patchpilot.MaintenanceWindow `json:"window,omitempty"`
	// Inventory is the file an inventory schedule collects (as
	// 'inventory collect -i' reads it) or InventoryLocal; a patch schedule
	// that names one collects it before it plans.
	Inventory string `json:"inventory,omitempty"`
	// Every is the interval of an inventory schedule.
	Every time.Duration `json:"-"`
	// PlanTemplate, when set, is a plan file whose stages, health
	// checks, canary analysis, disruption budgets and plan-wide switches
	// the proposed plans take instead of the risk strategy's; the
	// schedule still decides the plan's name, patch, targets and window.
	PlanTemplate string `json:"plan_template,omitempty"`

	rule schedule.Rule
	// line is the line of the schedule's name in patchpilot.yaml (0 for
	// a Schedule built in code).
	line int
}

// UpdateSelector selects the pending updates a patch schedule installs.
// The zero value selects every pending update of the targets.
type UpdateSelector struct {
	// Security keeps security updates only.
	Security bool `json:"security"`
	// MinSeverity keeps updates with an advisory of at least this
	// severity (critical, high, medium or low).
	MinSeverity patchpilot.Severity `json:"min_severity,omitempty"`
	// Packages keeps updates of these packages (a package or source
	// package name).
	Packages []string `json:"packages,omitempty"`
}

// String says what the selector keeps, for listings.
func (u UpdateSelector) String() string {
	var parts []string
	if u.Security {
		parts = append(parts, "security")
	}
	if u.MinSeverity != "" {
		parts = append(parts, string(u.MinSeverity)+"+")
	}
	if len(u.Packages) > 0 {
		parts = append(parts, strings.Join(u.Packages, ","))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// Rule is the schedule's parsed rule; the zero Rule for an inventory
// schedule.
func (s Schedule) Rule() schedule.Rule { return s.rule }

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.rule.Location() }

// NextRuns returns the next n run times after after. An inventory
// schedule's runs follow its last run (last, zero when it never ran) by
// Every; one that never ran runs first at after.
func (s Schedule) NextRuns(after, last time.Time, n int) []time.Time {
	if s.Kind == patchpilot.SchedulePatch {
		return s.rule.NextN(after, n)
	}
	if s.Every <= 0 {
		return nil
	}
	next := after
	if !last.IsZero() {
		next = last.Add(s.Every)
		if next.Before(after) {
			next = next.Add(after.Sub(next).Truncate(s.Every))
			if next.Before(after) {
				next = next.Add(s.Every)
			}
		}
	}
	out := make([]time.Time, 0, n)
	for range n {
		out = append(out, next)
		next = next.Add(s.Every)
	}
	return out
}

var scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckSchedules validates schedules built in code (LoadConfig checks
// those of the file as it reads them) and parses their rules.
func CheckSchedules(ss []Schedule) ([]Schedule, error) {
	out := make([]Schedule, len(ss))
	seen := map[string]bool{}
	for i, s := range ss {
		what := fmt.Sprintf("schedule %q", s.Name)
		if !scheduleNameRE.MatchString(s.Name) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "schedule %d: name %q: expected letters, digits, '.', '_' or '-', at most 64", i+1, s.Name)
		}
		if seen[s.Name] {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s is defined twice; expected one name per schedule", what)
		}
		seen[s.Name] = true
		switch s.Kind {
		case patchpilot.SchedulePatch:
			r, err := schedule.Parse(s.When, s.Timezone)
			if err != nil {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: when: %s", what, errText(err))
			}
			s.rule = r
			if err := CheckSelector(s.Hosts); err != nil {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: hosts: %s", what, errText(err))
			}
			if err := s.Updates.check(); err != nil {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: updates: %s", what, errText(err))
			}
			if s.Window != nil {
				if _, err := planner.WindowLocation(*s.Window); err != nil {
					return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: window: tz: %s", what, errText(err))
				}
			}
		case patchpilot.ScheduleInventory:
			if s.Inventory == "" {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: inventory: expected a file path or %q", what, InventoryLocal)
			}
			if s.Every < MinScheduleEvery {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: every %s: expected a duration of at least %s, such as 6h", what, s.Every, MinScheduleEvery)
			}
		default:
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: kind %q: expected patch or inventory", what, s.Kind)
		}
		out[i] = s
	}
	return out, nil
}

func (u UpdateSelector) check() error {
	if u.MinSeverity != "" && u.MinSeverity.Rank() == 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "min_severity %q: expected critical, high, medium or low", u.MinSeverity)
	}
	for _, p := range u.Packages {
		if p == "" || strings.ContainsAny(p, " \t=,") {
			return patchpilot.Errorf(patchpilot.EINVALID, "packages: %q: expected a package name", p)
		}
	}
	return nil
}

// errText is an error's message without its code prefix.
func errText(err error) string {
	if pe, ok := err.(*patchpilot.Error); ok && pe.Message != "" {
		return pe.Message
	}
	return err.Error()
}

// The keys of the schedule sections, in the order the documentation
// gives them.
var (
	patchScheduleKeys     = []string{"name", "when", "timezone", "hosts", "updates", "window", "inventory", "plan_template"}
	inventoryScheduleKeys = []string{"name", "inventory", "every"}
	updateSelectorKeys    = []string{"security", "min_severity", "packages"}
)

// sectionDecoder reads a nested section of the configuration file, naming
// the file and line of what is wrong.
type sectionDecoder struct{ path string }

func (d sectionDecoder) errorf(n *yaml.Node, what, format string, args ...any) error {
	return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s: %s", d.path, n.Line, what, fmt.Sprintf(format, args...))
}

// keyed is one key of a mapping with its value.
type keyed struct{ key, value *yaml.Node }

// mapping reads a mapping whose keys must be among known.
func (d sectionDecoder) mapping(n *yaml.Node, what string, known []string) (map[string]keyed, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, what, "expected a mapping of %s, got %s", strings.Join(known, ", "), configValueText(n))
	}
	out := map[string]keyed{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			return nil, d.errorf(k, what, "unknown key %q%s; known keys: %s", k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
		}
		if prev, ok := out[k.Value]; ok {
			return nil, d.errorf(k, what, "key %q already defined at line %d", k.Value, prev.key.Line)
		}
		out[k.Value] = keyed{k, v}
	}
	return out, nil
}

// scalar reads a single value.
func (d sectionDecoder) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errorf(n, what, "expected a single value, got %s", configValueText(n))
	}
	return n.Value, nil
}

// strings reads a list of single values, or one value as a list of one.
func (d sectionDecoder) strings(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := d.scalar(n, what)
		return []string{s}, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n, what, "expected a list, got %s", configValueText(n))
	}
	var out []string
	for _, item := range n.Content {
		s, err := d.scalar(item, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// decodeSchedules reads the "schedules:" or "inventory_schedules:" section:
// a list of mappings.
func decodeSchedules(path string, n *yaml.Node, kind patchpilot.ScheduleKind) ([]Schedule, error) {
	d := sectionDecoder{path}
	section := "schedules"
	known := patchScheduleKeys
	if kind == patchpilot.ScheduleInventory {
		section, known = "inventory_schedules", inventoryScheduleKeys
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n, section, "expected a list of schedules, got %s", configValueText(n))
	}
	var out []Schedule
	for i, item := range n.Content {
		what := fmt.Sprintf("%s[%d]", section, i)
		f, err := d.mapping(item, what, known)
		if err != nil {
			return nil, err
		}
		s, err := d.schedule(f, item, what, kind)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (d sectionDecoder) schedule(f map[string]keyed, item *yaml.Node, what string, kind patchpilot.ScheduleKind) (Schedule, error) {
	s := Schedule{Kind: kind}
	required := []string{"name", "inventory", "every"}
	if kind == patchpilot.SchedulePatch {
		required = []string{"name", "when", "hosts", "updates"}
	}
	for _, key := range required {
		if _, ok := f[key]; !ok {
			return s, d.errorf(item, what, "missing key %q", key)
		}
	}
	var err error
	if s.Name, err = d.scalar(f["name"].value, what+": name"); err != nil {
		return s, err
	}
	s.line = f["name"].value.Line
	if !scheduleNameRE.MatchString(s.Name) {
		return s, d.errorf(f["name"].value, what+": name", "%q: expected letters, digits, '.', '_' or '-', at most 64", s.Name)
	}
	what = fmt.Sprintf("%s (%s)", what, s.Name)
	if v, ok := f["inventory"]; ok {
		if s.Inventory, err = d.scalar(v.value, what+": inventory"); err != nil {
			return s, err
		}
		if s.Inventory == "" {
			return s, d.errorf(v.value, what+": inventory", "expected a file path or %q", InventoryLocal)
		}
		if s.Inventory != InventoryLocal && !filepath.IsAbs(s.Inventory) {
			// Relative to the configuration file, not to wherever the
			// server happens to be started.
			dir, err := filepath.Abs(filepath.Dir(d.path))
			if err != nil {
				return s, d.errorf(v.value, what+": inventory", "%s: %v", s.Inventory, err)
			}
			s.Inventory = filepath.Join(dir, s.Inventory)
		}
	}
	if kind == patchpilot.ScheduleInventory {
		v := f["every"].value
		every, err := d.scalar(v, what+": every")
		if err != nil {
			return s, err
		}
		if s.Every, err = time.ParseDuration(every); err != nil || s.Every < MinScheduleEvery {
			return s, d.errorf(v, what+": every", "%q: expected a duration of at least %s such as 30m, 6h or 24h", every, MinScheduleEvery)
		}
		return s, nil
	}

	v := f["when"].value
	if s.When, err = d.scalar(v, what+": when"); err != nil {
		return s, err
	}
	if tz, ok := f["timezone"]; ok {
		if s.Timezone, err = d.scalar(tz.value, what+": timezone"); err != nil {
			return s, err
		}
		if _, err := schedule.LoadLocation(s.Timezone); err != nil {
			return s, d.errorf(tz.value, what+": timezone", "%s", errText(err))
		}
	}
	if s.rule, err = schedule.Parse(s.When, s.Timezone); err != nil {
		return s, d.errorf(v, what+": when", "%s", errText(err))
	}
	hosts := f["hosts"].value
	if s.Hosts, err = d.scalar(hosts, what+": hosts"); err != nil {
		return s, err
	}
	if err := CheckSelector(s.Hosts); err != nil {
		return s, d.errorf(hosts, what+": hosts", "%s; expected a selector such as \"env=prod,role!=db\"", errText(err))
	}
	if s.Updates, err = d.updates(f["updates"].value, what+": updates"); err != nil {
		return s, err
	}
	if v, ok := f["plan_template"]; ok {
		if s.PlanTemplate, err = d.scalar(v.value, what+": plan_template"); err != nil {
			return s, err
		}
		if s.PlanTemplate == "" {
			return s, d.errorf(v.value, what+": plan_template", "expected a plan file")
		}
		if !filepath.IsAbs(s.PlanTemplate) {
			dir, err := filepath.Abs(filepath.Dir(d.path))
			if err != nil {
				return s, d.errorf(v.value, what+": plan_template", "%s: %v", s.PlanTemplate, err)
			}
			s.PlanTemplate = filepath.Join(dir, s.PlanTemplate)
		}
		if _, err := ReadPlanTemplate(s.PlanTemplate); err != nil {
			return s, d.errorf(v.value, what+": plan_template", "%s", errText(err))
		}
	}
	if w, ok := f["window"]; ok {
		win, err := d.window(w.value, what+": window", s.Timezone)
		if err != nil {
			return s, err
		}
		s.Window = &win
	}
	return s, nil
}

func (d sectionDecoder) updates(n *yaml.Node, what string) (UpdateSelector, error) {
	var u UpdateSelector
	f, err := d.mapping(n, what, updateSelectorKeys)
	if err != nil {
		return u, err
	}
	if len(f) == 0 {
		return u, d.errorf(n, what, "expected at least one of %s (security: false selects every pending update)", strings.Join(updateSelectorKeys, ", "))
	}
	if v, ok := f["security"]; ok {
		if err := v.value.Decode(&u.Security); err != nil || v.value.Kind != yaml.ScalarNode {
			return u, d.errorf(v.value, what+": security", "expected true or false, got %s", configValueText(v.value))
		}
	}
	if v, ok := f["min_severity"]; ok {
		s, err := d.scalar(v.value, what+": min_severity")
		if err != nil {
			return u, err
		}
		if patchpilot.Severity(s).Rank() == 0 {
			return u, d.errorf(v.value, what+": min_severity", "%q: expected critical, high, medium or low", s)
		}
		u.MinSeverity = patchpilot.Severity(s).Normalised()
	}
	if v, ok := f["packages"]; ok {
		if u.Packages, err = d.strings(v.value, what+": packages"); err != nil {
			return u, err
		}
		for i, p := range u.Packages {
			if p == "" || strings.ContainsAny(p, " \t=,") {
				node := v.value
				if node.Kind == yaml.SequenceNode {
					node = node.Content[i]
				}
				return u, d.errorf(node, what+": packages", "%q: expected a package name (the version is the pending update's)", p)
			}
		}
		if len(u.Packages) == 0 {
			return u, d.errorf(v.value, what+": packages", "expected at least one package name")
		}
	}
	return u, nil
}

// window reads a maintenance window in the form of a plan's windows
// (planner.DecodeWindow); the schedule's zone is its default.
func (d sectionDecoder) window(n *yaml.Node, what, tz string) (patchpilot.MaintenanceWindow, error) {
	return planner.DecodeWindow(d.path, n, what, tz)
}

// checkScheduleNames refuses a name used by two schedules of either
// section: runs are recorded by name.
func checkScheduleNames(path string, c Config) error {
	seen := map[string]Schedule{}
	for _, s := range slices.Concat(c.Schedules, c.InventorySchedules) {
		if first, ok := seen[s.Name]; ok {
			where, before := path, ""
			if s.line > 0 {
				where = fmt.Sprintf("%s:%d", path, s.line)
			}
			if first.line > 0 {
				before = fmt.Sprintf(" (first at line %d)", first.line)
			}
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: schedule name %q is used twice%s; expected one name per schedule (runs are recorded by name)", where, s.Name, before)
		}
		seen[s.Name] = s
	}
	return nil
}

// ScheduleView is a configured schedule with its next runs and its last
// recorded run, as 'schedule list' shows it. Its JSON field names are part
// of the CLI and API contract.
type ScheduleView struct {
	Schedule
	// Every is an inventory schedule's interval, as a duration text.
	EveryText string `json:"every,omitempty"`
	// Updates is the update selector in words.
	UpdatesText string `json:"updates_text,omitempty"`
	// WindowText is the maintenance window in words.
	WindowText string `json:"window_text,omitempty"`
	// Next are the next run times, in the schedule's zone.
	Next []time.Time `json:"next"`
	// NextUTC are the same times in UTC.
	NextUTC []time.Time `json:"next_utc"`
	// Starts are when each of the next runs starts: its run time, or
	// when the maintenance window opens after it.
	Starts []time.Time `json:"starts"`
	// Last is the latest recorded run, if any.
	Last *patchpilot.ScheduleRun `json:"last,omitempty"`
}

// ScheduleListRuns is how many next runs Schedules lists.
const ScheduleListRuns = 5

// Schedules lists the configured schedules (patch schedules first, then
// inventory schedules, each in file order) with their next run times and
// their last recorded run.
func (a *App) Schedules(ctx context.Context) ([]ScheduleView, error) {
	now := a.now()
	out := make([]ScheduleView, 0, len(a.Options.Schedules))
	for _, s := range a.Options.Schedules {
		v := ScheduleView{Schedule: s}
		runs, err := a.Store.ScheduleRuns(ctx, patchpilot.ScheduleRunFilter{Schedule: s.Name, Limit: 1})
		if err != nil {
			return nil, err
		}
		var last time.Time
		if len(runs) > 0 {
			v.Last = &runs[0]
			last = runs[0].Due
		}
		v.Next, v.NextUTC, v.Starts = []time.Time{}, []time.Time{}, []time.Time{}
		for _, t := range s.NextRuns(now, last, ScheduleListRuns) {
			v.Next = append(v.Next, t.In(s.Location()))
			v.NextUTC = append(v.NextUTC, t.UTC())
			start := t
			if s.Window != nil {
				if open, ok := planner.WindowNextOpen(*s.Window, t); ok {
					start = open
				}
			}
			v.Starts = append(v.Starts, start.In(s.Location()))
		}
		if s.Kind == patchpilot.ScheduleInventory {
			v.EveryText = planner.FormatDuration(s.Every)
		} else {
			v.UpdatesText = s.Updates.String()
		}
		if s.Window != nil {
			v.WindowText = windowText(*s.Window)
		}
		out = append(out, v)
	}
	return out, nil
}

// scheduleSections are the configuration keys decodeSchedules reads.
var scheduleSections = map[string]patchpilot.ScheduleKind{
	"schedules":           patchpilot.SchedulePatch,
	"inventory_schedules": patchpilot.ScheduleInventory,
}

// windowText shows a maintenance window in words: "fri,sat 22:00-04:00
// Europe/Berlin".
func windowText(w patchpilot.MaintenanceWindow) string {
	days := "every day"
	if len(w.Days) > 0 {
		var names []string
		for _, d := range w.Days {
			names = append(names, strings.ToLower(d.String()[:3]))
		}
		days = strings.Join(names, ",")
	}
	tz := w.TZ
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("%s %s-%s %s", days, w.Start, w.End, tz)
}
