package server

import (
	"net/http"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// compliance is every host's standing against its patch SLA, as
// 'report' and 'hosts' read it.
func (s *Server) compliance(w http.ResponseWriter, r *http.Request, _ *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	rep, err := s.app.Compliance(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// kpis are the KPIs of a period: since (a duration back from now, or a
// time) or from, up to to (default now).
func (s *Server) kpis(w http.ResponseWriter, r *http.Request, _ *call) error {
	q, err := query(r, "since", "from", "to")
	if err != nil {
		return err
	}
	if q.Get("since") != "" && q.Get("from") != "" {
		return badField("since", "query parameters since and from both give the start of the period: give one")
	}
	from, err := queryTime(q, "since")
	if err != nil {
		return err
	}
	if q.Get("from") != "" {
		if from, err = queryTime(q, "from"); err != nil {
			return err
		}
	}
	to, err := queryTime(q, "to")
	if err != nil {
		return err
	}
	rep, err := s.app.KPIs(r.Context(), app.KPIQuery{From: from, To: to})
	if err != nil {
		if patchpilot.ErrorCode(err) == patchpilot.EINVALID {
			return badField("from", "%s", strings.TrimPrefix(err.Error(), "invalid: "))
		}
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
