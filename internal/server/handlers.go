package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// query returns the request's query parameters, refusing any not named.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, badField(k, "unknown query parameter %q: this endpoint takes none", k)
			}
			return nil, badField(k, "unknown query parameter %q: expected one of %s", k, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, badField(k, "query parameter %q given %d times: give it once", k, len(vs))
		}
	}
	return q, nil
}

func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badField(name, "query parameter %s=%q: expected true or false", name, v)
	}
	return b, nil
}

func queryInt(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badField(name, "query parameter %s=%q: expected a number of at least 0", name, v)
	}
	return n, nil
}

func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := app.ParseSince("query parameter "+name, v, time.Now())
	if err != nil {
		return time.Time{}, badField(name, "%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	return t, nil
}

// decodeOptional is decodeJSON for an endpoint whose body may be left
// out: an empty body is the zero value.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readBody(w, r, MaxBodyBytes)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil
	}
	return decodeBytes(data, v)
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	sums, err := s.app.HostSummaries(r.Context())
	if err != nil {
		return err
	}
	comp, err := s.app.Compliance(r.Context())
	if err != nil {
		return err
	}
	rows := make([]HostRow, 0, len(sums))
	for _, h := range sums {
		state := app.SLAUnknown
		if hc, ok := comp.Host(h.Name); ok {
			state = hc.State
		}
		rows = append(rows, HostRow{HostSummary: h, SLAState: state})
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

// HostRow is one host as GET /hosts lists it, as 'hosts -o json' does:
// its summary and its state against its patch SLA.
type HostRow struct {
	patchpilot.HostSummary
	SLAState app.SLAState `json:"sla_state"`
}

// HostDetail is one host as 'hosts show -o json' shows it, with its
// pending updates and how the controller reaches it.
type HostDetail struct {
	patchpilot.HostSummary
	// User, Port and Source say how the host is reached and where it
	// came from (its address is the summary's).
	User    string                    `json:"user"`
	Port    int                       `json:"port"`
	Source  string                    `json:"source"`
	Groups  []string                  `json:"groups"`
	Facts   *patchpilot.Facts         `json:"facts"`
	History []patchpilot.FactSnapshot `json:"history"`
	Updates []patchpilot.HostUpdate   `json:"updates"`
	// Dependencies are the host's part of the dependency map.
	Dependencies *app.HostDependencies `json:"dependencies"`
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "packages")
	if err != nil {
		return err
	}
	packages, err := queryBool(q, "packages")
	if err != nil {
		return err
	}
	ctx := r.Context()
	h, err := s.app.Store.Host(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	d := HostDetail{User: h.User, Port: h.SSHPort(), Source: h.Source, Groups: h.Groups, Updates: []patchpilot.HostUpdate{}}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	f, err := s.app.Store.LatestFacts(ctx, h.Name)
	switch {
	case err == nil:
		d.Facts = &f
	case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
		return err
	}
	d.HostSummary = patchpilot.Summarize(h, d.Facts)
	if err := s.app.MarkCollectFailure(ctx, &d.HostSummary); err != nil {
		return err
	}
	if d.History, err = s.app.Store.FactHistory(ctx, h.Name, 10); err != nil {
		return err
	}
	if d.History == nil {
		d.History = []patchpilot.FactSnapshot{}
	}
	if d.Facts != nil {
		ups, err := s.app.Updates(ctx, patchpilot.UpdateFilter{Host: h.Name})
		if err != nil {
			return err
		}
		if ups != nil {
			d.Updates = ups
		}
		if !packages {
			d.Facts.Packages = nil
		}
	}
	deps, err := s.app.HostDependencies(ctx, h.Name)
	if err != nil {
		return err
	}
	d.Dependencies = &deps
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) listUpdates(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "host", "security", "package")
	if err != nil {
		return err
	}
	security, err := queryBool(q, "security")
	if err != nil {
		return err
	}
	ups, err := s.app.Updates(r.Context(), patchpilot.UpdateFilter{Host: q.Get("host"), SecurityOnly: security, Package: q.Get("package")})
	if err != nil {
		return err
	}
	if ups == nil {
		ups = []patchpilot.HostUpdate{}
	}
	writeJSON(w, http.StatusOK, ups)
	return nil
}

// assessRequest is the body of POST /assessments.
type assessRequest struct {
	Patch string `json:"patch"`
	Host  string `json:"host"`
}

func (s *Server) assess(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req assessRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	res, err := s.app.Assess(r.Context(), app.AssessQuery{Patch: req.Patch, Host: req.Host})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// planSource names a plan sent in a request body in errors.
const planSource = "plan"

// readPlanBody reads a plan's YAML body, capped at app.MaxPlanBytes.
func readPlanBody(w http.ResponseWriter, r *http.Request) (patchpilot.Plan, []byte, error) {
	data, err := readBody(w, r, app.MaxPlanBytes)
	if err != nil {
		return patchpilot.Plan{}, nil, err
	}
	if strings.TrimSpace(string(data)) == "" {
		return patchpilot.Plan{}, nil, badField("", "the request body is empty: expected a plan's YAML")
	}
	p, err := app.ParsePlan(data, planSource)
	return p, data, err
}

// planCheck is the answer of POST /plans/validate.
type planCheck struct {
	Valid    bool     `json:"valid"`
	Name     string   `json:"name"`
	Selector string   `json:"selector"`
	Hosts    []string `json:"hosts"`
	Stages   []string `json:"stages"`
}

func (s *Server) validatePlan(w http.ResponseWriter, r *http.Request, _ *call) error {
	p, _, err := readPlanBody(w, r)
	if err != nil {
		return err
	}
	res := planCheck{Valid: true, Name: p.Name, Selector: p.Targets.Selector, Hosts: p.Targets.Hosts, Stages: []string{}}
	if res.Hosts == nil {
		res.Hosts = []string{}
	}
	for _, st := range p.Stages {
		res.Stages = append(res.Stages, st.Name)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// planRequest is the body of POST /plans: what to install, where.
type planRequest struct {
	Patch   string `json:"patch"`
	Targets string `json:"targets"`
	// AllowQuarantined keeps the targets on whose class the patch is
	// quarantined, as 'plan --allow-quarantined' does.
	AllowQuarantined bool `json:"allow_quarantined,omitempty"`
}

// parsePatch reads a patch spec as 'plan --patch' does: "security", or
// package=version pins separated by commas or spaces.
func parsePatch(s string) (patchpilot.PatchSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return patchpilot.PatchSpec{}, requireField("patch", `package=version pins separated by commas, or "security"`)
	}
	if strings.EqualFold(s, "security") {
		return patchpilot.PatchSpec{SecurityAll: true}, nil
	}
	var spec patchpilot.PatchSpec
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		pin, err := app.ParsePin(f)
		if err != nil {
			return spec, badField("patch", "patch %q: %s", f, err)
		}
		spec.Packages = append(spec.Packages, pin)
	}
	return spec, nil
}

// PlanCreated is the answer of POST /plans.
type PlanCreated struct {
	StoredPlan
	Targets []string `json:"targets"`
	LeftOut []string `json:"left_out"`
	// LeftOutReasons says why each host of LeftOut was left out.
	LeftOutReasons []app.LeftOutHost `json:"left_out_reasons"`
	Level          string            `json:"level"`
	Header         []string          `json:"header"`
	// Stages are the plan's stages resolved over the targets now, with
	// their reasons (canary coverage, the dependency order).
	Stages []app.ProposedStage `json:"stages"`
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request, c *call) error {
	var req planRequest
	if err := decodeJSON(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := s.proposePlan(r.Context(), req, c)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/plans/"+url.PathEscape(res.ID))
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// proposePlan makes a plan for a patch on targets, as 'plan' does, and
// stores it as the caller's.
func (s *Server) proposePlan(ctx context.Context, req planRequest, c *call) (PlanCreated, error) {
	spec, err := parsePatch(req.Patch)
	if err != nil {
		return PlanCreated{}, err
	}
	if req.Targets != "" {
		if err := app.CheckSelector(req.Targets); err != nil {
			return PlanCreated{}, &fieldError{field: "targets", err: asError(err)}
		}
	}
	prop, err := s.app.ProposePlanWith(ctx, spec, req.Targets, app.ProposeOptions{AllowQuarantined: req.AllowQuarantined})
	if err != nil {
		return PlanCreated{}, err
	}
	data, err := app.MarshalPlan(prop.Plan)
	if err != nil {
		return PlanCreated{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s\n", counted(len(prop.Targets), "target", "targets"), oneLine(strings.Join(prop.Targets, ", ")))
	for _, line := range prop.Header {
		fmt.Fprintf(&b, "# %s\n", oneLine(line))
	}
	if len(prop.LeftOut) > 0 {
		fmt.Fprintf(&b, "# left out %s that never answered (no facts collected): %s\n", counted(len(prop.LeftOut), "host", "hosts"), oneLine(strings.Join(prop.LeftOut, ", ")))
	}
	fmt.Fprintf(&b, "# plan shape: %s risk\n", prop.Level)
	b.Write(data)
	source := []byte(b.String())
	// The plan stored is the one its source says, defaults and all.
	parsed, err := app.ParsePlan(source, planSource)
	if err != nil {
		return PlanCreated{}, err
	}
	sp, err := s.plans.SavePlan(ctx, parsed, source, c.principal.Actor())
	if err != nil {
		return PlanCreated{}, err
	}
	c.target = sp.ID
	res := PlanCreated{StoredPlan: sp, Targets: prop.Targets, LeftOut: []string{}, LeftOutReasons: prop.AllLeftOut(),
		Level: string(prop.Level), Header: prop.Header, Stages: prop.Stages}
	for _, h := range res.LeftOutReasons {
		res.LeftOut = append(res.LeftOut, h.Host)
	}
	if res.Header == nil {
		res.Header = []string{}
	}
	return res, nil
}

// oneLine keeps a comment on its line: line breaks become spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// asError returns err as a *patchpilot.Error.
func asError(err error) *patchpilot.Error {
	var pe *patchpilot.Error
	if errors.As(err, &pe) {
		return pe
	}
	return patchpilot.Errorf(patchpilot.ErrorCode(err), "%w", err)
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	sp, err := s.plans.PlanRecord(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sp)
	return nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "state", "limit")
	if err != nil {
		return err
	}
	limit, err := queryInt(q, "limit")
	if err != nil {
		return err
	}
	state := patchpilot.RolloutState(q.Get("state"))
	if state != "" && !knownState(state) {
		return badField("state", "query parameter state=%q: expected a rollout state such as running or succeeded", state)
	}
	rs, err := s.app.Store.Rollouts(r.Context(), patchpilot.RolloutFilter{State: state, Limit: limit})
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []patchpilot.Rollout{}
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

// rolloutStates lists every rollout state.
var rolloutStates = []patchpilot.RolloutState{patchpilot.RolloutPending, patchpilot.RolloutRunning, patchpilot.RolloutWaitingApproval,
	patchpilot.RolloutPaused, patchpilot.RolloutRollingBack, patchpilot.RolloutSucceeded, patchpilot.RolloutHalted,
	patchpilot.RolloutRolledBack, patchpilot.RolloutFailed, patchpilot.RolloutAborted}

func knownState(s patchpilot.RolloutState) bool { return slices.Contains(rolloutStates, s) }

// startRequest is the body of POST /rollouts: a stored plan's id, or a
// plan's YAML.
type startRequest struct {
	PlanID string `json:"plan_id"`
	Plan   string `json:"plan"`
	DryRun bool   `json:"dry_run"`
}

func (s *Server) startRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	var req startRequest
	if err := decodeJSON(w, r, MaxPlanBodyBytes, &req); err != nil {
		return err
	}
	var (
		p   patchpilot.Plan
		src []byte
	)
	switch {
	case req.PlanID != "" && req.Plan != "":
		return badField("plan", "give plan_id or plan, not both")
	case req.PlanID != "":
		sp, err := s.plans.PlanRecord(r.Context(), req.PlanID)
		if err != nil {
			if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
				return &fieldError{field: "plan_id", err: asError(err)}
			}
			return err
		}
		src = []byte(sp.Source)
		if p, err = app.ParsePlan(src, "plan "+sp.ID); err != nil {
			return err
		}
	case req.Plan != "":
		if len(req.Plan) > app.MaxPlanBytes {
			return &fieldError{field: "plan", status: http.StatusRequestEntityTooLarge,
				err: patchpilot.Errorf(patchpilot.EINVALID, "the plan is larger than %d bytes", app.MaxPlanBytes)}
		}
		src = []byte(req.Plan)
		var err error
		if p, err = app.ParsePlan(src, planSource); err != nil {
			return err
		}
	default:
		return requireField("plan_id", "the id of a plan made with POST /api/v1/plans, or the field plan with a plan's YAML")
	}
	id, err := s.start(r.Context(), p, src, StartOptions{DryRun: req.DryRun, Actor: c.principal.Actor(), PlanID: req.PlanID}, c)
	if err != nil {
		return err
	}
	st, err := s.app.RolloutStatus(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/rollouts/"+url.PathEscape(id))
	writeJSON(w, http.StatusCreated, st)
	return nil
}

// start starts a rollout and drives it in this server.
func (s *Server) start(ctx context.Context, p patchpilot.Plan, src []byte, o StartOptions, c *call) (string, error) {
	id, err := s.ctrl.Start(ctx, p, src, o)
	if err != nil {
		return "", err
	}
	c.target, c.rollout = id, id
	if !s.runs.kick(id) {
		return id, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "rollout %s was stored, but the server is shutting down: it is resumed when the server starts again", id)
	}
	return id, nil
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	st, err := s.app.RolloutStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// RequestDone is the answer of the requests on a rollout.
type RequestDone struct {
	ID      string   `json:"id"`
	Request string   `json:"request"`
	Stage   string   `json:"stage,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	State   string   `json:"state"`
}

// answer reports a request done on a rollout with its state now.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, d RequestDone) error {
	ro, err := s.app.Store.Rollout(r.Context(), d.ID)
	if err != nil {
		return err
	}
	d.State = string(ro.State)
	writeJSON(w, http.StatusOK, d)
	return nil
}

// approveRequest is the body of POST /rollouts/{id}/approve.
type approveRequest struct {
	Stage string `json:"stage"`
}

func (s *Server) approveRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	c.target, c.rollout = id, id
	var req approveRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	name, err := s.ctrl.Approve(r.Context(), id, req.Stage, c.principal.Actor())
	if err != nil {
		return err
	}
	c.target = id + "/" + name
	s.runs.kick(id)
	return s.answer(w, r, RequestDone{ID: id, Request: "approve", Stage: name})
}

// noBody refuses a body on the requests that take none.
func noBody(w http.ResponseWriter, r *http.Request) error {
	var v struct{}
	return decodeOptional(w, r, &v)
}

func (s *Server) pauseRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	c.target, c.rollout = id, id
	if err := noBody(w, r); err != nil {
		return err
	}
	if err := s.ctrl.Pause(r.Context(), id, c.principal.Actor()); err != nil {
		return err
	}
	return s.answer(w, r, RequestDone{ID: id, Request: "pause"})
}

func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	c.target, c.rollout = id, id
	if err := noBody(w, r); err != nil {
		return err
	}
	// The resume is on record (state and event) before the answer: a
	// client following the rollout waits for its event, and the goroutine
	// that drives the rollout may still be finishing its previous run.
	if _, err := s.ctrl.MarkResumed(r.Context(), id, c.principal.Actor()); err != nil {
		return err
	}
	if !s.runs.kick(id) {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s", errStopping)
	}
	return s.answer(w, r, RequestDone{ID: id, Request: "resume"})
}

func (s *Server) abortRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	c.target, c.rollout = id, id
	if err := noBody(w, r); err != nil {
		return err
	}
	if err := s.ctrl.Abort(r.Context(), id, c.principal.Actor()); err != nil {
		return err
	}
	return s.answer(w, r, RequestDone{ID: id, Request: "abort"})
}

// rollbackRequest is the body of POST /rollouts/{id}/rollback.
type rollbackRequest struct {
	Hosts []string `json:"hosts"`
}

func (s *Server) rollbackRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	c.target, c.rollout = id, id
	var req rollbackRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	for i, h := range req.Hosts {
		if strings.TrimSpace(h) == "" {
			return badField(fmt.Sprintf("hosts[%d]", i), "hosts[%d] is empty: expected a host name", i)
		}
	}
	marked, err := s.ctrl.RequestRollback(r.Context(), id, req.Hosts, c.principal.Actor())
	if err != nil {
		return err
	}
	s.runs.kick(id)
	return s.answer(w, r, RequestDone{ID: id, Request: "rollback", Hosts: marked})
}

func (s *Server) rolloutEvents(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "after")
	if err != nil {
		return err
	}
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return badField("after", "query parameter after=%q: expected an event id (a number of at least 0)", v)
		}
	}
	evs, err := s.app.RolloutEvents(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := []patchpilot.Event{}
	for _, e := range evs {
		if e.ID > after {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "host", "rollout", "package", "limit")
	if err != nil {
		return err
	}
	f := patchpilot.OutcomeFilter{Host: q.Get("host"), Rollout: q.Get("rollout"), Package: q.Get("package")}
	if f.Limit, err = queryInt(q, "limit"); err != nil {
		return err
	}
	recs, err := s.app.Outcomes(r.Context(), f)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		// As 'history' does: a host or rollout nothing knows is 404.
		if err := s.app.CheckOutcomeFilter(r.Context(), patchpilot.OutcomeFilter{Host: f.Host}); err != nil {
			return &fieldError{field: "host", err: asError(err)}
		}
		if err := s.app.CheckOutcomeFilter(r.Context(), patchpilot.OutcomeFilter{Rollout: f.Rollout}); err != nil {
			return &fieldError{field: "rollout", err: asError(err)}
		}
	}
	writeJSON(w, http.StatusOK, recs)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	ts, err := s.people.Tokens(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []patchpilot.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

// tokenRequest is the body of POST /tokens.
type tokenRequest struct {
	Name string          `json:"name"`
	Role patchpilot.Role `json:"role"`
}

// tokenCreated is the answer of POST /tokens: the secret is shown here
// once and never again.
type tokenCreated struct {
	Token  patchpilot.Token `json:"token"`
	Secret string           `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req tokenRequest
	if err := decodeJSON(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	c.target = req.Name
	if strings.TrimSpace(req.Name) == "" {
		return requireField("name", "the token's name, such as alice or ci")
	}
	if !req.Role.Valid() {
		return badField("role", "role %q: expected viewer, operator, approver or admin", req.Role)
	}
	c.appAudited = true
	secret, t, err := s.people.CreateToken(r.Context(), req.Name, req.Role, c.principal.Actor())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
	return nil
}

// tokenRevoked is the answer of DELETE /tokens/{name}.
type tokenRevoked struct {
	Name    string `json:"name"`
	Revoked bool   `json:"revoked"`
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	name := r.PathValue("name")
	c.target = name
	c.appAudited = true
	if err := s.people.RevokeToken(r.Context(), name, c.principal.Actor()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenRevoked{Name: name, Revoked: true})
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "actor", "rollout", "since", "until", "limit")
	if err != nil {
		return err
	}
	f := patchpilot.AuditFilter{Actor: q.Get("actor"), Rollout: q.Get("rollout")}
	if f.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(q, "until"); err != nil {
		return err
	}
	if f.Limit, err = queryInt(q, "limit"); err != nil {
		return err
	}
	es, err := s.people.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []patchpilot.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}

// getPolicy answers the server's policy as configured (the policy:
// section of patchpilot.yaml); lists are never null.
func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	p := s.app.Policy()
	group := func(g app.PolicyGroup) app.PolicyGroup {
		if g.AutoApprove == nil {
			g.AutoApprove = []app.PolicyAutoApprove{}
		}
		if g.Hold == nil {
			g.Hold = []string{}
		}
		if g.Level == "" {
			g.Level = app.PolicyAdvisor
		}
		return g
	}
	groups := make([]app.PolicyGroup, 0, len(p.Groups))
	for _, g := range p.Groups {
		groups = append(groups, group(g))
	}
	p.Groups, p.Default = groups, group(p.Default)
	if p.Default.Name == "" {
		p.Default.Name = "default"
	}
	if p.Promotions == nil {
		p.Promotions = []app.PolicyPromotion{}
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// checkPolicy evaluates the policy on the plan in the body, as 'policy
// check -o json' prints it. A plan the policy refuses is a report whose
// decision is refuse, not an error.
func (s *Server) checkPolicy(w http.ResponseWriter, r *http.Request, _ *call) error {
	p, _, err := readPlanBody(w, r)
	if err != nil {
		return err
	}
	rep, err := s.app.CheckPolicy(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// listSchedules answers the configured schedules with their next runs
// and last run, as 'schedule list -o json' prints them.
func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	views, err := s.app.Schedules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}
