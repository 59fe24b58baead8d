package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testFacts(t *testing.T) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"})
		want := richFacts("web-1", baseTime)
		// A time in another zone is the same instant; it comes back in UTC.
		in := want
		in.CollectedAt = baseTime.In(time.FixedZone("CEST", 2*3600))
		mustSave(t, st, in)
		got, err := st.LatestFacts(ctx, "web-1")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if got.CollectedAt.Location() != time.UTC {
			t.Errorf("CollectedAt location = %v, want UTC", got.CollectedAt.Location())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LatestFacts differs from what was saved:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("LatestFactsHead", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-1"}, patchpilot.Host{Name: "never"})
		mustSave(t, st, richFacts("web-1", baseTime.Add(time.Hour)))
		older := richFacts("web-1", baseTime) // saved last, collected first
		older.Services = []string{"old"}
		mustSave(t, st, older)
		want, err := st.LatestFacts(ctx, "web-1")
		if err != nil {
			t.Fatal(err)
		}
		want.Packages, want.Updates = nil, nil
		got, err := st.LatestFactsHead(ctx, "web-1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("LatestFactsHead = %+v, %v\nwant %+v", got, err, want)
		}
		if got.Depth == nil || len(got.Services) != 2 {
			t.Errorf("LatestFactsHead lost the depth or took the older snapshot: %+v", got)
		}
		_, err = st.LatestFactsHead(ctx, "never")
		wantCode(t, err, patchpilot.ENOTFOUND, "never")
		_, err = st.LatestFactsHead(ctx, "ghost")
		wantCode(t, err, patchpilot.ENOTFOUND, "ghost")
		_, err = st.LatestFactsHead(ctx, "")
		wantCode(t, err, patchpilot.EINVALID, "")
	})

	t.Run("FleetFacts", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "web-2"}, patchpilot.Host{Name: "web-1"}, patchpilot.Host{Name: "never"})
		older := richFacts("web-1", baseTime)
		older.Services = []string{"old"}
		mustSave(t, st, older)
		mustSave(t, st, richFacts("web-1", baseTime.Add(time.Hour)))
		mustSave(t, st, Facts("web-2", baseTime, 3, 2))
		got, err := st.FleetFacts(ctx)
		if err != nil {
			t.Fatalf("FleetFacts: %v", err)
		}
		var want []patchpilot.Facts
		for _, h := range []string{"web-1", "web-2"} {
			f, err := st.LatestFacts(ctx, h)
			if err != nil {
				t.Fatalf("LatestFacts: %v", err)
			}
			f.Packages, f.Updates = nil, nil
			want = append(want, f)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FleetFacts:\n got %+v\nwant %+v", got, want)
		}
		if len(got) == 2 && (len(got[0].Services) == 0 || got[0].Services[0] == "old") {
			t.Errorf("web-1's facts are not its latest: services %v", got[0].Services)
		}
	})

	t.Run("LargeRoundTrip", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "big"})
		want := Facts("big", baseTime, 2500, 150)
		mustSave(t, st, want)
		got, err := st.LatestFacts(ctx, "big")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if len(got.Packages) != len(want.Packages) || len(got.Updates) != len(want.Updates) {
			t.Fatalf("got %d packages, %d updates; want %d, %d",
				len(got.Packages), len(got.Updates), len(want.Packages), len(want.Updates))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("large snapshot does not round trip exactly")
		}
	})

	t.Run("NoLists", func(t *testing.T) {
		// A fact cache without package lists: nothing known, nothing listed.
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "cached"})
		want := patchpilot.Facts{Host: "cached", CollectedAt: baseTime, Source: "ansible-facts",
			OSFamily: patchpilot.FamilyRedHat, OSName: "rocky", OSVersion: "9.4", Kernel: "5.14.0", Arch: "x86_64"}
		mustSave(t, st, want)
		got, err := st.LatestFacts(ctx, "cached")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LatestFacts = %+v, want %+v", got, want)
		}
	})

	t.Run("LatestWins", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "h"})
		t1, t2, t3 := baseTime, baseTime.Add(time.Hour), baseTime.Add(2*time.Hour)
		first := Facts("h", t1, 1, 0)
		newest := Facts("h", t3, 3, 0)
		late := Facts("h", t2, 2, 0) // saved last but collected earlier
		for _, f := range []patchpilot.Facts{first, newest, late} {
			mustSave(t, st, f)
		}
		got, err := st.LatestFacts(ctx, "h")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if !got.CollectedAt.Equal(t3) || len(got.Packages) != 3 {
			t.Errorf("latest = collected %s with %d packages, want the one collected %s with 3",
				got.CollectedAt, len(got.Packages), t3)
		}
		// Two snapshots with the same time: the one saved last wins.
		tie := Facts("h", t3, 4, 0)
		mustSave(t, st, tie)
		got, err = st.LatestFacts(ctx, "h")
		if err != nil {
			t.Fatalf("LatestFacts: %v", err)
		}
		if len(got.Packages) != 4 {
			t.Errorf("on equal times latest has %d packages, want 4 (the one saved last)", len(got.Packages))
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{Name: "h"})
		cases := []struct {
			name string
			f    patchpilot.Facts
		}{
			{"no host", Facts("", baseTime, 1, 0)},
			{"no time", Facts("h", time.Time{}, 1, 0)},
			{"package without name", func() patchpilot.Facts {
				f := Facts("h", baseTime, 2, 0)
				f.Packages[1].Name = ""
				return f
			}()},
			{"update without package", func() patchpilot.Facts {
				f := Facts("h", baseTime, 2, 2)
				f.Updates[0].Package = ""
				return f
			}()},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantCode(t, st.SaveFacts(ctx, c.f), patchpilot.EINVALID, "")
			})
		}
		hist, err := st.FactHistory(ctx, "h", 0)
		if err != nil || len(hist) != 0 {
			t.Errorf("FactHistory after invalid saves = %v, %v; want nothing stored", hist, err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		st := s.store(t)
		wantCode(t, st.SaveFacts(ctx, Facts("ghost", baseTime, 1, 0)), patchpilot.ENOTFOUND, "ghost")
		_, err := st.LatestFacts(ctx, "ghost")
		wantCode(t, err, patchpilot.ENOTFOUND, "ghost")
		mustUpsert(t, st, patchpilot.Host{Name: "never"})
		_, err = st.LatestFacts(ctx, "never")
		wantCode(t, err, patchpilot.ENOTFOUND, "never")
	})
}

func (s suite) testFactHistory(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "h"}, patchpilot.Host{Name: "other"}, patchpilot.Host{Name: "never"})
	times := []time.Time{baseTime.Add(time.Hour), baseTime, baseTime.Add(2 * time.Hour)}
	for i, at := range times {
		f := Facts("h", at, 10*(i+1), i)
		f.RebootRequired = i == 2
		mustSave(t, st, f)
	}
	mustSave(t, st, Facts("other", baseTime.Add(time.Minute), 1, 0))

	hist, err := st.FactHistory(ctx, "h", 0)
	if err != nil {
		t.Fatalf("FactHistory: %v", err)
	}
	type row struct {
		at       time.Time
		packages int
		updates  int
		reboot   bool
	}
	var got []row
	for _, h := range hist {
		got = append(got, row{h.CollectedAt, h.PackageCount, h.UpdateCount, h.RebootRequired})
		if h.Host != "h" || h.Source != "ssh" || h.OSName != "debian" || h.OSVersion != "12" ||
			h.Kernel == "" || h.BootID == "" || h.ID == 0 {
			t.Errorf("snapshot %+v lacks its host, source, OS, kernel, boot id or id", h)
		}
		if h.CollectedAt.Location() != time.UTC {
			t.Errorf("CollectedAt %v is not in UTC", h.CollectedAt)
		}
	}
	want := []row{
		{baseTime.Add(2 * time.Hour), 30, 2, true},
		{baseTime.Add(time.Hour), 10, 0, false},
		{baseTime, 20, 1, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FactHistory = %+v, want %+v (newest first)", got, want)
	}
	if len(hist) == 3 && (hist[0].ID == hist[1].ID || hist[1].ID == hist[2].ID) {
		t.Errorf("snapshot ids are not distinct: %d %d %d", hist[0].ID, hist[1].ID, hist[2].ID)
	}

	limited, err := st.FactHistory(ctx, "h", 2)
	if err != nil {
		t.Fatalf("FactHistory limit 2: %v", err)
	}
	if len(limited) != 2 || !reflect.DeepEqual(limited, hist[:2]) {
		t.Errorf("FactHistory limit 2 = %+v, want the two newest", limited)
	}

	none, err := st.FactHistory(ctx, "never", 0)
	if err != nil || len(none) != 0 {
		t.Errorf("FactHistory of a host never collected = %v, %v; want none, no error", none, err)
	}
	_, err = st.FactHistory(ctx, "ghost", 0)
	wantCode(t, err, patchpilot.ENOTFOUND, "ghost")
}

func (s suite) testPruneFacts(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "h"}, patchpilot.Host{Name: "one"}, patchpilot.Host{Name: "never"})
	// Saved out of time order: the newest by CollectedAt are kept, not the
	// last saved.
	for _, hours := range []int{3, 0, 4, 1, 2} {
		mustSave(t, st, Facts("h", baseTime.Add(time.Duration(hours)*time.Hour), 10+hours, hours))
	}
	mustSave(t, st, Facts("one", baseTime, 5, 1))
	latest, err := st.LatestFacts(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}

	for _, keep := range []int{0, -1} {
		_, err := st.PruneFacts(ctx, keep)
		wantCode(t, err, patchpilot.EINVALID, "keep")
	}
	n, err := st.PruneFacts(ctx, 2)
	if err != nil || n != 3 {
		t.Fatalf("PruneFacts(2) = %d, %v; want 3 deleted", n, err)
	}
	hist, err := st.FactHistory(ctx, "h", 0)
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for _, h := range hist {
		at = append(at, h.CollectedAt)
	}
	if want := []time.Time{baseTime.Add(4 * time.Hour), baseTime.Add(3 * time.Hour)}; !reflect.DeepEqual(at, want) {
		t.Errorf("history after pruning = %v, want the two newest %v", at, want)
	}
	if got, err := st.LatestFacts(ctx, "h"); err != nil || !reflect.DeepEqual(got, latest) {
		t.Errorf("the latest snapshot changed with pruning: %v", err)
	}
	if one, err := st.FactHistory(ctx, "one", 0); err != nil || len(one) != 1 {
		t.Errorf("a host with one snapshot kept %d (%v), want 1", len(one), err)
	}
	updates, err := st.PendingUpdates(ctx, patchpilot.UpdateFilter{Host: "h"})
	if err != nil || len(updates) != len(latest.Updates) {
		t.Errorf("pending updates after pruning: %d, %v; want the latest snapshot's %d", len(updates), err, len(latest.Updates))
	}
	if n, err := st.PruneFacts(ctx, 2); err != nil || n != 0 {
		t.Errorf("pruning again = %d, %v; want nothing to delete", n, err)
	}
	if n, err := st.PruneFacts(ctx, 1); err != nil || n != 1 {
		t.Errorf("PruneFacts(1) = %d, %v; want 1 deleted", n, err)
	}
}
