package server

import (
	"net/http"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// deps is the dependency map (GET /deps): the fleet's, or one host's
// neighbourhood (?host=), over the configured maximum age or ?max_age=.
func (s *Server) deps(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "host", "max_age")
	if err != nil {
		return err
	}
	o := app.DepsOptions{Host: q.Get("host")}
	if q.Has("max_age") {
		if o.MaxAge, err = app.ParseMaxAge("query parameter max_age", q.Get("max_age")); err != nil {
			return &fieldError{field: "max_age", err: asError(err)}
		}
	}
	g, err := s.app.DependencyGraph(r.Context(), o)
	if err != nil {
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			return &fieldError{field: "host", err: asError(err)}
		}
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}
