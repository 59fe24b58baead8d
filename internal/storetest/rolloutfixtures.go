package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// otherZone is where fixture times are given, so that a store that keeps
// the zone instead of returning UTC fails.
var otherZone = time.FixedZone("UTC+5:30", 5*3600+1800)

// planSource is the YAML a fixture rollout was started from. Its content
// does not matter to a store; its bytes must survive.
const planSource = `# pp-demo-web 1.1.0 — staged
name: demo-web
patch:
  packages: [pp-demo-web=1.1.0]
targets:
  selector: "env=prod,role!=db"
stages:
  - name: canary
    targets: 33.333333333333336%
`

// FullPlan returns a plan with every field of every type in it set in at
// least one place, with the awkward values: a percentage that is not a
// short decimal, durations with odd nanoseconds and beyond float64's exact
// integers, Sunday (the zero weekday) inside a list.
func FullPlan() patchpilot.Plan {
	autoApproveAt := time.Date(2026, 3, 1, 22, 0, 0, 123456789, time.UTC)
	return patchpilot.Plan{
		Name: "demo-web",
		Patch: patchpilot.PatchSpec{
			Packages:    []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1:1.1.0-1+deb12u1"}, {Name: "pp-libdemo", Version: "2.0"}},
			SecurityAll: true,
		},
		Targets: patchpilot.TargetSelector{Selector: "env=prod,role!=db,os=debian:12", Hosts: []string{"web-1", "web-2"}},
		Stages: []patchpilot.Stage{
			{
				Name: "canary", Targets: patchpilot.TargetsPercent(100.0 / 3), Parallel: 2,
				Criteria: []patchpilot.Criterion{
					{Name: patchpilot.CriterionServicesRunning},
					{Name: patchpilot.CriterionErrorRateIncrease, Op: "<", Value: 0.05},
					{Name: patchpilot.CriterionBootTime, Op: "<=", Value: 1e-7, Unit: "s"},
					{Name: patchpilot.CriterionMeanCPUUsage, Op: "<", Value: 15, Unit: "%", OverBaseline: true},
				},
				Bake:        90*time.Second + 7,
				Timeout:     1<<53 + 1,
				MaxFailures: patchpilot.LimitPercent(12.5),
				OnFailure:   patchpilot.RollbackWaveAndHold,
				Approval:    patchpilot.ApprovalRequired, Approvers: 2, ApprovalReason: "holds critical hosts db1", AutoApproveAt: &autoApproveAt,
				NoCanary: true,
			},
			{
				Name: "final", Targets: patchpilot.TargetCount{Kind: patchpilot.SizeRest, Count: 3, Percent: 0.1},
				Parallel: 10, Timeout: time.Hour, MaxFailures: patchpilot.LimitCount(2),
				OnFailure: patchpilot.RollbackAll, Approval: patchpilot.ApprovalNone,
			},
		},
		Budgets: []patchpilot.DisruptionBudget{
			{Group: "role", MaxUnavailable: patchpilot.LimitPercent(25)},
			{Selector: "tier=db", Service: "postgresql:5432", MaxUnavailable: patchpilot.Limit{Kind: patchpilot.SizeCount, Count: 1, Percent: 0.5}},
		},
		Windows: []patchpilot.MaintenanceWindow{
			{Days: []time.Weekday{time.Sunday, time.Saturday}, Start: 22 * 60, End: 2*60 + 30, TZ: "Europe/Berlin"},
			{Start: 0, End: 0},
		},
		Health: patchpilot.HealthConfig{
			Dependents: map[string][]patchpilot.HealthDependent{
				"db1": {{Host: "web1", Ports: []int{5432}, Services: []string{"nginx.service"}, Skip: ""}},
			},
			Providers: map[string][]patchpilot.HealthProvider{
				"web1": {{Host: "db1", Address: "10.0.0.5", Ports: []int{5432, 6432}}},
			},
			HTTP: []patchpilot.HTTPProbe{{Name: "web", URL: "http://{{.Address}}:8080/health?probe=1&x=<y>",
				ExpectStatus: 204, Timeout: 1500 * time.Millisecond, MaxLatency: 250*time.Millisecond + 3}},
			Prometheus: patchpilot.PrometheusConfig{URL: "http://127.0.0.1:9090",
				Queries: map[string]string{
					"error_rate": `sum(rate(http_requests_total{instance="{{.Address}}:8080",code=~"5.."}[1m]))`,
					"cpu":        "",
				},
				Window: 2*time.Minute + time.Nanosecond, Step: 15 * time.Second},
			CriticalUnits: []string{"pp-demo-web.service", "ssh"},
			// The store keeps what a plan says, checked or not: a real
			// plan names Prometheus or Datadog, not both.
			Datadog: patchpilot.DatadogConfig{Integration: "dd-prod", Queries: map[string]string{"cpu": "avg:system.cpu.user{host:{{.Host}}}"},
				Window: 3 * time.Minute, Step: 20 * time.Second},
			Alertmanager: patchpilot.AlertmanagerConfig{URL: "http://127.0.0.1:9093", Matchers: []string{`instance="{{.Instance}}"`, `severity=~"critical|warning"`}},
			Puppet:       patchpilot.PuppetConfig{Manifest: "/etc/puppet/code/site.pp", Timeout: 4 * time.Minute},
		},
		Apply: patchpilot.ApplyConfig{Ansible: &patchpilot.AnsiblePlaybook{Playbook: "/srv/ansible/patch.yml", Inventory: "/srv/ansible/hosts.ini",
			ExtraVars: map[string]any{"drain": true, "pool": "web"}, Timeout: 20 * time.Minute}},
		Hooks: patchpilot.HookConfig{
			Pre: []patchpilot.Hook{{Name: "drain", Command: []string{"/usr/local/bin/lb", "drain", "--host=x"}, Privileged: true, Timeout: time.Minute},
				{Name: "drain-lb", Playbook: &patchpilot.AnsiblePlaybook{Playbook: "/srv/ansible/drain.yml", Inventory: "/srv/ansible/hosts.ini",
					ExtraVars: map[string]any{"weight": 0.5}, Timeout: 2 * time.Minute}}},
			Post: []patchpilot.Hook{{Name: "undrain", Command: []string{"/usr/local/bin/lb", "undrain"}, Privileged: true, Timeout: 90 * time.Second},
				{Name: "undrain-lb", Playbook: &patchpilot.AnsiblePlaybook{Playbook: "/srv/ansible/undrain.yml", Inventory: "/srv/ansible/hosts.ini",
					ExtraVars: map[string]any{"weight": 100.0}, Timeout: 3 * time.Minute}}},
		},
		Canary: patchpilot.CanaryConfig{
			Judge: patchpilot.CanaryJudgeMannWhitney,
			Metrics: []patchpilot.CanaryMetric{{Name: "p99", Query: `histogram_quantile(0.99, rate(x_bucket{instance="{{.Instance}}"}[30s]))`,
				Direction: patchpilot.CanaryHigherIsWorse, Margin: 0.05, Relative: true, Critical: true, Kind: patchpilot.CanaryContinuous}},
			Baseline: 10*time.Minute + time.Millisecond, Interval: 15 * time.Second, MaxBake: 30 * time.Minute,
			OnInconclusive: patchpilot.CanaryPass,
		},
		Policy: patchpilot.Policy{AllowReboot: true, RequireRollback: true, CriticalWithoutApproval: true, Adaptive: true, AllowDowngrade: true,
			MaxBrokenHosts: patchpilot.Limit{Kind: patchpilot.SizePercent, Count: 2, Percent: 7.5}},
		Order: patchpilot.OrderConfig{Dependencies: patchpilot.OrderProvidersFirst},
	}
}

// unsetFields lists the leaf fields of v's type (paths such as
// "Stages[].Targets.Percent") that hold a zero value everywhere in v. A
// round trip of a value with unset fields proves nothing about them.
func unsetFields(v any) []string {
	all := map[string]bool{}
	leafPaths(reflect.TypeOf(v), "", all)
	set := map[string]bool{}
	setPaths(reflect.ValueOf(v), "", set)
	var out []string
	for p := range all {
		if !set[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// timeType is a leaf of the walks below: its fields are the time
// package's own.
var timeType = reflect.TypeFor[time.Time]()

func leafPaths(t reflect.Type, path string, out map[string]bool) {
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			out[path] = true
			return
		}
		for i := range t.NumField() {
			leafPaths(t.Field(i).Type, path+"."+t.Field(i).Name, out)
		}
	case reflect.Slice, reflect.Pointer:
		leafPaths(t.Elem(), path+"[]", out)
	default:
		out[path] = true
	}
}

func setPaths(v reflect.Value, path string, out map[string]bool) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			if !v.IsZero() {
				out[path] = true
			}
			return
		}
		for i := range v.NumField() {
			setPaths(v.Field(i), path+"."+v.Type().Field(i).Name, out)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setPaths(v.Index(i), path+"[]", out)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			setPaths(v.Elem(), path+"[]", out)
		}
	default:
		if !v.IsZero() {
			out[path] = true
		}
	}
}

// fixtureRollout returns a rollout whose stages list hosts in an order that
// is neither alphabetical nor by stage name, and whose last stage has no
// hosts.
func fixtureRollout(id string, created time.Time) patchpilot.Rollout {
	return patchpilot.Rollout{
		ID: id, Plan: FullPlan(), PlanSource: planSource, State: patchpilot.RolloutRunning,
		Reason: "started by hand", CreatedBy: "alice@ops", CreatedAt: created.In(otherZone),
		UpdatedAt: created.Add(time.Second + time.Microsecond).In(otherZone), DryRun: true,
		PlanID: "p-20260301-120000-a1b2",
		Stages: []patchpilot.StageRun{
			{Index: 0, Name: "validation", State: patchpilot.StageSucceeded, Hosts: []string{"zeta"}},
			{Index: 1, Name: "canary", State: patchpilot.StageRunning, Hosts: []string{"web-3", "web-1"}},
			{Index: 2, Name: "wave-1", State: patchpilot.StagePending, Hosts: []string{"db-2", "app-9", "app-10"}},
			{Index: 3, Name: "final", State: patchpilot.StagePending},
		},
	}
}

// fixtureHosts lists the hosts of fixtureRollout in dispatch order, with
// their stages.
var fixtureHosts = [][2]string{
	{"validation", "zeta"}, {"canary", "web-3"}, {"canary", "web-1"},
	{"wave-1", "db-2"}, {"wave-1", "app-9"}, {"wave-1", "app-10"},
}

// stored returns what a store should give back for a rollout it was given:
// times in UTC and stages that name their rollout.
func stored(r patchpilot.Rollout) patchpilot.Rollout {
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	r.Stages = slices.Clone(r.Stages)
	for i := range r.Stages {
		r.Stages[i] = storedStage(r.Stages[i])
		r.Stages[i].Rollout = r.ID
	}
	return r
}

func storedStage(s patchpilot.StageRun) patchpilot.StageRun {
	s.ApprovedAt = utcPtr(s.ApprovedAt)
	s.StartedAt = utcPtr(s.StartedAt)
	s.FinishedAt = utcPtr(s.FinishedAt)
	return s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func ptr[T any](v T) *T { return &v }

// fullHostRun returns a host run with every field set, times in another
// zone, a package that was not installed before ("" as its from version),
// and JSON baselines and evidence.
func fullHostRun(rollout, stage, host string) patchpilot.HostRun {
	at := baseTime.Add(time.Minute)
	return patchpilot.HostRun{
		Rollout: rollout, Stage: stage, Host: host, State: patchpilot.HostVerify, Order: 4,
		FromVersions: map[string]string{"pp-demo-web": "1.0.0", "pp-libdemo-tools": ""},
		ToVersions:   map[string]string{"pp-demo-web": "1.1.0", "pp-libdemo-tools": "2.0~rc1"},
		BootIDBefore: "0f6b7c2e-4d1a-4a57-9a65-000000000001", BootIDAfter: "0f6b7c2e-4d1a-4a57-9a65-000000000002",
		Artifacts:   map[string]string{"pp-demo-web": "/var/lib/patchpilot/rollback/pp-demo-web_1.0.0_amd64.deb"},
		Transaction: "42",
		Baseline: patchpilot.HealthBaseline{
			"cpu_increase<25%": json.RawMessage(`{"cpu": 0.125, "window": "5m"}`),
			"services_running": json.RawMessage(`["nginx.service", "sshd.service"]`),
		},
		StartedAt: ptr(at.In(otherZone)), FinishedAt: ptr(at.Add(3*time.Minute + time.Microsecond).In(otherZone)),
		AppliedAt: ptr(at.Add(20*time.Second + time.Microsecond).In(otherZone)),
		Reason:    "baking: 2 of 3 checks done",
		Gates: []patchpilot.GateResult{
			{Gate: "cpu_increase<25%", Outcome: patchpilot.GatePass, Reason: "cpu +3%", Value: ptr(0.155),
				Baseline: ptr(0.125), Threshold: ptr(25.0), Time: at.Add(time.Minute).In(otherZone),
				Evidence: json.RawMessage(`{"query": "rate(node_cpu_seconds_total{instance=\"web-1\"}[1m])", "samples": [1, 2.5]}`)},
			{Gate: "http_ok", Outcome: patchpilot.GateError, Reason: "connection refused", Time: at.Add(2 * time.Minute)},
			{Gate: "http_ok", Outcome: patchpilot.GatePass, Reason: "200 in 9ms", Time: at.Add(3 * time.Minute),
				Phase: patchpilot.GateAfterRollback},
		},
	}
}

// storedHostRun is what a store gives back for a saved host run, apart from
// UpdatedAt, which the store sets.
func storedHostRun(h patchpilot.HostRun) patchpilot.HostRun {
	h.StartedAt = utcPtr(h.StartedAt)
	h.AppliedAt = utcPtr(h.AppliedAt)
	h.FinishedAt = utcPtr(h.FinishedAt)
	h.Gates = storedGates(h.Gates)
	return h
}

func storedGates(gates []patchpilot.GateResult) []patchpilot.GateResult {
	gates = slices.Clone(gates)
	for i := range gates {
		gates[i].Time = gates[i].Time.UTC()
	}
	return gates
}

// canonicalJSON rewrites a JSON document compactly with sorted keys, so
// that documents compare equal as JSON; a store may respace them or
// reorder keys (PostgreSQL's jsonb does both).
func canonicalJSON(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("stored JSON %q: %v", raw, err)
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// canonicalHostRun makes the JSON inside a host run canonical.
func canonicalHostRun(t *testing.T, h patchpilot.HostRun) patchpilot.HostRun {
	t.Helper()
	if h.Baseline != nil {
		b := patchpilot.HealthBaseline{}
		for k, v := range h.Baseline {
			b[k] = canonicalJSON(t, v)
		}
		h.Baseline = b
	}
	h.Gates = canonicalGates(t, h.Gates)
	return h
}

func canonicalGates(t *testing.T, gates []patchpilot.GateResult) []patchpilot.GateResult {
	t.Helper()
	gates = slices.Clone(gates)
	for i := range gates {
		gates[i].Evidence = canonicalJSON(t, gates[i].Evidence)
	}
	return gates
}

// fixtureOutcome returns an outcome with packages in an order that is not
// alphabetical, a newly installed and a removed package, and features.
func fixtureOutcome(rollout, host string, at time.Time, kind patchpilot.OutcomeKind) patchpilot.Outcome {
	return patchpilot.Outcome{
		Time: at.In(otherZone), Rollout: rollout, Host: host, OS: "debian:12",
		Labels: map[string]string{"env": "prod", "role": "web"},
		Packages: []patchpilot.PackageChange{
			{Name: "pp-demo-web", From: "1.0.0", To: "1.1.0", SourcePackage: "pp-demo"},
			{Name: "libssl3", From: "3.0.11-1~deb12u2", To: "3.0.13-1~deb12u1", SourcePackage: "openssl"},
			{Name: "pp-libdemo-tools", From: "", To: "2.0"},
			{Name: "pp-agent-legacy", From: "0.9", To: ""},
		},
		Outcome: kind, Reason: fmt.Sprintf("%s on %s", kind, host),
		GateResults: []patchpilot.GateResult{{Gate: "http_ok", Outcome: patchpilot.GatePass, Reason: "200 in 12ms",
			Time: at.In(otherZone), Value: ptr(0.012)}},
		Features: json.RawMessage(`{"reboot": false, "transaction_size": 4, "categories": ["web", "tls"], "role": "web"}`),
	}
}

// storedOutcome is what a store gives back for an outcome, with its JSON
// made canonical.
func storedOutcome(t *testing.T, o patchpilot.Outcome) patchpilot.Outcome {
	t.Helper()
	o.Time = o.Time.UTC()
	o.GateResults = canonicalGates(t, storedGates(o.GateResults))
	o.Features = canonicalJSON(t, o.Features)
	return o
}
