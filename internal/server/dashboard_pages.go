package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// slaStates are the hosts' SLA states, as the compliance report names
// them.
func slaStates() []string {
	var out []string
	for _, st := range app.SLAStates() {
		out = append(out, string(st))
	}
	return out
}

// severityOf is the severity of an update: its advisories' highest,
// "none" when none is rated (the word /metrics and the KPIs use).
func severityOf(u patchpilot.HostUpdate) string {
	if sv := patchpilot.MaxSeverity(u.Advisories); sv != "" {
		return string(sv)
	}
	return "none"
}

var severities = []string{"critical", "high", "medium", "low", "none"}

// count is one labelled number.
type count struct {
	Label string
	N     int
	Link  string
}

// overview is the fleet overview's data.
// overviewList is how many entries each list of the overview shows; the
// host list and the rollouts page have them all.
const overviewList = 20

// first keeps the first overviewList entries of a list.
func first[T any](list []T) []T { return list[:min(len(list), overviewList)] }

type overview struct {
	Hosts         int
	States        []count
	Compliance    app.ComplianceTotals
	InSLA         float64
	OutOfSLA      []app.HostCompliance
	SecurityTotal int
	BySeverity    []count
	Reboot        []string
	Restart       []patchpilot.HostRestarts
	Running       []patchpilot.Rollout
	// The counts of the lists, which show overviewList entries at most.
	RebootCount, RestartCount, RunningCount, OutOfSLACount int
	Waiting                                                int
	SecurityHosts                                          int
	PendingUpdates                                         int
	// MeasuredAt is when the SLA states were measured, DataAt when the
	// data they were measured from was read.
	MeasuredAt, DataAt time.Time
}

func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	sums, err := s.app.HostSummaries(ctx)
	if err != nil {
		return err
	}
	o := overview{Hosts: len(sums), Reboot: []string{}}
	comp, err := s.app.Compliance(ctx)
	if err != nil {
		return err
	}
	o.Compliance, o.InSLA, o.OutOfSLA = comp.Totals, comp.Totals.InSLAShare(), comp.OutOfSLA()
	o.MeasuredAt, o.DataAt = comp.At, comp.DataAt
	for _, h := range sums {
		o.PendingUpdates += h.PendingUpdateCount
		if h.RebootRequired {
			o.Reboot = append(o.Reboot, h.Name)
		}
	}
	if o.Restart, err = s.app.Store.RestartsNeeded(ctx); err != nil {
		return err
	}
	for _, st := range app.SLAStates() {
		o.States = append(o.States, count{Label: string(st), N: comp.Totals.Of(st), Link: "/ui/hosts?state=" + url.QueryEscape(string(st))})
	}
	uc, err := s.app.UpdateCounts(ctx)
	if err != nil {
		return err
	}
	// The hosts of the security updates counted beside them: an update
	// that fixes a stored advisory is one, whether or not the package
	// manager marked it.
	o.SecurityHosts = uc.SecurityHosts
	unrated := severityOf(patchpilot.HostUpdate{}) // the label of updates no advisory rates
	for _, sv := range severities {
		n := uc.Security[patchpilot.Severity(sv)]
		if sv == unrated {
			n = uc.Security[""]
		}
		o.SecurityTotal += n
		o.BySeverity = append(o.BySeverity, count{Label: sv, N: n})
	}
	rs, err := s.app.Store.Rollouts(ctx, patchpilot.RolloutFilter{Active: true})
	if err != nil {
		return err
	}
	for _, ro := range rs {
		if !ro.State.Final() {
			o.Running = append(o.Running, ro)
			if ro.State == patchpilot.RolloutWaitingApproval {
				o.Waiting++
			}
		}
	}
	o.RebootCount, o.RestartCount, o.RunningCount, o.OutOfSLACount = len(o.Reboot), len(o.Restart), len(o.Running), len(o.OutOfSLA)
	o.Reboot, o.Restart, o.Running, o.OutOfSLA = first(o.Reboot), first(o.Restart), first(o.Running), first(o.OutOfSLA)
	p := newPage(v, "Fleet overview", "overview")
	p.Data = o
	s.render(w, r, http.StatusOK, "overview", p)
	return nil
}

// hostRow is one row of the host list.
type hostRow struct {
	patchpilot.HostSummary
	State  string
	Labels []string
}

// hostList is the host list's data with its filters and sort.
type hostList struct {
	Rows               []hostRow
	Total              int
	Name, Label, State string
	Sort, Dir          string
	States             []string
	Columns            []sortColumn
	// Matched is how many hosts match the filters; Rows are those of
	// page Page (from 1) of Pages, hostsPerPage each, with the links to
	// the pages before and after ("" at either end).
	Matched, Page, Pages int
	First                int // the number of the first row shown, from 1
	Prev, Next           string
	// MeasuredAt is when the SLA states were measured, DataAt when the
	// data they were measured from was read.
	MeasuredAt, DataAt time.Time
}

// hostsPerPage is how many hosts a page of the host list shows.
const hostsPerPage = 250

type sortColumn struct {
	Key, Title, Link string
	Active           bool
	Dir              string
}

// hostSorts are the host list's sort keys.
var hostSorts = map[string]func(a, b hostRow) int{
	"name":     func(a, b hostRow) int { return strings.Compare(a.Name, b.Name) },
	"os":       func(a, b hostRow) int { return strings.Compare(a.OSName+" "+a.OSVersion, b.OSName+" "+b.OSVersion) },
	"state":    func(a, b hostRow) int { return slices.Index(slaStates(), a.State) - slices.Index(slaStates(), b.State) },
	"updates":  func(a, b hostRow) int { return a.PendingUpdateCount - b.PendingUpdateCount },
	"security": func(a, b hostRow) int { return a.SecurityUpdateCount - b.SecurityUpdateCount },
	"reboot":   func(a, b hostRow) int { return boolInt(a.RebootRequired) - boolInt(b.RebootRequired) },
	"collected": func(a, b hostRow) int {
		return timeOf(a.CollectedAt).Compare(timeOf(b.CollectedAt))
	},
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// maxFilterLen caps a list filter's length: its value is echoed into
// every sort and page link.
const maxFilterLen = 256

func (s *Server) pageHosts(w http.ResponseWriter, r *http.Request, v *visit) error {
	q := r.URL.Query()
	l := hostList{Name: strings.TrimSpace(q.Get("name")), Label: strings.TrimSpace(q.Get("label")), State: q.Get("state"),
		Sort: q.Get("sort"), Dir: q.Get("dir"), States: slaStates()}
	if l.State != "" && !slices.Contains(l.States, l.State) {
		return badField("state", "state %q: expected one of %s", l.State, strings.Join(l.States, ", "))
	}
	if _, ok := hostSorts[l.Sort]; !ok {
		if l.Sort != "" {
			return badField("sort", "sort %q: expected name, os, state, updates, security, reboot or collected", l.Sort)
		}
		l.Sort = "name"
	}
	switch l.Dir {
	case "":
		l.Dir = "asc"
	case "asc", "desc":
	default:
		return badField("dir", "dir %q: expected asc or desc", l.Dir)
	}
	for k, val := range map[string]string{"name": l.Name, "label": l.Label} {
		if len(val) > maxFilterLen {
			return badField(k, "%s: %d characters; expected at most %d", k, len(val), maxFilterLen)
		}
	}
	labelMatch := func(patchpilot.HostSummary) bool { return true }
	if l.Label != "" {
		var err error
		if labelMatch, err = app.SummaryMatcher(l.Label); err != nil {
			return badField("label", "label %q: %v; expected a selector as plans take: comma-separated key=value, key!=value, key or !key terms, such as env=prod,role!=db", l.Label, err)
		}
	}
	sums, err := s.app.HostSummaries(r.Context())
	if err != nil {
		return err
	}
	comp, err := s.app.Compliance(r.Context())
	if err != nil {
		return err
	}
	l.Total = len(sums)
	l.MeasuredAt, l.DataAt = comp.At, comp.DataAt
	for _, h := range sums {
		row := hostRow{HostSummary: h, Labels: patchpilot.SortedLabels(h.Labels), State: string(app.SLAUnknown)}
		if hc, ok := comp.Host(h.Name); ok {
			row.State = string(hc.State)
		}
		if l.Name != "" && !strings.Contains(strings.ToLower(h.Name), strings.ToLower(l.Name)) {
			continue
		}
		if !labelMatch(h) {
			continue
		}
		if l.State != "" && row.State != l.State {
			continue
		}
		l.Rows = append(l.Rows, row)
	}
	cmp := hostSorts[l.Sort]
	slices.SortStableFunc(l.Rows, func(a, b hostRow) int {
		c := cmp(a, b)
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if l.Dir == "desc" {
			return -c
		}
		return c
	})
	base := url.Values{}
	for k, val := range map[string]string{"name": l.Name, "label": l.Label, "state": l.State} {
		if val != "" {
			base.Set(k, val)
		}
	}
	l.Matched = len(l.Rows)
	l.Pages = max(1, (l.Matched+hostsPerPage-1)/hostsPerPage)
	l.Page = 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > l.Pages {
			return badField("page", "page %q: expected a number from 1 to %d", v, l.Pages)
		}
		l.Page = n
	}
	from := (l.Page - 1) * hostsPerPage
	l.Rows = l.Rows[from:min(len(l.Rows), from+hostsPerPage)]
	l.First = from + 1
	pageLink := func(n int) string {
		qv := url.Values{}
		for k, vs := range base {
			qv[k] = vs
		}
		qv.Set("sort", l.Sort)
		qv.Set("dir", l.Dir)
		qv.Set("page", strconv.Itoa(n))
		return "/ui/hosts?" + qv.Encode()
	}
	if l.Page > 1 {
		l.Prev = pageLink(l.Page - 1)
	}
	if l.Page < l.Pages {
		l.Next = pageLink(l.Page + 1)
	}
	for _, c := range []struct{ key, title string }{{"name", "Host"}, {"os", "OS"}, {"state", "State"}, {"updates", "Updates"},
		{"security", "Security"}, {"reboot", "Reboot"}, {"collected", "Collected"}} {
		qv := url.Values{}
		for k, vs := range base {
			qv[k] = vs
		}
		dir := "asc"
		if c.key == l.Sort && l.Dir == "asc" {
			dir = "desc"
		}
		qv.Set("sort", c.key)
		qv.Set("dir", dir)
		l.Columns = append(l.Columns, sortColumn{Key: c.key, Title: c.title, Link: "/ui/hosts?" + qv.Encode(), Active: c.key == l.Sort, Dir: l.Dir})
	}
	p := newPage(v, "Hosts", "hosts")
	p.Data = l
	s.render(w, r, http.StatusOK, "hosts", p)
	return nil
}

// hostPage is one host's page.
type hostPage struct {
	Host    patchpilot.Host
	Summary patchpilot.HostSummary
	SLA     app.HostCompliance
	Labels  []string
	Facts   *patchpilot.Facts
	Updates []updateRow
	History []app.HistoryRecord
	Risk    []app.RiskPoint
	Facts10 []patchpilot.FactSnapshot
	// DependsOn and DependedOnBy are the host's edges of the dependency
	// map, each way.
	DependsOn, DependedOnBy []depRow
}

// depRow is one edge of the dependency map as the host page shows it.
type depRow struct {
	From, To, Sources, State string
	LastSeen                 time.Time
}

// depEnd is an end of an edge: host:service:port, or address:port.
func depEnd(e patchpilot.DependencyEnd) string {
	name := e.Host
	if e.External() {
		name = e.Address
	}
	if e.Service != "" {
		name += ":" + app.ServiceName(e.Service)
	}
	if e.Port != 0 {
		name += ":" + strconv.Itoa(e.Port)
	}
	if e.Package != "" {
		name += " (" + e.Package + " " + e.Version + ")"
	}
	return name
}

type updateRow struct {
	patchpilot.HostUpdate
	Severity string
	CVEs     []string
}

func updateRows(ups []patchpilot.HostUpdate) []updateRow {
	rows := make([]updateRow, 0, len(ups))
	for _, u := range ups {
		row := updateRow{HostUpdate: u, Severity: severityOf(u)}
		for _, a := range u.Advisories {
			for _, c := range a.CVEs {
				if !slices.Contains(row.CVEs, c) {
					row.CVEs = append(row.CVEs, c)
				}
			}
		}
		if !u.Security {
			row.Severity = ""
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Server) pageHost(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	h, err := s.app.Store.Host(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	hp := hostPage{Host: h, Labels: patchpilot.SortedLabels(h.Labels)}
	f, err := s.app.Store.LatestFacts(ctx, h.Name)
	switch {
	case err == nil:
		hp.Facts = &f
	case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
		return err
	}
	hp.Summary = patchpilot.Summarize(h, hp.Facts)
	if hp.SLA, err = s.app.HostCompliance(ctx, h.Name); err != nil {
		return err
	}
	if hp.Facts != nil {
		ups, err := s.app.Updates(ctx, patchpilot.UpdateFilter{Host: h.Name})
		if err != nil {
			return err
		}
		hp.Updates = updateRows(ups)
	}
	if hp.History, err = s.app.Outcomes(ctx, patchpilot.OutcomeFilter{Host: h.Name}); err != nil {
		return err
	}
	slices.Reverse(hp.History)
	if hp.Risk, err = s.app.HostRiskHistory(ctx, h.Name); err != nil {
		return err
	}
	slices.Reverse(hp.Risk)
	if hp.Facts10, err = s.app.Store.FactHistory(ctx, h.Name, 10); err != nil {
		return err
	}
	g, err := s.app.DependencyGraph(ctx, app.DepsOptions{Host: h.Name})
	if err != nil {
		return err
	}
	for _, e := range g.Edges {
		row := depRow{From: depEnd(e.From), To: depEnd(e.To), Sources: strings.Join(e.Sources, ", "), State: e.State, LastSeen: e.LastSeen}
		if e.From.Host == h.Name {
			hp.DependsOn = append(hp.DependsOn, row)
		}
		if e.To.Host == h.Name {
			hp.DependedOnBy = append(hp.DependedOnBy, row)
		}
	}
	p := newPage(v, h.Name, "hosts")
	p.Data = hp
	s.render(w, r, http.StatusOK, "host", p)
	return nil
}

// updatesPage is the fleet's patches ranked by risk, a page of them.
type updatesPage struct {
	ModelVersion string
	ColdStart    bool
	// ColdStartNote says why the model is the cold-start one.
	ColdStartNote string
	Patches       []patchView
	// Total patches; Page (from 1) of Pages, patchesPerPage each.
	Total, Page, Pages, First int
	Prev, Next                string
}

// patchView is one patch with its riskiest hosts.
type patchView struct {
	app.PatchAssessment
	// MoreHosts is how many hosts are left out of Hosts.
	MoreHosts int
}

// patchesPerPage is how many patches a page of the updates shows, and
// hostsPerPatch how many of each patch's hosts (the riskiest) it details.
const (
	patchesPerPage = 50
	hostsPerPatch  = 10
)

func (s *Server) pageUpdates(w http.ResponseWriter, r *http.Request, v *visit) error {
	res, err := s.app.Assess(r.Context(), app.AssessQuery{})
	if err != nil {
		return err
	}
	up := updatesPage{ModelVersion: res.ModelVersion, ColdStart: res.ColdStart, Total: len(res.Patches), Page: 1}
	if up.ColdStart {
		if up.ColdStartNote, err = s.app.ColdStartNote(r.Context()); err != nil {
			return err
		}
	}
	up.Pages = max(1, (up.Total+patchesPerPage-1)/patchesPerPage)
	if pv := r.URL.Query().Get("page"); pv != "" {
		n, err := strconv.Atoi(pv)
		if err != nil || n < 1 || n > up.Pages {
			return badField("page", "page %q: expected a number from 1 to %d", pv, up.Pages)
		}
		up.Page = n
	}
	from := (up.Page - 1) * patchesPerPage
	up.First = from + 1
	for _, pa := range res.Patches[from:min(len(res.Patches), from+patchesPerPage)] {
		pv := patchView{PatchAssessment: pa}
		if len(pa.Hosts) > hostsPerPatch {
			pv.MoreHosts = len(pa.Hosts) - hostsPerPatch
			pv.Hosts = pa.Hosts[:hostsPerPatch]
		}
		up.Patches = append(up.Patches, pv)
	}
	if up.Page > 1 {
		up.Prev = "/ui/updates?page=" + strconv.Itoa(up.Page-1)
	}
	if up.Page < up.Pages {
		up.Next = "/ui/updates?page=" + strconv.Itoa(up.Page+1)
	}
	p := newPage(v, "Updates by risk", "updates")
	p.Data = up
	s.render(w, r, http.StatusOK, "updates", p)
	return nil
}

// formPlan makes a plan from the updates page ("plan this") and shows it.
func (s *Server) formPlan(w http.ResponseWriter, r *http.Request, v *visit) error {
	req := planRequest{Patch: r.PostForm.Get("patch"), Targets: strings.TrimSpace(r.PostForm.Get("targets"))}
	res, err := s.proposePlan(r.Context(), req, &v.call)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/plans/"+url.PathEscape(res.ID), http.StatusSeeOther)
	return nil
}

// planPage is a stored plan with its policy check.
type planPage struct {
	Plan        StoredPlan
	Policy      *app.PolicyReport
	PolicyError string
	Refusals    []string
}

func (s *Server) pagePlan(w http.ResponseWriter, r *http.Request, v *visit) error {
	sp, err := s.plans.PlanRecord(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pp := planPage{Plan: sp}
	pl, err := app.ParsePlan([]byte(sp.Source), "plan "+sp.ID)
	if err == nil {
		var rep app.PolicyReport
		rep, err = s.app.CheckPolicy(r.Context(), pl)
		if err == nil {
			pp.Policy = &rep
			pp.Refusals = rep.Refusals()
		}
	}
	if err != nil {
		pp.PolicyError = err.Error()
	}
	p := newPage(v, "Plan "+sp.Name, "rollouts")
	p.Data = pp
	s.render(w, r, http.StatusOK, "plan", p)
	return nil
}

// formStart starts a rollout of a stored plan.
func (s *Server) formStart(w http.ResponseWriter, r *http.Request, v *visit) error {
	sp, err := s.plans.PlanRecord(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pl, err := app.ParsePlan([]byte(sp.Source), "plan "+sp.ID)
	if err != nil {
		return err
	}
	v.target = sp.ID
	id, err := s.start(r.Context(), pl, []byte(sp.Source), StartOptions{DryRun: r.PostForm.Get("dry_run") == "on",
		Actor: v.principal.Actor(), PlanID: sp.ID}, &v.call)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/rollouts/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

func (s *Server) pageRollouts(w http.ResponseWriter, r *http.Request, v *visit) error {
	rs, err := s.app.Store.Rollouts(r.Context(), patchpilot.RolloutFilter{Limit: 200})
	if err != nil {
		return err
	}
	p := newPage(v, "Rollouts", "rollouts")
	p.Data = rs
	s.render(w, r, http.StatusOK, "rollouts", p)
	return nil
}

// rolloutView is a rollout's live view.
type rolloutView struct {
	app.RolloutStatus
	// Verdicts are the newest maxVerdicts gate results, of VerdictCount.
	Verdicts     []verdictRow
	VerdictCount int
	Charts       []canaryChart
	// Pending names the stage waiting for an approval, if any.
	Pending string
	Live    bool
	// Events are the latest events, newest first; LastEvent is the id of
	// the last one, where the page's live stream starts.
	Events    []patchpilot.Event
	LastEvent int64
}

// maxVerdicts is how many gate results a rollout's page lists.
const maxVerdicts = 100

// verdictRow is one gate result of one check of a host.
type verdictRow struct {
	Time     time.Time
	Host     string
	Stage    string
	Verdict  string
	Gate     patchpilot.GateResult
	Evidence string // indented JSON
}

func (s *Server) rolloutView(ctx context.Context, id string) (rolloutView, error) {
	st, err := s.app.RolloutStatus(ctx, id)
	if err != nil {
		return rolloutView{}, err
	}
	rv := rolloutView{RolloutStatus: st, Live: !st.State.Final() || st.State == patchpilot.RolloutHalted}
	for _, sg := range st.Stages {
		if sg.State == patchpilot.StageWaitingApproval {
			rv.Pending = sg.Name
		}
	}
	evs, err := s.app.RolloutEvents(ctx, id)
	if err != nil {
		return rolloutView{}, err
	}
	series := newCanarySeries()
	stageOf := map[string]string{}
	for _, sg := range st.Stages {
		for _, h := range sg.Hosts {
			stageOf[h.Host] = sg.Name
		}
	}
	for _, e := range evs {
		if e.Kind != patchpilot.EventGateVerdict || len(e.Data) == 0 {
			continue
		}
		var rep patchpilot.HealthReport
		if err := json.Unmarshal(e.Data, &rep); err != nil {
			continue
		}
		for _, g := range rep.Results {
			row := verdictRow{Time: e.Time, Host: e.Host, Stage: stageOf[e.Host], Verdict: string(rep.Verdict), Gate: g}
			if len(g.Evidence) > 0 {
				series.add(row.Stage, g)
			}
			rv.Verdicts = append(rv.Verdicts, row)
		}
	}
	if st.DryRun {
		// A dry run checks each host's gates once, before any change,
		// and keeps the results on the host's record, not as events.
		for _, sg := range st.Stages {
			for _, h := range sg.Hosts {
				for _, g := range h.Gates {
					at := g.Time
					if at.IsZero() && h.FinishedAt != nil {
						at = *h.FinishedAt
					}
					rv.Verdicts = append(rv.Verdicts, verdictRow{Time: at, Host: h.Host, Stage: sg.Name, Gate: g})
				}
			}
		}
		slices.SortStableFunc(rv.Verdicts, func(a, b verdictRow) int { return a.Time.Compare(b.Time) })
	}
	slices.Reverse(rv.Verdicts)
	rv.VerdictCount = len(rv.Verdicts)
	if len(rv.Verdicts) > maxVerdicts {
		rv.Verdicts = rv.Verdicts[:maxVerdicts]
	}
	// The evidence is indented only for the verdicts shown.
	for i := range rv.Verdicts {
		if ev := rv.Verdicts[i].Gate.Evidence; len(ev) > 0 {
			rv.Verdicts[i].Evidence = indentJSON(ev)
		}
	}
	rv.Charts = series.charts()
	if len(evs) > 0 {
		rv.LastEvent = evs[len(evs)-1].ID
	}
	if len(evs) > 30 {
		evs = evs[len(evs)-30:]
	}
	slices.Reverse(evs)
	rv.Events = evs
	return rv, nil
}

func indentJSON(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(b)
}

func (s *Server) pageRollout(w http.ResponseWriter, r *http.Request, v *visit) error {
	rv, err := s.rolloutView(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p := newPage(v, "Rollout "+rv.ID, "rollouts")
	p.Flash = r.URL.Query().Get("done")
	p.Data = rv
	s.render(w, r, http.StatusOK, "rollout", p)
	return nil
}

// fragmentRollout is the live part of a rollout's page, which the page's
// script fetches again when an event of the rollout arrives.
func (s *Server) fragmentRollout(w http.ResponseWriter, r *http.Request, v *visit) error {
	rv, err := s.rolloutView(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p := newPage(v, "Rollout "+rv.ID, "rollouts")
	p.Data = rv
	s.render(w, r, http.StatusOK, "rollout-live", p)
	return nil
}

// rolloutAction runs a request on a rollout from its page and shows the
// page again, with the request's result or its error.
func (s *Server) rolloutAction(w http.ResponseWriter, r *http.Request, v *visit, do func(id string) (string, error)) error {
	id := r.PathValue("id")
	v.target, v.rollout = id, id
	done, err := do(id)
	if err != nil {
		// The error (such as the four-eyes refusal) is shown on the
		// rollout's page, with its status.
		status, body := errorResponse(err)
		if body.Error.Code == patchpilot.EINTERNAL {
			s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		rv, verr := s.rolloutView(r.Context(), id)
		if verr != nil {
			return err
		}
		p := newPage(v, "Rollout "+id, "rollouts")
		p.Error = string(body.Error.Code) + ": " + body.Error.Message
		if body.Error.Hint != "" {
			p.Error += " (" + body.Error.Hint + ")"
		}
		p.Data = rv
		s.render(w, r, status, "rollout", p)
		v.shown = err
		return nil
	}
	http.Redirect(w, r, "/ui/rollouts/"+url.PathEscape(id)+"?done="+url.QueryEscape(done), http.StatusSeeOther)
	return nil
}

func (s *Server) formApprove(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.rolloutAction(w, r, v, func(id string) (string, error) {
		name, err := s.ctrl.Approve(r.Context(), id, strings.TrimSpace(r.PostForm.Get("stage")), v.principal.Actor())
		if err != nil {
			return "", err
		}
		v.target = id + "/" + name
		s.runs.kick(id)
		return "stage " + name + " approved", nil
	})
}

func (s *Server) formPause(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.rolloutAction(w, r, v, func(id string) (string, error) {
		return "pause requested", s.ctrl.Pause(r.Context(), id, v.principal.Actor())
	})
}

func (s *Server) formResume(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.rolloutAction(w, r, v, func(id string) (string, error) {
		if _, err := s.ctrl.MarkResumed(r.Context(), id, v.principal.Actor()); err != nil {
			return "", err
		}
		if !s.runs.kick(id) {
			return "", patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s", errStopping)
		}
		return "resumed", nil
	})
}

func (s *Server) formAbort(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.rolloutAction(w, r, v, func(id string) (string, error) {
		return "abort requested", s.ctrl.Abort(r.Context(), id, v.principal.Actor())
	})
}

func (s *Server) formRollback(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.rolloutAction(w, r, v, func(id string) (string, error) {
		var hosts []string
		for _, h := range strings.FieldsFunc(r.PostForm.Get("hosts"), func(r rune) bool { return r == ',' || r == ' ' }) {
			hosts = append(hosts, h)
		}
		marked, err := s.ctrl.RequestRollback(r.Context(), id, hosts, v.principal.Actor())
		if err != nil {
			return "", err
		}
		s.runs.kick(id)
		return fmt.Sprintf("rollback requested for %s: %s", counted(len(marked), "host", "hosts"), strings.Join(marked, ", ")), nil
	})
}

// recentOutcomes is how far back the history page lists outcomes.
const recentOutcomes = 90 * 24 * time.Hour

// historyPage is the outcomes and the model's calibration.
type historyPage struct {
	app.ModelCalibration
	Recent []app.HistoryRecord
	Chart  calibrationChart
}

func (s *Server) pageHistory(w http.ResponseWriter, r *http.Request, v *visit) error {
	cal, err := s.app.Calibration(r.Context())
	if err != nil {
		return err
	}
	// The latest outcomes: those of the last 90 days, the newest 50.
	recs, err := s.app.Outcomes(r.Context(), patchpilot.OutcomeFilter{Since: s.now().Add(-recentOutcomes), Limit: 50, Newest: true})
	if err != nil {
		return err
	}
	slices.Reverse(recs)
	for _, list := range []*[]app.OutcomeCount{&cal.ByPackage, &cal.ByHost} {
		if len(*list) > 25 {
			*list = (*list)[:25]
		}
	}
	sort.SliceStable(cal.ByCategory, func(i, j int) bool { return cal.ByCategory[i].FailureRate > cal.ByCategory[j].FailureRate })
	hp := historyPage{ModelCalibration: cal, Recent: recs, Chart: newCalibrationChart(cal.Model.Calibration)}
	p := newPage(v, "History and model", "history")
	p.Data = hp
	s.render(w, r, http.StatusOK, "history", p)
	return nil
}

// uiEvents is the event stream for the dashboard's pages, authenticated
// by the session instead of a bearer token.
func (s *Server) uiEvents(w http.ResponseWriter, r *http.Request, v *visit) error {
	if v.sess.id == "" {
		return s.stream(w, r, s.tokenStillValid(r))
	}
	return s.stream(w, r, s.sessionStillValid(v.sess))
}
