package app

import (
	"math"
	"time"
)

// KPICharts are the charts of a KPIReport, as the report and the
// dashboard draw them.
type KPICharts struct {
	// Compliance is the share of hosts within their SLA by day (a gap
	// where no host was collected yet).
	Compliance LineChart
	// TimeToPatch is the mean and 90th percentile by severity, in days.
	TimeToPatch BarChart
	// Outcomes are the period's host patches by how they ended.
	Outcomes BarChart
	// Weekly is the hosts patched per week.
	Weekly BarChart
}

// Charts builds the report's charts.
func (r KPIReport) Charts() KPICharts {
	var share []ChartPoint
	for _, d := range r.Compliance {
		y := math.NaN()
		if d.Share != nil {
			y = *d.Share
		}
		share = append(share, ChartAt(d.Day, y))
	}
	var cats []string
	var mean, p90 []float64
	for _, t := range r.TimeToPatch {
		cats = append(cats, t.Severity)
		m, p := t.MeanSeconds/86400, t.P90Seconds/86400
		if t.Count == 0 {
			m, p = math.NaN(), math.NaN() // nothing measured: no bar, and "no data" when none is
		}
		mean = append(mean, m)
		p90 = append(p90, p)
	}
	var weeks []string
	var hosts []float64
	for _, w := range r.Weekly {
		weeks = append(weeks, w.Week.Format("01-02"))
		hosts = append(hosts, float64(w.Hosts))
	}
	p := r.Patches
	return KPICharts{
		Compliance: LineChart{Title: "Hosts within their SLA, by day", TimeX: true, YFixed: true, YMin: 0, YMax: 1,
			XFixed: len(r.Compliance) > 1, XMin: ChartTimeX(dayStart(r.Compliance)), XMax: ChartTimeX(dayEnd(r.Compliance)),
			YFormat: ChartPercent, Series: []ChartSeries{{Name: "within SLA", Points: share}}},
		TimeToPatch: BarChart{Title: "Time to patch (days)", YLabel: "days", Categories: cats,
			Series: []BarSeries{{Name: "mean", Values: mean}, {Name: "p90", Values: p90}}},
		Outcomes: BarChart{Title: "Host patches by outcome", Stacked: true, Categories: []string{"host patches"},
			Series: []BarSeries{
				{Name: "succeeded", Values: []float64{float64(p.Succeeded)}},
				{Name: "failed", Values: []float64{float64(p.Failed)}},
				{Name: "rolled back", Values: []float64{float64(p.RolledBack + p.RollbackFailed)}},
				{Name: "unreachable", Values: []float64{float64(p.Unreachable)}},
			}},
		Weekly: BarChart{Title: "Hosts patched per week", XLabel: "week of (UTC)", Categories: weeks,
			Series: []BarSeries{{Name: "hosts", Values: hosts}}},
	}
}

func dayStart(days []ComplianceDay) time.Time {
	if len(days) == 0 {
		return time.Time{}
	}
	return days[0].Day
}

func dayEnd(days []ComplianceDay) time.Time {
	if len(days) == 0 {
		return time.Time{}
	}
	return days[len(days)-1].Day
}
