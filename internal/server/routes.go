package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// route is one endpoint of the API: who may call it and, for a call that
// changes something, the action the audit log records.
type route struct {
	method  string
	pattern string // as http.ServeMux reads it, without the method
	role    patchpilot.Role
	action  string // audit action; "" for reads
	handle  func(w http.ResponseWriter, r *http.Request, c *call) error
}

// call is one authenticated request.
type call struct {
	principal patchpilot.Principal
	// target and rollout are what the audit entry names.
	target  string
	rollout string
	// appAudited is set when the call reached an app method that records
	// it in the audit log itself (creating and revoking tokens).
	appAudited bool
}

// apiRoutes is every endpoint under /api/v1 but the OpenAPI document.
func (s *Server) apiRoutes() []route {
	const v = "/api/v1"
	viewer, operator, approver, admin := patchpilot.RoleViewer, patchpilot.RoleOperator, patchpilot.RoleApprover, patchpilot.RoleAdmin
	return []route{
		{"GET", v + "/hosts", viewer, "", s.listHosts},
		{"GET", v + "/hosts/{name}", viewer, "", s.getHost},
		{"GET", v + "/updates", viewer, "", s.listUpdates},
		{"GET", v + "/deps", viewer, "", s.deps},
		{"POST", v + "/assessments", viewer, "", s.assess},
		{"POST", v + "/plans/validate", viewer, "", s.validatePlan},
		{"POST", v + "/plans", operator, "plan.create", s.createPlan},
		{"GET", v + "/plans/{id}", viewer, "", s.getPlan},
		{"GET", v + "/rollouts", viewer, "", s.listRollouts},
		{"POST", v + "/rollouts", operator, "rollout.start", s.startRollout},
		{"GET", v + "/rollouts/{id}", viewer, "", s.getRollout},
		{"POST", v + "/rollouts/{id}/approve", approver, "rollout.approve", s.approveRollout},
		{"POST", v + "/rollouts/{id}/pause", operator, "rollout.pause", s.pauseRollout},
		{"POST", v + "/rollouts/{id}/resume", operator, "rollout.resume", s.resumeRollout},
		{"POST", v + "/rollouts/{id}/abort", operator, "rollout.abort", s.abortRollout},
		{"POST", v + "/rollouts/{id}/rollback", operator, "rollout.rollback", s.rollbackRollout},
		{"GET", v + "/rollouts/{id}/events", viewer, "", s.rolloutEvents},
		{"GET", v + "/history", viewer, "", s.history},
		{"GET", v + "/model", viewer, "", s.model},
		{"GET", v + "/quarantines", viewer, "", s.listQuarantines},
		{"POST", v + "/quarantines/clear", approver, "quarantine.clear", s.clearQuarantine},
		{"GET", v + "/compliance", viewer, "", s.compliance},
		{"GET", v + "/kpis", viewer, "", s.kpis},
		{"GET", v + "/policies", viewer, "", s.getPolicy},
		{"POST", v + "/policies/check", viewer, "", s.checkPolicy},
		{"GET", v + "/schedules", viewer, "", s.listSchedules},
		{"GET", v + "/tokens", admin, "", s.listTokens},
		{"POST", v + "/tokens", admin, "token.create", s.createToken},
		{"DELETE", v + "/tokens/{name}", admin, "token.revoke", s.revokeToken},
		{"GET", v + "/audit", admin, "", s.listAudit},
		{"GET", v + "/events", viewer, "", s.streamEvents},
	}
}

// api authenticates the caller, checks its role, runs the handler and,
// for a call that changes something, records it in the audit log with
// its outcome.
func (s *Server) api(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, err := bearer(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, err := s.people.Authenticate(r.Context(), secret)
		if err != nil {
			if code := patchpilot.ErrorCode(err); code != patchpilot.EUNAUTHENTICATED && code != patchpilot.EINTERNAL {
				err = patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "the token was refused: %w", err)
			}
			s.writeError(w, r, err)
			return
		}
		c := &call{principal: p}
		if !p.Role.Allows(rt.role) {
			err := patchpilot.Errorf(patchpilot.EFORBIDDEN, "token %s has the role %s; %s %s needs %s", p.Token, p.Role, rt.method, rt.pattern, rt.role).
				WithHint("ask an admin for a token with the role " + string(rt.role))
			s.audit(r, rt, c, err)
			s.writeError(w, r, err)
			return
		}
		if rt.action != "" && s.isStopping() {
			err := patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s", errStopping).WithHint("retry when the server is back")
			s.writeError(w, r, err)
			return
		}
		err = rt.handle(w, r, c)
		s.audit(r, rt, c, err)
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// audit records a call that changes something, with its outcome.
func (s *Server) audit(r *http.Request, rt route, c *call, err error) {
	if rt.action == "" || c.appAudited {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(patchpilot.ErrorCode(err))
	}
	target := c.target
	if target == "" {
		target = r.PathValue("id")
	}
	if target == "" {
		target = r.PathValue("name")
	}
	e := patchpilot.AuditEntry{Time: s.now(), Actor: c.principal.Actor(), Token: c.principal.Token, Action: rt.action,
		Target: target, Rollout: c.rollout, Outcome: outcome}
	if e.Rollout == "" && strings.HasPrefix(rt.pattern, "/api/v1/rollouts/{id}") {
		e.Rollout = r.PathValue("id")
	}
	if aerr := s.people.RecordAudit(r.Context(), e); aerr != nil {
		s.log.Error("record audit entry", "action", rt.action, "target", target, "err", aerr)
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through, for server-sent events.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument observes each request's latency by route and status.
func (s *Server) instrument(rt route, h http.Handler) http.Handler {
	name := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		took := time.Since(start)
		s.metrics.latency.WithLabelValues(name, strconv.Itoa(sw.status)).Observe(took.Seconds())
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", name, "status", sw.status, "took", took)
	})
}
