package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testEventsUntil(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	for i := range 4 {
		kind := patchpilot.EventHostState
		if i == 2 {
			kind = patchpilot.EventApproval
		}
		if _, err := st.AppendEvent(ctx, patchpilot.Event{Time: baseTime.Add(time.Duration(i) * time.Hour), Actor: "t", Kind: kind, Message: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventHostState, Since: baseTime.Add(time.Hour), Until: baseTime.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Time.Equal(baseTime.Add(time.Hour)) || !got[1].Time.Equal(baseTime.Add(3*time.Hour)) {
		t.Errorf("events of a kind in [1h, 3h]: %s", jsonString(t, got))
	}
	got, err = st.Events(ctx, patchpilot.EventFilter{Until: baseTime.Add(time.Hour - time.Microsecond)})
	if err != nil || len(got) != 1 {
		t.Errorf("events until just before 1h: %v %v", len(got), err)
	}
}

func (s suite) testSLAExposures(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	day := 24 * time.Hour
	at := func(d int) time.Time { return baseTime.Add(time.Duration(d) * day) }
	crit := map[patchpilot.Severity]time.Time{patchpilot.SeverityCritical: at(-10)}
	both := map[patchpilot.Severity]time.Time{patchpilot.SeverityCritical: at(-10), "": at(-3)}
	save := func(e ...patchpilot.SLAExposure) {
		t.Helper()
		if err := st.SaveSLAExposures(ctx, e); err != nil {
			t.Fatalf("SaveSLAExposures: %v", err)
		}
	}
	save(
		patchpilot.SLAExposure{Host: "a", CollectedAt: at(0), Oldest: crit},
		patchpilot.SLAExposure{Host: "a", CollectedAt: at(1), Oldest: crit}, // same as before: may be skipped
		patchpilot.SLAExposure{Host: "a", CollectedAt: at(2), Oldest: both},
		patchpilot.SLAExposure{Host: "b", CollectedAt: at(5), Oldest: map[patchpilot.Severity]time.Time{}},
	)
	save(patchpilot.SLAExposure{Host: "a", CollectedAt: at(4), Oldest: nil}) // patched

	type row struct {
		host string
		at   time.Time
		n    int
	}
	list := func(from, to time.Time) []row {
		t.Helper()
		got, err := st.SLAExposures(ctx, from, to)
		if err != nil {
			t.Fatalf("SLAExposures: %v", err)
		}
		var out []row
		for _, e := range got {
			if e.Host == "a" && e.CollectedAt.Equal(at(1)) {
				continue // an unchanged exposure a store may or may not keep
			}
			out = append(out, row{e.Host, e.CollectedAt, len(e.Oldest)})
		}
		return out
	}
	got := list(at(0).Add(time.Hour), at(4))
	want := []row{{"a", at(0), 1}, {"a", at(2), 2}, {"a", at(4), 0}}
	if len(got) != len(want) {
		t.Fatalf("exposures in (0d, 4d]: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].host != want[i].host || !got[i].at.Equal(want[i].at) || got[i].n != want[i].n {
			t.Errorf("exposures[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// The oldest times round-trip, unrated under "".
	all, err := st.SLAExposures(ctx, at(3), at(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || !all[0].Oldest[""].Equal(at(-3)) || !all[0].Oldest[patchpilot.SeverityCritical].Equal(at(-10)) {
		t.Errorf("exposure at 3d: %s", jsonString(t, all))
	}
	// b comes in once its first exposure is in the period, not before.
	if got := list(at(10), at(11)); len(got) != 2 || got[0].host != "a" || !got[0].at.Equal(at(4)) || got[1].host != "b" {
		t.Errorf("exposures as of 10d: %v", got)
	}
	if got := list(at(-5), at(-1)); len(got) != 0 {
		t.Errorf("exposures before any: %v", got)
	}
	// A second save at the same time replaces.
	save(patchpilot.SLAExposure{Host: "b", CollectedAt: at(5), Oldest: crit})
	if got := list(at(5), at(5)); len(got) != 2 || got[1].n != 1 {
		t.Errorf("after replacing b's exposure: %v", got)
	}
	wantCode(t, st.SaveSLAExposures(ctx, []patchpilot.SLAExposure{{Host: "", CollectedAt: at(0)}}), patchpilot.EINVALID, "host")
	wantCode(t, st.SaveSLAExposures(ctx, []patchpilot.SLAExposure{{Host: "x"}}), patchpilot.EINVALID, "collected_at")
	_, err = st.SLAExposures(ctx, at(2), at(1))
	wantCode(t, err, patchpilot.EINVALID, "after")
}
