package patchpilot

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Plan is a rollout plan: what to install (Patch), where (Targets), and how
// (Stages, Budgets, Windows, Policy). Plans are read from and written to YAML
// by internal/planner; the orchestrator executes them stage by stage.
//
// A Plan read by the planner has its defaults filled in (see WithDefaults),
// so the orchestrator never has to guess what a zero field means.
//
// The JSON tags of Plan and of the types in it are the plan's stored form
// (rollouts keep their plan in the store as JSON, version 1): a field is
// renamed or removed only with a new version that still reads the old.
type Plan struct {
	Name    string         `json:"name"`
	Patch   PatchSpec      `json:"patch"`
	Targets TargetSelector `json:"targets"`
	Stages  []Stage        `json:"stages"`
	// Budgets cap how many hosts may be unavailable at once per group.
	Budgets []DisruptionBudget `json:"budgets"`
	// Windows are the maintenance windows hosts may be changed in. A host
	// may be changed when any window contains the current time; no windows
	// means at any time.
	Windows []MaintenanceWindow `json:"windows"`
	Policy  Policy              `json:"policy"`
	// Health configures what the stages' criteria probe: HTTP endpoints,
	// Prometheus queries and critical units.
	Health HealthConfig `json:"health"`
	// Canary configures the statistical comparison of each stage's
	// patched hosts with matched unpatched hosts (the "canary:" section);
	// the zero value configures none.
	Canary CanaryConfig `json:"canary"`
	// Apply says how each host's change is made (the "apply:" section);
	// Hooks run before and after it (the "hooks:" section).
	Apply ApplyConfig `json:"apply,omitzero"`
	Hooks HookConfig  `json:"hooks,omitzero"`
	// Order says how the dependency map orders the hosts (the "order:"
	// section); the zero value puts providers after their dependents.
	Order OrderConfig `json:"order,omitzero"`
}

// Dependency orders of a plan's hosts (OrderConfig.Dependencies).
const (
	// OrderDependentsFirst keeps hosts that other fleet hosts depend on
	// (providers) out of the canary stages while other candidates remain,
	// and dispatches them after their dependents: the default.
	OrderDependentsFirst = "dependents_first"
	// OrderProvidersFirst puts providers first: in the canary stages, and
	// before their dependents (a schema change clients need).
	OrderProvidersFirst = "providers_first"
	// OrderIgnore orders hosts by canary coverage and criticality only.
	OrderIgnore = "ignore"
)

// OrderConfig is the plan's "order:" section. Dependencies is one of the
// Order constants; "" means OrderDependentsFirst.
type OrderConfig struct {
	Dependencies string `json:"dependencies,omitempty"`
}

// DependencyOrder returns the plan's dependency order, the default filled
// in.
func (p Plan) DependencyOrder() string {
	if p.Order.Dependencies == "" {
		return OrderDependentsFirst
	}
	return p.Order.Dependencies
}

// Policy holds the plan-wide switches. Every zero value is the cautious one.
type Policy struct {
	// AllowReboot lets the pipeline reboot hosts whose update requires it;
	// when false such hosts stop before apply and are held for a person.
	AllowReboot bool `json:"allow_reboot"`
	// RequireRollback makes preflight fail on a host that has no way back
	// (no artifact of the installed version could be secured).
	RequireRollback bool `json:"require_rollback"`
	// CriticalWithoutApproval is read from plans stored by older versions,
	// which let a plan start stages holding critical hosts without an
	// approval. It is no longer honoured: critical hosts always need a
	// person, and a new plan that names it is refused. Approval rules
	// live in the server's policy.
	CriticalWithoutApproval bool `json:"critical_without_approval"`
	// Adaptive lets the adaptive planner resize later waves from the
	// failure rate observed so far.
	Adaptive bool `json:"adaptive"`
	// AllowDowngrade lets the plan pin versions older than the installed
	// ones: rolling a fleet back to a known-good version on purpose.
	// Without it such a plan is refused when it is resolved against the
	// inventory, and a host found newer at preflight fails before any
	// change.
	AllowDowngrade bool `json:"allow_downgrade"`
	// MaxBrokenHosts is the adaptive planner's failure budget: how many
	// hosts the whole rollout may break (a count, or a percentage of its
	// targets rounded down). The zero Limit means the planner's default.
	MaxBrokenHosts Limit `json:"max_broken_hosts"`
}

// PatchSpec says what a rollout installs: exact package versions, or every
// pending security update of each host.
type PatchSpec struct {
	Packages    []PackagePin `json:"packages"`
	SecurityAll bool         `json:"security_all"`
}

// PackagePin is one exact package version to install.
type PackagePin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// String renders the pin as written in plans: "name=version".
func (p PackagePin) String() string { return p.Name + "=" + p.Version }

// TargetSelector chooses the hosts of a rollout. Selector is an expression
// over labels and facts, such as "env=prod,role!=db,os=debian:12"; Hosts,
// when not empty, further restricts the targets to the named hosts.
type TargetSelector struct {
	Selector string   `json:"selector"`
	Hosts    []string `json:"hosts"`
}

// SizeKind says how a stage size or a limit is expressed.
type SizeKind string

// Size kinds.
const (
	SizeCount   SizeKind = "count"   // an absolute number of hosts
	SizePercent SizeKind = "percent" // a percentage of the targets
	SizeRest    SizeKind = "rest"    // every target not in an earlier stage
)

// TargetCount is the size of a stage: Count hosts, Percent of the targets,
// or the rest of them.
type TargetCount struct {
	Kind    SizeKind `json:"kind"`
	Count   int      `json:"count"`
	Percent float64  `json:"percent"`
}

// TargetsCount returns the stage size of n hosts.
func TargetsCount(n int) TargetCount { return TargetCount{Kind: SizeCount, Count: n} }

// TargetsPercent returns the stage size of p percent of the targets.
func TargetsPercent(p float64) TargetCount { return TargetCount{Kind: SizePercent, Percent: p} }

// TargetsRest returns the stage size "every remaining target".
func TargetsRest() TargetCount { return TargetCount{Kind: SizeRest} }

// IsRest reports whether the size is "rest".
func (t TargetCount) IsRest() bool { return t.Kind == SizeRest }

// IsPercent reports whether the size is a percentage of the targets.
func (t TargetCount) IsPercent() bool { return t.Kind == SizePercent }

// String renders the size as written in plans: "5", "20%" or "rest".
func (t TargetCount) String() string { return sizeString(t.Kind, t.Count, t.Percent) }

// LimitCount returns the limit of n hosts.
func LimitCount(n int) Limit { return Limit{Kind: SizeCount, Count: n} }

// LimitPercent returns the limit of p percent of the hosts.
func LimitPercent(p float64) Limit { return Limit{Kind: SizePercent, Percent: p} }

// String renders the limit as written in plans: "1" or "10%".
func (l Limit) String() string { return sizeString(l.Kind, l.Count, l.Percent) }

func formatPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

func percentOf(total int, p float64) float64 { return float64(total) * p / 100 }

func sizeString(kind SizeKind, n int, p float64) string {
	switch kind {
	case SizePercent:
		return formatPercent(p)
	case SizeRest:
		return "rest"
	}
	return strconv.Itoa(n)
}

// percentEpsilon absorbs floating-point noise when a percentage of a host
// count is rounded, so that 20% of 10 hosts is 2 and not 3.
const percentEpsilon = 1e-9

// Of returns how many of total hosts the size names: a count as is, a
// percentage rounded up with a minimum of one, and for rest, total itself
// (the caller subtracts what earlier stages took).
func (t TargetCount) Of(total int) int {
	switch t.Kind {
	case SizePercent:
		n := int(math.Ceil(percentOf(total, t.Percent) - percentEpsilon))
		return max(n, 1)
	case SizeRest:
		return total
	}
	return t.Count
}

// Limit is a count or a percentage, as used by max_failures and
// max_unavailable. The zero Limit is the count 0.
type Limit struct {
	Kind    SizeKind `json:"kind"` // SizeCount or SizePercent; "" means SizeCount
	Count   int      `json:"count"`
	Percent float64  `json:"percent"`
}

// Exceeded reports whether failures out of total exceed the limit. As in
// Ansible's max_fail_percentage, reaching the limit is allowed and going past
// it is not: a count of 1 tolerates one failure, 10% of 20 tolerates two.
func (l Limit) Exceeded(failures, total int) bool {
	if l.Kind == SizePercent {
		return float64(failures) > percentOf(total, l.Percent)+percentEpsilon
	}
	return failures > l.Count
}

// Allowed returns how many of total hosts the limit permits, rounding a
// percentage down.
func (l Limit) Allowed(total int) int {
	if l.Kind == SizePercent {
		return int(math.Floor(percentOf(total, l.Percent) + percentEpsilon))
	}
	return l.Count
}

// FailureAction is what a stage does when its failures exceed MaxFailures.
type FailureAction string

// Failure actions.
const (
	// HaltAndAlert stops dispatching, leaves patched hosts as they are and
	// alerts a person.
	HaltAndAlert FailureAction = "halt_and_alert"
	// RollbackAndAlert rolls back the failed hosts, stops and alerts.
	RollbackAndAlert FailureAction = "rollback_and_alert"
	// RollbackWaveAndHold rolls back every host of the failing stage and
	// holds the rollout until a person resumes or aborts it.
	RollbackWaveAndHold FailureAction = "rollback_wave_and_hold"
	// RollbackAll rolls back every host the rollout has patched so far, in
	// reverse order of deployment.
	RollbackAll FailureAction = "rollback_all"
)

// FailureActions lists the valid failure actions.
func FailureActions() []FailureAction {
	return []FailureAction{HaltAndAlert, RollbackAndAlert, RollbackWaveAndHold, RollbackAll}
}

// Valid reports whether a is one of the known failure actions.
func (a FailureAction) Valid() bool {
	for _, v := range FailureActions() {
		if a == v {
			return true
		}
	}
	return false
}

// Approval says whether a stage needs a person's approval before it starts.
type Approval string

// Approval values.
const (
	ApprovalNone     Approval = "none"
	ApprovalRequired Approval = "required"
)

// Defaults filled in by WithDefaults.
const (
	DefaultParallel     = 1
	DefaultStageTimeout = 30 * time.Minute
	DefaultOnFailure    = HaltAndAlert
	DefaultApproval     = ApprovalNone
)

// Stage is one wave of a rollout.
type Stage struct {
	Name    string      `json:"name"`
	Targets TargetCount `json:"targets"`
	// Parallel is how many hosts of the stage are changed at once.
	Parallel int `json:"parallel"`
	// Criteria are the health gates each host must pass during the bake.
	// None means only the pipeline's own checks (the host is reachable
	// and runs the target versions).
	Criteria []Criterion `json:"criteria"`
	// Bake is how long hosts are watched after apply before they count as
	// succeeded; 0 means the criteria are checked once.
	Bake time.Duration `json:"bake"`
	// Timeout bounds each host's steps before the bake (preflight,
	// snapshot, apply, reboot).
	Timeout time.Duration `json:"timeout"`
	// MaxFailures is how many failed hosts the stage tolerates; once
	// failures exceed it, no more hosts are dispatched and OnFailure runs.
	MaxFailures Limit         `json:"max_failures"`
	OnFailure   FailureAction `json:"on_failure"`
	Approval    Approval      `json:"approval"`
	// Approvers is how many distinct people must approve the stage when
	// it needs approval; 0 means one. ApprovalReason says why the
	// server's policy gates the stage. The policy sets both when a
	// rollout is created; plan files cannot.
	Approvers      int    `json:"approvers,omitempty"`
	ApprovalReason string `json:"approval_reason,omitempty"`
	// AutoApproveAt, when set, is when the policy approves the stage by
	// itself if no person has approved it before: the stage was held only
	// until the auto-approval delays of its updates pass.
	AutoApproveAt *time.Time `json:"auto_approve_at,omitempty"`
	// NoCanary leaves the plan's canary analysis out of this stage
	// ("canary: false"): only its criteria gate it.
	NoCanary bool `json:"no_canary"`
}

// Criterion is one health gate, such as "boot_time<120s" (Name boot_time,
// Op "<", Value 120, Unit "s") or "services_running" (no Op). Units are ""
// (a plain number), "%", "x" (a multiple of the host's baseline) or a
// duration unit ("ms", "s", "m", "h").
type Criterion struct {
	Name  string  `json:"name"`
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// OverBaseline makes the threshold the host's own baseline plus
	// Value: "mean_cpu_usage<baseline+15%" (Value 15, Unit "%").
	OverBaseline bool `json:"over_baseline,omitempty"`
}

// String renders the criterion as written in plans.
func (c Criterion) String() string {
	if c.Op == "" {
		return c.Name
	}
	base := ""
	if c.OverBaseline {
		base = "baseline+"
	}
	return c.Name + c.Op + base + strconv.FormatFloat(c.Value, 'f', -1, 64) + c.Unit
}

// Duration returns the criterion's threshold as a duration when its unit is
// one, and false otherwise.
func (c Criterion) Duration() (time.Duration, bool) {
	var unit time.Duration
	switch c.Unit {
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	default:
		return 0, false
	}
	return time.Duration(c.Value * float64(unit)), true
}

// Criterion names. The health package implements each of them.
const (
	CriterionBootTime          = "boot_time"           // time from reboot to reachable, e.g. boot_time<120s
	CriterionServicesRunning   = "services_running"    // services running before apply still run
	CriterionNoFailedUnits     = "no_failed_units"     // no systemd unit failed since apply
	CriterionNoNewErrors       = "no_new_errors"       // no new error lines in the journal since apply
	CriterionPortsListening    = "ports_listening"     // ports listening before apply still listen
	CriterionSameAsPrevious    = "same_as_previous"    // no worse than the hosts of the previous stage
	CriterionHTTPOK            = "http_ok"             // HTTP probes answer with success
	CriterionCPUIncrease       = "cpu_increase"        // CPU use relative to the baseline, e.g. cpu_increase<15%
	CriterionMemory            = "memory"              // memory use, e.g. memory<90%
	CriterionErrorRateIncrease = "error_rate_increase" // absolute error-rate increase, e.g. <0.05
	CriterionLatencyP99        = "latency_p99"         // p99 latency against the baseline, e.g. <2x
	CriterionNoFiringAlerts    = "no_firing_alerts"    // no Alertmanager alert of the host fires during the bake
	CriterionPuppetNoop        = "puppet_noop"         // Puppet in no-op mode finds the host in its declared state
	// CriterionDependentsReachable: from each host that depends on the
	// changed host, the ports it uses still answer.
	CriterionDependentsReachable = "dependents_reachable"
	// CriterionMeanCPUUsage: the mean CPU use in percent, as a level
	// (mean_cpu_usage<80%) or over the host's own baseline mean
	// (mean_cpu_usage<baseline+15%: 15 percentage points over it).
	CriterionMeanCPUUsage = "mean_cpu_usage"
	// CriterionDiskIO: disk I/O utilisation stays within a multiple of
	// the host's baseline, e.g. disk_io_within_normal or <3x.
	CriterionDiskIO = "disk_io_within_normal"
	// CriterionNetworkConnectivity: interfaces up at the baseline stay
	// up, no new interface errors or drops beyond an allowance, and the
	// host still reaches its providers and answers on the ports its
	// dependents use.
	CriterionNetworkConnectivity = "network_connectivity"
	// CriterionLoad: the 1-minute load average per CPU, e.g. load<2.
	CriterionLoad = "load"
)

// DisruptionBudget caps how many hosts may be unavailable at once. With
// Group set (a label key such as "role"), the cap applies to each value of
// that label separately; with Selector set, to the hosts it matches; with
// Service set, to the hosts whose latest facts run that service or listen
// on that port; with several, to each group among the hosts all the others
// cover.
type DisruptionBudget struct {
	Group    string `json:"group"`
	Selector string `json:"selector"`
	// Service is "UNIT", "UNIT.service", ":PORT" or "UNIT:PORT" (a host
	// is covered when it runs the unit, listens on the port, or, with
	// both, runs the unit listening on the port).
	Service        string `json:"service,omitempty"`
	MaxUnavailable Limit  `json:"max_unavailable"`
}

// Allowed returns how many hosts of a group of the given size may be
// unavailable at once. A percentage rounds down but allows at least one
// host, so that a budget can never stall a rollout for ever.
func (b DisruptionBudget) Allowed(groupSize int) int {
	return max(b.MaxUnavailable.Allowed(groupSize), 1)
}

// TimeOfDay is a wall-clock time as minutes after midnight (0 to 1439).
type TimeOfDay int

// String renders the time as "15:04".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// ParseTimeOfDay reads "HH:MM" (24-hour clock).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || err1 != nil || err2 != nil ||
		hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, Errorf(EINVALID, "invalid time of day %q", s).WithHint(`use a 24-hour clock time such as "02:00" or "23:30"`)
	}
	return TimeOfDay(hh*60 + mm), nil
}

// MaintenanceWindow is a weekly window in a time zone: on each of Days (all
// days when empty), from Start to End local wall-clock time. A window whose
// End is not after its Start crosses midnight and ends on the next day; a
// window with Start equal to End lasts the whole day. Days name the day the
// window opens.
type MaintenanceWindow struct {
	Days  []time.Weekday `json:"days"`
	Start TimeOfDay      `json:"start"`
	End   TimeOfDay      `json:"end"`
	// TZ is an IANA time zone name such as "Europe/Berlin"; "" means UTC.
	// Binaries should import time/tzdata so that zones load on hosts
	// without a zone database.
	TZ string `json:"tz"`
}

// CanaryOn reports whether the plan's canary analysis gates stage s: the
// plan has a canary section and the stage does not opt out of it.
func (p Plan) CanaryOn(s Stage) bool { return p.Canary.Enabled() && !s.NoCanary }

// WithDefaults returns a copy of the plan with every defaulted field filled
// in: stage parallelism, timeout, failure action, approval and limit kinds.
// Empty lists become nil so that plans compare equal however they were built.
func (p Plan) WithDefaults() Plan {
	out := p
	out.Patch.Packages = nilIfEmpty(p.Patch.Packages)
	out.Targets.Hosts = nilIfEmpty(p.Targets.Hosts)
	out.Budgets = nilIfEmpty(p.Budgets)
	out.Windows = nilIfEmpty(p.Windows)
	if out.Budgets != nil {
		out.Budgets = append([]DisruptionBudget(nil), p.Budgets...)
		for i := range out.Budgets {
			out.Budgets[i].MaxUnavailable = out.Budgets[i].MaxUnavailable.withKind()
		}
	}
	if out.Windows != nil {
		out.Windows = append([]MaintenanceWindow(nil), p.Windows...)
		for i := range out.Windows {
			out.Windows[i].Days = nilIfEmpty(out.Windows[i].Days)
		}
	}
	out.Health.HTTP = nilIfEmpty(p.Health.HTTP)
	out.Health.CriticalUnits = nilIfEmpty(p.Health.CriticalUnits)
	if len(p.Health.Prometheus.Queries) == 0 {
		out.Health.Prometheus.Queries = nil
	}
	if len(p.Health.Datadog.Queries) == 0 {
		out.Health.Datadog.Queries = nil
	}
	out.Health.Alertmanager.Matchers = nilIfEmpty(p.Health.Alertmanager.Matchers)
	if len(p.Health.Dependents) == 0 {
		out.Health.Dependents = nil
	}
	if len(p.Health.Providers) == 0 {
		out.Health.Providers = nil
	}
	out.Canary.Metrics = nilIfEmpty(p.Canary.Metrics)
	out.Stages = nilIfEmpty(p.Stages)
	if out.Stages != nil {
		out.Stages = append([]Stage(nil), p.Stages...)
		for i := range out.Stages {
			s := &out.Stages[i]
			if s.Targets.Kind == "" {
				s.Targets.Kind = SizeCount
			}
			if s.Parallel == 0 {
				s.Parallel = DefaultParallel
			}
			if s.Timeout == 0 {
				s.Timeout = DefaultStageTimeout
			}
			if s.OnFailure == "" {
				s.OnFailure = DefaultOnFailure
			}
			if s.Approval == "" {
				s.Approval = DefaultApproval
			}
			s.MaxFailures = s.MaxFailures.withKind()
			s.Criteria = nilIfEmpty(s.Criteria)
		}
	}
	return out
}

func (l Limit) withKind() Limit {
	if l.Kind == "" {
		l.Kind = SizeCount
	}
	return l
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
