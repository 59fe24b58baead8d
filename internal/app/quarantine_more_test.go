package app

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestParseClassRoundTrip: every class ClassOf writes parses back to
// itself, a role holding a "/" too (the OS never holds one).
func TestParseClassRoundTrip(t *testing.T) {
	cases := []struct {
		os   string
		role string
	}{
		{"debian:12", "web"}, {"debian:12", "web/front"}, {"ubuntu:24.04", "db/primary/a"}, {"", ""}, {"debian:12", ""}, {"", "web"},
		{":", "web"}, {"debian:12", "web front"},
	}
	for _, c := range cases {
		labels := map[string]string{}
		if c.role != "" {
			labels[patchpilot.LabelRole] = c.role
		}
		class := patchpilot.ClassOf(c.os, labels)
		got, err := ParseClass(string(class))
		if err != nil || got != class {
			t.Errorf("ClassOf(%q, role %q) = %q parses as %q, %v", c.os, c.role, class, got, err)
		}
	}
	if got, err := ParseClass("debian:12/web/front"); err != nil || got != "debian:12/web/front" {
		t.Errorf("debian:12/web/front: %q, %v", got, err)
	}
	for in, want := range map[string]string{"debian:12/web": "debian:12/web", "debian:12/web front": `'debian:12/web front'`,
		"debian:12/it's": `'debian:12/it'\''s'`} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestQuarantineClearNeedsReason: a clearance without a reason (or only
// blanks) is refused and stores nothing.
func TestQuarantineClearNeedsReason(t *testing.T) {
	ctx, a := quarantineFleet(t)
	if err := a.Store.RecordOutcome(ctx, webOutcome("r-1", "web1", "1.1.3", patchpilot.OutcomeRolledBack, time.Now().UTC().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"", "  \t"} {
		_, err := a.ClearQuarantine(ctx, QuarantineClear{Package: "pp-demo-web", Version: "1.1.3", Reason: reason, Actor: "user:ann"})
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), "needs a reason") {
			t.Errorf("clear with reason %q: %v, want invalid asking for a reason", reason, err)
		}
	}
	if clears, err := a.QuarantineClearances(ctx); err != nil || len(clears) != 0 {
		t.Errorf("clearances after refused clears: %+v, %v", clears, err)
	}
	if qs, _ := a.Quarantines(ctx); len(qs) != 1 {
		t.Errorf("quarantines %+v, want 1.1.3 still quarantined", qs)
	}
}

// TestPlanLeftOutNamesQuarantined: the hosts a plan leaves out because
// the patch is quarantined on their class are listed with the quarantine,
// beside those that never answered.
func TestPlanLeftOutNamesQuarantined(t *testing.T) {
	ctx, a := quarantineFleet(t)
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "new1"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.RecordOutcome(ctx, webOutcome("r-1", "web1", "1.1.3", patchpilot.OutcomeRolledBack, time.Now().UTC().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	prop, err := a.ProposePlan(ctx, pinPatch("pp-demo-web", "1.1.3"), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var hosts []string
	for _, h := range prop.AllLeftOut() {
		got[h.Host] = h.Reason
		hosts = append(hosts, h.Host)
	}
	slices.Sort(hosts)
	if want := []string{"new1", "web1", "web2", "web3"}; !slices.Equal(hosts, want) {
		t.Fatalf("left out %v, want %v", hosts, want)
	}
	if got["new1"] != NeverAnsweredReason {
		t.Errorf("new1 left out because %q", got["new1"])
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		if !strings.HasPrefix(got[h], "quarantined: pp-demo-web 1.1.3 rolled back on debian:12/web") {
			t.Errorf("%s left out because %q, want the quarantine", h, got[h])
		}
	}
	kept, err := a.ProposePlanWith(ctx, pinPatch("pp-demo-web", "1.1.3"), "", ProposeOptions{AllowQuarantined: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := kept.AllLeftOut(); len(l) != 1 || l[0].Host != "new1" {
		t.Errorf("allowing quarantined hosts, left out %+v, want only new1", l)
	}
}

// TestRolloutStartWarnsQuarantinedTargets: a plan naming targets on whose
// class the patch is quarantined starts as written, and the rollout's
// created event warns of each such target.
func TestRolloutStartWarnsQuarantinedTargets(t *testing.T) {
	ctx, a := quarantineFleet(t)
	if err := a.Store.RecordOutcome(ctx, webOutcome("r-1", "web1", "1.1.3", patchpilot.OutcomeRolledBack, time.Now().UTC().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	prop, err := a.ProposePlanWith(ctx, pinPatch("pp-demo-web", "1.1.3"), "role=web", ProposeOptions{AllowQuarantined: true})
	if err != nil {
		t.Fatal(err)
	}
	eng := a.Engine(EngineOptions{Dialer: &remoteDialer{}})
	id, err := a.StartRollout(ctx, eng, prop.Plan, nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := a.RolloutEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for _, e := range evs {
		if e.Kind != patchpilot.EventRolloutCreated {
			continue
		}
		var d patchpilot.RolloutCreatedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		warnings = d.Warnings
	}
	text := strings.Join(warnings, "\n")
	for _, h := range []string{"web1", "web2", "web3"} {
		if !strings.Contains(text, h+" is a target although quarantined: pp-demo-web 1.1.3 rolled back on debian:12/web") {
			t.Errorf("created event's warnings lack %s:\n%s", h, text)
		}
	}
	if strings.Contains(text, "old1") {
		t.Errorf("old1 (debian 11) is not quarantined, yet warned of:\n%s", text)
	}
}

// TestHistoryRecordLabels: history records carry the unrelated label and
// the stored prediction of each outcome.
func TestHistoryRecordLabels(t *testing.T) {
	ctx, a := quarantineFleet(t)
	p := 0.25
	o := webOutcome("r-1", "web1", "1.1.3", patchpilot.OutcomeRolledBack, time.Now().UTC().Add(-time.Hour))
	o.Unrelated, o.Predicted, o.PredictedBy = "fault injected", &p, "rm-test"
	if err := a.Store.RecordOutcome(ctx, o); err != nil {
		t.Fatal(err)
	}
	recs, err := a.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Unrelated != "fault injected" || recs[0].Predicted == nil || *recs[0].Predicted != 0.25 || recs[0].PredictedBy != "rm-test" {
		t.Fatalf("history records %+v", recs)
	}
	data, err := json.Marshal(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"unrelated":"fault injected"`, `"predicted":0.25`, `"predicted_by":"rm-test"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("history JSON %s lacks %s", data, want)
		}
	}
}
