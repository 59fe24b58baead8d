package server

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	rows := func(path string) []string { return hostRows(b.page(path)) }
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

// After a login only the session cookie is left.
func TestDashboardLoginLeavesNoLoginCookie(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.login(f.tok[patchpilot.RoleViewer])
	u, _ := url.Parse(f.ts.URL + "/ui/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == loginCookie {
			t.Errorf("the login cookie is left after login: %v", c)
		}
	}
	// The login's answer deletes it for every client: Max-Age=0 and an
	// expiry in the past.
	form := f.browser()
	page := form.page("/ui/login")
	r := form.post("/ui/login", url.Values{"csrf": {csrf(t, page)}, "token": {f.tok[patchpilot.RoleViewer]}, "next": {"/ui/"}})
	c := cookieNamed(r, loginCookie)
	if c == nil || c.MaxAge >= 0 || c.Value != "" || c.Expires.IsZero() || !c.Expires.Before(time.Now()) {
		t.Errorf("login does not delete the login cookie: %v", r.header["Set-Cookie"])
	}
	// The login page of a browser logged in already sets none: it goes on.
	r = b.get("/ui/login?next=%2Fui%2Fhosts")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/hosts" || cookieNamed(r, loginCookie).Value != "" {
		t.Errorf("login page when logged in: %d %v", r.status, r.header)
	}
}

// After logging in the browser goes to next only when it is a dashboard
// path once cleaned.
func TestDashboardLoginNext(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for next, want := range map[string]string{
		"/ui/../../etc":            "/ui/",
		"/ui/../api/v1/tokens":     "/ui/",
		"/ui/./hosts/../updates":   "/ui/updates",
		"/ui/hosts?sort=os":        "/ui/hosts?sort=os",
		"//evil.example/ui/":       "/ui/",
		"https://evil.example/ui/": "/ui/",
		"/ui/rollouts/":            "/ui/rollouts/",
		"/uievil":                  "/ui/",
	} {
		b := f.browser()
		page := b.page("/ui/login?next=" + url.QueryEscape(next))
		if m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != want {
			t.Errorf("next=%s: the form carries %v; want %s", next, m, want)
		}
		r := b.post("/ui/login", url.Values{"csrf": {csrf(t, page)}, "token": {f.tok[patchpilot.RoleViewer]}, "next": {next}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("next=%s: %d to %q; want %s", next, r.status, r.header.Get("Location"), want)
		}
	}
}

// A dry run that halted and changed nothing offers no Resume, Abort or
// Roll back: the controller accepts none of them for it.
func TestDashboardHaltedDryRunActions(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	plan := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "env=test"}`, http.StatusCreated))
	st := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan_id": "`+plan.ID+`", "dry_run": true}`, http.StatusCreated))
	done := f.waitState(st.ID, patchpilot.RolloutState.Final)
	if done.State != patchpilot.RolloutHalted {
		t.Fatalf("the dry run over unreachable hosts ended %s; the test wants a halt", done.State)
	}
	b := f.loggedIn(patchpilot.RoleOperator)
	page := b.page("/ui/rollouts/" + st.ID)
	for _, id := range []string{`id="resume"`, `id="abort"`, `id="rollback"`} {
		if strings.Contains(page, id) {
			t.Errorf("the halted dry run's page offers %s", id)
		}
	}
	// The controller refuses them indeed.
	for _, action := range []string{"resume", "abort", "rollback"} {
		if r := f.do("POST", "/api/v1/rollouts/"+st.ID+"/"+action, f.tok[patchpilot.RoleOperator], ""); r.status != http.StatusConflict {
			t.Errorf("%s of the halted dry run: %s; want 409", action, r)
		}
	}
	// A rollout waiting for approval offers Abort but no Roll back
	// (nothing changed) and no Resume; its rollback field's placeholder fits.
	id := f.startApproval(patchpilot.RoleOperator)
	page = b.page("/ui/rollouts/" + id)
	if !strings.Contains(page, `id="abort"`) || strings.Contains(page, `id="rollback"`) || strings.Contains(page, `id="resume"`) {
		t.Errorf("a rollout waiting approval offers the wrong actions")
	}
	// Once it changed a host it offers Roll back, with a field wide
	// enough for its placeholder.
	runs, err := f.app.Store.HostRuns(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h := runs[0]
	h.State, h.Order = patchpilot.HostSucceeded, 1
	if err := f.app.Store.SaveHostRun(f.ctx, h); err != nil {
		t.Fatal(err)
	}
	page = b.page("/ui/rollouts/" + id)
	field := regexp.MustCompile(`<input type="text" name="hosts" size="(\d+)" placeholder="([^"]+)"`).FindStringSubmatch(page)
	if !strings.Contains(page, `id="rollback"`) || field == nil || len(field[2]) > atoi(t, field[1]) {
		t.Errorf("the rollback form of a rollout that changed a host: %v", field)
	}
}

// Counts agree with their nouns.
func TestDashboardPlurals(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
	}})
	b := f.loggedIn(patchpilot.RoleViewer)
	ov := b.page("/ui/")
	if !strings.Contains(ov, "host out of its SLA") || strings.Contains(ov, "hosts out of their SLA") {
		t.Errorf("one host out of its SLA is not said in the singular")
	}
	// Unrated updates are "none", as /metrics and the KPIs say.
	if !strings.Contains(ov, `id="sev-none"`) || strings.Contains(ov, "sev-unknown") {
		t.Errorf("the overview's severities do not say none for unrated updates")
	}
	plan := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1", "targets": "name=web-1"}`, http.StatusCreated))
	if !strings.Contains(plan.Source, "# 1 target: web-1\n") {
		t.Errorf("plan header:\n%s", plan.Source)
	}
}

// The updates page says why the model is the cold-start one, truly: no
// history, or history stored but no model trained.
func TestDashboardUpdatesColdStartNote(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.loggedIn(patchpilot.RoleViewer)
	if page := b.page("/ui/updates"); !strings.Contains(page, "no model trained and no outcomes stored yet") {
		t.Errorf("without history the updates page does not say so:\n%s", page)
	}
	var outs []patchpilot.Outcome
	at := time.Now().UTC().Add(-30 * 24 * time.Hour)
	for i := range 720 {
		kind := patchpilot.OutcomeSucceeded
		if i%20 == 0 {
			kind = patchpilot.OutcomeFailed
		}
		outs = append(outs, patchpilot.Outcome{Time: at.Add(time.Duration(i) * time.Minute), Rollout: fmt.Sprintf("r-%d", i), Host: "web-1",
			Packages: []patchpilot.PackageChange{{Name: "web", From: "1.0", To: "1.1"}}, Outcome: kind})
	}
	if _, err := f.app.Store.ImportOutcomes(f.ctx, outs); err != nil {
		t.Fatal(err)
	}
	page := b.page("/ui/updates")
	if strings.Contains(page, "no local history") || !strings.Contains(page, "no model trained yet (720 outcomes stored: run `patchpilot model train`)") {
		t.Errorf("with 720 outcomes stored and no model the updates page says:\n%s", page)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
