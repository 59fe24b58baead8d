// Package policy is the server's policy: what may go out without a person.
// It holds the policy model (the "policy:" section of patchpilot.yaml,
// owned by admins), its strict decoder, and a pure evaluator that decides,
// rule by rule, what each stage and each host of a plan may do.
//
// Plans cannot waive any of it: the policy is applied when a rollout is
// created, over the plan's resolved stages.
package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// Level is a host group's automation level: the phases in which a team
// comes to trust patchpilot.
type Level string

// Automation levels, from the most to the least cautious.
const (
	// Advisor: plans are proposed; a person starts them.
	Advisor Level = "advisor"
	// Supervised: low-risk plans start themselves; anything else waits
	// for a person.
	Supervised Level = "supervised"
	// Autopilot: everything starts itself except what the rules hold.
	Autopilot Level = "autopilot"
)

// Levels lists the levels from the most to the least cautious.
func Levels() []Level { return []Level{Advisor, Supervised, Autopilot} }

func (l Level) rank() int {
	switch l {
	case Supervised:
		return 1
	case Autopilot:
		return 2
	}
	return 0 // advisor, and anything unknown: the most cautious
}

// Classification is what an auto-approval rule covers.
type Classification string

// Classifications.
const (
	ClassSecurity Classification = "security" // updates the package manager or an advisory marks as security fixes
	ClassOther    Classification = "other"    // every other update
	ClassAny      Classification = "any"      // both
)

// Policy is the server's policy. Its zero value is the default policy:
// every host in the advisor level, no auto-approval rules, nothing held and
// no promotion rule. Critical hosts and high-risk updates need a person
// whatever the policy says.
type Policy struct {
	// Groups are tried in order; the first whose selector matches a host
	// is its group. Hosts no group matches are in Default.
	Groups  []Group `json:"groups"`
	Default Group   `json:"default"`
	// Promotions say where an update must have succeeded before it may
	// reach a set of hosts.
	Promotions []Promotion `json:"promotions"`
	// SLA is the patch deadline per severity of hosts whose group sets
	// none; see SLAOf.
	SLA SLA `json:"sla"`
	// Compliance gives each compliance regime its rules, by the name
	// hosts' compliance labels use ("pci"); see HostSLA and HostLevel.
	Compliance map[string]Regime `json:"compliance,omitempty"`
}

// Group is a set of hosts (a target selector as plans use, such as
// "env=prod") with its rules.
type Group struct {
	Name     string `json:"name"`
	Selector string `json:"hosts"`
	Level    Level  `json:"level"`
	// AutoApprove rules approve updates by classification and severity a
	// delay after they first became available. A group without rules
	// does not gate updates on approval; a group with rules makes every
	// update they do not approve (yet) wait for a person.
	AutoApprove []AutoApprove `json:"auto_approve"`
	// Hold names packages (shell patterns such as "linux-image-*") that
	// must never be sent to the group's hosts.
	Hold []string `json:"hold"`
	// TwoApprovers makes a stage holding critical hosts of the group wait
	// for two distinct approvers.
	TwoApprovers bool `json:"two_approvers"`
	// SLA overrides the policy's deadlines for the group's hosts, field
	// by field.
	SLA SLA `json:"sla"`
}

// AutoApprove approves updates of a classification with at least a
// severity, After their first availability (as ApproveAfterDays does in
// AWS Patch Manager).
type AutoApprove struct {
	Classification Classification      `json:"classification"`
	MinSeverity    patchpilot.Severity `json:"min_severity,omitempty"`
	After          time.Duration       `json:"after"`
}

// Promotion says that an update may reach the hosts To selects only after
// the same version succeeded on hosts From selects, without a failure there
// since, for at least After.
type Promotion struct {
	From  string        `json:"from"`
	To    string        `json:"to"`
	After time.Duration `json:"after"`
}

// GroupOf returns the group a host belongs to: the first group whose
// selector matches it, or the default group (named "default").
func (p Policy) GroupOf(h planner.HostView) Group {
	for _, g := range p.Groups {
		sel, err := planner.ParseSelector(g.Selector)
		if err == nil && sel.Matches(h) {
			return g
		}
	}
	d := p.Default
	if d.Name == "" {
		d.Name = "default"
	}
	if d.Level == "" {
		d.Level = Advisor
	}
	return d
}

// Held reports the first of the group's hold patterns that matches pkg.
func (g Group) Held(pkg string) (string, bool) {
	for _, pat := range g.Hold {
		if ok, err := path.Match(pat, pkg); (err == nil && ok) || pat == pkg {
			return pat, true
		}
	}
	return "", false
}

// Validate checks a policy built in code the way Decode checks a file.
func (p Policy) Validate() error {
	seen := map[string]bool{}
	groups := append([]Group{}, p.Groups...)
	for i, g := range groups {
		what := fmt.Sprintf("policy: groups[%d]", i)
		if g.Name == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: name is missing", what)
		}
		if seen[g.Name] || g.Name == "default" {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: group name %q is used twice (\"default\" is the default group's)", what, g.Name)
		}
		seen[g.Name] = true
		if strings.TrimSpace(g.Selector) == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s (%s): hosts is missing; expected a selector such as \"env=prod\"", what, g.Name)
		}
		if _, err := planner.ParseSelector(g.Selector); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s (%s): hosts: %v", what, g.Name, err)
		}
		if err := g.validate(what); err != nil {
			return err
		}
	}
	if err := p.Default.validate("policy: default"); err != nil {
		return err
	}
	if err := p.SLA.validate("policy"); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(p.Compliance)) {
		if !regimeName.MatchString(name) {
			return patchpilot.Errorf(patchpilot.EINVALID, "policy: compliance: regime name %q: expected a lower-case word of letters, digits, '.', '-' or '_'", name)
		}
		if err := p.Compliance[name].validate("policy: compliance: " + name); err != nil {
			return err
		}
	}
	for i, pr := range p.Promotions {
		what := fmt.Sprintf("policy: promotions[%d]", i)
		for _, s := range []struct{ key, sel string }{{"from", pr.From}, {"to", pr.To}} {
			if strings.TrimSpace(s.sel) == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s is missing; expected a selector such as \"env=staging\"", what, s.key)
			}
			if _, err := planner.ParseSelector(s.sel); err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s: %v", what, s.key, err)
			}
		}
		if pr.After < 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: after must not be negative", what)
		}
	}
	return nil
}

func (g Group) validate(what string) error {
	switch g.Level {
	case "", Advisor, Supervised, Autopilot:
	default:
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: level %q: expected advisor, supervised or autopilot", what, g.Level)
	}
	for i, r := range g.AutoApprove {
		switch r.Classification {
		case ClassSecurity, ClassOther, ClassAny:
		default:
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: auto_approve[%d]: classification %q: expected security, other or any", what, i, r.Classification)
		}
		if r.MinSeverity != "" && patchpilot.SeverityOfRank(r.MinSeverity.Rank()) == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: auto_approve[%d]: min_severity %q: expected critical, high, medium or low", what, i, r.MinSeverity)
		}
		if r.After < 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: auto_approve[%d]: after must not be negative", what, i)
		}
	}
	for i, pat := range g.Hold {
		if _, err := path.Match(pat, ""); err != nil || strings.TrimSpace(pat) == "" {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: hold[%d]: %q is not a package name or pattern", what, i, pat)
		}
	}
	return g.SLA.validate(what)
}

// FormatDuration renders a duration as policies write it: whole days as
// "7d", anything else as Go does ("36h0m0s" becomes "36h").
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return planner.FormatDuration(d)
}

// MarshalJSON writes After as policies write it ("3d", "36h").
func (r AutoApprove) MarshalJSON() ([]byte, error) {
	type plain AutoApprove
	return json.Marshal(struct {
		plain
		After string `json:"after"`
	}{plain(r), FormatDuration(r.After)})
}

// MarshalJSON writes After as policies write it ("3d", "36h").
func (p Promotion) MarshalJSON() ([]byte, error) {
	type plain Promotion
	return json.Marshal(struct {
		plain
		After string `json:"after"`
	}{plain(p), FormatDuration(p.After)})
}
