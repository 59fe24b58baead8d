package app

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// KPIQuery is the period the KPIs cover: From up to and including To.
type KPIQuery struct {
	From time.Time
	To   time.Time
}

// KPIReport holds the KPIs of a period; docs/kpis.md defines each. Its
// JSON is GET /api/v1/kpis's and `report -o json`'s.
type KPIReport struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`
	// TimeToPatch is the time from availability to installation, by
	// severity (critical, high, medium, low, none) and for all ("all").
	TimeToPatch []TimeToPatch `json:"time_to_patch"`
	// Compliance is the share of hosts within their SLA at the end of
	// each UTC day of the period (the last at To).
	Compliance []ComplianceDay `json:"compliance"`
	// Patches counts host patches (outcomes) in the period by how they
	// ended.
	Patches PatchCounts `json:"patches"`
	// ChangeFailureRate is the share of host patches that failed or were
	// rolled back, among those that changed their host (reached it, and
	// did not fail before any change); 0 when none did.
	ChangeFailureRate float64 `json:"change_failure_rate"`
	// Rollbacks counts host patches rolled back (or whose rollback
	// failed), and RolledBackRollouts the rollouts they belong to.
	Rollbacks          int `json:"rollbacks"`
	RolledBackRollouts int `json:"rolled_back_rollouts"`
	// Downtime caused by patching.
	Downtime Downtime `json:"downtime"`
	// Unattended are the host patches whose rollout no person started,
	// approved or steered, and their share of all host patches.
	Unattended      int     `json:"unattended"`
	UnattendedShare float64 `json:"unattended_share"`
	// Weekly counts the hosts patched (succeeded) in each week (Monday
	// 00:00 UTC) overlapping the period.
	Weekly []WeekCount `json:"weekly"`
}

// TimeToPatch is the time to patch of one severity.
type TimeToPatch struct {
	Severity    string  `json:"severity"` // "critical" ... "low", "none", or "all"
	Count       int     `json:"count"`
	MeanSeconds float64 `json:"mean_seconds"`
	P90Seconds  float64 `json:"p90_seconds"`
}

// Mean and P90 as durations.
func (t TimeToPatch) Mean() time.Duration { return time.Duration(t.MeanSeconds * float64(time.Second)) }

// P90 is the 90th percentile (nearest rank).
func (t TimeToPatch) P90() time.Duration { return time.Duration(t.P90Seconds * float64(time.Second)) }

// ComplianceDay is the fleet's standing at the end of one day.
type ComplianceDay struct {
	Day time.Time `json:"day"` // 00:00 UTC
	At  time.Time `json:"at"`  // the instant measured: the day's end, or To
	// Hosts are those with a collection at or before At; InSLA those not
	// out of their SLA then; OutOfSLA the others; Unknown the current
	// hosts not collected by then.
	Hosts    int `json:"hosts"`
	InSLA    int `json:"in_sla"`
	OutOfSLA int `json:"out_of_sla"`
	Unknown  int `json:"unknown"`
	// Share is InSLA over Hosts; nil on a day no host was known yet.
	Share *float64 `json:"share"`
}

// PatchCounts counts host patches by how they ended.
type PatchCounts struct {
	Total          int `json:"total"`
	Succeeded      int `json:"succeeded"`
	Failed         int `json:"failed"`
	RolledBack     int `json:"rolled_back"`
	RollbackFailed int `json:"rollback_failed"`
	Unreachable    int `json:"unreachable"`
	// FailedBeforeChange are the failed host patches that failed before
	// anything was changed on their host (a preflight that failed), of
	// Failed: no change was made, so the change failure rate leaves
	// them out.
	FailedBeforeChange int `json:"failed_before_change"`
}

// Downtime is the time hosts spent rebooting or unhealthy because of a
// patch.
type Downtime struct {
	Reboots          int     `json:"reboots"`
	RebootSeconds    float64 `json:"reboot_seconds"`
	Unhealthy        int     `json:"unhealthy"`
	UnhealthySeconds float64 `json:"unhealthy_seconds"`
}

// WeekCount is one week's patching.
type WeekCount struct {
	Week    time.Time `json:"week"`
	Hosts   int       `json:"hosts"`
	Patches int       `json:"patches"`
}

// KPISeverities lists the severities time to patch is broken down by.
func KPISeverities() []string { return []string{"critical", "high", "medium", "low", "none", "all"} }

// DefaultKPIPeriod is the period reports cover when none is given.
const DefaultKPIPeriod = 30 * 24 * time.Hour

// MinKPIPeriod is the shortest period the KPIs are computed over.
const MinKPIPeriod = time.Minute

// MaxKPIPeriod is the longest period the KPIs are computed over.
const MaxKPIPeriod = 3 * 366 * 24 * time.Hour

// CheckKPIQuery fills a zero To with now and a zero From with
// DefaultKPIPeriod before To, and refuses a period that ends before it
// starts, is shorter than MinKPIPeriod or longer than MaxKPIPeriod.
func (a *App) CheckKPIQuery(q KPIQuery) (KPIQuery, error) {
	if q.To.IsZero() {
		q.To = a.now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultKPIPeriod)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if now := a.now(); q.To.After(now.Add(time.Minute)) {
		return q, patchpilot.Errorf(patchpilot.EINVALID, "the period ends (%s) after now (%s): KPIs measure what happened",
			q.To.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if q.To.Before(q.From) {
		return q, patchpilot.Errorf(patchpilot.EINVALID, "the period ends (%s) before it starts (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	if q.To.Sub(q.From) < MinKPIPeriod {
		// "--since 0d": a report of no time, whose shares of nothing
		// would read as measured.
		return q, patchpilot.Errorf(patchpilot.EINVALID, "the period from %s to %s is shorter than a minute: expected a period to measure, such as 7d or 30d back from now",
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if q.To.Sub(q.From) > MaxKPIPeriod {
		return q, patchpilot.Errorf(patchpilot.EINVALID, "the period is longer than %d days", MaxKPIPeriod/(24*time.Hour))
	}
	return q, nil
}

// KPIs computes the KPIs of a period from what the store holds of it: the
// outcomes, rollout events and SLA exposures of the period, read through
// indexed range queries, and the first sightings and advisories of the
// packages installed in it. It never reads the whole event log.
//
// The answer for the last period asked is kept while the store's
// inventory (with the SLA exposures), its outcomes and the policy are
// unchanged, when the period ended kpiSettle ago or earlier: the events it
// reads are stamped when they are written, so none can still arrive
// inside a period that ended then. A period that ends now is measured at
// each call. A kept report's slices are shared: read them only.
func (a *App) KPIs(ctx context.Context, q KPIQuery) (KPIReport, error) {
	q, err := a.CheckKPIQuery(q)
	if err != nil {
		return KPIReport{}, err
	}
	now := a.now()
	if now.Sub(q.To) < kpiSettle {
		rep, err := a.kpis(ctx, q)
		rep.GeneratedAt = now
		return rep, err
	}
	pk, err := policyKey(a.Options.Policy)
	if err != nil {
		return KPIReport{}, err
	}
	rep, _, err := cachedRead(ctx, a, &a.cache.kpis, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory, outcomes: v.Outcomes, policy: pk, from: q.From.UnixNano(), to: q.To.UnixNano()}
	}, func(ctx context.Context) (KPIReport, error) { return a.kpis(ctx, q) })
	rep.GeneratedAt = now
	return rep, err
}

// kpiSettle is how long after a period's end its KPIs may be kept.
const kpiSettle = 5 * time.Second

// kpis computes the KPIs of a checked period.
func (a *App) kpis(ctx context.Context, q KPIQuery) (KPIReport, error) {
	rep := KPIReport{From: q.From, To: q.To}
	outcomes, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{Since: q.From, Until: q.To, NoGateResults: true})
	if err != nil {
		return rep, err
	}
	if rep.TimeToPatch, err = a.timeToPatch(ctx, outcomes); err != nil {
		return rep, err
	}
	if rep.Compliance, err = a.complianceDays(ctx, q); err != nil {
		return rep, err
	}
	a.patchCounts(&rep, outcomes, q)
	if rep.Downtime, err = a.downtime(ctx, q); err != nil {
		return rep, err
	}
	if err := a.unattended(ctx, &rep, outcomes, q); err != nil {
		return rep, err
	}
	return rep, nil
}

// reached reports whether a host patch reached its host: every outcome but
// unreachable.
func reached(k patchpilot.OutcomeKind) bool { return k != patchpilot.OutcomeUnreachable }

func failedChange(k patchpilot.OutcomeKind) bool {
	return k == patchpilot.OutcomeFailed || k == patchpilot.OutcomeRolledBack || k == patchpilot.OutcomeRollbackFailed
}

func (a *App) patchCounts(rep *KPIReport, outcomes []patchpilot.Outcome, q KPIQuery) {
	rolledBack := map[string]bool{}
	type weekHost struct {
		week time.Time
		host string
	}
	hosts := map[weekHost]bool{}
	weeks := map[time.Time]*WeekCount{}
	for w := weekOf(q.From); !w.After(q.To); w = w.AddDate(0, 0, 7) {
		rep.Weekly = append(rep.Weekly, WeekCount{Week: w})
	}
	for i := range rep.Weekly {
		weeks[rep.Weekly[i].Week] = &rep.Weekly[i]
	}
	for _, o := range outcomes {
		c := &rep.Patches
		c.Total++
		switch o.Outcome {
		case patchpilot.OutcomeSucceeded:
			c.Succeeded++
			w := weekOf(o.Time)
			if wc, ok := weeks[w]; ok {
				wc.Patches++
				if k := (weekHost{w, o.Host}); !hosts[k] {
					hosts[k] = true
					wc.Hosts++
				}
			}
		case patchpilot.OutcomeFailed:
			c.Failed++
			if o.FailedBeforeChange() {
				c.FailedBeforeChange++
			}
		case patchpilot.OutcomeRolledBack:
			c.RolledBack++
			rolledBack[o.Rollout] = true
		case patchpilot.OutcomeRollbackFailed:
			c.RollbackFailed++
			rolledBack[o.Rollout] = true
		case patchpilot.OutcomeUnreachable:
			c.Unreachable++
		}
	}
	c := rep.Patches
	// A change failure needs a change: host patches that never reached
	// their host, or failed before anything changed on it, are none.
	if n := c.Total - c.Unreachable - c.FailedBeforeChange; n > 0 {
		rep.ChangeFailureRate = float64(c.Failed-c.FailedBeforeChange+c.RolledBack+c.RollbackFailed) / float64(n)
	}
	rep.Rollbacks = c.RolledBack + c.RollbackFailed
	rep.RolledBackRollouts = len(rolledBack)
}

// weekOf is the Monday 00:00 UTC starting t's week.
func weekOf(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	back := (int(d.Weekday()) + 6) % 7 // Monday 0
	return d.AddDate(0, 0, -back)
}

// outcomeFeatures is what time to patch reads of an outcome's features.
type outcomeFeatures struct {
	Severity string `json:"severity"`
}

// timeToPatch measures, for each package a succeeded outcome installed,
// the time from that version's availability to the outcome. Its severity
// is that of the advisories the change fixes (matched as pending updates
// are), else the one recorded in the outcome's features.
func (a *App) timeToPatch(ctx context.Context, outcomes []patchpilot.Outcome) ([]TimeToPatch, error) {
	type change struct {
		eco, pkg, src, from, to string
	}
	var installs []patchpilot.HostUpdate
	index := map[change]int{}
	type obs struct {
		change int
		at     time.Time
		sev    patchpilot.Severity
	}
	var seen []obs
	for _, o := range outcomes {
		if o.Outcome != patchpilot.OutcomeSucceeded {
			continue
		}
		var feat outcomeFeatures
		if len(o.Features) > 0 {
			_ = json.Unmarshal(o.Features, &feat) // features are advisory; a shape not read leaves the severity unknown
		}
		eco, family := ecosystemOfOS(o.OS)
		for _, pc := range o.Packages {
			if pc.To == "" {
				continue
			}
			c := change{eco, pc.Name, pc.SourcePackage, pc.From, pc.To}
			i, ok := index[c]
			if !ok {
				i = len(installs)
				index[c] = i
				installs = append(installs, patchpilot.HostUpdate{Package: pc.Name, SourcePackage: pc.SourcePackage,
					InstalledVersion: pc.From, CandidateVersion: pc.To, Ecosystem: eco, Family: family})
			}
			seen = append(seen, obs{i, o.Time, patchpilot.Severity(feat.Severity).Normalised()})
		}
	}
	published := map[string]time.Time{}
	if len(installs) > 0 {
		if err := a.annotate(ctx, installs, published); err != nil {
			return nil, err
		}
	}
	pkgs := make([]string, 0, len(installs))
	for _, u := range installs {
		pkgs = append(pkgs, u.Package)
	}
	var av availability
	if len(pkgs) > 0 {
		var err error
		if av, err = a.loadAvailability(ctx, pkgs, published); err != nil {
			return nil, err
		}
	}
	by := map[string][]float64{}
	for _, s := range seen {
		u := installs[s.change]
		at, _, ok := av.of(u.Package, u.CandidateVersion, u.Advisories)
		if !ok {
			continue // never seen pending, nothing dates it: a dependency pulled in
		}
		sev := patchpilot.MaxSeverity(u.Advisories)
		if sev == "" {
			sev = patchpilot.SeverityOfRank(s.sev.Rank())
		}
		key := string(sev)
		if key == "" {
			key = "none"
		}
		d := max(s.at.Sub(at).Seconds(), 0)
		by[key] = append(by[key], d)
		by["all"] = append(by["all"], d)
	}
	out := make([]TimeToPatch, 0, len(KPISeverities()))
	for _, sev := range KPISeverities() {
		out = append(out, summarise(sev, by[sev]))
	}
	return out, nil
}

// summarise is the count, mean and nearest-rank 90th percentile.
func summarise(sev string, v []float64) TimeToPatch {
	t := TimeToPatch{Severity: sev, Count: len(v)}
	if len(v) == 0 {
		return t
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	t.MeanSeconds = sum / float64(len(v))
	rank := int(math.Ceil(0.9*float64(len(v)))) - 1
	t.P90Seconds = v[max(rank, 0)]
	return t
}

// ecosystemOfOS is the OSV ecosystem and family of an outcome's "debian:12".
func ecosystemOfOS(os string) (string, patchpilot.OSFamily) {
	name, version, ok := strings.Cut(os, ":")
	if !ok || name == "" {
		return "", patchpilot.FamilyUnknown
	}
	f := patchpilot.Facts{OSName: name, OSVersion: version}
	return f.Ecosystem(), patchpilot.FamilyUnknown
}

// complianceDays measures the fleet's current hosts at the end of each day
// of the period from their stored SLA exposures, against the SLAs of the
// policy in force now.
func (a *App) complianceDays(ctx context.Context, q KPIQuery) ([]ComplianceDay, error) {
	groups, err := a.slaGroups(ctx)
	if err != nil {
		return nil, err
	}
	hosts := groups.hosts
	exps, err := a.Store.SLAExposures(ctx, q.From, q.To)
	if err != nil {
		return nil, err
	}
	byHost := map[string][]patchpilot.SLAExposure{}
	for _, e := range exps {
		byHost[e.Host] = append(byHost[e.Host], e)
	}
	var days []ComplianceDay
	for d := dayOf(q.From); !d.After(q.To); d = d.AddDate(0, 0, 1) {
		at := d.AddDate(0, 0, 1).Add(-time.Nanosecond)
		if at.After(q.To) {
			at = q.To
		}
		days = append(days, ComplianceDay{Day: d, At: at})
	}
	for _, h := range hosts {
		list := byHost[h]
		sla := groups.sla(a.Options.Policy, h)
		// Each exposure is out of the SLA after its earliest deadline,
		// found once rather than at each day.
		outAfter := make([]time.Time, len(list))
		for k, e := range list {
			outAfter[k] = earliestDeadline(e.Oldest, sla)
		}
		j := -1 // the latest exposure at or before the day's instant
		for i := range days {
			for j+1 < len(list) && !list[j+1].CollectedAt.After(days[i].At) {
				j++
			}
			if j < 0 {
				days[i].Unknown++
				continue
			}
			days[i].Hosts++
			if !outAfter[j].IsZero() && days[i].At.After(outAfter[j]) {
				days[i].OutOfSLA++
			} else {
				days[i].InSLA++
			}
		}
	}
	for i := range days {
		if days[i].Hosts > 0 {
			share := float64(days[i].InSLA) / float64(days[i].Hosts)
			days[i].Share = &share
		}
	}
	return days, nil
}

// earliestDeadline is the earliest deadline of an exposure's oldest
// updates under the SLA, zero when none has one: the host is out of its
// SLA after it (the oldest update of some severity is past that
// severity's deadline), and within it before.
func earliestDeadline(oldest map[patchpilot.Severity]time.Time, sla SLA) time.Time {
	var first time.Time
	for sev, avail := range oldest {
		d, ok := sla.Deadline(sev)
		if !ok {
			continue
		}
		if dl := avail.Add(d); first.IsZero() || dl.Before(first) {
			first = dl
		}
	}
	return first
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// hostStateOf reads the state of a rollout.host event's message ("web1
// reboot", "web1 failed: reason").
func hostStateOf(e patchpilot.Event) patchpilot.HostState {
	rest, ok := strings.CutPrefix(e.Message, e.Host+" ")
	if !ok {
		return ""
	}
	word, _, _ := strings.Cut(rest, ":")
	return patchpilot.HostState(strings.TrimSpace(word))
}

// downtime sums, over the period's host state and gate events, the time
// each host spent rebooting (from entering the reboot step to its next
// state) and unhealthy (from its first unhealthy gate verdict in a rollout
// to the end of its pipeline there: rolled back, failed or done).
func (a *App) downtime(ctx context.Context, q KPIQuery) (Downtime, error) {
	var dt Downtime
	states, gates, err := a.events.read(ctx, a.Store, q.From, q.To)
	if err != nil {
		return dt, err
	}
	type key struct{ rollout, host string }
	rebootAt := map[key]time.Time{}
	unhealthyAt := map[key]time.Time{}
	for _, g := range gates {
		k := key{g.rollout, g.host}
		if t, ok := unhealthyAt[k]; !ok || g.at.Before(t) {
			unhealthyAt[k] = g.at
		}
	}
	ended := map[key]bool{}
	for _, e := range states {
		k := key{e.rollout, e.host}
		st := e.state
		if t, ok := rebootAt[k]; ok && st != patchpilot.HostReboot {
			dt.Reboots++
			dt.RebootSeconds += e.at.Sub(t).Seconds()
			delete(rebootAt, k)
		}
		if st == patchpilot.HostReboot {
			if _, ok := rebootAt[k]; !ok {
				rebootAt[k] = e.at
			}
		}
		if t, ok := unhealthyAt[k]; ok && !ended[k] && !e.at.Before(t) && st.Terminal() {
			ended[k] = true
			dt.Unhealthy++
			dt.UnhealthySeconds += e.at.Sub(t).Seconds()
		}
	}
	// A reboot or an unhealthy spell still open at the end of the period
	// counts up to it.
	for _, t := range rebootAt {
		dt.Reboots++
		dt.RebootSeconds += q.To.Sub(t).Seconds()
	}
	for k, t := range unhealthyAt {
		if !ended[k] {
			dt.Unhealthy++
			dt.UnhealthySeconds += q.To.Sub(t).Seconds()
		}
	}
	return dt, nil
}

// person reports whether an actor is a person: a local user or a token.
func person(actor string) bool {
	return strings.HasPrefix(actor, "user:") || strings.HasPrefix(actor, "token:")
}

// unattended counts the host patches whose rollout no person created,
// approved (a stage approval) or steered (pause, resume, abort, rollback).
func (a *App) unattended(ctx context.Context, rep *KPIReport, outcomes []patchpilot.Outcome, q KPIQuery) error {
	if len(outcomes) == 0 {
		return nil
	}
	ids := map[string]bool{}
	for _, o := range outcomes {
		ids[o.Rollout] = true
	}
	needed := map[string]bool{}
	since := q.From
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		r, err := a.Store.Rollout(ctx, id)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			// An imported outcome whose rollout is not stored: nothing
			// says a person was involved, nothing says none was.
			needed[id] = true
			continue
		}
		if err != nil {
			return err
		}
		if person(r.CreatedBy) {
			needed[id] = true
		}
		if r.CreatedAt.Before(since) {
			since = r.CreatedAt
		}
	}
	for _, kind := range []string{patchpilot.EventApproval, patchpilot.EventRequest} {
		evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Kind: kind, Since: since, Until: q.To})
		if err != nil {
			return err
		}
		for _, e := range evs {
			if !ids[e.Rollout] {
				continue
			}
			actor := e.Actor
			if kind == patchpilot.EventApproval && len(e.Data) > 0 {
				var d patchpilot.ApprovalData
				if json.Unmarshal(e.Data, &d) == nil && d.Approver != "" {
					actor = d.Approver
				}
			}
			if _, by, ok := cutLast(e.Message, " by "); ok && person(by) {
				actor = by
			}
			if person(actor) {
				needed[e.Rollout] = true
			}
		}
	}
	for _, o := range outcomes {
		if !needed[o.Rollout] {
			rep.Unattended++
		}
	}
	rep.UnattendedShare = float64(rep.Unattended) / float64(len(outcomes))
	return nil
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
