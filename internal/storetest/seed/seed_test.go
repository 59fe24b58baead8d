package seed

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/risk"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

func fill(t *testing.T, c Config) (*sqlite.DB, Summary) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "seed.db"), sqlite.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sum, err := Fill(context.Background(), db, c)
	if err != nil {
		t.Fatalf("Fill: %v", err)
	}
	return db, sum
}

func TestFill(t *testing.T) {
	ctx := context.Background()
	c := Config{Hosts: 300, Rollouts: 40, Events: 20_000, Seed: 7}
	db, sum := fill(t, c)
	t.Logf("seeded %+v", sum)

	hosts, err := db.HostSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != c.Hosts {
		t.Errorf("%d hosts, want %d", len(hosts), c.Hosts)
	}
	reboot, security := 0, 0
	for _, h := range hosts {
		if h.CollectedAt == nil || h.PackageCount < 50 || h.PackageCount > 100 || h.PendingUpdateCount < 1 || h.PendingUpdateCount > 30 {
			t.Fatalf("host %s: %d packages, %d updates, collected %v; want 50-100, 1-30 and collected",
				h.Name, h.PackageCount, h.PendingUpdateCount, h.CollectedAt)
		}
		for _, k := range []string{patchpilot.LabelEnv, patchpilot.LabelRole, patchpilot.LabelCriticality, patchpilot.LabelGroup} {
			if h.Labels[k] == "" {
				t.Fatalf("host %s has no label %s: %v", h.Name, k, h.Labels)
			}
		}
		if h.RebootRequired {
			reboot++
		}
		if h.SecurityUpdateCount > 0 {
			security++
		}
	}
	if reboot == 0 || reboot == len(hosts) || security == 0 {
		t.Errorf("%d hosts need a reboot and %d have security updates, of %d; want some and not all", reboot, security, len(hosts))
	}
	hist, err := db.FactHistory(ctx, sum.Host, 0)
	if err != nil || len(hist) != 3 {
		t.Errorf("FactHistory(%s) = %d snapshots, %v; want 3", sum.Host, len(hist), err)
	}

	evs, err := db.Events(ctx, patchpilot.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != c.Events || sum.Events != c.Events {
		t.Fatalf("%d events stored, summary says %d; want %d", len(evs), sum.Events, c.Events)
	}
	kinds := map[string]int{}
	for i, e := range evs {
		kinds[e.Kind]++
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %+v comes after event %+v: ids do not follow time", e, evs[i-1])
		}
	}
	for _, k := range []string{patchpilot.EventRolloutCreated, patchpilot.EventRolloutState, patchpilot.EventStageState,
		patchpilot.EventHostState, patchpilot.EventGateVerdict, patchpilot.EventApproval, patchpilot.EventFactsCollected} {
		if kinds[k] == 0 {
			t.Errorf("no %s event among %v", k, kinds)
		}
	}
	// A canary gate verdict carries the judge's evidence.
	gates, err := db.Events(ctx, patchpilot.EventFilter{Rollout: sum.BusyRollout, Kind: patchpilot.EventGateVerdict})
	if err != nil || len(gates) == 0 {
		t.Fatalf("gate events of %s: %d, %v", sum.BusyRollout, len(gates), err)
	}
	var rep patchpilot.HealthReport
	if err := json.Unmarshal(gates[0].Data, &rep); err != nil || rep.Verdict == "" {
		t.Fatalf("gate event %s: %v", gates[0].Data, err)
	}
	var v judge.Verdict
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Gate, canary.GatePrefix) {
			if err := json.Unmarshal(r.Evidence, &v); err != nil {
				t.Fatalf("canary evidence %s: %v", r.Evidence, err)
			}
		}
	}
	if len(v.Evidence.Series) < 2 || len(v.Evidence.Hosts) < 2 || v.Metric == "" {
		t.Errorf("the first gate verdict of %s has no canary evidence with series: %+v", sum.BusyRollout, rep)
	}

	rs, err := db.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != c.Rollouts {
		t.Errorf("%d rollouts, want %d", len(rs), c.Rollouts)
	}
	states := map[patchpilot.RolloutState]int{}
	for _, r := range rs {
		states[r.State]++
	}
	if states[patchpilot.RolloutSucceeded] < c.Rollouts/2 || states[patchpilot.RolloutSucceeded] == c.Rollouts {
		t.Errorf("rollout states %v: want mostly, not only, succeeded", states)
	}
	outs, err := db.Outcomes(ctx, patchpilot.OutcomeFilter{})
	if err != nil || len(outs) != sum.Outcomes || len(outs) == 0 {
		t.Errorf("%d outcomes, %v; summary says %d", len(outs), err, sum.Outcomes)
	}
	incs, err := db.Incidents(ctx, "")
	if err != nil || len(incs) != sum.Incidents {
		t.Errorf("%d incidents, %v; summary says %d", len(incs), err, sum.Incidents)
	}
	exposures, err := db.SLAExposures(ctx, sum.Config.End.Add(-365*24*time.Hour), sum.Config.End)
	if err != nil || len(exposures) == 0 {
		t.Errorf("SLAExposures: %d, %v; want the collections' exposures", len(exposures), err)
	}
	models, err := db.Models(ctx)
	if err != nil || len(models) != 3 || sum.Models != 3 || !models[0].Active {
		t.Errorf("Models = %+v, %v; want 3, the newest active", models, err)
	}
	blob, _, err := db.ActiveModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := risk.UnmarshalModel(blob, "seed"); err != nil {
		t.Errorf("the active model does not load: %v", err)
	}
	ups, err := db.PendingUpdates(ctx, patchpilot.UpdateFilter{})
	if err != nil || len(ups) == 0 {
		t.Errorf("PendingUpdates: %d, %v", len(ups), err)
	}
}

func TestFillIsDeterministic(t *testing.T) {
	c := Config{Hosts: 50, Rollouts: 5, Events: 3000, Seed: 3}
	a, sa := fill(t, c)
	b, sb := fill(t, c)
	sa.Took, sb.Took = 0, 0
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("summaries differ:\n%+v\n%+v", sa, sb)
	}
	ctx := context.Background()
	ea, err1 := a.Events(ctx, patchpilot.EventFilter{})
	eb, err2 := b.Events(ctx, patchpilot.EventFilter{})
	if err1 != nil || err2 != nil || !reflect.DeepEqual(ea, eb) {
		t.Errorf("the event logs differ (%v, %v)", err1, err2)
	}
}

func TestFillRefusesTooFewEvents(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "seed.db"), sqlite.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Fill(context.Background(), db, Config{Hosts: 100, Rollouts: 20, Events: 10})
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Fatalf("Fill with 10 events for 20 rollouts: %v; want EINVALID", err)
	}
}
