package server

import (
	"encoding/json"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// canaryGatePrefix starts the gate name of a canary judge's metric.
const canaryGatePrefix = "canary:"

// judgeVerdict is the part of a canary judge's verdict (the evidence of
// a "canary:<metric>" gate result) the charts draw. Numbers the judge
// could not compute are null.
type judgeVerdict struct {
	Metric   string   `json:"metric"`
	Outcome  string   `json:"outcome"`
	Estimate *float64 `json:"estimate"`
	Lower    *float64 `json:"lower"`
	Upper    *float64 `json:"upper"`
	Margin   float64  `json:"margin"`
	Looks    int      `json:"looks"`
	Unit     string   `json:"unit"`
	Evidence struct {
		Hosts []struct {
			Host         string   `json:"host"`
			Group        string   `json:"group"` // patched or control
			BaselineMean *float64 `json:"baseline_mean"`
			CurrentMean  *float64 `json:"current_mean"`
		} `json:"hosts"`
	} `json:"evidence"`
}

// canaryLook is one look of the judge at one metric.
type canaryLook struct {
	look                    float64
	estimate, lower, upper  float64
	margin                  float64
	canaryCur, controlCur   float64
	canaryBase, controlBase float64
}

// canarySeries gathers the judge's looks per metric (and per host the
// gate ran for, when the verdicts name hosts).
type canarySeries struct {
	looks map[string]map[float64]canaryLook // key → look → the last read
	units map[string]string
}

func newCanarySeries() *canarySeries {
	return &canarySeries{looks: map[string]map[float64]canaryLook{}, units: map[string]string{}}
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// meanOf is the mean of the finite values, NaN when there is none.
func meanOf(vs []float64) float64 {
	var sum float64
	n := 0
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// add reads one gate result; results that are not a canary judge's
// verdict are left out.
// The judge compares the stage's canaries with its controls as a whole,
// so every host of a stage carries the same verdict at a look: the looks
// are gathered per stage and metric, one per look (the last read).
func (c *canarySeries) add(stage string, g patchpilot.GateResult) {
	if !strings.HasPrefix(g.Gate, canaryGatePrefix) {
		return
	}
	var v judgeVerdict
	if err := json.Unmarshal(g.Evidence, &v); err != nil || v.Metric == "" {
		return
	}
	key := v.Metric
	if stage != "" {
		key += " in stage " + stage
	}
	l := canaryLook{look: float64(v.Looks), estimate: val(v.Estimate), lower: val(v.Lower), upper: val(v.Upper), margin: v.Margin}
	if c.looks[key] == nil {
		c.looks[key] = map[float64]canaryLook{}
	}
	if v.Looks == 0 {
		l.look = float64(len(c.looks[key]) + 1)
	}
	var canCur, conCur, canBase, conBase []float64
	for _, h := range v.Evidence.Hosts {
		switch h.Group {
		case "patched":
			canCur, canBase = append(canCur, val(h.CurrentMean)), append(canBase, val(h.BaselineMean))
		case "control":
			conCur, conBase = append(conCur, val(h.CurrentMean)), append(conBase, val(h.BaselineMean))
		}
	}
	l.canaryCur, l.controlCur, l.canaryBase, l.controlBase = meanOf(canCur), meanOf(conCur), meanOf(canBase), meanOf(conBase)
	c.looks[key][l.look] = l
	c.units[key] = v.Unit
}

// canaryChart is the two charts of one metric.
type canaryChart struct {
	Metric   string
	Interval template.HTML
	Means    template.HTML
}

// charts draws, per metric, the estimate with its interval against the
// margin over the looks, and the canaries' against the controls' mean
// before and since the change.
func (c *canarySeries) charts() []canaryChart {
	keys := make([]string, 0, len(c.looks))
	for k := range c.looks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []canaryChart
	for _, k := range keys {
		looks := make([]canaryLook, 0, len(c.looks[k]))
		for _, l := range c.looks[k] {
			looks = append(looks, l)
		}
		sort.Slice(looks, func(i, j int) bool { return looks[i].look < looks[j].look })
		var est, canCur, conCur, canBase, conBase []app.ChartPoint
		band := &app.ChartBand{Name: "interval"}
		for _, l := range looks {
			est = append(est, app.ChartPoint{X: l.look, Y: l.estimate})
			band.Points = append(band.Points, app.ChartBandPoint{X: l.look, Lower: l.lower, Upper: l.upper})
			canCur = append(canCur, app.ChartPoint{X: l.look, Y: l.canaryCur})
			conCur = append(conCur, app.ChartPoint{X: l.look, Y: l.controlCur})
			canBase = append(canBase, app.ChartPoint{X: l.look, Y: l.canaryBase})
			conBase = append(conBase, app.ChartPoint{X: l.look, Y: l.controlBase})
		}
		margin := looks[len(looks)-1].margin
		refs := []app.ChartRef{{Name: "margin", Y: margin}, {Name: "no change", Y: 0}}
		unit := c.units[k]
		ylabel := "change"
		if unit != "" {
			ylabel += " (" + unit + ")"
		}
		interval := app.LineChart{Title: k + ": estimated change and interval by look", XLabel: "look", XIntegers: true, YLabel: ylabel,
			Series: []app.ChartSeries{{Name: "estimate", Points: est}}, Band: band, Refs: refs, Width: 560, Height: 260}
		means := app.LineChart{Title: k + ": canaries against controls by look", XLabel: "look", XIntegers: true, YLabel: "mean",
			Series: []app.ChartSeries{{Name: "canaries now", Points: canCur}, {Name: "controls now", Points: conCur},
				{Name: "canaries before", Points: canBase}, {Name: "controls before", Points: conBase}}, Width: 560, Height: 260}
		out = append(out, canaryChart{Metric: k, Interval: interval.SVG(), Means: means.SVG()})
	}
	return out
}

// calibrationChart is the model's predicted against observed failure
// rate by bucket.
type calibrationChart struct {
	SVG template.HTML
}

func newCalibrationChart(bins []app.CalibBin) calibrationChart {
	var obs []app.ChartPoint
	hi := 0.05
	for _, b := range bins {
		obs = append(obs, app.ChartPoint{X: b.Predicted, Y: b.Observed})
		hi = math.Max(hi, math.Max(b.Predicted, b.Observed))
	}
	// Both axes are failure rates over the same range from 0, so that
	// perfect calibration is the diagonal from corner to corner.
	top := math.Min(1, hi*1.1)
	diagonal := []app.ChartPoint{{X: 0, Y: 0}, {X: top, Y: top}}
	l := app.LineChart{Title: "Calibration: observed against predicted failure rate", XLabel: "predicted failure rate (bucket mean)",
		YLabel: "observed failure rate", Series: []app.ChartSeries{{Name: "observed", Points: obs}, {Name: "perfect calibration", Points: diagonal}},
		XFixed: true, XMin: 0, XMax: top, XFormat: app.ChartPercent,
		YFixed: true, YMin: 0, YMax: top, YFormat: app.ChartPercent, Width: 560, Height: 280}
	return calibrationChart{SVG: l.SVG()}
}
