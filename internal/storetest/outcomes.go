package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testIncidents(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustCreate(t, st, fixtureRollout("r1", baseTime))
	mustCreate(t, st, fixtureRollout("r2", baseTime))
	add := func(i patchpilot.Incident) patchpilot.Incident {
		t.Helper()
		id, err := st.AddIncident(ctx, i)
		if err != nil {
			t.Fatalf("AddIncident: %v", err)
		}
		if id <= 0 {
			t.Errorf("AddIncident returned id %d, want positive", id)
		}
		i.ID, i.Time = id, i.Time.UTC()
		i.Evidence = canonicalJSON(t, i.Evidence)
		return i
	}
	// Added out of time order: listings are by time.
	late := add(patchpilot.Incident{Rollout: "r1", Time: baseTime.Add(time.Hour).In(otherZone), Stage: "canary",
		Reason: "2 gates breached on web-3", Hosts: []string{"web-3", "web-1"},
		Evidence: json.RawMessage(`{"web-3": {"http_ok": "503"}, "gates": ["http_ok", "error_rate_increase<0.05"]}`)})
	early := add(patchpilot.Incident{Rollout: "r1", Time: baseTime.Add(time.Microsecond), Reason: "validation host failed"})
	other := add(patchpilot.Incident{Rollout: "r2", Time: baseTime.Add(time.Minute), Reason: "rollback failed",
		Hosts: []string{"db-2"}})
	if late.ID == early.ID || early.ID == other.ID {
		t.Errorf("incident ids %d, %d, %d are not distinct", late.ID, early.ID, other.ID)
	}

	list := func(rollout string) []patchpilot.Incident {
		t.Helper()
		got, err := st.Incidents(ctx, rollout)
		if err != nil {
			t.Fatalf("Incidents(%q): %v", rollout, err)
		}
		for i := range got {
			got[i].Evidence = canonicalJSON(t, got[i].Evidence)
		}
		return got
	}
	if got, want := list("r1"), []patchpilot.Incident{early, late}; !reflect.DeepEqual(got, want) {
		t.Errorf("Incidents(r1) =\n%+v\nwant\n%+v", got, want)
	}
	if got, want := list(""), []patchpilot.Incident{early, other, late}; !reflect.DeepEqual(got, want) {
		t.Errorf("Incidents(\"\") =\n%+v\nwant\n%+v", got, want)
	}
	mustCreate(t, st, patchpilot.Rollout{ID: "calm", CreatedAt: baseTime})
	if got := list("calm"); len(got) != 0 {
		t.Errorf("Incidents of a rollout without any = %+v, want none", got)
	}

	// A zero time is now.
	before := time.Now()
	id, err := st.AddIncident(ctx, patchpilot.Incident{Rollout: "r2", Reason: "aborted"})
	after := time.Now()
	if err != nil {
		t.Fatalf("AddIncident: %v", err)
	}
	got := list("r2")
	if len(got) != 2 || got[1].ID != id {
		t.Fatalf("Incidents(r2) = %+v, want the new one last", got)
	}
	wantAbout(t, "Time", got[1].Time, before, after)

	_, err = st.AddIncident(ctx, patchpilot.Incident{Rollout: "r1"})
	wantCode(t, err, patchpilot.EINVALID, "reason")
	_, err = st.AddIncident(ctx, patchpilot.Incident{Rollout: "r1", Reason: "x", Evidence: json.RawMessage(`{`)})
	wantCode(t, err, patchpilot.EINVALID, "evidence")
}

func (s suite) testOutcomes(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	record := func(o patchpilot.Outcome) {
		t.Helper()
		if err := st.RecordOutcome(ctx, o); err != nil {
			t.Fatalf("RecordOutcome(%s, %s): %v", o.Rollout, o.Host, err)
		}
	}
	list := func(f patchpilot.OutcomeFilter) []patchpilot.Outcome {
		t.Helper()
		got, err := st.Outcomes(ctx, f)
		if err != nil {
			t.Fatalf("Outcomes(%+v): %v", f, err)
		}
		for i := range got {
			got[i].GateResults = canonicalGates(t, got[i].GateResults)
			got[i].Features = canonicalJSON(t, got[i].Features)
		}
		return got
	}

	// Outcomes are history: they need no stored rollout. Packages keep
	// their order, which history exports line by line.
	full := fixtureOutcome("r1", "web-1", baseTime, patchpilot.OutcomeSucceeded)
	record(full)
	if got, want := list(patchpilot.OutcomeFilter{}), []patchpilot.Outcome{storedOutcome(t, full)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Outcomes =\n%+v\nwant\n%+v", got, want)
	}
	brief := storedOutcome(t, full)
	brief.GateResults = nil
	if got, want := list(patchpilot.OutcomeFilter{NoGateResults: true}), []patchpilot.Outcome{brief}; !reflect.DeepEqual(got, want) {
		t.Errorf("Outcomes without gate results =\n%+v\nwant\n%+v", got, want)
	}

	// The same host and rollout replace the outcome, package rows and all.
	// The learning fields (attribution and the stored prediction) come
	// back as they were written.
	predicted := 0.125
	replaced := patchpilot.Outcome{Time: baseTime.Add(time.Hour), Rollout: "r1", Host: "web-1",
		Packages: []patchpilot.PackageChange{{Name: "zlib1g", From: "1:1.2.13", To: "1:1.2.13.dfsg-1"}},
		Outcome:  patchpilot.OutcomeRolledBack, Reason: "http_ok failed",
		Unrelated: "fault injected", Predicted: &predicted, PredictedBy: "m-1"}
	record(replaced)
	if got, want := list(patchpilot.OutcomeFilter{}), []patchpilot.Outcome{storedOutcome(t, replaced)}; !reflect.DeepEqual(got, want) {
		t.Errorf("after replacing, Outcomes =\n%+v\nwant\n%+v", got, want)
	}
	if got := list(patchpilot.OutcomeFilter{Package: "pp-demo-web"}); len(got) != 0 {
		t.Errorf("a replaced outcome is still found by its old package: %+v", got)
	}
	if got := list(patchpilot.OutcomeFilter{Package: "zlib1g"}); len(got) != 1 {
		t.Errorf("a replaced outcome is not found by its new package: %+v", got)
	}

	// A zero time is now.
	before := time.Now()
	record(patchpilot.Outcome{Rollout: "r2", Host: "web-1", Outcome: patchpilot.OutcomeUnreachable})
	after := time.Now()
	got := list(patchpilot.OutcomeFilter{Rollout: "r2"})
	if len(got) != 1 {
		t.Fatalf("Outcomes(r2) = %+v, want one", got)
	}
	wantAbout(t, "Time", got[0].Time, before, after)
	if got[0].Packages != nil || got[0].Labels != nil || got[0].GateResults != nil || got[0].Features != nil {
		t.Errorf("empty fields came back set: %+v", got[0])
	}

	invalid := []struct {
		name    string
		o       patchpilot.Outcome
		mention string
	}{
		{"empty host", patchpilot.Outcome{Rollout: "r", Outcome: patchpilot.OutcomeFailed}, "host"},
		{"empty rollout", patchpilot.Outcome{Host: "h", Outcome: patchpilot.OutcomeFailed}, "rollout"},
		{"empty outcome", patchpilot.Outcome{Rollout: "r", Host: "h"}, "outcome"},
		{"bad features", patchpilot.Outcome{Rollout: "r", Host: "h", Outcome: patchpilot.OutcomeFailed,
			Features: json.RawMessage(`{"reboot": tru}`)}, "features"},
		{"package without name", patchpilot.Outcome{Rollout: "r", Host: "h", Outcome: patchpilot.OutcomeFailed,
			Packages: []patchpilot.PackageChange{{From: "1", To: "2"}}}, "packages[0]"},
		{"prediction out of range", patchpilot.Outcome{Rollout: "r", Host: "h", Outcome: patchpilot.OutcomeFailed,
			Predicted: &[]float64{1.5}[0]}, "predicted"},
		{"succeeded but unrelated", patchpilot.Outcome{Rollout: "r", Host: "h", Outcome: patchpilot.OutcomeSucceeded,
			Unrelated: "fault injected"}, "unrelated"},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, st.RecordOutcome(ctx, c.o), patchpilot.EINVALID, c.mention)
		})
	}
	_, err := st.Outcomes(ctx, patchpilot.OutcomeFilter{Limit: -1})
	wantCode(t, err, patchpilot.EINVALID, "limit")
}

func (s suite) testOutcomeFilter(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	t0 := baseTime
	type rec struct {
		rollout, host string
		at            time.Duration
		pkgs          []patchpilot.PackageChange
	}
	web := patchpilot.PackageChange{Name: "pp-demo-web", From: "1.0.0", To: "1.1.0", SourcePackage: "pp-demo"}
	ssl := patchpilot.PackageChange{Name: "libssl3", From: "3.0.11", To: "3.0.13", SourcePackage: "openssl"}
	bin := patchpilot.PackageChange{Name: "openssl", From: "3.0.11", To: "3.0.13"} // source package of its own name
	recs := []rec{
		{"r1", "a", 2 * time.Minute, []patchpilot.PackageChange{web}},                  // 0
		{"r1", "b", time.Minute, []patchpilot.PackageChange{web, ssl}},                 // 1: earlier, recorded later
		{"r2", "a", 3*time.Minute + time.Microsecond, []patchpilot.PackageChange{ssl}}, // 2
		{"r2", "c", 4 * time.Minute, []patchpilot.PackageChange{bin}},                  // 3
		{"r3", "b", 5 * time.Minute, nil},                                              // 4
	}
	for _, r := range recs {
		o := patchpilot.Outcome{Time: t0.Add(r.at), Rollout: r.rollout, Host: r.host, Packages: r.pkgs,
			Outcome: patchpilot.OutcomeSucceeded}
		if err := st.RecordOutcome(ctx, o); err != nil {
			t.Fatalf("RecordOutcome: %v", err)
		}
	}
	cases := []struct {
		name   string
		filter patchpilot.OutcomeFilter
		want   []int
	}{
		{"all, oldest first", patchpilot.OutcomeFilter{}, []int{1, 0, 2, 3, 4}},
		{"host", patchpilot.OutcomeFilter{Host: "a"}, []int{0, 2}},
		{"rollout", patchpilot.OutcomeFilter{Rollout: "r2"}, []int{2, 3}},
		{"package name", patchpilot.OutcomeFilter{Package: "pp-demo-web"}, []int{1, 0}},
		{"source package", patchpilot.OutcomeFilter{Package: "openssl"}, []int{1, 2, 3}},
		{"binary package", patchpilot.OutcomeFilter{Package: "libssl3"}, []int{1, 2}},
		{"since", patchpilot.OutcomeFilter{Since: t0.Add(3 * time.Minute)}, []int{2, 3, 4}},
		{"since microsecond", patchpilot.OutcomeFilter{Since: t0.Add(3*time.Minute + time.Microsecond)}, []int{2, 3, 4}},
		{"since after microsecond", patchpilot.OutcomeFilter{Since: t0.Add(3*time.Minute + 2*time.Microsecond)}, []int{3, 4}},
		{"until", patchpilot.OutcomeFilter{Until: t0.Add(3*time.Minute + time.Microsecond)}, []int{1, 0, 2}},
		{"since and until", patchpilot.OutcomeFilter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, []int{0, 2, 3}},
		{"limit", patchpilot.OutcomeFilter{Limit: 2}, []int{1, 0}},
		{"combined", patchpilot.OutcomeFilter{Host: "a", Package: "openssl", Since: t0}, []int{2}},
		{"package and limit", patchpilot.OutcomeFilter{Package: "openssl", Limit: 2}, []int{1, 2}},
		{"newest", patchpilot.OutcomeFilter{Limit: 2, Newest: true}, []int{3, 4}},
		{"newest of a package", patchpilot.OutcomeFilter{Package: "openssl", Limit: 2, Newest: true}, []int{2, 3}},
		{"newest without a limit", patchpilot.OutcomeFilter{Newest: true, Since: t0.Add(3 * time.Minute)}, []int{2, 3, 4}},
		{"no match", patchpilot.OutcomeFilter{Package: "nginx"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := st.Outcomes(ctx, c.filter)
			if err != nil {
				t.Fatalf("Outcomes: %v", err)
			}
			var gotKeys, wantKeys []string
			for _, o := range got {
				gotKeys = append(gotKeys, o.Rollout+"/"+o.Host)
			}
			for _, i := range c.want {
				wantKeys = append(wantKeys, recs[i].rollout+"/"+recs[i].host)
			}
			if !reflect.DeepEqual(gotKeys, wantKeys) {
				t.Errorf("got %v, want %v", gotKeys, wantKeys)
			}
		})
	}
}
