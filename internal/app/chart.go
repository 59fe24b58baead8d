package app

import (
	"time"

	"github.com/patchpilot/patchpilot/internal/chart"
)

// The chart types front ends draw with (internal/chart): deterministic,
// escaped inline SVG with no script, no style attribute and no external
// reference. Render one with its SVG method, which returns template.HTML.
type (
	// LineChart is a line chart of named series, with an optional band
	// and reference lines.
	LineChart = chart.Line
	// ChartSeries is one named line of a LineChart.
	ChartSeries = chart.Series
	// ChartPoint is one value of a series; a NaN or infinite Y is a gap.
	ChartPoint = chart.Point
	// ChartBand is a shaded interval of a LineChart.
	ChartBand = chart.Band
	// ChartBandPoint is the band's interval at one X.
	ChartBandPoint = chart.BandPoint
	// ChartRef is a horizontal reference line (a margin, a threshold).
	ChartRef = chart.Ref
	// BarChart is a grouped or stacked bar chart by category.
	BarChart = chart.Bar
	// BarSeries is one named set of bar values, one per category.
	BarSeries = chart.BarSeries
)

// ChartAt is a chart point at a time, for a LineChart with TimeX.
func ChartAt(t time.Time, y float64) ChartPoint { return chart.At(t, y) }

// ChartTimeX is the X of a time in a LineChart with TimeX.
func ChartTimeX(t time.Time) float64 { return chart.TimeX(t) }

// ChartPercent formats a share from 0 to 1 as a percentage (a YFormat).
func ChartPercent(v float64) string { return chart.Percent(v) }
