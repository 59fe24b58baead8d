package planner

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestParseExample checks that the README's example plan parses into the
// plan it describes, defaults filled in.
func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crit := func(s string) patchpilot.Criterion {
		c, err := ParseCriterion(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	want := patchpilot.Plan{
		Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{
			{Name: "openssl", Version: "3.0.15-1~deb12u1"}, {Name: "libssl3", Version: "3.0.15-1~deb12u1"},
		}},
		Targets: patchpilot.TargetSelector{Selector: "env=prod,role!=db"},
		Stages: []patchpilot.Stage{
			{Name: "validation", Targets: patchpilot.TargetsCount(1), Parallel: 1,
				Criteria: []patchpilot.Criterion{crit("boot_time<120s"), crit("services_running"), crit("no_new_errors")},
				Bake:     10 * time.Minute, Timeout: 10 * time.Minute, MaxFailures: patchpilot.LimitCount(0),
				OnFailure: patchpilot.HaltAndAlert, Approval: patchpilot.ApprovalNone},
			{Name: "canary", Targets: patchpilot.TargetsCount(5), Parallel: 1,
				// same_as_previous is the validation stage's criteria.
				Criteria: []patchpilot.Criterion{crit("boot_time<120s"), crit("services_running"), crit("no_new_errors"), crit("cpu_increase<15%")},
				Bake:     time.Hour, Timeout: patchpilot.DefaultStageTimeout, MaxFailures: patchpilot.LimitCount(0),
				OnFailure: patchpilot.RollbackAndAlert, Approval: patchpilot.ApprovalNone},
			{Name: "wave_1", Targets: patchpilot.TargetsPercent(20), Parallel: 5,
				Timeout: patchpilot.DefaultStageTimeout, MaxFailures: patchpilot.LimitCount(1),
				OnFailure: patchpilot.RollbackWaveAndHold, Approval: patchpilot.ApprovalNone},
			{Name: "final", Targets: patchpilot.TargetsRest(), Parallel: 15,
				Timeout: patchpilot.DefaultStageTimeout, MaxFailures: patchpilot.LimitCount(0),
				OnFailure: patchpilot.HaltAndAlert, Approval: patchpilot.ApprovalRequired},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if c := got.Stages[0].Criteria[0]; c.Name != "boot_time" || c.Op != "<" || c.Value != 120 || c.Unit != "s" {
		t.Errorf("boot_time criterion = %+v", c)
	}
	if d, ok := got.Stages[0].Criteria[0].Duration(); !ok || d != 2*time.Minute {
		t.Errorf("boot_time duration = %v, %v; want 2m", d, ok)
	}
}

// doc builds a plan file from stage lines, so that error positions are easy
// to count: the first stage is on line 5.
func doc(stages ...string) string {
	return "rollout:\n" +
		"  patch: {packages: [\"openssl=3.0.15-1~deb12u1\"]}\n" +
		"  targets: {selector: \"env=prod\"}\n" +
		"  stages:\n" +
		strings.Join(stages, "\n") + "\n"
}

const okStage = "    - {name: final, targets: rest}"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole message must contain this
	}{
		{"bad duration", doc(
			"    - {name: validation, targets: 1}",
			"    - {name: canary, targets: 2, parallel: 2, bake: 1hour}", okStage),
			`plan.yaml:6:53: stage "canary": bake: invalid duration "1hour": expected e.g. 90s, 10m, 1h`},
		{"negative duration", doc("    - {name: a, targets: rest, timeout: -5m}"),
			`plan.yaml:5:41: stage "a": timeout: invalid duration "-5m"`},
		{"zero timeout", doc("    - {name: a, targets: rest, timeout: 0s}"),
			`plan.yaml:5:41: stage "a": timeout: timeout must be longer than 0`},
		{"unknown stage field", doc("    - {name: a, targets: rest, bakes: 10m}"),
			`plan.yaml:5:32: stage "a": unknown field "bakes" (known fields: name, targets, parallel`},
		{"unknown rollout field", "rollout:\n  patches: {}\n",
			`plan.yaml:2:3: rollout: unknown field "patches"`},
		{"unknown top-level field", "rollout: {}\nextra: 1\n",
			`plan.yaml:2:1: unknown field "extra" (known fields: rollout)`},
		{"missing rollout", "{}\n", `plan.yaml:1:1: missing field "rollout"`},
		{"missing stages", "rollout:\n  patch: {security: all}\n  targets: {selector: \"\"}\n",
			`plan.yaml:2:3: rollout: missing field "stages"`},
		{"empty stages", "rollout:\n  patch: {security: all}\n  targets: {selector: \"\"}\n  stages: []\n",
			`plan.yaml:4:11: stages: at least one stage is required`},
		{"percent over 100", doc("    - {name: a, targets: 120%}", okStage),
			`plan.yaml:5:26: stage "a": targets: invalid targets "120%": a percentage must be above 0% and at most 100%`},
		{"percent zero", doc("    - {name: a, targets: 0%}", okStage),
			`stage "a": targets: invalid targets "0%"`},
		{"count zero", doc("    - {name: a, targets: 0}", okStage),
			`plan.yaml:5:26: stage "a": targets: invalid targets "0": a stage needs at least 1 host`},
		{"targets word", doc("    - {name: a, targets: all}"),
			`invalid targets "all": expected a number of hosts (5), a percentage (20%) or "rest"`},
		{"rest not last", doc("    - {name: a, targets: rest}", "    - {name: b, targets: 1}"),
			`plan.yaml:5:7: stage "a": targets: rest is only allowed in the last stage`},
		{"percentages over 100", doc("    - {name: a, targets: 60%}", "    - {name: b, targets: 50%}", okStage),
			`plan.yaml:6:7: stage "b": targets: percentages of the stages add up to 110%, more than 100%`},
		{"negative parallel", doc("    - {name: a, targets: rest, parallel: -1}"),
			`plan.yaml:5:42: stage "a": parallel: invalid parallel "-1": expected a whole number of at least 1`},
		{"duplicate stage", doc("    - {name: a, targets: 1}", "    - {name: a, targets: rest}"),
			`plan.yaml:6:7: stage "a": duplicate stage name (first at line 5)`},
		{"max_failures percent", doc("    - {name: a, targets: rest, max_failures: 150%}"),
			`plan.yaml:5:46: stage "a": max_failures: invalid limit "150%": a percentage must be between 0% and 100%`},
		{"max_failures negative", doc("    - {name: a, targets: rest, max_failures: -1}"),
			`stage "a": max_failures: invalid limit "-1"`},
		{"unknown on_failure", doc("    - {name: a, targets: rest, on_failure: panic}"),
			`plan.yaml:5:44: stage "a": on_failure: unknown action "panic" (known: halt_and_alert, rollback_and_alert, rollback_wave_and_hold, rollback_all)`},
		{"bad approval", doc("    - {name: a, targets: rest, approval: maybe}"),
			`stage "a": approval: expected none or required, got "maybe"`},
		{"bad canary", doc("    - {name: a, targets: rest, canary: maybe}"),
			`stage "a": canary: expected true or false, got "maybe"`},
		{"same_as_previous in the first stage", doc("    - {name: a, targets: 1, criteria: [same_as_previous]}", okStage),
			`plan.yaml:5:39: stage "a": criteria: same_as_previous copies the criteria of the stage before, but this is the first stage`},
		{"same_as_previous twice", doc("    - {name: a, targets: 1}", "    - {name: b, targets: rest, criteria: [same_as_previous, same_as_previous]}"),
			`plan.yaml:6:42: stage "b": criteria: same_as_previous is listed twice`},
		{"unknown criterion", doc("    - {name: a, targets: rest, criteria: [services_running, cpu<5%]}"),
			`plan.yaml:5:61: stage "a": criteria: unknown criterion "cpu": known criteria are boot_time, services_running`},
		{"criterion without threshold", doc("    - {name: a, targets: rest, criteria: [cpu_increase]}"),
			`invalid criterion "cpu_increase": expected a threshold such as cpu_increase<15%`},
		{"criterion bad unit", doc("    - {name: a, targets: rest, criteria: [boot_time<120%]}"),
			`invalid criterion "boot_time<120%": expected a threshold such as boot_time<120s`},
		{"flag with threshold", doc("    - {name: a, targets: rest, criteria: [http_ok<1]}"),
			`criterion "http_ok<1" takes no threshold`},
		{"missing stage name", doc("    - {targets: rest}"), `plan.yaml:5:7: stage 1: missing field "name"`},
		{"missing stage targets", doc("    - {name: a}"), `plan.yaml:5:7: stage "a": missing field "targets"`},
		{"bad stage name", doc("    - {name: \"a b\", targets: rest}"), `stage 1: name: invalid stage name "a b"`},
		{"bad pin", "rollout:\n  patch: {packages: [openssl]}\n", `plan.yaml:2:22: patch: packages: bad package pin "openssl": expected name=version`},
		{"pin with space", "rollout:\n  patch: {packages: [\"openssl=3.0 ; rm -rf\"]}\n", `bad package pin "openssl=3.0 ; rm -rf"`},
		{"pin twice", "rollout:\n  patch: {packages: [a=1, a=2]}\n", `plan.yaml:2:27: patch: packages: package "a" is pinned twice`},
		{"empty packages", "rollout:\n  patch: {packages: []}\n", `patch: packages: the list is empty`},
		{"both patch kinds", "rollout:\n  patch: {packages: [a=1], security: all}\n", `plan.yaml:2:28: patch: give either packages or security, not both`},
		{"security some", "rollout:\n  patch: {security: some}\n", `patch: security: expected "all", got "some"`},
		{"bad selector", "rollout:\n  patch: {security: all}\n  targets: {selector: \"env=prod,,role=web\"}\n",
			`plan.yaml:3:23: targets: selector: invalid selector "env=prod,,role=web": term 2 "": empty term`},
		{"no target", "rollout:\n  patch: {security: all}\n  targets: {}\n", `targets: expected selector:`},
		{"stages not a list", "rollout:\n  patch: {security: all}\n  targets: {selector: \"\"}\n  stages: {a: 1}\n",
			`plan.yaml:4:11: stages: expected a list, got a mapping`},
		{"duplicate key", doc("    - {name: a, targets: rest, bake: 1m, bake: 2m}"),
			`plan.yaml:5:42: stage "a": field "bake" is repeated (first at line 5)`},
		{"alias", "rollout:\n  patch: &p {security: all}\n", `anchors and aliases are not supported`},
		{"syntax", "rollout:\n  patch: {security: all\n", `plan.yaml:1: invalid YAML: did not find expected ',' or '}'`},
		{"tab indent", "rollout:\n\tname: x\n", `plan.yaml:2: invalid YAML: the line is indented with a tab; YAML indents with spaces`},
		{"empty file", "", `plan.yaml: the file is empty`},
		{"two documents", doc(okStage) + "---\nrollout: {}\n", `a plan file holds one YAML document`},
		{"bad window tz", doc(okStage) + "  windows:\n    - {start: \"02:00\", end: \"06:00\", tz: Mars/Olympus}\n",
			`plan.yaml:7:42: window 1: tz: unknown time zone "Mars/Olympus"`},
		{"bad window day", doc(okStage) + "  windows:\n    - {days: [sat, caturday], start: \"02:00\", end: \"06:00\"}\n",
			`plan.yaml:7:20: window 1: days: unknown day "caturday"`},
		{"bad window time", doc(okStage) + "  windows:\n    - {start: \"25:00\", end: \"06:00\"}\n",
			`plan.yaml:7:15: window 1: start: invalid time of day "25:00"`},
		{"window without end", doc(okStage) + "  windows:\n    - {start: \"02:00\"}\n", `window 1: missing field "end"`},
		{"budget without limit", doc(okStage) + "  budgets:\n    - {group: role}\n", `budget 1: missing field "max_unavailable"`},
		{"budget zero", doc(okStage) + "  budgets:\n    - {group: role, max_unavailable: 0}\n",
			`plan.yaml:7:38: budget 1: max_unavailable: invalid limit "0"`},
		{"budget without group", doc(okStage) + "  budgets:\n    - {max_unavailable: 1}\n", `budget 1: expected group: label-key, selector:`},
		{"budget bad service port", doc(okStage) + "  budgets:\n    - {service: \"db:99999\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: invalid port "99999" in service "db:99999": expected a TCP port from 1 to 65535`},
		{"budget bad service name", doc(okStage) + "  budgets:\n    - {service: \"db 1\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: invalid service "db 1"`},
		{"budget service a bare number", doc(okStage) + "  budgets:\n    - {service: 8080, max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: service 8080 is a bare number, not a unit name: for the port, write ":8080"`},
		{"budget service a quoted bare number", doc(okStage) + "  budgets:\n    - {service: \"8080\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: service 8080 is a bare number`},
		{"budget service a dash", doc(okStage) + "  budgets:\n    - {service: \"-\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: invalid service "-": expected a unit name`},
		{"budget service starting with a dash", doc(okStage) + "  budgets:\n    - {service: \"-db:5432\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: invalid service "-db:5432"`},
		{"budget empty service", doc(okStage) + "  budgets:\n    - {service: \"\", max_unavailable: 1}\n",
			`plan.yaml:7:17: budget 1: service: empty service`},
		{"bad order", doc(okStage) + "  order: {dependencies: clients_first}\n",
			`plan.yaml:6:25: order: dependencies: expected dependents_first, providers_first, ignore, got "clients_first"`},
		{"order without dependencies", doc(okStage) + "  order: {}\n", `plan.yaml:6:10: order: missing field "dependencies"`},
		{"order unknown field", doc(okStage) + "  order: {providers_first: true}\n", `plan.yaml:6:11: order: unknown field "providers_first"`},
		{"bad policy", doc(okStage) + "  policy: {allow_reboot: yes}\n", `plan.yaml:6:26: policy: allow_reboot: expected true or false, got "yes"`},
		{"bad allow_downgrade", doc(okStage) + "  policy: {allow_downgrade: 1}\n", `plan.yaml:6:29: policy: allow_downgrade: expected true or false, got "1"`},
		{"allow_downgrade misplaced", doc(okStage) + "  allow_downgrade: true\n", `plan.yaml:6:3: rollout: unknown field "allow_downgrade"`},
		{"unknown policy", doc(okStage) + "  policy: {reboot: true}\n", `policy: unknown field "reboot"`},
		{"waiver refused", doc(okStage) + "  policy: {allow_reboot: true, critical_without_approval: true}\n",
			`plan.yaml:6:32: policy: critical_without_approval: a plan cannot waive approval: critical hosts always need a person, and approval rules live in the server's policy`},
		{"waiver refused even when false", doc(okStage) + "  policy:\n    critical_without_approval: false\n", `plan.yaml:7:5: policy: critical_without_approval: a plan cannot waive approval`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "plan.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded; want error containing %q", tt.want)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", got, tt.want)
			}
			if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
				t.Errorf("code = %q, want %q", code, patchpilot.EINVALID)
			}
			if patchpilot.ErrorHint(err) == "" {
				t.Error("error has no hint")
			}
		})
	}
	_, err := Parse([]byte(doc(okStage)+"  budgets:\n    - {service: 8080, max_unavailable: 1}\n"), "plan.yaml")
	if hint := patchpilot.ErrorHint(err); !strings.Contains(hint, `":8080"`) {
		t.Errorf("service 8080: hint %q, want it to offer \":8080\"", hint)
	}
}

func TestServiceSpecUnitNames(t *testing.T) {
	for _, s := range []string{"postgresql", "getty@tty1", "systemd-fsck@dev-disk-by\\x2duuid", "a:b:5432", "pp_demo.web"} {
		if _, err := ParseServiceSpec(s); err != nil {
			t.Errorf("ParseServiceSpec(%q) = %v, want a unit name systemd allows", s, err)
		}
	}
}

func TestParseFull(t *testing.T) {
	src := `rollout:
  name: kernel-nov
  patch: {security: all}
  targets: {selector: "os=debian:12", hosts: [web1, web2]}
  stages:
    - name: only
      targets: rest
      parallel: 2
      criteria: [latency_p99<2x, error_rate_increase<0.05, memory<90%]
      bake: 1h30m
      timeout: 20m
      max_failures: 10%
      on_failure: rollback_all
      canary: false
  budgets:
    - {group: role, max_unavailable: 25%}
    - {selector: "role=db", max_unavailable: 1}
    - {service: "postgresql:5432", max_unavailable: 1}
  windows:
    - {days: [sat, Sunday], start: "22:00", end: "04:00", tz: "Europe/Berlin"}
  policy: {allow_reboot: true, require_rollback: true, adaptive: true, allow_downgrade: true}
  order: {dependencies: providers_first}
`
	p, err := Parse([]byte(src), "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Stages[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", p.Name, "kernel-nov"},
		{"security", p.Patch.SecurityAll, true},
		{"hosts", p.Targets.Hosts, []string{"web1", "web2"}},
		{"bake", s.Bake, 90 * time.Minute},
		{"timeout", s.Timeout, 20 * time.Minute},
		{"max_failures", s.MaxFailures, patchpilot.LimitPercent(10)},
		{"on_failure", s.OnFailure, patchpilot.RollbackAll},
		{"canary", s.NoCanary, true},
		{"criteria", len(s.Criteria), 3},
		{"latency unit", s.Criteria[0].Unit, "x"},
		{"budgets", p.Budgets[0], patchpilot.DisruptionBudget{Group: "role", MaxUnavailable: patchpilot.LimitPercent(25)}},
		{"budget selector", p.Budgets[1].Selector, "role=db"},
		{"budget service", p.Budgets[2], patchpilot.DisruptionBudget{Service: "postgresql:5432", MaxUnavailable: patchpilot.LimitCount(1)}},
		{"order", p.Order, patchpilot.OrderConfig{Dependencies: patchpilot.OrderProvidersFirst}},
		{"window days", p.Windows[0].Days, []time.Weekday{time.Saturday, time.Sunday}},
		{"window start", p.Windows[0].Start.String(), "22:00"},
		{"window end", p.Windows[0].End.String(), "04:00"},
		{"policy", p.Policy, patchpilot.Policy{AllowReboot: true, RequireRollback: true, Adaptive: true, AllowDowngrade: true}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// The stage is long, so Marshal writes it as a block; it must still
	// round-trip.
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "out.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip changed the plan:\n%s\ngot  %+v\nwant %+v", out, back, p)
	}
}

func TestRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := Parse(data, "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plans := map[string]patchpilot.Plan{"example": example}
	for _, level := range patchpilot.RiskLevels() {
		for _, n := range []int{1, 3, 8, 50} {
			pl := Default(patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "bash", Version: "5.2.15-2+b7"}}}, n, level)
			plans[string(level)+"-"+string(rune('0'+n%10))] = pl
		}
	}
	// A plan built in code, with zero fields left for the defaults.
	plans["sparse"] = patchpilot.Plan{
		Name:    "123",
		Patch:   patchpilot.PatchSpec{SecurityAll: true},
		Targets: patchpilot.TargetSelector{Selector: "name=web*,os=ubuntu:22.04"},
		Stages:  []patchpilot.Stage{{Name: "all", Targets: patchpilot.TargetsRest(), MaxFailures: patchpilot.LimitPercent(0)}},
		Windows: []patchpilot.MaintenanceWindow{{Start: 0, End: 0}},
	}
	for name, p := range plans {
		t.Run(name, func(t *testing.T) {
			out, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(out, "out.yaml")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if want := p.WithDefaults(); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n%s\ngot  %+v\nwant %+v", out, got, want)
			}
		})
	}
}

// TestMarshalStyle checks that the example is written back in the design's
// style: one flow line per stage.
func TestMarshalStyle(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data, "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`  patch: {packages: ["openssl=3.0.15-1~deb12u1", "libssl3=3.0.15-1~deb12u1"]}`,
		`  targets: {selector: "env=prod,role!=db"}`,
		`    - {name: validation, targets: 1, criteria: [boot_time<120s, services_running, no_new_errors], bake: 10m, timeout: 10m, on_failure: halt_and_alert}`,
		`    - {name: wave_1, targets: 20%, parallel: 5, max_failures: 1, on_failure: rollback_wave_and_hold}`,
		`    - {name: final, targets: rest, parallel: 15, on_failure: halt_and_alert, approval: required}`,
	}
	for _, line := range want {
		if !strings.Contains(string(out), line+"\n") {
			t.Errorf("output lacks line %q:\n%s", line, out)
		}
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{SecurityAll: true},
		Stages: []patchpilot.Stage{{Name: "a", Targets: patchpilot.TargetsRest(), OnFailure: "explode"}}}
	if _, err := Marshal(p); err == nil || !strings.Contains(err.Error(), `unknown action "explode"`) {
		t.Errorf("Marshal error = %v, want unknown action", err)
	}
}

// FuzzParse checks that no input makes Parse panic, and that every plan it
// accepts survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/example.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(doc(okStage)))
	f.Add([]byte("rollout:\n  patch: {security: all}\n  targets: {selector: \"os=debian:12\"}\n  stages: [{name: a, targets: 50%}, {name: b, targets: rest}]\n  windows: [{days: [mon], start: \"23:00\", end: \"01:00\", tz: UTC}]\n"))
	f.Add([]byte("rollout: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of a parsed plan failed: %v", err)
		}
		back, err := Parse(out, "out.yaml")
		if err != nil {
			t.Fatalf("re-parse failed: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the plan:\n%s\ngot  %+v\nwant %+v", out, back, p)
		}
	})
}

// TestSameAsPrevious checks that same_as_previous is the previous stage's
// criteria with their thresholds, that a criterion the stage names itself
// keeps its own threshold, and that it chains through several stages.
func TestSameAsPrevious(t *testing.T) {
	p, err := Parse([]byte(doc(
		"    - {name: a, targets: 1, criteria: [boot_time<120s, services_running, cpu_increase<15%]}",
		"    - {name: b, targets: 1, criteria: [http_ok, same_as_previous, cpu_increase<5%]}",
		"    - {name: c, targets: rest, criteria: [same_as_previous]}")), "plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := func(cs []patchpilot.Criterion) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.String())
		}
		return strings.Join(out, ",")
	}
	if got, want := names(p.Stages[1].Criteria), "http_ok,boot_time<120s,services_running,cpu_increase<5%"; got != want {
		t.Errorf("stage b criteria = %s, want %s", got, want)
	}
	if got, want := names(p.Stages[2].Criteria), "http_ok,boot_time<120s,services_running,cpu_increase<5%"; got != want {
		t.Errorf("stage c criteria = %s, want %s", got, want)
	}
	for _, s := range p.Stages {
		for _, c := range s.Criteria {
			if c.Name == patchpilot.CriterionSameAsPrevious {
				t.Errorf("stage %s still has same_as_previous: the health gates cannot evaluate it", s.Name)
			}
		}
	}
}
