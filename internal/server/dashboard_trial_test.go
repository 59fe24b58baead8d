package server

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// wantUIHeaders checks the headers every dashboard response carries.
func wantUIHeaders(t *testing.T, what string, r response) {
	t.Helper()
	h := r.header
	if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: headers %v", what, h)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("%s: Content-Type %q, want the dashboard's HTML page", what, h.Get("Content-Type"))
	}
}

// Every path under /ui/ that no page serves answers with the dashboard's
// HTML 404 page and its headers, not the API's JSON.
func TestDashboardNotFoundPages(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.loggedIn(patchpilot.RoleViewer)
	for _, path := range []string{"/ui/nonexistent", "/ui/hosts/", "/ui/static/nope.css", "/ui/static/", "/ui/rollouts/x/y/z"} {
		for _, c := range []*browser{b, f.browser()} {
			r := c.get(path)
			if r.status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, r.status)
			}
			wantUIHeaders(t, "GET "+path, r)
			if !strings.Contains(string(r.body), "<h1>Not found</h1>") {
				t.Errorf("GET %s: body\n%s", path, r.body)
			}
		}
	}
	// A page with another method: 405 with the methods it takes.
	r := b.post("/ui/hosts", nil)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Errorf("POST /ui/hosts: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	wantUIHeaders(t, "POST /ui/hosts", r)
	// The API keeps its JSON.
	if r := f.do("GET", "/api/v1/nope", f.tok[patchpilot.RoleViewer], ""); r.status != http.StatusNotFound || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("API 404: %d %v", r.status, r.header)
	}
}

// An error page is titled by its status.
func TestDashboardErrorTitle(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.loggedIn(patchpilot.RoleViewer)
	r := b.get("/ui/hosts?sort=bogus")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "<h1>Bad request</h1>") || strings.Contains(string(r.body), "Something went wrong") {
		t.Errorf("bad sort: %s", r)
	}
}

// The host list's label filter is a selector as plans take; a bad one,
// a bad direction or an overlong filter is a 400 naming the parameter.
func TestDashboardHostsSelector(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
	}})
	b := f.loggedIn(patchpilot.RoleViewer)
	rows := func(path string) []string {
		t.Helper()
		var names []string
		for _, m := range regexp.MustCompile(`<td><a href="/ui/hosts/([^"]+)">`).FindAllStringSubmatch(b.page(path), -1) {
			names = append(names, m[1])
		}
		return names
	}
	for sel, want := range map[string][]string{
		"env!=prod":         {"web-1", "web-2"},
		"env=prod,role=db":  {"db-1", "db-2"},
		"env==prod, !role":  {"new-1"},
		"role":              {"db-1", "db-2"},
		"name=web*":         {"web-1", "web-2"},
		"env=prod,role!=db": {"new-1"},
	} {
		if got := rows("/ui/hosts?label=" + url.QueryEscape(sel)); !slices.Equal(got, want) {
			t.Errorf("label=%s: %v; want %v", sel, got, want)
		}
	}
	for bad, field := range map[string]string{
		"label=" + url.QueryEscape("env=prod,,"): "label",
		"dir=sideways":                           "dir",
		"name=" + strings.Repeat("x", 300):       "name",
		"label=" + strings.Repeat("x", 300):      "label",
	} {
		r := b.get("/ui/hosts?" + bad)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), field) {
			t.Errorf("hosts?%.40s: %d; want 400 naming %s", bad, r.status, field)
		}
		if len(r.body) > 20000 {
			t.Errorf("hosts?%.40s: the error page echoes the filter (%d bytes)", bad, len(r.body))
		}
	}
}

// With one bucket the calibration chart's axes both run from 0% and the
// perfect calibration is a line, not a dot.
func TestCalibrationChartOneBucket(t *testing.T) {
	svg := string(newCalibrationChart([]app.CalibBin{{Lo: 0, Hi: 0.1, N: 720, Predicted: 0.02, Observed: 0.069}}).SVG)
	xaxis := regexp.MustCompile(`<g class="axis axis-x">.*?</g>`).FindString(svg)
	ticks := regexp.MustCompile(`>([^<>]+)</text>`).FindAllStringSubmatch(xaxis, -1)
	if len(ticks) < 2 {
		t.Fatalf("x ticks: %v\n%s", ticks, svg)
	}
	for _, tk := range ticks {
		if strings.HasPrefix(tk[1], "-") || !strings.HasSuffix(tk[1], "%") {
			t.Errorf("x tick %q: want a percentage from 0%%", tk[1])
		}
	}
	if ticks[0][1] != "0%" {
		t.Errorf("x axis starts at %s", ticks[0][1])
	}
	perfect := regexp.MustCompile(`<g class="series series-1"[^>]*>(.*?)</g>`).FindStringSubmatch(svg)
	if perfect == nil || !strings.Contains(perfect[1], "<polyline") {
		t.Errorf("perfect calibration is not drawn as a line:\n%s", svg)
	}
}
