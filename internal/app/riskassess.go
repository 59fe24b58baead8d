package app

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// AssessQuery selects what Assess scores. Zero fields match everything.
type AssessQuery struct {
	// Patch is "pkg=version,pkg2=version": the pending updates to these
	// exact versions form one patch (a name without "=version" matches any
	// candidate). A name matches a package or a source package. Empty:
	// every pending update, grouped into patches by source package and
	// candidate version.
	Patch string
	// Host restricts the assessment to one host.
	Host string
}

// PatchAssessment is one patch on its hosts. Its JSON field names are part
// of the CLI contract (docs/cli.md).
type PatchAssessment struct {
	Patch    string            `json:"patch"`
	Packages []string          `json:"packages"` // "name=version", sorted
	Summary  risk.Summary      `json:"summary"`
	Hosts    []risk.Assessment `json:"hosts"`
	// Quarantined are the hosts on whose class (OS release and role) a
	// version of the patch failed in an earlier rollout: the patch is not
	// offered to them until a person clears the quarantine.
	Quarantined []QuarantinedHost `json:"quarantined,omitempty"`
}

// AssessResult is the answer of Assess: patches riskiest first.
type AssessResult struct {
	ModelVersion string            `json:"model_version"`
	ColdStart    bool              `json:"cold_start"` // see risk.Model.ColdStart
	Patches      []PatchAssessment `json:"patches"`
	// Held names the hosts --patch leaves out because they hold a pinned
	// package (apt-mark hold, dnf versionlock) and have no pending update
	// of it: 'plan' includes them, warning that their apply is refused.
	Held []HeldPin `json:"held,omitempty"`
}

// HeldPin is a host that holds a package a patch pins: the package
// manager lists no update of it, and refuses to change it.
type HeldPin struct {
	Host             string `json:"host"`
	Package          string `json:"package"`
	InstalledVersion string `json:"installed_version,omitempty"`
	Version          string `json:"version,omitempty"` // the pinned version
	// Release is the command that releases the hold on the host.
	Release string `json:"release"`
}

// Text says why the host is left out and how to release it.
func (h HeldPin) Text() string {
	return fmt.Sprintf("left out %s: %s is held there, so no update of it is pending and the package manager refuses to change it; '%s' releases it (then collect the host again)",
		h.Host, h.Package, h.Release)
}

// releaseHold is the command that releases a hold of a family's package
// manager.
func releaseHold(family patchpilot.OSFamily, pkg string) string {
	switch family {
	case patchpilot.FamilyRedHat:
		return "dnf versionlock delete " + pkg
	case patchpilot.FamilySUSE:
		return "zypper removelock " + pkg
	}
	return "apt-mark unhold " + pkg
}

// pin is one "name=version" of a patch spec.
type pin struct{ name, version string }

// parsePatchSpec reads "pkg=ver,pkg2=ver"; a name alone matches any version.
func parsePatchSpec(spec string) ([]pin, error) {
	var pins []pin
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, version, _ := strings.Cut(part, "=")
		name, version = strings.TrimSpace(name), strings.TrimSpace(version)
		if name == "" || strings.ContainsAny(name, " \t") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "patch %q: %q: expected name=version", spec, part).
				WithHint(`give packages as "openssl=3.0.15-1~deb12u1,libssl3=3.0.15-1~deb12u1"`)
		}
		pins = append(pins, pin{name, version})
	}
	if len(pins) == 0 && spec != "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "patch %q: no package named", spec)
	}
	return pins, nil
}

func (p pin) matches(u patchpilot.HostUpdate) bool {
	return (p.name == u.Package || p.name == u.SourcePackage) && (p.version == "" || p.version == u.CandidateVersion)
}

// hostContext is what a record needs from a host besides its update.
type hostContext struct {
	host  patchpilot.Host
	facts patchpilot.Facts
}

// Assess scores pending updates with the active model (or the cold-start
// model when none is stored): per patch and host a probability, level,
// reasons, warnings and strategy, and per patch the aggregate.
//
// The assessment of every pending update (the zero query) is kept while the
// store's inventory and models are unchanged: a record's score does not
// depend on the clock. Hosts whose patch agrees in everything the model
// reads share one assessment's Packages, Reasons and Warnings slices (see
// risk.PatchScorer): callers read them and never change them.
func (a *App) Assess(ctx context.Context, q AssessQuery) (AssessResult, error) {
	if q != (AssessQuery{}) {
		res, err := a.assess(ctx, q)
		if err == nil {
			err = a.markQuarantined(ctx, &res)
		}
		return res, err
	}
	res, _, err := cachedRead(ctx, a, &a.cache.assess, func(v patchpilot.DataVersions) cacheKey {
		return cacheKey{inventory: v.Inventory, outcomes: v.Outcomes, models: v.Models}
	}, func(ctx context.Context) (AssessResult, error) { return a.assess(ctx, q) })
	res.Patches = slices.Clone(res.Patches)
	if err == nil {
		err = a.markQuarantined(ctx, &res)
	}
	return res, err
}

func (a *App) assess(ctx context.Context, q AssessQuery) (AssessResult, error) {
	pins, err := parsePatchSpec(q.Patch)
	if err != nil {
		return AssessResult{}, err
	}
	m, _, err := a.Model(ctx)
	if err != nil {
		return AssessResult{}, err
	}
	res := AssessResult{ModelVersion: m.Version, ColdStart: m.ColdStart(), Patches: []PatchAssessment{}}
	if q.Host == "" && len(pins) == 0 && !a.assessEachHost {
		if res.Patches, err = a.assessFleet(ctx, m); err != nil {
			return res, err
		}
		sortPatches(res.Patches)
		return res, nil
	}
	updates, err := a.Updates(ctx, patchpilot.UpdateFilter{Host: q.Host})
	if err != nil {
		return res, err
	}
	if len(pins) > 0 {
		kept := updates[:0]
		for _, u := range updates {
			for _, p := range pins {
				if p.matches(u) {
					kept = append(kept, u)
					break
				}
			}
		}
		updates = kept
		more, held, err := a.pinnedUpdates(ctx, pins, updates, q.Host)
		if err != nil {
			return res, err
		}
		updates = append(updates, more...)
		res.Held = held
		if len(updates) == 0 {
			hint := "list the pending updates with 'patchpilot updates'; collect the hosts' facts again if they are stale"
			if len(held) > 0 {
				var parts []string
				for _, h := range held {
					parts = append(parts, fmt.Sprintf("%s is held on %s ('%s' releases it)", h.Package, h.Host, h.Release))
				}
				hint = strings.Join(parts, "; ") + ": a held package lists no pending update; release the hold, collect the host again, and assess again"
			}
			return res, patchpilot.Errorf(patchpilot.ENOTFOUND, "no pending update matches --patch %q", q.Patch).WithHint(hint)
		}
	}
	hosts := map[string]*hostContext{}
	var deps *patchpilot.DependencyGraph
	if q.Host == "" && len(updates) > fleetReadFrom {
		// The fleet's hosts and facts, read once for the records and
		// the dependency map.
		if hosts, deps, err = a.fleetContextsAndGraph(ctx); err != nil {
			return res, err
		}
	} else if deps, err = a.dependencyMap(ctx); err != nil {
		return res, err
	}
	now := a.now()
	blast := risk.NewBlastIndex(deps)
	fr := newFleetRecords(now, blast)
	s := patchScoring{
		patch: q.Patch, pinned: len(pins) > 0, model: m,
		record: func(u patchpilot.HostUpdate) (risk.Record, error) {
			hc, err := a.hostContext(ctx, hosts, u.Host)
			if err != nil {
				return risk.Record{}, err
			}
			if a.assessEachHost {
				return recordFor(u, hc, now, blast), nil
			}
			return fr.recordFor(u, hc), nil
		},
	}
	score := s.shared
	if a.assessEachHost {
		score = s.each
	}
	if res.Patches, err = score(updates); err != nil {
		return res, err
	}
	sortPatches(res.Patches)
	return res, nil
}

// sortPatches orders patches riskiest first, then by name.
func sortPatches(ps []PatchAssessment) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i].Summary, ps[j].Summary
		if a.MaxProbability != b.MaxProbability {
			return a.MaxProbability > b.MaxProbability
		}
		return ps[i].Patch < ps[j].Patch
	})
}

// fleetPartHosts is how many hosts' pending updates the assessment of the
// whole fleet reads and scores at a time: a fleet's updates are many times
// its assessments, and are never all held at once.
var fleetPartHosts = 2000

// fleetPartsAhead is how many parts of the fleet's pending updates are read
// without waiting for the scoring: the first parts, read while the fleet's
// facts and dependency map are read and built. Each later part is read
// once the scoring has taken all but the one before it, so that the parts
// held stay few while the fleet's assessments grow.
var fleetPartsAhead = 8

// assessFleet scores every pending update of the fleet, as patches by
// source package and candidate version, reading the hosts' updates a part
// at a time (by name) and scoring them with shared scoring.
func (a *App) assessFleet(ctx context.Context, m *risk.Model) ([]PatchAssessment, error) {
	reads := &fleetReads{}
	hs, err := a.fleetHosts(ctx, reads)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(hs))
	for _, h := range hs {
		names = append(names, h.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	// The parts tile the hosts' names: after the last name of the part
	// before, through the last of this one, and the last part has no end,
	// so that every host with updates is read once. The parts are read
	// while the fleet's facts and dependency map are read and built, and
	// then while the parts before are scored: the store and the scoring
	// each keep a core busy.
	type part struct {
		updates []patchpilot.HostUpdate
		left    int // hosts after this part
		last    bool
		err     error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := make(chan part, max(fleetPartsAhead, 1))
	pace := newReadPacer(fleetPartsAhead, len(names)/max(fleetPartHosts, 1)+1)
	go func() {
		defer close(parts)
		for n, i := 0, 0; ; n, i = n+1, i+fleetPartHosts {
			if !pace.wait(ctx, n) {
				return
			}
			var f patchpilot.UpdateFilter
			if i > 0 {
				f.HostsAfter = names[i-1]
			}
			last := i+fleetPartHosts >= len(names)
			if !last {
				f.HostsThrough = names[i+fleetPartHosts-1]
			}
			updates, err := a.Store.PendingUpdates(ctx, f)
			select {
			case parts <- part{updates, max(len(names)-i-fleetPartHosts, 0), last, err}:
			case <-ctx.Done():
				return
			}
			if last || err != nil {
				return
			}
		}
	}()
	hosts, err := a.fleetContextsOf(ctx, reads)
	if err != nil {
		return nil, err
	}
	deps, err := a.fleetGraph(ctx, reads)
	if err != nil {
		return nil, err
	}
	fr := newFleetRecords(a.now(), risk.NewBlastIndex(deps))
	s := patchScoring{model: m, record: func(u patchpilot.HostUpdate) (risk.Record, error) {
		hc, err := a.hostContext(ctx, hosts, u.Host)
		if err != nil {
			return risk.Record{}, err
		}
		return fr.recordFor(u, hc), nil
	}}
	sh := s.newShared()
	advisories, published := advisoryCache{}, map[string]time.Time{}
	for p := range parts {
		pace.take()
		if p.err != nil {
			return nil, p.err
		}
		if err := a.annotateWith(ctx, p.updates, published, advisories); err != nil {
			return nil, err
		}
		if err := sh.add(p.updates, p.left); err != nil {
			return nil, err
		}
		if p.last {
			return sh.finish(), nil
		}
	}
	return nil, ctx.Err() // the reads stopped early: canceled
}

// readPacer paces the reads of the fleet's parts against the scoring: the
// first parts (ahead of them) are read at once, and each later part n once
// the scoring has taken parts 0 to n-2, so that besides the part scored
// one part waits and one is read, as the fleet's assessments grow.
type readPacer struct {
	ahead int
	taken chan struct{} // a token for each part the scoring took
	took  int           // the tokens the reads have counted
}

// newReadPacer paces the reads of up to parts parts.
func newReadPacer(ahead, parts int) *readPacer {
	// Room for every part's token: the scoring never waits to give one.
	return &readPacer{ahead: max(ahead, 1), taken: make(chan struct{}, parts+1)}
}

// take says that the scoring took the next part.
func (p *readPacer) take() { p.taken <- struct{}{} }

// ready reports, without waiting, whether part n may be read.
func (p *readPacer) ready(n int) bool {
	for n >= p.ahead && p.took < n-1 {
		select {
		case <-p.taken:
			p.took++
		default:
			return false
		}
	}
	return true
}

// wait waits until part n may be read; false when ctx is done first.
func (p *readPacer) wait(ctx context.Context, n int) bool {
	for !p.ready(n) {
		select {
		case <-p.taken:
			p.took++
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// patchScoring groups pending updates into patches (by source package and
// candidate version, or the one patch of a --patch query) and scores each
// patch on each of its hosts.
type patchScoring struct {
	patch  string // the --patch query, the name of the one patch when pinned
	pinned bool
	model  *risk.Model
	record func(patchpilot.HostUpdate) (risk.Record, error)
}

// nameOf is the name of the patch an update belongs to.
func (s *patchScoring) nameOf(u patchpilot.HostUpdate) string {
	if s.pinned {
		return s.patch
	}
	return sourceOf(u) + "=" + u.CandidateVersion
}

// each scores every host's records of every patch on their own.
func (s *patchScoring) each(updates []patchpilot.HostUpdate) ([]PatchAssessment, error) {
	// patch name → host → records
	groups := map[string]map[string][]risk.Record{}
	pinsOf := map[string]map[string]bool{}
	for _, u := range updates {
		r, err := s.record(u)
		if err != nil {
			return nil, err
		}
		name := s.nameOf(u)
		if groups[name] == nil {
			groups[name], pinsOf[name] = map[string][]risk.Record{}, map[string]bool{}
		}
		groups[name][u.Host] = append(groups[name][u.Host], r)
		pinsOf[name][u.Package+"="+u.CandidateVersion] = true
	}
	out := []PatchAssessment{}
	for name, byHost := range groups {
		pa := PatchAssessment{Patch: name, Packages: sortedKeys(pinsOf[name])}
		for _, recs := range byHost {
			for i := range recs {
				recs[i].TransactionSize = len(recs)
			}
			as := s.model.AssessPatch(recs)
			as.Features = nil // kept with stored assessments, not printed
			pa.Hosts = append(pa.Hosts, as)
		}
		finishPatch(&pa)
		out = append(out, pa)
	}
	return out, nil
}

// shared scores the same patches as each, host by host: the records of one
// host at a time are built, grouped and dropped, and hosts whose records of
// a patch agree in everything the model reads share one assessment
// (risk.PatchScorer), so that a fleet of alike hosts costs about one
// scoring per distinct patch and OS, role and history.
func (s *patchScoring) shared(updates []patchpilot.HostUpdate) ([]PatchAssessment, error) {
	sh := s.newShared()
	if err := sh.add(updates, 0); err != nil {
		return nil, err
	}
	return sh.finish(), nil
}

// sharedScoring is the state of shared scoring, fed a part of the fleet at
// a time (add) and summed up at the end (finish).
type sharedScoring struct {
	s       *patchScoring
	patches map[patchVersion]*sharedPatch
	order   []*sharedPatch
	scorer  *risk.PatchScorer
	mine    []hostPatch // one host's records by patch, reused
	patchOf []*sharedPatch
	// hostsDone counts the hosts added so far.
	hostsDone int
}

type patchVersion struct{ pkg, version string }

type sharedPatch struct {
	pa       PatchAssessment
	pins     map[patchVersion]bool
	hosts    int    // how many hosts of the part being added have the patch
	lastHost string // the last of them seen
}

// hostPatch is one host's records of one of its patches.
type hostPatch struct {
	p    *sharedPatch
	recs []risk.Record
}

func (s *patchScoring) newShared() *sharedScoring {
	return &sharedScoring{s: s, patches: map[patchVersion]*sharedPatch{}, scorer: s.model.NewPatchScorer()}
}

// add scores the updates of some hosts, each host's updates all in one
// call, with hostsLeft hosts still to come in later calls (0: these are
// the last). The patches' lists of hosts are made as long as these hosts
// and, in proportion, those left will make them.
func (sh *sharedScoring) add(updates []patchpilot.HostUpdate, hostsLeft int) error {
	byHost := func(a, b patchpilot.HostUpdate) int { return strings.Compare(a.Host, b.Host) }
	if !slices.IsSortedFunc(updates, byHost) {
		// A stable sort keeps each host's updates in their order, which
		// orders the packages of its assessments.
		updates = slices.Clone(updates)
		slices.SortStableFunc(updates, byHost)
	}
	// Patches by source package and candidate version, so that no name is
	// built for each update; each update's patch, and how many hosts each
	// patch has here.
	if cap(sh.patchOf) < len(updates) {
		sh.patchOf = make([]*sharedPatch, len(updates))
	}
	patchOf := sh.patchOf[:len(updates)]
	for _, p := range sh.order {
		p.hosts = 0
	}
	hostsHere := 0
	for i, u := range updates {
		if i == 0 || u.Host != updates[i-1].Host {
			hostsHere++
		}
		k := patchVersion{sourceOf(u), u.CandidateVersion}
		if sh.s.pinned {
			k = patchVersion{}
		}
		p := sh.patches[k]
		if p == nil {
			p = &sharedPatch{pa: PatchAssessment{Patch: sh.s.nameOf(u)}, pins: map[patchVersion]bool{}}
			sh.patches[k] = p
			sh.order = append(sh.order, p)
		}
		p.pins[patchVersion{u.Package, u.CandidateVersion}] = true
		if p.hosts == 0 || p.lastHost != u.Host {
			p.hosts, p.lastHost = p.hosts+1, u.Host
		}
		patchOf[i] = p
	}
	// A patch's list grows to what it will hold at the end as its share of
	// the hosts so far foretells, with a margin, so that a list is seldom
	// made again: each copy of a large fleet's lists costs as much as
	// scoring them.
	sh.hostsDone += hostsHere
	for _, p := range sh.order {
		have := len(p.pa.Hosts) + p.hosts
		if have <= cap(p.pa.Hosts) {
			continue
		}
		want := have
		if hostsLeft > 0 && sh.hostsDone > 0 {
			want += int(int64(have)*int64(hostsLeft)/int64(sh.hostsDone)) + have/16 + 16
		}
		p.pa.Hosts = slices.Grow(p.pa.Hosts, want-len(p.pa.Hosts))
	}
	for i := 0; i < len(updates); {
		j := i + 1
		for j < len(updates) && updates[j].Host == updates[i].Host {
			j++
		}
		n := 0
		for x := i; x < j; x++ {
			r, err := sh.s.record(updates[x])
			if err != nil {
				return err
			}
			p := patchOf[x]
			k := 0
			for k < n && sh.mine[k].p != p {
				k++
			}
			if k == n {
				if n == len(sh.mine) {
					sh.mine = append(sh.mine, hostPatch{})
				}
				sh.mine[n].p, sh.mine[n].recs = p, sh.mine[n].recs[:0]
				n++
			}
			sh.mine[k].recs = append(sh.mine[k].recs, r)
		}
		for _, hp := range sh.mine[:n] {
			for k := range hp.recs {
				hp.recs[k].TransactionSize = len(hp.recs)
			}
			hp.p.pa.Hosts = append(hp.p.pa.Hosts, sh.scorer.AssessPatch(hp.recs))
			clear(hp.recs) // let the records' facts go
		}
		i = j
	}
	clear(patchOf)
	return nil
}

// finish returns the patches, each with its hosts riskiest first.
func (sh *sharedScoring) finish() []PatchAssessment {
	out := make([]PatchAssessment, 0, len(sh.order))
	for _, p := range sh.order {
		pins := make(map[string]bool, len(p.pins))
		for v := range p.pins {
			pins[v.pkg+"="+v.version] = true
		}
		p.pa.Packages = sortedKeys(pins)
		finishPatch(&p.pa)
		out = append(out, p.pa)
	}
	return out
}

// finishPatch orders a patch's hosts riskiest first and sums them up.
func finishPatch(pa *PatchAssessment) {
	sort.Slice(pa.Hosts, func(i, j int) bool {
		if pa.Hosts[i].Probability != pa.Hosts[j].Probability {
			return pa.Hosts[i].Probability > pa.Hosts[j].Probability
		}
		return pa.Hosts[i].Host < pa.Hosts[j].Host
	})
	pa.Summary = risk.Summarize(pa.Hosts)
}

// fleetReadFrom is how many updates make an assessment read every host's
// facts in one query rather than each host's with its own.
var fleetReadFrom = 200

// fleetContexts loads every collected host and its latest facts (without
// their lists, which records do not use) in two queries.
func (a *App) fleetContexts(ctx context.Context) (map[string]*hostContext, error) {
	return a.fleetContextsOf(ctx, nil)
}

// fleetContextsOf is fleetContexts with the reads made through fr.
func (a *App) fleetContextsOf(ctx context.Context, fr *fleetReads) (map[string]*hostContext, error) {
	hs, err := a.fleetHosts(ctx, fr)
	if err != nil {
		return nil, err
	}
	facts, err := a.fleetFacts(ctx, fr)
	if err != nil {
		return nil, err
	}
	return contextsOf(hs, facts), nil
}

// fleetContextsAndGraph is fleetContexts with the fleet's dependency map,
// built from the same reads of the hosts and facts (fleetReads).
func (a *App) fleetContextsAndGraph(ctx context.Context) (map[string]*hostContext, *patchpilot.DependencyGraph, error) {
	fr := &fleetReads{}
	hosts, err := a.fleetContextsOf(ctx, fr)
	if err != nil {
		return nil, nil, err
	}
	g, err := a.fleetGraph(ctx, fr)
	if err != nil {
		return nil, nil, err
	}
	return hosts, g, nil
}

// contextsOf pairs each host that has facts with them, by name.
func contextsOf(hs []patchpilot.Host, facts []patchpilot.Facts) map[string]*hostContext {
	byName := make(map[string]patchpilot.Host, len(hs))
	for _, h := range hs {
		byName[h.Name] = h
	}
	out := make(map[string]*hostContext, len(facts))
	for _, f := range facts {
		if h, ok := byName[f.Host]; ok {
			out[f.Host] = &hostContext{host: h, facts: f}
		}
	}
	return out
}

// hostContext loads a host and its latest facts once per assessment.
func (a *App) hostContext(ctx context.Context, cache map[string]*hostContext, name string) (*hostContext, error) {
	if hc, ok := cache[name]; ok {
		return hc, nil
	}
	h, err := a.Store.Host(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := a.Store.LatestFacts(ctx, name)
	if err != nil {
		return nil, err
	}
	hc := &hostContext{host: h, facts: f}
	cache[name] = hc
	return hc, nil
}

func sourceOf(u patchpilot.HostUpdate) string {
	if u.SourcePackage != "" {
		return u.SourcePackage
	}
	return u.Package
}

// recordFor is the risk model's record of a pending update on a host
// (risk.RecordOf) from the host and facts an assessment loaded once, with
// its blast radius from the dependency map, indexed once by the caller
// (nil: none is known).
func recordFor(u patchpilot.HostUpdate, hc *hostContext, now time.Time, blast *risk.BlastIndex) risk.Record {
	r := risk.RecordOf(u, hc.host, hc.facts, now)
	r.BlastRadius = blast.BlastRadiusOf(hc.host.Name, hc.facts, u.Package, u.SourcePackage, r.RebootRequired)
	return r
}

// fleetRecords builds the records of an assessment's updates as recordFor
// does, with what depends on the host alone worked out once a host
// (risk.HostRecords), which packages need a reboot once a package, and the
// blast radius looked for only on the hosts that another host's edge of
// the dependency map reaches (elsewhere risk.BlastRadiusOf has none). A
// host's updates come together: only the last host's part is kept. It is
// not safe for concurrent use.
type fleetRecords struct {
	now   time.Time
	blast *risk.BlastIndex
	kinds *risk.RebootKinds
	last  *hostContext // the host of recs
	recs  *risk.HostRecords
}

func newFleetRecords(now time.Time, blast *risk.BlastIndex) *fleetRecords {
	return &fleetRecords{now: now, blast: blast, kinds: risk.NewRebootKinds()}
}

// recordFor returns recordFor(u, hc, fr.now, fr.blast).
func (fr *fleetRecords) recordFor(u patchpilot.HostUpdate, hc *hostContext) risk.Record {
	if hc != fr.last {
		fr.last, fr.recs = hc, risk.NewHostRecords(hc.host, hc.facts, fr.now, fr.kinds)
	}
	r := fr.recs.RecordOf(u)
	if fr.blast.Reaches(hc.host.Name) {
		r.BlastRadius = fr.blast.BlastRadiusOf(hc.host.Name, hc.facts, u.Package, u.SourcePackage, r.RebootRequired)
	}
	return r
}

// dependencyMap reads the fleet's dependency map for the blast radius of
// an assessment, live: at the time of the assessment.
func (a *App) dependencyMap(ctx context.Context) (*patchpilot.DependencyGraph, error) {
	g, err := a.DependencyGraph(ctx, DepsOptions{})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ExplainQuery asks about the model in general, or about one package
// (optionally on one host).
type ExplainQuery struct {
	Package string
	Host    string
}

// ModelTerm is one term of the model's regression in words. Weight is the
// change in log-odds of failure per unit of the feature.
type ModelTerm struct {
	Feature string  `json:"feature"`
	Weight  float64 `json:"weight"`
	Text    string  `json:"text"`
}

// Explanation describes the model: its main terms, what its history says,
// and, for one package, its assessment with reasons. Its JSON field names
// are part of the CLI contract (docs/cli.md).
type Explanation struct {
	ModelVersion string           `json:"model_version"`
	ColdStart    bool             `json:"cold_start"` // see risk.Model.ColdStart
	Terms        []ModelTerm      `json:"terms"`
	Shrinkage    string           `json:"shrinkage"`
	Riskiest     []string         `json:"riskiest_packages"`
	Assessment   *risk.Assessment `json:"assessment,omitempty"`
}

// termText says what each feature means, for the explanation.
var termText = map[string]string{
	risk.FeaturePackage:     "the package's failure rate in this fleet, shrunk toward its category and the public rate (log-odds)",
	risk.FeatureCVEPrior:    "the public effect of the number of CVEs an update fixes",
	risk.FeaturePackageRole: "how much worse the package does on hosts of this role than elsewhere",
	risk.FeatureRole:        "how much worse hosts of this role do than the fleet",
	risk.FeatureHost:        "how much worse this host does than the fleet",
	risk.FeatureVersion:     "failures of this exact version in this fleet",
	risk.FeatureNewUpstream: "a new upstream release rather than a backported fix",
	risk.FeatureJump:        "the size of the version jump (revision, patch, minor, major)",
	risk.FeatureNoVersion:   "a version that is missing or cannot be compared",
	risk.FeatureCVEs:        "the number of CVEs fixed",
	risk.FeatureSeverity:    "the severity of the advisories",
	risk.FeatureReboot:      "the update needs a reboot",
	risk.FeatureTransaction: "the number of packages the transaction changes",
	risk.FeatureRemovals:    "the dry run removes packages",
	risk.FeatureConflicts:   "the dry run reports conflicts or holds",
	risk.FeatureHostLast:    "the host's last patch failed or was rolled back",
	risk.FeatureDependents:  "the number of installed packages that depend on this one",
	risk.FeatureServices:    "the number of services running on the host",
}

// ExplainModel explains the active (or cold-start) model, and one package's
// score when q names one.
func (a *App) ExplainModel(ctx context.Context, q ExplainQuery) (Explanation, error) {
	m, _, err := a.Model(ctx)
	if err != nil {
		return Explanation{}, err
	}
	ex := Explanation{ModelVersion: m.Version, ColdStart: m.ColdStart(), Terms: []ModelTerm{}, Riskiest: []string{}}
	for i, name := range m.Features {
		w := m.Weights[i]
		if m.Scale[i] != 0 {
			w /= m.Scale[i]
		}
		if w == 0 {
			continue
		}
		ex.Terms = append(ex.Terms, ModelTerm{Feature: name, Weight: w, Text: termText[name]})
	}
	sort.SliceStable(ex.Terms, func(i, j int) bool { return math.Abs(ex.Terms[i].Weight) > math.Abs(ex.Terms[j].Weight) })
	s := m.Strengths
	ex.Shrinkage = fmt.Sprintf("a package's own history outweighs its category after about %.0f updates, a category's "+
		"the fleet's after %.0f, the fleet's the public rate (%.1f%%) after %.0f", s.Package, s.Category,
		100*m.Priors.Global.Rate, s.Global)
	h := m.History
	for _, k := range sortedCounts(h.Package) {
		c := h.Package[k]
		if c.Failures == 0 || len(ex.Riskiest) == 5 {
			break
		}
		ex.Riskiest = append(ex.Riskiest, fmt.Sprintf("%s updates failed in %d of %d host patches", k, c.Failures, c.Total))
	}
	if q.Package == "" {
		if q.Host != "" {
			return ex, patchpilot.Errorf(patchpilot.EINVALID, "explaining on host %q needs a package", q.Host).
				WithHint("name the package to explain on that host")
		}
		return ex, nil
	}
	// A package is scored as one of its pending updates: on the host
	// named, or on the first host (by name) with one. Without a pending
	// update there are no versions to score.
	if q.Host != "" {
		if _, err := a.Store.Host(ctx, q.Host); err != nil {
			return ex, err
		}
	}
	updates, err := a.Updates(ctx, patchpilot.UpdateFilter{Host: q.Host})
	if err != nil {
		return ex, err
	}
	var match *patchpilot.HostUpdate
	for i, u := range updates {
		if (u.Package == q.Package || u.SourcePackage == q.Package) && (match == nil || u.Host < match.Host) {
			match = &updates[i]
		}
	}
	if match == nil {
		where, hint := "on any host", "'patchpilot updates' lists the pending updates; 'patchpilot model explain' without --package explains the model and the riskiest packages of its history"
		if q.Host != "" {
			where = "on host " + q.Host
			hint = fmt.Sprintf("'patchpilot updates --host %s' lists its pending updates; without --host the package is scored on a host that has one", q.Host)
		}
		return ex, patchpilot.Errorf(patchpilot.ENOTFOUND, "no pending update of %s %s: there is nothing to score", q.Package, where).WithHint(hint)
	}
	hc, err := a.hostContext(ctx, map[string]*hostContext{}, match.Host)
	if err != nil && patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		return ex, err
	}
	if err != nil {
		// The host exists but has no facts yet: use its labels.
		h, herr := a.Store.Host(ctx, match.Host)
		if herr != nil {
			return ex, herr
		}
		hc = &hostContext{host: h}
	}
	deps, err := a.dependencyMap(ctx)
	if err != nil {
		return ex, err
	}
	r := recordFor(*match, hc, a.now(), risk.NewBlastIndex(deps))
	as := m.Assess(r)
	as.Features = nil
	ex.Assessment = &as
	return ex, nil
}

// pinnedUpdates covers pins of an exact version that is not what the
// package manager would install now but lies between the installed version
// and the pending candidate (an older release kept beside the newest, such
// as pp-demo-web=1.1.0 while 1.1.4 is the candidate): on every host (or the
// one named) with such a pending update it returns the update the pin would
// make, so that a patch can be assessed whichever release it names. A
// version beyond the candidate is not known to exist and stays unmatched.
// It also returns the hosts left without an update of a pinned package
// because they hold it (their facts in depth say so), unless they already
// run the pinned version.
func (a *App) pinnedUpdates(ctx context.Context, pins []pin, have []patchpilot.HostUpdate, host string) ([]patchpilot.HostUpdate, []HeldPin, error) {
	covered := map[string]bool{} // host + "\x00" + package
	for _, u := range have {
		covered[u.Host+"\x00"+u.Package] = true
	}
	var names []string
	if host != "" {
		names = []string{host}
	} else {
		hosts, err := a.Store.Hosts(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range hosts {
			names = append(names, h.Name)
		}
	}
	var out []patchpilot.HostUpdate
	var held []HeldPin
	for _, name := range names {
		f, err := a.Store.LatestFacts(ctx, name)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, p := range pins {
			if p.version == "" {
				continue
			}
			for _, u := range f.Updates {
				if (u.Package != p.name && u.SourcePackage != p.name) || covered[name+"\x00"+u.Package] {
					continue
				}
				if !between(f.OSFamily, u.InstalledVersion, p.version, u.CandidateVersion) {
					continue
				}
				covered[name+"\x00"+u.Package] = true
				out = append(out, patchpilot.HostUpdate{Host: name, Package: u.Package, SourcePackage: u.SourcePackage,
					InstalledVersion: u.InstalledVersion, CandidateVersion: p.version, Advisories: []patchpilot.AdvisoryRef{}})
			}
		}
		held = append(held, heldPins(name, f, pins, covered)...)
	}
	return out, held, nil
}

// heldPins returns the pinned packages a host holds (its facts in depth)
// with no update of them covered, unless it already runs the pinned
// version.
func heldPins(host string, f patchpilot.Facts, pins []pin, covered map[string]bool) []HeldPin {
	if f.Depth == nil || len(f.Depth.Held) == 0 {
		return nil
	}
	var out []HeldPin
	for _, name := range f.Depth.Held {
		if covered[host+"\x00"+name] {
			continue
		}
		var inst patchpilot.Package
		for _, pk := range f.Packages {
			if pk.Name == name {
				inst = pk
				break
			}
		}
		for _, p := range pins {
			if p.name != name && (inst.SourceName == "" || p.name != inst.SourceName) {
				continue
			}
			if p.version != "" && p.version == inst.Version {
				break // already at the pinned version: nothing to change
			}
			covered[host+"\x00"+name] = true
			out = append(out, HeldPin{Host: host, Package: name, InstalledVersion: inst.Version, Version: p.version,
				Release: releaseHold(f.OSFamily, name)})
			break
		}
	}
	return out
}
