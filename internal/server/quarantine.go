package server

import (
	"net/http"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// model answers GET /model: the active model as 'model status -o json'
// shows it, with the calibration of the predictions stored with the
// fleet's rollouts.
func (s *Server) model(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	st, err := s.app.ModelStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// listQuarantines answers GET /quarantines, as 'quarantine list -o json'.
func (s *Server) listQuarantines(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	qs, err := s.app.Quarantines(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, qs)
	return nil
}

// quarantineClearRequest is the body of POST /quarantines/clear.
type quarantineClearRequest struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Class   string `json:"class"`
	Reason  string `json:"reason"`
}

// clearQuarantine answers POST /quarantines/clear, as 'quarantine clear
// -o json'; the clearance is recorded as the caller's.
func (s *Server) clearQuarantine(w http.ResponseWriter, r *http.Request, c *call) error {
	var req quarantineClearRequest
	if err := decodeJSON(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Package) == "" {
		return requireField("package", "the quarantined package, such as pp-demo-web")
	}
	if strings.TrimSpace(req.Version) == "" {
		return requireField("version", "the quarantined version, such as 1.1.3")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return requireField("reason", "why the version may be offered again, such as \"config fixed on the web hosts\" (recorded with the clearance)")
	}
	c.target = req.Package + "=" + req.Version
	clear := app.QuarantineClear{Package: req.Package, Version: req.Version, Reason: strings.TrimSpace(req.Reason),
		Actor: c.principal.Actor()}
	if req.Class != "" {
		class, err := app.ParseClass(req.Class)
		if err != nil {
			return badField("class", "class %q: expected OS/ROLE, such as debian:12/web", req.Class)
		}
		clear.Class = class
	}
	c.appAudited = true
	res, err := s.app.ClearQuarantine(r.Context(), clear)
	if err != nil {
		if pe := asError(err); pe != nil && pe.Code == patchpilot.ENOTFOUND {
			// The hint speaks of the request's fields, not the CLI's flags.
			return pe.WithHint(strings.NewReplacer("with --class", `in the field "class"`, "leave --class out", `leave "class" out`,
				"'patchpilot quarantine list'", "GET /api/v1/quarantines").Replace(pe.Hint))
		}
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
