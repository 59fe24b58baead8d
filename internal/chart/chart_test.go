package chart

import (
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wellFormed parses the SVG as XML, so a broken escape or an unclosed
// element fails.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func forbidden(t *testing.T, svg string) {
	t.Helper()
	low := strings.ToLower(svg)
	for _, bad := range []string{"<script", "style=", "href", "url(", "javascript:"} {
		if strings.Contains(low, bad) {
			t.Errorf("svg contains %q:\n%s", bad, svg)
		}
	}
	if m := regexp.MustCompile(` on[a-z]+=`).FindString(low); m != "" {
		t.Errorf("svg has an event handler attribute %q", m)
	}
}

func TestLineMapsPointsToPixels(t *testing.T) {
	// 400x300 with one legend row: the plot spans x 64..384 and
	// y 32..242 (300 - 40 bottom margin - 18 legend row).
	l := Line{
		Title: "t", Width: 400, Height: 300, YFixed: true, YMin: 0, YMax: 10,
		Series: []Series{{Name: "a", Points: []Point{{10, 10}, {0, 0}, {5, 5}}}},
	}
	svg := string(l.SVG())
	wellFormed(t, svg)
	forbidden(t, svg)
	// Sorted by X, mapped linearly.
	if !strings.Contains(svg, `<polyline points="64,242 224,137 384,32"`) {
		t.Errorf("points not mapped to the expected pixels:\n%s", svg)
	}
	if !strings.Contains(svg, `class="series series-0"`) {
		t.Errorf("series class missing:\n%s", svg)
	}
	if !strings.Contains(svg, `viewBox="0 0 400 300"`) {
		t.Errorf("viewBox wrong:\n%s", svg)
	}
}

func TestLineBandAndRefs(t *testing.T) {
	l := Line{
		Width: 400, Height: 300, YFixed: true, YMin: 0, YMax: 10,
		Series: []Series{{Name: "diff", Points: []Point{{0, 5}, {10, 5}}}},
		Band:   &Band{Name: "interval", Points: []BandPoint{{0, 2, 8}, {10, 4, 6}}},
		Refs:   []Ref{{Name: "margin", Y: 2}},
	}
	svg := string(l.SVG())
	wellFormed(t, svg)
	// Legend has three items, 28+7*8, 28+7*4, 28+7*6 wide: one row.
	// Upper edge left to right, lower edge back.
	if !strings.Contains(svg, `<polygon points="64,74 384,116 384,158 64,200"`) {
		t.Errorf("band polygon wrong:\n%s", svg)
	}
	// Y 2 of 0..10 on 32..242 is 242-42 = 200.
	if !strings.Contains(svg, `class="ref ref-0" x1="64" x2="384" y1="200" y2="200"`) {
		t.Errorf("reference line wrong:\n%s", svg)
	}
	for _, name := range []string{">interval<", ">diff<", ">margin<"} {
		if !strings.Contains(svg, name) {
			t.Errorf("legend lacks %s", name)
		}
	}
}

func TestEscapesNames(t *testing.T) {
	evil := `<script>alert("x")</script>&`
	l := Line{Title: evil, XLabel: evil, YLabel: evil, Series: []Series{{Name: evil, Points: []Point{{0, 1}, {1, 2}}}},
		Refs: []Ref{{Name: evil, Y: 1}}}
	b := Bar{Title: evil, Categories: []string{evil}, Series: []BarSeries{{Name: evil, Values: []float64{1}}}}
	for _, svg := range []string{string(l.SVG()), string(b.SVG())} {
		wellFormed(t, svg)
		forbidden(t, svg)
		if !strings.Contains(svg, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;`) {
			t.Errorf("name not escaped:\n%s", svg)
		}
		if !strings.Contains(svg, `aria-label="&lt;script&gt;`) || !strings.Contains(svg, `<title>&lt;script&gt;`) {
			t.Errorf("accessible name missing or unescaped:\n%s", svg)
		}
	}
}

func TestEmptyRendersNoData(t *testing.T) {
	nan := math.NaN()
	cases := map[string]string{
		"line nil":      string(Line{Title: "x"}.SVG()),
		"line all nan":  string(Line{Series: []Series{{Name: "a", Points: []Point{{0, nan}, {1, math.Inf(1)}}}}}.SVG()),
		"bar nil":       string(Bar{Title: "x"}.SVG()),
		"bar no values": string(Bar{Categories: []string{"a"}, Series: []BarSeries{{Name: "s", Values: []float64{nan}}}}.SVG()),
	}
	for name, svg := range cases {
		wellFormed(t, svg)
		if !strings.Contains(svg, `class="no-data"`) || !strings.Contains(svg, ">no data<") {
			t.Errorf("%s: no 'no data' text:\n%s", name, svg)
		}
		if strings.Contains(svg, "<polyline") || strings.Contains(svg, "<circle") {
			t.Errorf("%s: draws data:\n%s", name, svg)
		}
	}
}

func TestNonFiniteBreaksLine(t *testing.T) {
	l := Line{
		Width: 400, Height: 300, YFixed: true, YMin: 0, YMax: 10,
		Series: []Series{{Name: "a", Points: []Point{{0, 0}, {2, 10}, {4, math.NaN()}, {6, math.Inf(-1)}, {8, 0}, {10, 10}}}},
	}
	svg := string(l.SVG())
	wellFormed(t, svg)
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Errorf("non-finite value written:\n%s", svg)
	}
	if n := strings.Count(svg, "<polyline"); n != 2 {
		t.Errorf("want 2 runs around the gap, got %d:\n%s", n, svg)
	}
	if n := strings.Count(svg, "<circle"); n != 4 {
		t.Errorf("want 4 points, got %d", n)
	}
	// X 2 of 0..10 on 64..384 is 128.
	if !strings.Contains(svg, `<polyline points="64,242 128,32"`) {
		t.Errorf("first run wrong:\n%s", svg)
	}
}

func TestTimeAxisUTCDates(t *testing.T) {
	loc := time.FixedZone("X", 5*3600)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var pts []Point
	for d := 0; d < 10; d++ {
		pts = append(pts, At(start.AddDate(0, 0, d).In(loc), float64(d)))
	}
	svg := string(Line{Title: "days", TimeX: true, Series: []Series{{Name: "n", Points: pts}}}.SVG())
	wellFormed(t, svg)
	for _, want := range []string{">2026-03-01<", ">2026-03-03<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("time axis lacks %s:\n%s", want, svg)
		}
	}
	// Hours when the range is short.
	h := []Point{At(start.Add(time.Hour), 1), At(start.Add(7*time.Hour), 2)}
	svg = string(Line{TimeX: true, Series: []Series{{Name: "n", Points: h}}}.SVG())
	if !strings.Contains(svg, ">03-01 02:00<") {
		t.Errorf("short time axis lacks hour ticks:\n%s", svg)
	}
}

func TestBarGroupedAndStacked(t *testing.T) {
	// One series: no legend, so the plot spans y 32..260 at height 300.
	b := Bar{Width: 400, Height: 300, Categories: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{10, 5}}}}
	svg := string(b.SVG())
	wellFormed(t, svg)
	forbidden(t, svg)
	// Y range 0..10; slot 160; bar a at 64+16 width 128, full height.
	if !strings.Contains(svg, `<rect x="80" y="32" width="128" height="228">`) {
		t.Errorf("bar a wrong:\n%s", svg)
	}
	if !strings.Contains(svg, `<rect x="240" y="146" width="128" height="114">`) {
		t.Errorf("bar b wrong:\n%s", svg)
	}

	st := Bar{Width: 400, Height: 300, Stacked: true, Categories: []string{"a"},
		Series: []BarSeries{{Name: "ok", Values: []float64{6}}, {Name: "failed", Values: []float64{4}}}}
	svg = string(st.SVG())
	wellFormed(t, svg)
	// Legend row: plot y 32..242; 0..10; 6 ends at 242-126=116, 10 at 32.
	if !strings.Contains(svg, `<rect x="96" y="116" width="256" height="126">`) {
		t.Errorf("stacked base wrong:\n%s", svg)
	}
	if !strings.Contains(svg, `<rect x="96" y="32" width="256" height="84">`) {
		t.Errorf("stacked top wrong:\n%s", svg)
	}
	gr := Bar{Width: 400, Height: 300, Categories: []string{"a"},
		Series: []BarSeries{{Name: "x", Values: []float64{10}}, {Name: "y", Values: []float64{5}}}}
	svg = string(gr.SVG())
	// Two bars of 128 side by side in the one slot of 320.
	if !strings.Contains(svg, `<rect x="96" y="32" width="128"`) || !strings.Contains(svg, `<rect x="224" y="137" width="128" height="105">`) {
		t.Errorf("grouped bars wrong:\n%s", svg)
	}
}

func TestDeterministic(t *testing.T) {
	l := Line{Title: "d", Series: []Series{{Name: "a", Points: []Point{{1, 0.1}, {2, 0.3}, {3, 0.2}}}}, YFormat: Percent}
	if l.SVG() != l.SVG() {
		t.Fatal("two renders differ")
	}
	if !strings.Contains(string(l.SVG()), ">30%<") {
		t.Errorf("percent ticks missing:\n%s", l.SVG())
	}
}

func TestFixedXRangeAndLabelAboveLegend(t *testing.T) {
	l := Line{Width: 400, Height: 300, YFixed: true, YMin: 0, YMax: 10, XFixed: true, XMin: 0, XMax: 20, XLabel: "x",
		Series: []Series{{Name: "a", Points: []Point{{0, math.NaN()}, {10, 0}, {20, 10}}}}}
	svg := string(l.SVG())
	wellFormed(t, svg)
	// The plot spans y 32..224 (a legend row and the label's row); X 10
	// of 0..20 is the middle, 224.
	if !strings.Contains(svg, `<polyline points="224,224 384,32"`) {
		t.Errorf("fixed X range not used:\n%s", svg)
	}
	if !strings.Contains(svg, `class="axis-label" x="224" y="258"`) || !strings.Contains(svg, `<text x="84" y="276" fill="#222">a</text>`) {
		t.Errorf("axis label and legend overlap:\n%s", svg)
	}
}

func TestBarCountsHaveWholeTicks(t *testing.T) {
	svg := string(Bar{Categories: []string{"a", "b"}, Series: []BarSeries{{Name: "n", Values: []float64{1, 0}}}}.SVG())
	if strings.Contains(svg, ">0.2<") || !strings.Contains(svg, ">1<") {
		t.Errorf("counts with fractional ticks:\n%s", svg)
	}
	svg = string(Bar{Categories: []string{"a"}, Series: []BarSeries{{Name: "d", Values: []float64{0.5}}}}.SVG())
	if !strings.Contains(svg, ">0.1<") {
		t.Errorf("fractions lost their ticks:\n%s", svg)
	}
}

// An X axis that counts (looks) has whole-number ticks only.
func TestIntegerXTicks(t *testing.T) {
	pts := []Point{{X: 1, Y: 1}, {X: 2, Y: 2}, {X: 3, Y: 1}, {X: 4, Y: 3}}
	frac := regexp.MustCompile(`<g class="axis axis-x">(<line[^>]*/>|<text[^>]*>\d+</text>)*<text[^>]*>\d+\.5</text>`)
	if svg := string(Line{Series: []Series{{Name: "s", Points: pts}}}.SVG()); !frac.MatchString(svg) {
		t.Fatalf("without XIntegers four looks have no half ticks; the test does not see them:\n%s", svg)
	}
	if svg := string(Line{Series: []Series{{Name: "s", Points: pts}}, XIntegers: true}.SVG()); frac.MatchString(svg) {
		t.Errorf("XIntegers: a tick between two looks:\n%s", svg)
	}
}

// XFormat formats the X ticks and the X in point labels.
func TestXFormat(t *testing.T) {
	l := Line{XFixed: true, XMin: 0, XMax: 0.1, YFixed: true, YMin: 0, YMax: 0.1, XFormat: Percent, YFormat: Percent,
		Series: []Series{{Name: "s", Points: []Point{{X: 0.02, Y: 0.069}}}}}
	svg := string(l.SVG())
	wellFormed(t, svg)
	xaxis := regexp.MustCompile(`<g class="axis axis-x">.*?</g>`).FindString(svg)
	if !strings.Contains(xaxis, ">0%<") || !strings.Contains(xaxis, ">10%<") || strings.Contains(xaxis, ">0.1<") {
		t.Errorf("X ticks not formatted as percentages:\n%s", xaxis)
	}
	if !strings.Contains(svg, "<title>s: 2%") {
		t.Errorf("point label not formatted:\n%s", svg)
	}
}
