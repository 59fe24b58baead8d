package app

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
	"github.com/patchpilot/patchpilot/internal/policy"
)

// SLA is a patch deadline per severity (policy.SLA): see docs/policy.md.
type SLA = policy.SLA

// DefaultSLA is the SLA when no policy sets one: critical 7 days, high 30,
// medium 90, low 180, unrated none.
func DefaultSLA() SLA { return policy.DefaultSLA() }

// SLAState is a host's standing against its patch SLA.
type SLAState string

// SLA states.
const (
	// SLACompliant: no pending security update with a deadline.
	SLACompliant SLAState = "compliant"
	// SLAWithin: such updates are pending, none past its deadline.
	SLAWithin SLAState = "within_sla"
	// SLAOut: at least one pending update is past its deadline.
	SLAOut SLAState = "out_of_sla"
	// SLAUnknown: the host's facts were never collected.
	SLAUnknown SLAState = "unknown"
)

// SLAStates lists the states in the order reports show them.
func SLAStates() []SLAState { return []SLAState{SLACompliant, SLAWithin, SLAOut, SLAUnknown} }

// SLAUpdate is a pending security update of a host measured against its
// deadline. Its JSON field names are part of the CLI and API contract.
type SLAUpdate struct {
	Package  string              `json:"package"`
	Version  string              `json:"version"`
	Severity patchpilot.Severity `json:"severity"` // "" when unrated
	// Available is when the update became available (docs/kpis.md), and
	// AvailableFrom what said so.
	Available     time.Time `json:"available"`
	AvailableFrom string    `json:"available_from"`
	Deadline      time.Time `json:"deadline"`
	// OverdueSeconds is how far past its deadline the update is, 0 when
	// it is not.
	OverdueSeconds int64 `json:"overdue_seconds"`
}

// Overdue is how far past its deadline the update is.
func (u SLAUpdate) Overdue() time.Duration { return time.Duration(u.OverdueSeconds) * time.Second }

// HostCompliance is one host's standing against its SLA.
type HostCompliance struct {
	Host  string `json:"host"`
	Group string `json:"group"`
	// Compliance names the compliance regimes whose deadlines apply to
	// the host with its group's (the stricter of each).
	Compliance []string `json:"compliance,omitempty"`
	State      SLAState `json:"state"`
	// Pending counts the pending security updates with a deadline.
	Pending int `json:"pending"`
	// EarliestDeadline is the earliest deadline among them, nil when none.
	EarliestDeadline *time.Time `json:"earliest_deadline"`
	// Overdue lists the updates past their deadline, most overdue first.
	Overdue []SLAUpdate `json:"overdue"`
	// Unrated counts the pending security updates whose advisories carry
	// no severity and to which the SLA gives no deadline: the state does
	// not measure them, so a host can be compliant with them pending.
	Unrated int `json:"unrated"`
}

// ComplianceTotals counts hosts by SLA state.
type ComplianceTotals struct {
	Hosts     int `json:"hosts"`
	Compliant int `json:"compliant"`
	WithinSLA int `json:"within_sla"`
	OutOfSLA  int `json:"out_of_sla"`
	Unknown   int `json:"unknown"`
	// OverdueUpdates counts the host updates past their deadline.
	OverdueUpdates int `json:"overdue_updates"`
	// UnratedUpdates counts the host updates that are security updates
	// without a severity and without a deadline (HostCompliance.Unrated),
	// which no state measures; UnratedHosts counts the hosts they are on.
	UnratedUpdates int `json:"unrated_updates"`
	UnratedHosts   int `json:"unrated_hosts"`
}

// Of returns the count of one state.
func (t ComplianceTotals) Of(s SLAState) int {
	switch s {
	case SLACompliant:
		return t.Compliant
	case SLAWithin:
		return t.WithinSLA
	case SLAOut:
		return t.OutOfSLA
	}
	return t.Unknown
}

// InSLAShare is the share of known hosts (collected at least once) that are
// not out of their SLA; NaN when no host is known, which is no share at
// all rather than 0%.
func (t ComplianceTotals) InSLAShare() float64 {
	known := t.Hosts - t.Unknown
	if known == 0 {
		return math.NaN()
	}
	return float64(t.Compliant+t.WithinSLA) / float64(known)
}

func (t *ComplianceTotals) add(s SLAState) {
	t.Hosts++
	switch s {
	case SLACompliant:
		t.Compliant++
	case SLAWithin:
		t.WithinSLA++
	case SLAOut:
		t.OutOfSLA++
	default:
		t.Unknown++
	}
}

// ComplianceReport is the fleet's standing against its SLAs at At. Its
// JSON is GET /api/v1/compliance's.
type ComplianceReport struct {
	At time.Time `json:"at"`
	// DataAt is when the hosts, facts and advisories measured were read:
	// the report is measured at At from data kept since DataAt, while the
	// store's inventory is unchanged.
	DataAt time.Time        `json:"data_at"`
	Totals ComplianceTotals `json:"totals"`
	// Hosts are ordered by name.
	Hosts []HostCompliance `json:"hosts"`
	// SLAs are the deadlines of each group that has hosts.
	SLAs map[string]SLA `json:"slas"`
}

// Host returns a host's entry.
func (r ComplianceReport) Host(name string) (HostCompliance, bool) {
	i, ok := slices.BinarySearchFunc(r.Hosts, name, func(h HostCompliance, n string) int {
		switch {
		case h.Host < n:
			return -1
		case h.Host > n:
			return 1
		}
		return 0
	})
	if !ok {
		return HostCompliance{}, false
	}
	return r.Hosts[i], true
}

// Unrated lists the hosts with security updates pending that have no
// severity and no deadline, most such updates first, then by name.
func (r ComplianceReport) Unrated() []HostCompliance {
	var out []HostCompliance
	for _, h := range r.Hosts {
		if h.Unrated > 0 {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Unrated > out[j].Unrated })
	return out
}

// UnratedNote says how many pending security updates the SLA does not
// measure (no severity, no deadline) and on how many hosts, for showing
// next to the in-SLA figure; "" when there are none.
func (t ComplianceTotals) UnratedNote() string {
	if t.UnratedUpdates == 0 {
		return ""
	}
	verb := "have"
	if t.UnratedUpdates == 1 {
		verb = "has"
	}
	return fmt.Sprintf("%d pending security update%s on %d host%s %s no severity, so no deadline: not measured by the SLA",
		t.UnratedUpdates, plural(t.UnratedUpdates), t.UnratedHosts, plural(t.UnratedHosts), verb)
}

// InSLAFigure is the fleet's in-SLA figure as the reports write it: the
// hosts within their SLA of the known ones, those out of it and those never
// collected, followed by the pending security updates the SLA does not
// measure (UnratedNote) when there are any, so that a fleet whose updates
// carry no severity does not read as clean.
func (t ComplianceTotals) InSLAFigure() string {
	s := fmt.Sprintf("%d of %d (%s); %d out of SLA, %d never collected", t.Compliant+t.WithinSLA, t.Hosts-t.Unknown,
		FormatShare(t.InSLAShare()), t.OutOfSLA, t.Unknown)
	if note := t.UnratedNote(); note != "" {
		s += "; but " + note
	}
	return s
}

// UnratedFigure names the hosts with pending security updates that have no
// severity and no deadline, most first, with their counts: at most max
// hosts, then how many more; "none" when there are none.
func (r ComplianceReport) UnratedFigure(max int) string {
	hs := r.Unrated()
	if len(hs) == 0 {
		return "none"
	}
	parts := make([]string, 0, min(len(hs), max))
	for _, h := range hs[:min(len(hs), max)] {
		parts = append(parts, fmt.Sprintf("%s (%d)", h.Host, h.Unrated))
	}
	s := fmt.Sprintf("%d on %d host%s, with no severity and so no deadline: %s", r.Totals.UnratedUpdates, len(hs), plural(len(hs)), strings.Join(parts, ", "))
	if len(hs) > max {
		s += fmt.Sprintf(" and %d more", len(hs)-max)
	}
	return s
}

// OutOfSLA lists the hosts out of their SLA, most overdue first.
func (r ComplianceReport) OutOfSLA() []HostCompliance {
	var out []HostCompliance
	for _, h := range r.Hosts {
		if h.State == SLAOut {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Overdue[0].OverdueSeconds > out[j].Overdue[0].OverdueSeconds })
	return out
}

// availability says when updates became available: the earliest of the
// first stored snapshot, of any host, that listed the package's candidate
// version as pending, and the publication of a stored advisory the update
// fixes. The policy's auto-approval delays and the SLA clock both use it.
type availability struct {
	first     map[[2]string]patchpilot.UpdateSighting
	published map[string]time.Time // advisory id → published
}

// loadAvailability reads the first sightings of the packages, in one query.
func (a *App) loadAvailability(ctx context.Context, packages []string, published map[string]time.Time) (availability, error) {
	names := slices.Clone(packages)
	slices.Sort(names)
	names = slices.Compact(names)
	seen, err := a.Store.FirstSeen(ctx, names)
	if err != nil {
		return availability{}, err
	}
	av := availability{first: make(map[[2]string]patchpilot.UpdateSighting, len(seen)), published: published}
	for _, s := range seen {
		av.first[[2]string{s.Package, s.Version}] = s
	}
	return av, nil
}

// of is when a package version that fixes the advisories became available,
// what said so, and false when nothing dates it.
func (av availability) of(pkg, version string, advs []patchpilot.AdvisoryRef) (time.Time, string, bool) {
	var at time.Time
	var from string
	for _, adv := range advs {
		if t, ok := av.published[adv.ID]; ok && !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at, from = t, "advisory "+adv.ID+" published"
		}
	}
	if s, ok := av.first[[2]string{pkg, version}]; ok && (at.IsZero() || s.FirstSeen.Before(at)) {
		at, from = s.FirstSeen, "first seen pending on "+s.Host
	}
	return at, from, !at.IsZero()
}

// slaGroups maps each stored host to its policy group and the compliance
// regimes it falls under, reading the hosts and their summaries in two
// queries; collected says which hosts have facts. The answer is kept while
// the inventory and the policy are unchanged: its maps are shared, read
// them only.
func (a *App) slaGroups(ctx context.Context) (*hostGroups, error) {
	pk, err := policyKey(a.Options.Policy)
	if err != nil {
		return nil, err
	}
	g, _, err := cachedRead(ctx, a, &a.cache.groups, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory, policy: pk}
	}, a.readSLAGroups)
	return g, err
}

// hostGroups is what slaGroups returns.
type hostGroups struct {
	hosts     []string
	group     map[string]policy.Group
	regimes   map[string][]string // the policy's regimes the host's compliance label names
	collected map[string]time.Time
}

// sla is a host's SLA: its group's, made stricter by its regimes.
func (g *hostGroups) sla(p Policy, host string) SLA {
	return p.SLAUnder(g.group[host], g.regimes[host])
}

// slaKey names the SLA of a group's hosts under regimes in a
// ComplianceReport's SLAs: the group's name, followed by the regimes.
func slaKey(group string, regimes []string) string {
	if len(regimes) == 0 {
		return group
	}
	return group + " + compliance " + strings.Join(regimes, ",")
}

func (a *App) readSLAGroups(ctx context.Context) (*hostGroups, error) {
	hs, err := a.Store.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	sums, err := a.HostFactSummaries(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]patchpilot.HostSummary, len(sums))
	for _, s := range sums {
		byName[s.Name] = s
	}
	p := a.Options.Policy
	g := &hostGroups{group: make(map[string]policy.Group, len(hs)), regimes: map[string][]string{}, collected: make(map[string]time.Time, len(hs))}
	for _, h := range hs {
		s, ok := byName[h.Name]
		if !ok {
			s = patchpilot.Summarize(h, nil)
		}
		if s.CollectedAt != nil {
			g.collected[h.Name] = *s.CollectedAt
		}
		v := planner.HostView{Host: h, Facts: s}
		g.group[h.Name] = p.GroupOf(v)
		if known, _ := p.RegimesOf(v); len(known) > 0 {
			g.regimes[h.Name] = known
		}
		g.hosts = append(g.hosts, h.Name)
	}
	return g, nil
}

// Compliance measures every host against its group's SLA now. What the
// measure is derived from (each host's group and SLA and its pending
// security updates with their deadlines) is read in one pass over the
// hosts, their summaries, the fleet's pending updates and the first
// sightings of their packages, and kept while the store's inventory (and
// the policy) stays the same; the states are measured against the clock at
// each call, so a deadline that passes flips a host out of its SLA without
// a new read. DataAt says when the kept data was read.
func (a *App) Compliance(ctx context.Context) (ComplianceReport, error) {
	now := a.now()
	pk, err := policyKey(a.Options.Policy)
	if err != nil {
		return ComplianceReport{}, err
	}
	b, readAt, err := cachedRead(ctx, a, &a.cache.compliance, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory, policy: pk}
	}, a.complianceBase)
	if err != nil {
		return ComplianceReport{}, err
	}
	rep := b.at(now)
	rep.DataAt = readAt
	return rep, nil
}

// complianceBase is what the fleet's compliance derives from and that does
// not change with time: each host's group, whether it was ever collected,
// and its pending security updates that have a deadline.
type complianceBase struct {
	hosts []baseHost // ordered by name
	slas  map[string]SLA
}

type baseHost struct {
	name, group string
	regimes     []string
	known       bool
	deadlines   []SLAUpdate // OverdueSeconds 0
	unrated     int         // security updates without a severity or a deadline
}

// complianceBase reads the fleet's compliance base: one read of the hosts,
// their summaries, the fleet's pending updates and the first sightings of
// their packages (and the stored advisories, once per package), never one
// query per host.
func (a *App) complianceBase(ctx context.Context) (*complianceBase, error) {
	groups, err := a.slaGroups(ctx)
	if err != nil {
		return nil, err
	}
	hosts, group, collected := groups.hosts, groups.group, groups.collected
	updates, published, err := a.annotatedUpdates(ctx, patchpilot.UpdateFilter{SecurityOnly: true})
	if err != nil {
		return nil, err
	}
	pkgs := make([]string, 0, len(updates))
	for _, u := range updates {
		pkgs = append(pkgs, u.Package)
	}
	av, err := a.loadAvailability(ctx, pkgs, published)
	if err != nil {
		return nil, err
	}
	byHost := map[string][]patchpilot.HostUpdate{}
	for _, u := range updates {
		byHost[u.Host] = append(byHost[u.Host], u)
	}
	b := &complianceBase{hosts: make([]baseHost, 0, len(hosts)), slas: map[string]SLA{}}
	for _, name := range hosts {
		g, regimes := group[name], groups.regimes[name]
		sla := groups.sla(a.Options.Policy, name)
		b.slas[slaKey(g.Name, regimes)] = sla
		_, known := collected[name]
		b.hosts = append(b.hosts, baseHost{name: name, group: g.Name, regimes: regimes, known: known,
			deadlines: deadlinesOf(byHost[name], sla, av), unrated: unratedOf(byHost[name], sla)})
	}
	return b, nil
}

// at measures the base against the clock.
func (b *complianceBase) at(now time.Time) ComplianceReport {
	rep := ComplianceReport{At: now, Hosts: make([]HostCompliance, 0, len(b.hosts)), SLAs: maps.Clone(b.slas)}
	for _, h := range b.hosts {
		hc := h.at(now)
		rep.Totals.add(hc.State)
		rep.Totals.OverdueUpdates += len(hc.Overdue)
		if hc.Unrated > 0 {
			rep.Totals.UnratedUpdates += hc.Unrated
			rep.Totals.UnratedHosts++
		}
		rep.Hosts = append(rep.Hosts, hc)
	}
	return rep
}

// deadlinesOf measures a host's pending security updates against its SLA:
// those with a deadline, not yet against a clock.
func deadlinesOf(updates []patchpilot.HostUpdate, sla SLA, av availability) []SLAUpdate {
	var out []SLAUpdate
	for _, u := range updates {
		if su, ok := deadlineOf(u, sla, av); ok {
			out = append(out, su)
		}
	}
	return out
}

// unratedOf counts a host's pending security updates that have no
// severity and to which the SLA gives no deadline.
func unratedOf(updates []patchpilot.HostUpdate, sla SLA) int {
	n := 0
	for _, u := range updates {
		if patchpilot.MaxSeverity(u.Advisories) != "" {
			continue
		}
		if _, ok := sla.Deadline(""); !ok {
			n++
		}
	}
	return n
}

// measureHost measures a host's pending security updates against its
// group's SLA at a time; a host never collected is unknown.
func measureHost(name, group string, regimes []string, sla SLA, collected bool, updates []patchpilot.HostUpdate, av availability, now time.Time) HostCompliance {
	h := baseHost{name: name, group: group, regimes: regimes, known: collected}
	if collected {
		h.deadlines = deadlinesOf(updates, sla, av)
		h.unrated = unratedOf(updates, sla)
	}
	return h.at(now)
}

// at is the host's standing at a time.
func (h baseHost) at(now time.Time) HostCompliance {
	hc := HostCompliance{Host: h.name, Group: h.group, Compliance: h.regimes, Overdue: []SLAUpdate{}, Unrated: h.unrated}
	if !h.known {
		hc.State = SLAUnknown
		return hc
	}
	for _, su := range h.deadlines {
		hc.Pending++
		if hc.EarliestDeadline == nil || su.Deadline.Before(*hc.EarliestDeadline) {
			d := su.Deadline
			hc.EarliestDeadline = &d
		}
		if now.After(su.Deadline) {
			su.OverdueSeconds = max(int64(now.Sub(su.Deadline)/time.Second), 1)
			hc.Overdue = append(hc.Overdue, su)
		}
	}
	sort.SliceStable(hc.Overdue, func(i, j int) bool {
		if hc.Overdue[i].OverdueSeconds != hc.Overdue[j].OverdueSeconds {
			return hc.Overdue[i].OverdueSeconds > hc.Overdue[j].OverdueSeconds
		}
		return hc.Overdue[i].Package < hc.Overdue[j].Package
	})
	switch {
	case len(hc.Overdue) > 0:
		hc.State = SLAOut
	case hc.Pending > 0:
		hc.State = SLAWithin
	default:
		hc.State = SLACompliant
	}
	return hc
}

// HostCompliance measures one host against its group's SLA now, as
// Compliance does for the fleet, reading only that host's updates (an
// update's availability is still its first sighting on any host).
func (a *App) HostCompliance(ctx context.Context, name string) (HostCompliance, error) {
	h, err := a.Store.Host(ctx, name)
	if err != nil {
		return HostCompliance{}, err
	}
	var facts *patchpilot.Facts
	switch f, err := a.Store.LatestFacts(ctx, name); {
	case err == nil:
		facts = &f
	case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
		return HostCompliance{}, err
	}
	now := a.now()
	v := planner.HostView{Host: h, Facts: patchpilot.Summarize(h, facts)}
	g := a.Options.Policy.GroupOf(v)
	sla, regimes := a.Options.Policy.HostSLA(v)
	if facts == nil {
		return measureHost(name, g.Name, regimes, sla, false, nil, availability{}, now), nil
	}
	updates, published, err := a.annotatedUpdates(ctx, patchpilot.UpdateFilter{Host: name, SecurityOnly: true})
	if err != nil {
		return HostCompliance{}, err
	}
	pkgs := make([]string, 0, len(updates))
	for _, u := range updates {
		pkgs = append(pkgs, u.Package)
	}
	av, err := a.loadAvailability(ctx, pkgs, published)
	if err != nil {
		return HostCompliance{}, err
	}
	return measureHost(name, g.Name, regimes, sla, true, updates, av, now), nil
}

// deadlineOf is a pending security update's deadline under the SLA; false
// when it has none (its severity has none, or nothing dates it).
func deadlineOf(u patchpilot.HostUpdate, sla SLA, av availability) (SLAUpdate, bool) {
	sev := patchpilot.MaxSeverity(u.Advisories)
	d, ok := sla.Deadline(sev)
	if !ok {
		return SLAUpdate{}, false
	}
	avail, from, ok := av.of(u.Package, u.CandidateVersion, u.Advisories)
	if !ok {
		return SLAUpdate{}, false
	}
	return SLAUpdate{Package: u.Package, Version: u.CandidateVersion, Severity: sev, Available: avail,
		AvailableFrom: from, Deadline: avail.Add(d)}, true
}

// recordExposures stores each named host's SLA exposure at the time its
// latest facts were collected, from its pending security updates. Collect
// and ImportFacts call it after saving facts; compliance over time reads
// what it stores.
func (a *App) recordExposures(ctx context.Context, collected map[string]time.Time) error {
	names := slices.Sorted(maps.Keys(collected))
	for start := 0; start < len(names); start += exposureChunkHosts {
		if err := a.recordExposuresOf(ctx, names[start:min(start+exposureChunkHosts, len(names))], collected); err != nil {
			return err
		}
	}
	return nil
}

// exposureChunkHosts is how many hosts' pending updates recordExposures
// reads at once, so that what it holds is bounded by this and not by the
// fleet. A host's exposure depends on its own updates only.
var exposureChunkHosts = 1000

// recordExposuresOf records the exposures of the named hosts of collected.
func (a *App) recordExposuresOf(ctx context.Context, names []string, collected map[string]time.Time) error {
	f := patchpilot.UpdateFilter{SecurityOnly: true, Hosts: names}
	if len(names) == 1 {
		f = patchpilot.UpdateFilter{SecurityOnly: true, Host: names[0]}
	}
	updates, published, err := a.annotatedUpdates(ctx, f)
	if err != nil {
		return err
	}
	var pkgs []string
	for _, u := range updates {
		if _, ok := collected[u.Host]; ok {
			pkgs = append(pkgs, u.Package)
		}
	}
	av, err := a.loadAvailability(ctx, pkgs, published)
	if err != nil {
		return err
	}
	oldest := make(map[string]map[patchpilot.Severity]time.Time, len(names))
	for _, u := range updates {
		if _, ok := collected[u.Host]; !ok {
			continue
		}
		at, _, ok := av.of(u.Package, u.CandidateVersion, u.Advisories)
		if !ok {
			continue
		}
		sev := patchpilot.MaxSeverity(u.Advisories)
		m := oldest[u.Host]
		if m == nil {
			m = map[patchpilot.Severity]time.Time{}
			oldest[u.Host] = m
		}
		if t, ok := m[sev]; !ok || at.Before(t) {
			m[sev] = at
		}
	}
	out := make([]patchpilot.SLAExposure, 0, len(names))
	for _, h := range names {
		out = append(out, patchpilot.SLAExposure{Host: h, CollectedAt: collected[h], Oldest: oldest[h]})
	}
	return a.Store.SaveSLAExposures(ctx, out)
}

// saveExposures records the exposures of freshly saved facts; a failure is
// logged, since the facts themselves are stored and the next collection
// records the exposure again.
func (a *App) saveExposures(ctx context.Context, collected map[string]time.Time) {
	if err := a.recordExposures(context.WithoutCancel(ctx), collected); err != nil {
		a.Options.Logger.Warn("could not record the hosts' SLA exposure", "hosts", len(collected), "err", err)
	}
}

// remeasureExposures records every collected host's SLA exposure as of
// now, from its latest facts: after what rates or dates its pending
// updates changed (advisories imported). Hosts whose exposure did not
// change get no new row.
func (a *App) remeasureExposures(ctx context.Context) error {
	sums, err := a.Store.HostSummaries(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	collected := map[string]time.Time{}
	for _, s := range sums {
		if s.CollectedAt != nil {
			collected[s.Name] = now
		}
	}
	return a.recordExposures(ctx, collected)
}
