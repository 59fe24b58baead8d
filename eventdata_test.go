package patchpilot_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestEventDataOfOlderVersions decodes payloads exactly as older versions
// wrote them (maps marshalled with sorted keys, the adaptive prior as an
// object) into each kind's payload type, refusing unknown fields: a field
// renamed or dropped from a payload type fails here.
func TestEventDataOfOlderVersions(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, kind, data string
		want             any
	}{
		{"collected", patchpilot.EventFactsCollected, `{"packages":412,"security_updates":3,"source":"ssh","updates":7}`,
			&patchpilot.FactsCollectedData{Packages: 412, Updates: 7, SecurityUpdates: 3, Source: "ssh"}},
		{"collect failed", patchpilot.EventCollectFailed, `{"code":"EUNREACHABLE"}`,
			&patchpilot.CollectFailedData{Code: "EUNREACHABLE"}},
		{"pruned", patchpilot.EventFactsPruned, `{"deleted":4,"keep":2}`, &patchpilot.FactsPrunedData{Keep: 2, Deleted: 4}},
		{"hosts removed", patchpilot.EventHostsRemoved, `{"hosts":["web-1","web-2"]}`,
			&patchpilot.HostsRemovedData{Hosts: []string{"web-1", "web-2"}}},
		{"advisories", patchpilot.EventAdvisoriesImported, `{"path":"osv.zip","read":10,"written":9}`,
			&patchpilot.AdvisoriesImportedData{Path: "osv.zip", Read: 10, Written: 9}},
		{"history", patchpilot.EventHistoryImported, `{"file":"h.jsonl","records":5,"failures":1,"written":5}`,
			&patchpilot.HistoryImportedData{File: "h.jsonl", Records: 5, Failures: 1, Written: 5}},
		{"model", patchpilot.EventModelTrained,
			`{"model_version":"m-1","training":{"source":"h.jsonl","records":900,"failures":40,"from":"2026-03-01T12:00:00Z","to":"2026-03-01T12:00:00Z","fit_records":700,"calibration_records":200,"regression":true,"calibrated":true}}`,
			&patchpilot.ModelTrainedData{ModelVersion: "m-1", Training: patchpilot.ModelTraining{Source: "h.jsonl", Records: 900,
				Failures: 40, From: at, To: at, FitRecords: 700, CalibRecord: 200, Regression: true, Calibrated: true}}},
		{"created", patchpilot.EventRolloutCreated, `{"dry_run":true,"notes":null,"plan":"p","stages":["canary: web-1","rest: web-2,web-3"]}`,
			&patchpilot.RolloutCreatedData{Plan: "p", Stages: []string{"canary: web-1", "rest: web-2,web-3"}, DryRun: true}},
		{"gate", patchpilot.EventGateVerdict,
			`{"verdict":"rollback","results":[{"gate":"no_failed_units","outcome":"fail","reason":"nginx.service failed","time":"2026-03-01T12:00:00Z"}],"reason":"no_failed_units failed"}`,
			&patchpilot.HealthReport{Verdict: patchpilot.Unhealthy, Reason: "no_failed_units failed", Results: []patchpilot.GateResult{
				{Gate: "no_failed_units", Outcome: "fail", Reason: "nginx.service failed", Time: at}}}},
		{"hook", patchpilot.EventHook,
			`{"phase":"post","name":"put back","kind":"playbook","command":"ansible-playbook --limit web-1 /srv/lb/up.yml","exit_code":2,"seconds":3.5,"output":"fatal: [web-1]","truncated":true}`,
			&patchpilot.HookData{Phase: "post", Name: "put back", Kind: "playbook", Command: "ansible-playbook --limit web-1 /srv/lb/up.yml", ExitCode: 2, Seconds: 3.5, Output: "fatal: [web-1]", Truncated: true}},
		{"incident", patchpilot.EventIncident,
			`{"hosts":[{"host":"web-1","state":"rolled_back","reason":"unhealthy","gate_results":[{"gate":"http_ok","outcome":"fail","reason":"503","time":"2026-03-01T12:00:00Z"}]}],"rolled_back":["web-1"]}`,
			&patchpilot.IncidentData{RolledBack: []string{"web-1"}, Hosts: []patchpilot.IncidentHost{{Host: "web-1", State: "rolled_back",
				Reason: "unhealthy", GateResults: []patchpilot.GateResult{{Gate: "http_ok", Outcome: "fail", Reason: "503", Time: at}}}}}},
		{"incident, nothing rolled back", patchpilot.EventIncident, `{"hosts":null,"rolled_back":null}`, &patchpilot.IncidentData{}},
		{"adaptive incident", patchpilot.EventIncident,
			`{"adaptive":{"prior":0.02,"posterior_mean":0.3,"posterior_upper":0.6,"failures":2,"patched":3,"remaining":7,"budget":1,"next_wave":0,"decision":"halt"},"hosts":[{"host":"web-2","stage":"wave-1","state":"failed","reason":"apply failed"}]}`,
			&patchpilot.IncidentData{Adaptive: &patchpilot.AdaptiveData{Prior: 0.02, Posterior: 0.3, Upper: 0.6, Failures: 2, Patched: 3,
				Remaining: 7, Budget: 1, Decision: "halt"},
				Hosts: []patchpilot.IncidentHost{{Host: "web-2", Stage: "wave-1", State: "failed", Reason: "apply failed"}}}},
		{"adaptive prior", patchpilot.EventAdaptive,
			`{"budget":1,"prior":{"probability":0.031,"model_version":"m-1","reasons":["openssl updates failed 2 times in 40"]},"strength":20}`,
			&patchpilot.AdaptiveData{Prior: 0.031, PriorModelVersion: "m-1", PriorReasons: []string{"openssl updates failed 2 times in 40"},
				Strength: 20, Budget: 1}},
		{"adaptive look", patchpilot.EventAdaptive,
			`{"prior":0.03,"posterior_mean":0.05,"posterior_upper":0.2,"failures":1,"patched":4,"remaining":10,"budget":2,"next_wave":3,"decision":"continue"}`,
			&patchpilot.AdaptiveData{Prior: 0.03, Posterior: 0.05, Upper: 0.2, Failures: 1, Patched: 4, Remaining: 10, Budget: 2,
				NextWave: 3, Decision: "continue"}},
		{"schedule waiting", patchpilot.EventScheduleWaiting,
			`{"schedule":"monthly","kind":"patch","due":"2026-03-01T12:00:00Z","outcome":"waiting","window_opens":"2026-03-01T12:00:00Z"}`,
			&patchpilot.ScheduleRunData{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: at, Outcome: patchpilot.ScheduleWaiting, WindowOpens: at}},
		{"schedule missed", patchpilot.EventScheduleMissed,
			`{"schedule":"inv","kind":"inventory","due":"2026-03-01T12:00:00Z","outcome":"missed","missed":3}`,
			&patchpilot.ScheduleRunData{Schedule: "inv", Kind: patchpilot.ScheduleInventory, Due: at, Outcome: patchpilot.ScheduleMissed, Missed: 3}},
		{"schedule finished", patchpilot.EventScheduleFinished,
			`{"schedule":"monthly","kind":"patch","due":"2026-03-01T12:00:00Z","outcome":"launched","plan":"security-updates"}`,
			&patchpilot.ScheduleRunData{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: at, Outcome: patchpilot.ScheduleLaunched, Plan: "security-updates"}},
		{"schedule finished, hosts held", patchpilot.EventScheduleFinished,
			`{"schedule":"monthly","kind":"patch","due":"2026-03-01T12:00:00Z","outcome":"skipped","held":[{"rollout":"r-1","state":"halted","reason":"held: no window","hosts":["web-1","web-2"]}]}`,
			&patchpilot.ScheduleRunData{Schedule: "monthly", Kind: patchpilot.SchedulePatch, Due: at, Outcome: patchpilot.ScheduleSkipped,
				Held: []patchpilot.HeldHostsData{{Rollout: "r-1", State: patchpilot.RolloutHalted, Reason: "held: no window", Hosts: []string{"web-1", "web-2"}}}}},
		{"approval", patchpilot.EventApproval, `{"stage":"final","approver":"token:bob","approvers":["token:alice","token:bob"],"required":2}`,
			&patchpilot.ApprovalData{Stage: "final", Approver: "token:bob", Approvers: []string{"token:alice", "token:bob"}, Required: 2}},
		{"rollout state", patchpilot.EventRolloutState, `{"state":"running","reason":"stage canary","previous":"halted"}`,
			&patchpilot.RolloutStateData{State: patchpilot.RolloutRunning, Reason: "stage canary", Previous: patchpilot.RolloutHalted}},
		{"stage state", patchpilot.EventStageState, `{"stage":"canary","state":"failed","reason":"1 of 2 hosts failed"}`,
			&patchpilot.StageStateData{Stage: "canary", State: patchpilot.StageFailed, Reason: "1 of 2 hosts failed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := patchpilot.NewEventData(c.kind)
			if got == nil {
				t.Fatalf("NewEventData(%q) = nil, want a payload type", c.kind)
			}
			dec := json.NewDecoder(bytes.NewReader([]byte(c.data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(got); err != nil {
				t.Fatalf("decode %s: %v", c.data, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("decoded %s\n got %+v\nwant %+v", c.data, got, c.want)
			}
			// The current shape decodes to the same value again.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again := patchpilot.NewEventData(c.kind)
			if err := json.Unmarshal(b, again); err != nil || !reflect.DeepEqual(again, c.want) {
				t.Errorf("round trip of %s: %s decodes to %+v (%v)", c.data, b, again, err)
			}
		})
	}
}

// noPayload lists the event kinds that carry no payload.
var noPayload = map[string]bool{
	patchpilot.EventFactsImported: true, patchpilot.EventHostKeyRecorded: true, patchpilot.EventHostState: true,
	patchpilot.EventRequest: true, patchpilot.EventLease: true, patchpilot.EventChangeApproval: true,
}

// TestEveryEventKindIsDecided reads the kinds declared in event.go and
// fails for one that has neither a payload type (NewEventData) nor a place
// in noPayload, and for a kind without payload that gets one: a new kind
// must say what its payload is.
func TestEveryEventKindIsDecided(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := 0
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || len(vs.Names[0].Name) < 6 || vs.Names[0].Name[:5] != "Event" {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		kind, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		kinds++
		has := patchpilot.NewEventData(kind) != nil
		if has == noPayload[kind] {
			t.Errorf("%s (%q): payload type %v, listed without payload %v; give it exactly one of the two", vs.Names[0].Name, kind, has, noPayload[kind])
		}
		return true
	})
	if kinds < 19 {
		t.Fatalf("found %d event kinds in event.go, want every one (at least 19)", kinds)
	}
	if v := patchpilot.NewEventData("no.such.kind"); v != nil {
		t.Errorf("NewEventData of an unknown kind = %T, want nil", v)
	}
}
