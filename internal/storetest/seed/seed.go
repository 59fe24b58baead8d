// Package seed fills a patchpilot.Store with a large, realistic fleet and
// its history, for benchmarks and tests that need a store at scale: hosts
// with labels, fact snapshots over time with installed packages and pending
// updates (with advisories and CVEs of every severity), rollouts in every
// state with their stages, host pipelines, incidents and outcomes, and an
// event log of rollout, gate (with the canary judge's evidence), approval
// and inventory events. Everything goes through the Store interface, so the
// seed fills any implementation; the same Config and seed always give the
// same store.
//
// Cached keeps seeded SQLite files under os.TempDir, so that a second
// benchmark run does not seed again; see docs/benchmarks.md.
package seed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// Version is the seed format's version: it changes whenever the same
// Config would fill a store differently, so that cached stores of an
// older format are not used.
const Version = 5

// Config says how large a store to seed.
type Config struct {
	Hosts    int   // hosts in the fleet
	Rollouts int   // rollouts, in every state; the last 1% still live
	Events   int   // events in the log in total
	Seed     int64 // the same seed fills the same store
	// Snapshots is how many fact snapshots each host has over time; 0
	// means 3.
	Snapshots int
	// End is when the seeded history ends ("now" for the store); zero
	// means DefaultEnd. History starts Days before it.
	End  time.Time
	Days int // 0 means 180
}

// DefaultEnd is the end of the seeded history when Config.End is zero.
var DefaultEnd = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// Scale is the size the dashboard's pages must render in under 200 ms at.
var Scale = Config{Hosts: 10_000, Rollouts: 1_000, Events: 1_000_000, Seed: 1}

func (c Config) withDefaults() Config {
	if c.Snapshots == 0 {
		c.Snapshots = 3
	}
	if c.End.IsZero() {
		c.End = DefaultEnd
	}
	if c.Days == 0 {
		c.Days = 180
	}
	return c
}

// validate names the field of a config that cannot be seeded.
func (c Config) validate() error {
	switch {
	case c.Hosts < 1:
		return patchpilot.Errorf(patchpilot.EINVALID, "seed: hosts %d: want at least 1", c.Hosts)
	case c.Rollouts < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "seed: rollouts %d: want 0 or more", c.Rollouts)
	case c.Events < 0:
		return patchpilot.Errorf(patchpilot.EINVALID, "seed: events %d: want 0 or more", c.Events)
	case c.Snapshots < 1:
		return patchpilot.Errorf(patchpilot.EINVALID, "seed: snapshots %d: want at least 1", c.Snapshots)
	case c.Days < 1:
		return patchpilot.Errorf(patchpilot.EINVALID, "seed: days %d: want at least 1", c.Days)
	}
	return nil
}

// Summary says what was seeded, with names that benchmarks and tests can
// ask the store about.
type Summary struct {
	Config     Config         `json:"config"`
	Hosts      int            `json:"hosts"`
	Snapshots  int            `json:"snapshots"`
	Advisories int            `json:"advisories"`
	Rollouts   int            `json:"rollouts"`
	ByState    map[string]int `json:"rollouts_by_state"`
	HostRuns   int            `json:"host_runs"`
	Outcomes   int            `json:"outcomes"`
	Incidents  int            `json:"incidents"`
	Models     int            `json:"models"`
	Events     int            `json:"events"`
	// Host is a host with pending updates; BusyRollout the succeeded
	// rollout with the most hosts (and so about the most events),
	// LiveRollout one still running (or waiting), and Package a package
	// that rollouts patched.
	Host        string `json:"host"`
	BusyRollout string `json:"busy_rollout"`
	LiveRollout string `json:"live_rollout"`
	Package     string `json:"package"`
	// Took is how long Fill took.
	Took time.Duration `json:"took"`
}

// eventBatch is how many events one AppendEvents call carries.
const eventBatch = 5000

// Fill seeds an empty store. It fails when the rollouts alone would
// need more events than Config.Events allows.
func Fill(ctx context.Context, st patchpilot.Store, c Config) (Summary, error) {
	began := time.Now()
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return Summary{}, err
	}
	sum := Summary{Config: c, ByState: map[string]int{}}
	rng := rand.New(rand.NewPCG(uint64(c.Seed), Version))
	span := time.Duration(c.Days) * 24 * time.Hour
	start := c.End.Add(-span)

	// The fleet, its distributions and their advisories.
	ds := newDistros(rng, 300, start.Add(-span), span)
	hosts := newHosts(rng, c.Hosts, ds)
	var advisories []patchpilot.Advisory
	for _, d := range ds {
		for _, p := range d.packages {
			advisories = append(advisories, p.advisories...)
		}
	}
	if _, err := st.SaveAdvisories(ctx, advisories); err != nil {
		return sum, fmt.Errorf("seed advisories: %w", err)
	}
	sum.Advisories = len(advisories)
	list := make([]patchpilot.Host, len(hosts))
	byDistroEnv := map[string][]*host{}
	for i, h := range hosts {
		list[i] = h.Host
		k := h.distro.name + "/" + h.Labels[patchpilot.LabelEnv]
		byDistroEnv[k] = append(byDistroEnv[k], h)
	}
	if err := st.UpsertHosts(ctx, list); err != nil {
		return sum, fmt.Errorf("seed hosts: %w", err)
	}
	sum.Hosts = len(hosts)

	// Snapshots: the oldest a month or two back with few updates pending,
	// the latest within the last day with all of them.
	// Each collection also records the host's SLA exposure, as the app
	// does: for each severity, since when its oldest pending security
	// update has been available (here: since the host first listed it).
	var exposures []patchpilot.SLAExposure
	for _, h := range hosts {
		seen := make([]time.Time, len(h.pending))
		for k := range c.Snapshots {
			back := time.Duration(c.Snapshots-1-k) * 30 * 24 * time.Hour
			at := c.End.Add(-back - time.Duration(rng.Int64N(int64(20*time.Hour))) - time.Hour)
			upto := len(h.pending) * (k + 1) / c.Snapshots
			if err := st.SaveFacts(ctx, h.facts(at, upto)); err != nil {
				return sum, fmt.Errorf("seed facts of %s: %w", h.Name, err)
			}
			sum.Snapshots++
			e := patchpilot.SLAExposure{Host: h.Name, CollectedAt: at, Oldest: map[patchpilot.Severity]time.Time{}}
			for i, pk := range h.pending[:upto] {
				if seen[i].IsZero() {
					seen[i] = at
				}
				p := h.distro.packages[pk]
				if len(p.advisories) == 0 {
					continue
				}
				var refs []patchpilot.AdvisoryRef
				for _, a := range p.advisories {
					refs = append(refs, ref(a))
				}
				sev := patchpilot.MaxSeverity(refs)
				if t, ok := e.Oldest[sev]; !ok || seen[i].Before(t) {
					e.Oldest[sev] = seen[i]
				}
			}
			exposures = append(exposures, e)
		}
		if sum.Host == "" && len(h.pending) > 10 {
			sum.Host = h.Name
		}
	}
	if err := st.SaveSLAExposures(ctx, exposures); err != nil {
		return sum, fmt.Errorf("seed SLA exposures: %w", err)
	}

	// Rollouts, spread over the history; the last 1% still live.
	live := max(1, c.Rollouts/100)
	var sims []*rolloutSim
	var rolloutEvents int
	for i := range c.Rollouts {
		created := start.Add(time.Duration(float64(span) * float64(i) / float64(c.Rollouts)))
		created = created.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
		isLive := i >= c.Rollouts-live
		if isLive {
			created = c.End.Add(-time.Duration(c.Rollouts-i) * 3 * time.Hour)
		}
		r, err := simulateRollout(rng, i, created, isLive, byDistroEnv, ds)
		if err != nil {
			return sum, err
		}
		// A finished rollout must be over before the history ends.
		if !isLive && r.end.After(c.End) {
			r.created = r.created.Add(-r.end.Sub(c.End) - time.Hour)
			created = r.created
			r, err = simulateRollout(rand.New(rand.NewPCG(uint64(c.Seed), uint64(i))), i, created, false, byDistroEnv, ds)
			if err != nil {
				return sum, err
			}
		}
		sims = append(sims, r)
		rolloutEvents += len(r.events(rand.New(rand.NewPCG(uint64(c.Seed), uint64(i)))))
	}
	if rolloutEvents > c.Events {
		return sum, patchpilot.Errorf(patchpilot.EINVALID, "seed: events %d: the %d rollouts alone log %d events; "+
			"want more events or fewer rollouts", c.Events, c.Rollouts, rolloutEvents)
	}
	outcomes, err := storeRollouts(ctx, st, c, sims, &sum)
	if err != nil {
		return sum, err
	}
	if err := storeModels(ctx, st, c, outcomes, &sum); err != nil {
		return sum, err
	}

	// The event log, in time order: the rollouts' events and, filling
	// the rest, the inventory's.
	inventory := c.Events - rolloutEvents
	if err := writeEvents(ctx, st, c, sims, hosts, inventory, &sum); err != nil {
		return sum, err
	}
	sum.Took = time.Since(began)
	return sum, nil
}

// storeRollouts writes the rollouts with their stages, host pipelines,
// incidents and outcomes.
func storeRollouts(ctx context.Context, st patchpilot.Store, c Config, sims []*rolloutSim, sum *Summary) ([]patchpilot.Outcome, error) {
	var all []patchpilot.Outcome
	busiest := -1
	for i, r := range sims {
		rng := rand.New(rand.NewPCG(uint64(c.Seed)+1, uint64(i)))
		if err := st.CreateRollout(ctx, r.rollout()); err != nil {
			return nil, fmt.Errorf("seed rollout %s: %w", r.id, err)
		}
		for si := range r.stages {
			if r.stages[si].state == "" || r.stages[si].state == patchpilot.StagePending {
				continue
			}
			if err := st.SaveStage(ctx, r.stageRun(si)); err != nil {
				return nil, fmt.Errorf("seed rollout %s: stage %d: %w", r.id, si, err)
			}
		}
		var outcomes []patchpilot.Outcome
		for _, h := range r.hosts {
			hr, ok := r.hostRun(h, rng)
			if !ok {
				continue
			}
			if err := st.SaveHostRun(ctx, hr); err != nil {
				return nil, fmt.Errorf("seed rollout %s: host %s: %w", r.id, h.h.Name, err)
			}
			sum.HostRuns++
			if o, ok := r.outcome(h, hr.Gates); ok {
				outcomes = append(outcomes, o)
			}
		}
		if len(outcomes) > 0 {
			if _, err := st.ImportOutcomes(ctx, outcomes); err != nil {
				return nil, fmt.Errorf("seed rollout %s: outcomes: %w", r.id, err)
			}
			sum.Outcomes += len(outcomes)
			all = append(all, outcomes...)
		}
		if inc := r.incident; inc != nil {
			data, err := json.Marshal(r.incidentData(inc))
			if err != nil {
				return nil, err
			}
			var names []string
			for _, hi := range inc.hosts {
				names = append(names, r.hosts[hi].h.Name)
			}
			if _, err := st.AddIncident(ctx, patchpilot.Incident{Rollout: r.id, Time: inc.at, Stage: inc.stage,
				Reason: "1 host failed in stage " + inc.stage, Hosts: names, Evidence: data}); err != nil {
				return nil, fmt.Errorf("seed rollout %s: incident: %w", r.id, err)
			}
			sum.Incidents++
		}
		if r.state != patchpilot.RolloutPending {
			if err := st.SetRolloutState(ctx, r.id, r.state, r.reason); err != nil {
				return nil, fmt.Errorf("seed rollout %s: state: %w", r.id, err)
			}
		}
		sum.Rollouts++
		sum.ByState[string(r.state)]++
		if r.state == patchpilot.RolloutSucceeded && (busiest < 0 || len(r.hosts) > len(sims[busiest].hosts)) {
			busiest = i
		}
		if r.state == patchpilot.RolloutRunning || (sum.LiveRollout == "" && !r.state.Final()) {
			sum.LiveRollout = r.id
		}
	}
	if busiest >= 0 {
		sum.BusyRollout = sims[busiest].id
		sum.Package = sims[busiest].distro.packages[sims[busiest].pkgs[0]].name
	}
	return all, nil
}

// modelOutcomes is how many of the latest outcomes each seeded model is
// trained on.
const modelOutcomes = 5000

// storeModels trains the risk model on the outcomes known a third, two
// thirds and all the way through the history, and saves the three models,
// the last one active.
func storeModels(ctx context.Context, st patchpilot.Store, c Config, outcomes []patchpilot.Outcome, sum *Summary) error {
	if len(outcomes) == 0 {
		return nil
	}
	slices.SortStableFunc(outcomes, func(a, b patchpilot.Outcome) int { return a.Time.Compare(b.Time) })
	span := time.Duration(c.Days) * 24 * time.Hour
	start := c.End.Add(-span)
	for k := 1; k <= 3; k++ {
		at := start.Add(span * time.Duration(k) / 3)
		// The latest outcomes before the cut: enough to train on, and
		// training stays a small part of the seeding time.
		cut, _ := slices.BinarySearchFunc(outcomes, at, func(o patchpilot.Outcome, t time.Time) int {
			return cmp.Compare(o.Time.UnixNano(), t.UnixNano())
		})
		var records []risk.Record
		for _, o := range outcomes[max(0, cut-modelOutcomes):cut] {
			records = append(records, risk.FromOutcome(o)...)
		}
		if len(records) == 0 {
			continue
		}
		m, err := risk.Train(records, risk.TrainOptions{Now: at, Source: "store"})
		if err != nil {
			return fmt.Errorf("seed model %d: %w", k, err)
		}
		blob, err := risk.MarshalModel(m)
		if err != nil {
			return fmt.Errorf("seed model %d: %w", k, err)
		}
		info, err := json.Marshal(m.Training)
		if err != nil {
			return fmt.Errorf("seed model %d: %w", k, err)
		}
		if err := st.SaveModel(ctx, m.Version, m.TrainedAt, info, blob); err != nil {
			return fmt.Errorf("seed model %d: %w", k, err)
		}
		sum.Models++
	}
	return nil
}

// writeEvents appends the log day by day, each day's events sorted by
// time, so that event ids follow time as in a real log.
func writeEvents(ctx context.Context, st patchpilot.Store, c Config, sims []*rolloutSim, hosts []*host, inventory int, sum *Summary) error {
	span := time.Duration(c.Days) * 24 * time.Hour
	start := c.End.Add(-span)
	// Every rollout's events come in with the day it was created; those
	// that fall on a later day wait in pending.
	sims = slices.Clone(sims)
	slices.SortStableFunc(sims, func(a, b *rolloutSim) int { return a.created.Compare(b.created) })
	var pending []event
	next := 0
	invDone := 0
	rng := rand.New(rand.NewPCG(uint64(c.Seed)+2, Version))
	var batch []patchpilot.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := st.AppendEvents(ctx, batch); err != nil {
			return fmt.Errorf("seed events: %w", err)
		}
		sum.Events += len(batch)
		batch = batch[:0]
		return nil
	}
	for day := 0; day <= c.Days; day++ {
		dayEnd := start.Add(time.Duration(day+1) * 24 * time.Hour)
		last := day == c.Days
		for next < len(sims) && (sims[next].created.Before(dayEnd) || last) {
			pending = append(pending, sims[next].events(rand.New(rand.NewPCG(uint64(c.Seed), uint64(sims[next].seq))))...)
			next++
		}
		// The inventory's events are spread evenly over the history.
		for invDone < inventory {
			at := start.Add(time.Duration(float64(span) * float64(invDone) / float64(inventory)))
			if !at.Before(dayEnd) && !last {
				break
			}
			h := hosts[invDone%len(hosts)]
			pending = append(pending, inventoryEvent(rng, h, at))
			invDone++
		}
		slices.SortStableFunc(pending, func(a, b event) int { return a.Time.Compare(b.Time) })
		cut := len(pending)
		if !last {
			cut, _ = slices.BinarySearchFunc(pending, dayEnd, func(e event, t time.Time) int { return cmp.Compare(e.Time.UnixNano(), t.UnixNano()) })
		}
		for _, e := range pending[:cut] {
			if e.data != nil {
				data, err := json.Marshal(e.data())
				if err != nil {
					return fmt.Errorf("seed event %s: %w", e.Kind, err)
				}
				e.Data = data
			}
			batch = append(batch, e.Event)
			if len(batch) == eventBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		pending = append(pending[:0], pending[cut:]...)
	}
	return flush()
}

// inventoryEvent is one collection of a host's facts: mostly successful,
// sometimes failed.
func inventoryEvent(rng *rand.Rand, h *host, at time.Time) event {
	e := event{Event: patchpilot.Event{Time: at, Actor: "scheduler", Host: h.Name}}
	if rng.IntN(40) == 0 {
		e.Kind = patchpilot.EventCollectFailed
		e.Message = h.Name + ": collect failed: ssh: connect to host " + h.Address + " port 22: connection timed out"
		e.data = func() any { return patchpilot.CollectFailedData{Code: patchpilot.EUNREACHABLE} }
		return e
	}
	e.Kind = patchpilot.EventFactsCollected
	n := len(h.pending)
	sec := 0
	for _, k := range h.pending {
		if len(h.distro.packages[k].advisories) > 0 {
			sec++
		}
	}
	e.Message = fmt.Sprintf("%s: collected %d packages, %d updates (%d security)", h.Name, len(h.packages), n, sec)
	e.data = func() any {
		return patchpilot.FactsCollectedData{Packages: len(h.packages), Updates: n, SecurityUpdates: sec, Source: "ssh"}
	}
	return e
}
