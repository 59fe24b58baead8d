package app

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// readCache keeps fleet-wide answers that are costly to derive and change
// only when the data they derive from changes: each is kept with the store's
// data versions it was derived under (patchpilot.DataVersions, bumped by the
// store on every change by any writer) and derived again at the first read
// after they move. Nothing time-dependent is kept: what depends on the
// clock is computed from the kept data at each read. docs/benchmarks.md
// lists what is kept and what invalidates it.
type readCache struct {
	groups cached[*hostGroups]
	// inventoryReads are a plan's fleet-wide reads of the inventory.
	inventoryReads cached[*inventoryReads]
	summaries      cached[[]patchpilot.HostSummary]
	compliance     cached[*complianceBase]
	assess         cached[AssessResult]
	calibration    cached[ModelCalibration]
	updateCounts   cached[UpdateCounts]
	outcomeCounts  cached[map[patchpilot.OutcomeKind]int]
	kpis           cached[KPIReport]
	// failures are the collection failure events read so far.
	failures collectFailures
}

// cacheKey is what a kept answer depends on: the versions of the data it
// reads (0 for those it does not) and the policy, as JSON, when it uses it.
type cacheKey struct {
	inventory, outcomes, models int64
	policy                      string
	// from and to bound the period of an answer about one (Unix ns).
	from, to int64
}

// cached is one kept answer. mu is held while deriving, so that concurrent
// readers of a stale answer wait for one derivation instead of each
// making their own.
type cached[T any] struct {
	mu  sync.Mutex
	ok  bool
	key cacheKey
	val T
	at  time.Time // when the data was read
}

// cachedRead returns the kept answer when the store's data versions give
// the key it was kept under, and derives, keeps and returns a new one
// otherwise, with when its data was read. The versions are read before the
// data, so that a change made while deriving moves them past the key kept.
func cachedRead[T any](ctx context.Context, a *App, c *cached[T], keyOf func(patchpilot.DataVersions) cacheKey,
	derive func(context.Context) (T, error)) (T, time.Time, error) {
	var zero T
	v, err := a.Store.DataVersions(ctx)
	if err != nil {
		return zero, time.Time{}, err
	}
	key := keyOf(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && c.key == key {
		return c.val, c.at, nil
	}
	at := a.now()
	val, err := derive(ctx)
	if err != nil {
		return zero, time.Time{}, err
	}
	c.ok, c.key, c.val, c.at = true, key, val, at
	return val, at, nil
}

// policyKey is the policy as a cache key.
func policyKey(p Policy) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "encode the policy: %w", err)
	}
	return string(b), nil
}

// UpdateCounts counts the fleet's pending updates (those of each host's
// latest snapshot, annotated with the stored advisories as Updates does)
// by the highest severity of the advisories each fixes, "" when none.
// Its maps are shared: read them only.
type UpdateCounts struct {
	All map[patchpilot.Severity]int
	// Security counts the security updates only, as Updates with
	// SecurityOnly lists them.
	Security map[patchpilot.Severity]int
	// SecurityHosts counts the hosts with at least one of those security
	// updates: an update that fixes a stored advisory counts, also when
	// the package manager did not mark it (the hosts' summaries count
	// the package manager's marks only).
	SecurityHosts int
	// DataAt is when the updates counted were read.
	DataAt time.Time
}

// UpdateCounts counts the fleet's pending updates by severity, kept while
// the store's inventory is unchanged.
func (a *App) UpdateCounts(ctx context.Context) (UpdateCounts, error) {
	c, at, err := cachedRead(ctx, a, &a.cache.updateCounts, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory}
	}, func(ctx context.Context) (UpdateCounts, error) {
		ups, err := a.Updates(ctx, patchpilot.UpdateFilter{})
		if err != nil {
			return UpdateCounts{}, err
		}
		c := UpdateCounts{All: map[patchpilot.Severity]int{}, Security: map[patchpilot.Severity]int{}}
		hosts := map[string]bool{}
		for _, u := range ups {
			sev := patchpilot.MaxSeverity(u.Advisories)
			c.All[sev]++
			if u.Security {
				c.Security[sev]++
				hosts[u.Host] = true
			}
		}
		c.SecurityHosts = len(hosts)
		return c, nil
	})
	c.DataAt = at
	return c, err
}

// OutcomeCounts counts the stored outcomes by kind, kept while the stored
// outcomes are unchanged. The map is the caller's.
func (a *App) OutcomeCounts(ctx context.Context) (map[patchpilot.OutcomeKind]int, error) {
	c, _, err := cachedRead(ctx, a, &a.cache.outcomeCounts, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{outcomes: v.Outcomes}
	}, func(ctx context.Context) (map[patchpilot.OutcomeKind]int, error) {
		outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{NoGateResults: true})
		if err != nil {
			return nil, err
		}
		c := map[patchpilot.OutcomeKind]int{}
		for _, o := range outs {
			c[o.Outcome]++
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return maps.Clone(c), nil
}

// HostSummaries lists every host with the summary of its latest facts, as
// the store's HostSummaries does, kept while the inventory is unchanged.
// The labels maps are shared: read them only.
func (a *App) HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	sums, err := a.keptSummaries(ctx)
	if err != nil {
		return nil, err
	}
	sums = slices.Clone(sums)
	return sums, a.markCollectFailures(ctx, sums)
}

// HostFactSummaries lists every host with the summary of its latest facts
// as HostSummaries does, but without LastCollectFailure: it reads none of
// the inventory's collection failure events, a log that grows with every
// failed collection, and costs a copy of the kept summaries while the
// inventory is unchanged. For readers of the facts' figures only (the
// server's metrics, the hosts' groups and classes). The labels maps are
// shared: read them only.
func (a *App) HostFactSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	sums, err := a.keptSummaries(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(sums), nil
}

// MarkCollectFailure sets LastCollectFailure on one host's summary, as
// HostSummaries does for every host: when the host's last collection
// failed after its latest facts were collected (or it was never
// collected).
func (a *App) MarkCollectFailure(ctx context.Context, s *patchpilot.HostSummary) error {
	f := patchpilot.EventFilter{Host: s.Name, Kind: patchpilot.EventCollectFailed}
	if s.CollectedAt != nil {
		f.Since = *s.CollectedAt
	}
	evs, err := a.Store.Events(ctx, f)
	if err != nil {
		return err
	}
	one := []patchpilot.HostSummary{*s}
	setCollectFailures(one, evs)
	*s = one[0]
	return nil
}

// markCollectFailures sets LastCollectFailure on the summaries of hosts
// whose last collection failed after their latest facts were collected
// (or that were never collected): of the inventory's failure events since
// the oldest of those facts, each host's last, when it came after the
// host's facts. The events are kept between calls (collectFailures): each
// call reads only the failure events appended since the last one.
func (a *App) markCollectFailures(ctx context.Context, sums []patchpilot.HostSummary) error {
	var since time.Time
	for i, s := range sums {
		if s.CollectedAt == nil {
			since = time.Time{}
			break
		}
		if i == 0 || s.CollectedAt.Before(since) {
			since = *s.CollectedAt
		}
	}
	if len(sums) == 0 {
		return nil
	}
	return a.cache.failures.mark(ctx, a.Store, sums, since)
}

// collectFailures keeps what the inventory's collection failure events
// can still tell a summary, read up to id after: for each host, the
// events that no later event of the host outdates (first as the store's
// LastCollectFailures lists them, then from the events appended since).
// An event is outdated by a later one (a greater id) at the same time or
// after it:
// whatever the oldest facts' time since, the later one is at or after
// since whenever the earlier one is, and it is the later. What is kept of
// a host is so ordered by id ascending and time descending, and is one
// event while the events' times follow their ids, as appends make them.
// The log is append-only, so what was read stays true.
type collectFailures struct {
	mu     sync.Mutex
	after  int64
	byHost map[string][]patchpilot.Event
}

// collectFailurePage bounds the failure events read at once.
var collectFailurePage = 10000

// mark reads the failure events appended since the last call, then sets
// LastCollectFailure as setCollectFailures does from the events since.
func (c *collectFailures) mark(ctx context.Context, st patchpilot.Store, sums []patchpilot.HostSummary, since time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byHost == nil {
		// The first call reads what is kept from the store's index of
		// each host's failures, instead of the whole log; the last
		// failure kept is the last in the log (every host's last is
		// kept), so the appends are read from there.
		evs, err := st.LastCollectFailures(ctx)
		if err != nil {
			return err
		}
		byHost := map[string][]patchpilot.Event{}
		for _, e := range evs {
			byHost[e.Host] = append(byHost[e.Host], e)
			c.after = max(c.after, e.ID)
		}
		c.byHost = byHost
	}
	for {
		evs, err := st.Events(ctx, patchpilot.EventFilter{Kind: patchpilot.EventCollectFailed, AfterID: c.after, Limit: collectFailurePage})
		if err != nil {
			return err
		}
		for _, e := range evs {
			kept := c.byHost[e.Host]
			for len(kept) > 0 && !kept[len(kept)-1].Time.After(e.Time) {
				kept = kept[:len(kept)-1]
			}
			c.byHost[e.Host] = append(kept, e)
			c.after = e.ID
		}
		if len(evs) < collectFailurePage {
			break
		}
	}
	// Each host's last event at or after since: the newest kept one that
	// is, since the kept ones are ordered by time descending.
	var last []patchpilot.Event
	for i := range sums {
		kept := c.byHost[sums[i].Name]
		for j := len(kept) - 1; j >= 0; j-- {
			if !kept[j].Time.Before(since) {
				last = append(last, kept[j])
				break
			}
		}
	}
	setCollectFailures(sums, last)
	return nil
}

// setCollectFailures sets LastCollectFailure on each summary from the
// last of the collection failure events evs (in id order) that came after
// its facts.
func setCollectFailures(sums []patchpilot.HostSummary, evs []patchpilot.Event) {
	last := make(map[string]patchpilot.Event, len(evs))
	for _, e := range evs {
		last[e.Host] = e // in id order: the last one stays
	}
	for i, s := range sums {
		e, ok := last[s.Name]
		if !ok || s.CollectedAt != nil && !e.Time.After(*s.CollectedAt) {
			continue
		}
		var d patchpilot.CollectFailedData
		_ = json.Unmarshal(e.Data, &d) // the code is optional
		sums[i].LastCollectFailure = &patchpilot.CollectFailure{At: e.Time, Code: string(d.Code), Message: e.Message}
	}
}

// keptSummaries is the kept answer HostSummaries copies: callers share it
// and never change it.
func (a *App) keptSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	sums, _, err := cachedRead(ctx, a, &a.cache.summaries, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory}
	}, a.Store.HostSummaries)
	return sums, err
}

// keepSummaries keeps sums, read under key, as the answer keptSummaries
// shares, unless one read under the same or a later version of the
// inventory is kept already; it returns the summaries kept.
func (a *App) keepSummaries(key cacheKey, sums []patchpilot.HostSummary) []patchpilot.HostSummary {
	c := &a.cache.summaries
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && c.key.inventory >= key.inventory {
		if c.key == key {
			return c.val
		}
		return sums
	}
	c.ok, c.key, c.val, c.at = true, key, sums, a.now()
	return sums
}
