package server

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// kpiPage is the KPIs of a period with their charts.
type kpiPage struct {
	app.KPIReport
	// FormSince, FormFrom and FormTo are the period as asked.
	FormSince, FormFrom, FormTo string
	Presets                     []count
	// The charts.
	TimeToPatchChart, ComplianceChart, WeeklyChart, OutcomesChart template.HTML
}

// kpiPresets are the periods offered as links.
var kpiPresets = []string{"7d", "30d", "90d", "365d"}

func (s *Server) pageKPIs(w http.ResponseWriter, r *http.Request, v *visit) error {
	q := r.URL.Query()
	kp := kpiPage{FormSince: strings.TrimSpace(q.Get("since")), FormFrom: strings.TrimSpace(q.Get("from")), FormTo: strings.TrimSpace(q.Get("to"))}
	if kp.FormSince != "" && kp.FormFrom != "" {
		return badField("since", "since and from both give the start of the period: give one")
	}
	if kp.FormSince == "" && kp.FormFrom == "" {
		kp.FormSince = "30d"
	}
	now := s.now()
	var query app.KPIQuery
	var err error
	if kp.FormFrom != "" {
		if query.From, err = app.ParseSince("from=", kp.FormFrom, now); err != nil {
			return badField("from", "%s", strings.TrimPrefix(err.Error(), "invalid: "))
		}
	} else if query.From, err = app.ParseSince("since=", kp.FormSince, now); err != nil {
		return badField("since", "%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	if kp.FormTo != "" {
		if query.To, err = app.ParseSince("to=", kp.FormTo, now); err != nil {
			return badField("to", "%s", strings.TrimPrefix(err.Error(), "invalid: "))
		}
	}
	rep, err := s.app.KPIs(r.Context(), query)
	if err != nil {
		if patchpilot.ErrorCode(err) == patchpilot.EINVALID {
			return badField("from", "%s", strings.TrimPrefix(err.Error(), "invalid: "))
		}
		return err
	}
	kp.KPIReport = rep
	for _, p := range kpiPresets {
		kp.Presets = append(kp.Presets, count{Label: p, Link: "/ui/kpis?since=" + p})
	}
	kp.TimeToPatchChart = timeToPatchChart(rep.TimeToPatch)
	kp.ComplianceChart = complianceChart(rep.Compliance)
	kp.WeeklyChart = weeklyChart(rep.Weekly)
	c := rep.Patches
	kp.OutcomesChart = app.BarChart{Title: "Host patches by outcome", YLabel: "host patches",
		Categories: []string{"succeeded", "failed", "rolled back", "rollback failed", "unreachable"},
		Series:     []app.BarSeries{{Name: "host patches", Values: []float64{float64(c.Succeeded), float64(c.Failed), float64(c.RolledBack), float64(c.RollbackFailed), float64(c.Unreachable)}}},
		Width:      560, Height: 280}.SVG()
	p := newPage(v, "KPIs", "kpis")
	p.Data = kp
	s.render(w, r, http.StatusOK, "kpis", p)
	return nil
}

func timeToPatchChart(ts []app.TimeToPatch) template.HTML {
	var cats []string
	var mean, p90 []float64
	for _, t := range ts {
		cats = append(cats, t.Severity)
		mean = append(mean, t.MeanSeconds/86400)
		p90 = append(p90, t.P90Seconds/86400)
	}
	return app.BarChart{Title: "Time from availability to installation", YLabel: "days", Categories: cats,
		Series: []app.BarSeries{{Name: "mean", Values: mean}, {Name: "p90", Values: p90}}, Width: 560, Height: 280}.SVG()
}

func complianceChart(days []app.ComplianceDay) template.HTML {
	var pts []app.ChartPoint
	for _, d := range days {
		if d.Share != nil { // no point on a day no host was known yet
			pts = append(pts, app.ChartAt(d.At, *d.Share))
		}
	}
	return app.LineChart{Title: "Hosts within their patch SLA", YLabel: "share of known hosts", TimeX: true,
		Series: []app.ChartSeries{{Name: "within SLA", Points: pts}}, YFixed: true, YMin: 0, YMax: 1,
		YFormat: app.ChartPercent, Width: 560, Height: 280}.SVG()
}

func weeklyChart(weeks []app.WeekCount) template.HTML {
	var cats []string
	var hosts, patches []float64
	for _, w := range weeks {
		cats = append(cats, w.Week.UTC().Format(time.DateOnly))
		hosts = append(hosts, float64(w.Hosts))
		patches = append(patches, float64(w.Patches))
	}
	return app.BarChart{Title: "Hosts patched per week", XLabel: "week from", YLabel: "count", Categories: cats,
		Series: []app.BarSeries{{Name: "hosts patched", Values: hosts}, {Name: "host patches", Values: patches}}, Width: 560, Height: 280}.SVG()
}
