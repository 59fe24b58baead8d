// Package chart renders small, deterministic SVG charts to embed in HTML:
// line charts (several named series, an optional shaded band, horizontal
// reference lines) and bar charts (grouped or stacked). The output carries
// no script, no style attribute and no external reference, so a page served
// under a strict Content-Security-Policy can inline it; colours are SVG
// presentation attributes that a stylesheet may override through the
// classes each element carries (series-N, band, ref-N, axis, grid, legend,
// no-data). Every text is escaped. The same input gives the same bytes.
package chart

import (
	"cmp"
	"html"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Default size of a chart, in SVG user units (pixels at 100 %).
const (
	DefaultWidth  = 640
	DefaultHeight = 320
)

// The margins around the plot area. The bottom margin grows with the
// legend's rows.
const (
	marginLeft   = 64
	marginRight  = 16
	marginTop    = 32
	marginBottom = 40
	legendRow    = 18
)

// Palette is the default colour of series N (wrapping around); a stylesheet
// may override it through the class series-N.
var Palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// Point is one value of a series. A Y that is NaN or infinite is no value:
// the point is skipped and the line is broken there.
type Point struct {
	X float64
	Y float64
}

// At is a point at a time, for a Line with TimeX.
func At(t time.Time, y float64) Point { return Point{X: TimeX(t), Y: y} }

// TimeX is the X of a time: seconds since the Unix epoch.
func TimeX(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// Series is one named line. Its points need not share X values with other
// series; they are drawn in the order of X.
type Series struct {
	Name   string
	Points []Point
}

// BandPoint is the interval of a band at one X.
type BandPoint struct {
	X, Lower, Upper float64
}

// Band is a shaded interval, lower to upper, drawn under the series. Points
// with a non-finite bound are skipped and break the band.
type Band struct {
	Name   string
	Points []BandPoint
}

// Ref is a horizontal reference line, such as a margin or a threshold.
type Ref struct {
	Name string
	Y    float64
}

// Line is a line chart.
type Line struct {
	Title  string
	XLabel string
	YLabel string
	// TimeX makes X values times (TimeX); ticks are UTC dates, or hours
	// when the range is under two days.
	TimeX  bool
	Series []Series
	Band   *Band
	Refs   []Ref
	// YFixed uses YMin to YMax as the Y range instead of the data's.
	YFixed     bool
	YMin, YMax float64
	// XFixed uses XMin to XMax as the X range, so that a period shows
	// whole even where its first or last points are missing.
	XFixed     bool
	XMin, XMax float64
	// XIntegers puts X ticks on whole numbers only, for X values that
	// count something (a judge's looks).
	XIntegers bool
	// YFormat formats Y ticks; the default prints the shortest form.
	YFormat func(float64) string
	// XFormat formats X ticks and the X of point labels when X is not a
	// time; the default prints the shortest form.
	XFormat func(float64) string
	Width   int
	Height  int
}

// BarSeries is one named set of values, one per category.
type BarSeries struct {
	Name   string
	Values []float64
}

// Bar is a bar chart: for each category, one bar per series side by side,
// or one bar of stacked segments when Stacked.
type Bar struct {
	Title      string
	XLabel     string
	YLabel     string
	Categories []string
	Series     []BarSeries
	Stacked    bool
	YFormat    func(float64) string
	Width      int
	Height     int
}

// Percent formats a share from 0 to 1 as a percentage.
func Percent(v float64) string { return formatNum(v*100) + "%" }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func esc(s string) string { return html.EscapeString(s) }

// num prints a coordinate with at most one decimal.
func num(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatNum prints a tick value briefly.
func formatNum(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', -1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// niceStep is a step of 1, 2 or 5 times a power of ten near span/n.
func niceStep(span float64, n int) float64 {
	if span <= 0 || !finite(span) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// niceRange widens lo..hi to whole steps and returns the ticks.
func niceRange(lo, hi float64, n int) (float64, float64, []float64) {
	return niceRangeMin(lo, hi, n, 0)
}

// niceRangeMin is niceRange with a step of at least minStep: 1 for counts,
// so that an axis of small counts does not show fractions.
func niceRangeMin(lo, hi float64, n int, minStep float64) (float64, float64, []float64) {
	if lo == hi {
		if lo == 0 {
			hi = 1
		} else {
			d := math.Abs(lo) / 2
			lo, hi = lo-d, hi+d
		}
	}
	step := max(niceStep(hi-lo, n), minStep)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	var ticks []float64
	for i := 0; ; i++ {
		v := lo + float64(i)*step
		if v > hi+step/1e6 || i > 100 {
			break
		}
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return lo, hi, ticks
}

var timeSteps = []time.Duration{
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
	28 * 24 * time.Hour, 91 * 24 * time.Hour, 364 * 24 * time.Hour,
}

// timeTicks places ticks at whole UTC hours or days within lo..hi.
func timeTicks(lo, hi float64, n int) ([]float64, func(float64) string) {
	span := time.Duration((hi - lo) * float64(time.Second))
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	start := time.Unix(int64(math.Floor(lo)), 0).UTC()
	if step >= 24*time.Hour {
		start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	} else {
		start = start.Truncate(time.Hour)
	}
	for TimeX(start) < lo {
		start = start.Add(step)
	}
	var ticks []float64
	for t := start; TimeX(t) <= hi && len(ticks) <= 2*n; t = t.Add(step) {
		ticks = append(ticks, TimeX(t))
	}
	layout := "2006-01-02"
	if step < 24*time.Hour {
		layout = "01-02 15:04"
	}
	return ticks, func(v float64) string {
		return time.Unix(int64(math.Round(v)), 0).UTC().Format(layout)
	}
}

// frame is the geometry of a chart.
type frame struct {
	w, h                   int
	left, top, right, bot  float64 // plot area
	xlo, xhi, ylo, yhi     float64
	legendY                float64
	legendItems            []legendItem
	title, xlabel, ylabel  string
	ariaLabel, description string
}

type legendItem struct {
	name  string
	class string
	color string
	kind  string // "line", "band", "ref", "bar"
}

func (f *frame) px(x float64) float64 {
	return f.left + (x-f.xlo)/(f.xhi-f.xlo)*(f.right-f.left)
}

func (f *frame) py(y float64) float64 {
	y = math.Max(f.ylo, math.Min(f.yhi, y))
	return f.bot - (y-f.ylo)/(f.yhi-f.ylo)*(f.bot-f.top)
}

// layoutLegend places legend items in rows under the plot and returns how
// many rows they need.
func legendRows(items []legendItem, width int) int {
	if len(items) == 0 {
		return 0
	}
	rows, x := 1, float64(marginLeft)
	for _, it := range items {
		w := legendWidth(it.name)
		if x+w > float64(width-marginRight) && x > marginLeft {
			rows++
			x = marginLeft
		}
		x += w
	}
	return rows
}

func legendWidth(name string) float64 {
	return float64(28 + 7*len([]rune(name)))
}

func newFrame(w, h int, title, xlabel, ylabel string, items []legendItem) *frame {
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	rows := legendRows(items, w)
	f := &frame{w: w, h: h, title: title, xlabel: xlabel, ylabel: ylabel, legendItems: items}
	f.left = marginLeft
	f.right = float64(w - marginRight)
	f.top = marginTop
	extra := 0
	if xlabel != "" && rows > 0 {
		extra = legendRow // the axis label gets its own line above the legend
	}
	f.bot = float64(h - marginBottom - rows*legendRow - extra)
	if f.bot < f.top+20 {
		f.bot = f.top + 20
	}
	f.legendY = f.bot + marginBottom - 6 + float64(extra)
	return f
}

func (f *frame) open(b *strings.Builder) {
	label := f.title
	if label == "" {
		label = "chart"
	}
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(f.w) + " " + strconv.Itoa(f.h))
	b.WriteString(`" width="` + strconv.Itoa(f.w) + `" height="` + strconv.Itoa(f.h))
	b.WriteString(`" aria-label="` + esc(label) + `" font-family="sans-serif" font-size="11">`)
	b.WriteString(`<title>` + esc(label) + `</title>`)
	if f.description != "" {
		b.WriteString(`<desc>` + esc(f.description) + `</desc>`)
	}
	if f.title != "" {
		b.WriteString(`<text class="chart-title" x="` + num(float64(f.w)/2) + `" y="18" text-anchor="middle" font-size="14" font-weight="bold" fill="#222">` + esc(f.title) + `</text>`)
	}
}

func (f *frame) axisLabels(b *strings.Builder) {
	if f.xlabel != "" {
		b.WriteString(`<text class="axis-label" x="` + num((f.left+f.right)/2) + `" y="` + num(f.bot+34) + `" text-anchor="middle" fill="#444">` + esc(f.xlabel) + `</text>`)
	}
	if f.ylabel != "" {
		cy := (f.top + f.bot) / 2
		b.WriteString(`<text class="axis-label" x="14" y="` + num(cy) + `" text-anchor="middle" fill="#444" transform="rotate(-90 14 ` + num(cy) + `)">` + esc(f.ylabel) + `</text>`)
	}
}

func (f *frame) yAxis(b *strings.Builder, ticks []float64, format func(float64) string) {
	b.WriteString(`<g class="axis axis-y">`)
	for _, t := range ticks {
		y := num(f.py(t))
		b.WriteString(`<line class="grid" x1="` + num(f.left) + `" x2="` + num(f.right) + `" y1="` + y + `" y2="` + y + `" stroke="#ddd" stroke-width="1"/>`)
		b.WriteString(`<text x="` + num(f.left-6) + `" y="` + y + `" dy="4" text-anchor="end" fill="#444">` + esc(format(t)) + `</text>`)
	}
	b.WriteString(`<line x1="` + num(f.left) + `" x2="` + num(f.left) + `" y1="` + num(f.top) + `" y2="` + num(f.bot) + `" stroke="#888"/>`)
	b.WriteString(`</g>`)
}

func (f *frame) legend(b *strings.Builder) {
	if len(f.legendItems) == 0 {
		return
	}
	b.WriteString(`<g class="legend">`)
	x, y := float64(marginLeft), f.legendY
	for _, it := range f.legendItems {
		w := legendWidth(it.name)
		if x+w > float64(f.w-marginRight) && x > marginLeft {
			x = marginLeft
			y += legendRow
		}
		b.WriteString(`<g class="legend-item ` + it.class + `">`)
		switch it.kind {
		case "line":
			b.WriteString(`<line x1="` + num(x) + `" x2="` + num(x+16) + `" y1="` + num(y-4) + `" y2="` + num(y-4) + `" stroke="` + it.color + `" stroke-width="2"/>`)
		case "ref":
			b.WriteString(`<line x1="` + num(x) + `" x2="` + num(x+16) + `" y1="` + num(y-4) + `" y2="` + num(y-4) + `" stroke="` + it.color + `" stroke-width="1.5" stroke-dasharray="4 3"/>`)
		default:
			b.WriteString(`<rect x="` + num(x) + `" y="` + num(y-10) + `" width="16" height="10" fill="` + it.color + `"` + opacity(it.kind) + `/>`)
		}
		b.WriteString(`<text x="` + num(x+20) + `" y="` + num(y) + `" fill="#222">` + esc(it.name) + `</text></g>`)
		x += w
	}
	b.WriteString(`</g>`)
}

func opacity(kind string) string {
	if kind == "band" {
		return ` fill-opacity="0.25"`
	}
	return ""
}

func noData(w, h int, title string) template.HTML {
	f := newFrame(w, h, title, "", "", nil)
	f.description = "no data"
	var b strings.Builder
	f.open(&b)
	b.WriteString(`<rect class="no-data-frame" x="` + num(f.left) + `" y="` + num(f.top) + `" width="` + num(f.right-f.left) + `" height="` + num(f.bot-f.top) + `" fill="none" stroke="#ccc"/>`)
	b.WriteString(`<text class="no-data" x="` + num((f.left+f.right)/2) + `" y="` + num((f.top+f.bot)/2) + `" text-anchor="middle" fill="#888" font-size="14">no data</text>`)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func color(i int) string { return Palette[i%len(Palette)] }

// SVG renders the chart. A chart with no finite value renders a frame
// saying "no data".
func (l Line) SVG() template.HTML {
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	seeX := func(x float64) {
		xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
	}
	seeY := func(y float64) {
		ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
	}
	have := false
	for _, s := range l.Series {
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) {
				seeX(p.X)
				seeY(p.Y)
				have = true
			}
		}
	}
	if l.Band != nil {
		for _, p := range l.Band.Points {
			if finite(p.X) && finite(p.Lower) && finite(p.Upper) {
				seeX(p.X)
				seeY(p.Lower)
				seeY(p.Upper)
				have = true
			}
		}
	}
	if !have {
		return noData(l.Width, l.Height, l.Title)
	}
	for _, r := range l.Refs {
		if finite(r.Y) {
			seeY(r.Y)
		}
	}
	var items []legendItem
	if l.Band != nil && l.Band.Name != "" {
		items = append(items, legendItem{name: l.Band.Name, class: "band", color: "#1f77b4", kind: "band"})
	}
	for i, s := range l.Series {
		items = append(items, legendItem{name: s.Name, class: "series-" + strconv.Itoa(i), color: color(i), kind: "line"})
	}
	for i, r := range l.Refs {
		if r.Name != "" && finite(r.Y) {
			items = append(items, legendItem{name: r.Name, class: "ref ref-" + strconv.Itoa(i), color: "#555", kind: "ref"})
		}
	}
	f := newFrame(l.Width, l.Height, l.Title, l.XLabel, l.YLabel, items)
	f.description = describeLine(l)

	var yticks []float64
	if l.YFixed && l.YMax > l.YMin {
		f.ylo, f.yhi = l.YMin, l.YMax
		_, _, all := niceRange(l.YMin, l.YMax, 5)
		for _, t := range all {
			if t >= l.YMin-1e-9 && t <= l.YMax+1e-9 {
				yticks = append(yticks, t)
			}
		}
	} else {
		f.ylo, f.yhi, yticks = niceRange(ylo, yhi, 5)
	}
	if l.XFixed && l.XMax > l.XMin {
		xlo, xhi = l.XMin, l.XMax
	}
	if xlo == xhi {
		d := 1.0
		if l.TimeX {
			d = 12 * 3600
		}
		xlo, xhi = xlo-d, xhi+d
	}
	f.xlo, f.xhi = xlo, xhi
	var xticks []float64
	var xformat func(float64) string
	if l.TimeX {
		xticks, xformat = timeTicks(xlo, xhi, 6)
	} else {
		minStep := 0.0
		if l.XIntegers {
			minStep = 1
		}
		_, _, xticks = niceRangeMin(xlo, xhi, 6, minStep)
		xformat = formatNum
		if l.XFormat != nil {
			xformat = l.XFormat
		}
		var in []float64
		for _, t := range xticks {
			if t >= xlo-1e-9 && t <= xhi+1e-9 {
				in = append(in, t)
			}
		}
		xticks = in
	}
	yformat := l.YFormat
	if yformat == nil {
		yformat = formatNum
	}

	var b strings.Builder
	f.open(&b)
	f.yAxis(&b, yticks, yformat)
	b.WriteString(`<g class="axis axis-x">`)
	for _, t := range xticks {
		x := num(f.px(t))
		b.WriteString(`<line x1="` + x + `" x2="` + x + `" y1="` + num(f.bot) + `" y2="` + num(f.bot+4) + `" stroke="#888"/>`)
		b.WriteString(`<text x="` + x + `" y="` + num(f.bot+16) + `" text-anchor="middle" fill="#444">` + esc(xformat(t)) + `</text>`)
	}
	b.WriteString(`<line x1="` + num(f.left) + `" x2="` + num(f.right) + `" y1="` + num(f.bot) + `" y2="` + num(f.bot) + `" stroke="#888"/>`)
	b.WriteString(`</g>`)
	f.axisLabels(&b)

	if l.Band != nil {
		pts := append([]BandPoint(nil), l.Band.Points...)
		sortBand(pts)
		b.WriteString(`<g class="band">`)
		for _, run := range bandRuns(pts) {
			var d strings.Builder
			for i, p := range run {
				d.WriteString(num(f.px(p.X)) + "," + num(f.py(p.Upper)))
				if i < len(run)-1 {
					d.WriteByte(' ')
				}
			}
			for i := len(run) - 1; i >= 0; i-- {
				d.WriteString(" " + num(f.px(run[i].X)) + "," + num(f.py(run[i].Lower)))
			}
			b.WriteString(`<polygon points="` + d.String() + `" fill="#1f77b4" fill-opacity="0.2" stroke="none"/>`)
		}
		b.WriteString(`</g>`)
	}
	for i, r := range l.Refs {
		if !finite(r.Y) {
			continue
		}
		y := num(f.py(r.Y))
		b.WriteString(`<line class="ref ref-` + strconv.Itoa(i) + `" x1="` + num(f.left) + `" x2="` + num(f.right) + `" y1="` + y + `" y2="` + y + `" stroke="#555" stroke-width="1.5" stroke-dasharray="4 3"><title>` + esc(r.Name+" "+yformat(r.Y)) + `</title></line>`)
	}
	for i, s := range l.Series {
		pts := append([]Point(nil), s.Points...)
		sortPoints(pts)
		c := color(i)
		b.WriteString(`<g class="series series-` + strconv.Itoa(i) + `" stroke="` + c + `" fill="` + c + `">`)
		for _, run := range pointRuns(pts) {
			if len(run) > 1 {
				var d strings.Builder
				for j, p := range run {
					if j > 0 {
						d.WriteByte(' ')
					}
					d.WriteString(num(f.px(p.X)) + "," + num(f.py(p.Y)))
				}
				b.WriteString(`<polyline points="` + d.String() + `" fill="none" stroke-width="2"/>`)
			}
			for _, p := range run {
				b.WriteString(`<circle cx="` + num(f.px(p.X)) + `" cy="` + num(f.py(p.Y)) + `" r="2.5" stroke="none"><title>` + esc(s.Name+": "+pointLabel(l.TimeX, xformat, p.X)+" "+yformat(p.Y)) + `</title></circle>`)
			}
		}
		b.WriteString(`</g>`)
	}
	f.legend(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func pointLabel(timeX bool, xformat func(float64) string, x float64) string {
	if timeX {
		t := time.Unix(int64(math.Round(x)), 0).UTC()
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
			return t.Format("2006-01-02")
		}
		return t.Format("2006-01-02 15:04")
	}
	return xformat(x)
}

func describeLine(l Line) string {
	var names []string
	for _, s := range l.Series {
		names = append(names, s.Name)
	}
	d := "line chart"
	if len(names) > 0 {
		d += " of " + strings.Join(names, ", ")
	}
	return d
}

func sortPoints(p []Point) {
	slices.SortStableFunc(p, func(a, b Point) int { return cmp.Compare(a.X, b.X) })
}

func sortBand(p []BandPoint) {
	slices.SortStableFunc(p, func(a, b BandPoint) int { return cmp.Compare(a.X, b.X) })
}

// pointRuns splits sorted points into runs of finite values.
func pointRuns(p []Point) [][]Point {
	var runs [][]Point
	var cur []Point
	for _, q := range p {
		if !finite(q.X) || !finite(q.Y) {
			if len(cur) > 0 {
				runs = append(runs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, q)
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

func bandRuns(p []BandPoint) [][]BandPoint {
	var runs [][]BandPoint
	var cur []BandPoint
	for _, q := range p {
		if !finite(q.X) || !finite(q.Lower) || !finite(q.Upper) {
			if len(cur) > 0 {
				runs = append(runs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, q)
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// SVG renders the chart. A chart with no category or no finite value
// renders a frame saying "no data". Negative values are drawn as zero in a
// stacked chart.
func (c Bar) SVG() template.HTML {
	if len(c.Categories) == 0 || len(c.Series) == 0 {
		return noData(c.Width, c.Height, c.Title)
	}
	val := func(s BarSeries, i int) (float64, bool) {
		if i >= len(s.Values) || !finite(s.Values[i]) {
			return 0, false
		}
		return s.Values[i], true
	}
	lo, hi := 0.0, math.Inf(-1)
	have := false
	for i := range c.Categories {
		sum := 0.0
		for _, s := range c.Series {
			v, ok := val(s, i)
			if !ok {
				continue
			}
			have = true
			if c.Stacked {
				sum += math.Max(v, 0)
			} else {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if c.Stacked {
			hi = math.Max(hi, sum)
		}
	}
	if !have {
		return noData(c.Width, c.Height, c.Title)
	}
	var items []legendItem
	if len(c.Series) > 1 || c.Series[0].Name != "" {
		for i, s := range c.Series {
			items = append(items, legendItem{name: s.Name, class: "series-" + strconv.Itoa(i), color: color(i), kind: "bar"})
		}
	}
	f := newFrame(c.Width, c.Height, c.Title, c.XLabel, c.YLabel, items)
	kind := "grouped"
	if c.Stacked {
		kind = "stacked"
	}
	f.description = kind + " bar chart over " + strconv.Itoa(len(c.Categories)) + " categories"
	var yticks []float64
	minStep := 1.0 // whole numbers get whole ticks
	for _, s := range c.Series {
		for _, v := range s.Values {
			if finite(v) && v != math.Trunc(v) {
				minStep = 0
			}
		}
	}
	f.ylo, f.yhi, yticks = niceRangeMin(lo, hi, 5, minStep)
	f.xlo, f.xhi = 0, float64(len(c.Categories))
	yformat := c.YFormat
	if yformat == nil {
		yformat = formatNum
	}
	var b strings.Builder
	f.open(&b)
	f.yAxis(&b, yticks, yformat)
	slot := (f.right - f.left) / float64(len(c.Categories))
	// Label every category when they fit, else every k-th.
	every := 1
	for slot*float64(every) < 60 && every < len(c.Categories) {
		every++
	}
	b.WriteString(`<g class="axis axis-x">`)
	for i, cat := range c.Categories {
		if i%every != 0 {
			continue
		}
		x := num(f.left + slot*(float64(i)+0.5))
		b.WriteString(`<text x="` + x + `" y="` + num(f.bot+16) + `" text-anchor="middle" fill="#444">` + esc(cat) + `</text>`)
	}
	b.WriteString(`<line x1="` + num(f.left) + `" x2="` + num(f.right) + `" y1="` + num(f.py(0)) + `" y2="` + num(f.py(0)) + `" stroke="#888"/>`)
	b.WriteString(`</g>`)
	f.axisLabels(&b)
	inner := slot * 0.8
	for si, s := range c.Series {
		col := color(si)
		b.WriteString(`<g class="series series-` + strconv.Itoa(si) + `" fill="` + col + `">`)
		for i, cat := range c.Categories {
			v, ok := val(s, i)
			if !ok {
				continue
			}
			var x, w, y0, y1 float64
			if c.Stacked {
				base := 0.0
				for _, prev := range c.Series[:si] {
					if pv, ok := val(prev, i); ok {
						base += math.Max(pv, 0)
					}
				}
				v = math.Max(v, 0)
				x, w = f.left+slot*float64(i)+slot*0.1, inner
				y0, y1 = f.py(base), f.py(base+v)
			} else {
				w = inner / float64(len(c.Series))
				x = f.left + slot*float64(i) + slot*0.1 + w*float64(si)
				y0, y1 = f.py(0), f.py(v)
			}
			top, height := math.Min(y0, y1), math.Abs(y0-y1)
			b.WriteString(`<rect x="` + num(x) + `" y="` + num(top) + `" width="` + num(w) + `" height="` + num(height) + `"><title>` + esc(seriesPrefix(s.Name)+cat+": "+yformat(s.Values[i])) + `</title></rect>`)
		}
		b.WriteString(`</g>`)
	}
	f.legend(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func seriesPrefix(name string) string {
	if name == "" {
		return ""
	}
	return name + ", "
}
