package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
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

// browser is a client of the dashboard with its own cookies; it does
// not follow redirects, so that the tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (f *fixture) browser() *browser {
	return newBrowser(f.t, f.ts)
}

func newBrowser(t *testing.T, ts *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, base: ts.URL, c: &c}
}

func (b *browser) send(req *http.Request) response {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.send(req)
}

// post sends a form; header pairs are set on the request.
func (b *browser) post(path string, form url.Values, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.send(req)
}

// page gets a page and wants 200.
func (b *browser) page(path string) string {
	b.t.Helper()
	r := b.get(path)
	if r.status != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return string(r.body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of a page's forms.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// login logs in with a secret and wants the redirect to the overview.
func (b *browser) login(secret string) {
	b.t.Helper()
	r := b.tryLogin(secret)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		b.t.Fatalf("login: %s; want 303 to /ui/", r)
	}
}

func (b *browser) tryLogin(secret string) response {
	b.t.Helper()
	form := b.page("/ui/login")
	return b.post("/ui/login", url.Values{"csrf": {csrf(b.t, form)}, "token": {secret}, "next": {"/ui/"}})
}

func (f *fixture) loggedIn(role patchpilot.Role) *browser {
	b := f.browser()
	b.login(f.tok[role])
	return b
}

func cookieNamed(r response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestDashboardLogin(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	// A page without a session leads to the login form.
	r := b.get("/ui/hosts?name=web")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/hosts?name=web") {
		t.Fatalf("GET /ui/hosts without a session: %d %v", r.status, r.header)
	}
	// A wrong token is refused, and no session cookie is set.
	r = b.tryLogin("pp_notatoken")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "the token was refused") {
		t.Errorf("bad token: %s", r)
	}
	if c := cookieNamed(r, sessionCookie); c != nil && c.MaxAge >= 0 {
		t.Errorf("bad token set a session cookie: %v", c)
	}
	// A login form without its CSRF token is refused.
	r = b.post("/ui/login", url.Values{"token": {f.tok[patchpilot.RoleViewer]}})
	if r.status != http.StatusForbidden || cookieNamed(r, sessionCookie) != nil {
		t.Errorf("login without CSRF: %s", r)
	}
	// A good token opens a session with a cookie that scripts cannot
	// read, sent to this site only, and holding no secret.
	r = b.tryLogin(f.tok[patchpilot.RoleViewer])
	if r.status != http.StatusSeeOther {
		t.Fatalf("good token: %s", r)
	}
	c := cookieNamed(r, sessionCookie)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if strings.Contains(c.Value, f.tok[patchpilot.RoleViewer]) || len(c.Value) < 40 {
		t.Errorf("session cookie value %q: want a long random id, never the token", c.Value)
	}
	home := b.page("/ui/")
	if !strings.Contains(home, "viewer") || !strings.Contains(home, "Fleet overview") {
		t.Errorf("overview after login:\n%s", home)
	}
	// Logging out needs the session's CSRF token; then the session is gone.
	if r := b.post("/ui/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("logout without CSRF: %s", r)
	}
	r = b.post("/ui/logout", url.Values{"csrf": {csrf(t, home)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/login" {
		t.Errorf("logout: %s", r)
	}
	if c := cookieNamed(r, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %+v", c)
	}
	old := &http.Cookie{Name: sessionCookie, Value: c.Value}
	req, _ := http.NewRequest("GET", f.ts.URL+"/ui/", nil)
	req.AddCookie(old)
	if r := b.send(req); r.status != http.StatusSeeOther {
		t.Errorf("the old session after logout: %d; want a redirect to the login", r.status)
	}
	// A revoked token's session ends.
	b2 := f.loggedIn(patchpilot.RoleOperator)
	b2.page("/ui/")
	f.as(patchpilot.RoleAdmin, "DELETE", "/api/v1/tokens/operator", "", http.StatusOK)
	if r := b2.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("session of a revoked token: %d; want a redirect to the login", r.status)
	}
	// A page may be read with a bearer token, as the API is; its forms
	// cannot be posted that way.
	if r := f.do("GET", "/ui/hosts", f.tok[patchpilot.RoleViewer], ""); r.status != http.StatusOK || !strings.Contains(string(r.body), "web-1") {
		t.Errorf("GET /ui/hosts with a bearer token: %d", r.status)
	}
	if r := f.do("GET", "/ui/hosts", "pp_nope", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET /ui/hosts with a bad bearer token: %d", r.status)
	}
	if r := f.do("POST", "/ui/plans", f.tok[patchpilot.RoleAdmin], "patch=web%3D1.1", "Content-Type", "application/x-www-form-urlencoded"); r.status != http.StatusForbidden {
		t.Errorf("POST /ui/plans with a bearer token: %d; want 403", r.status)
	}
	// No secret reaches the log.
	for role, secret := range f.tok {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log holds the %s token's secret", role)
		}
	}
	var got []string
	for _, e := range f.people.entries() {
		if strings.HasPrefix(e.Action, "session.") {
			got = append(got, e.Action+" "+e.Actor+" "+e.Outcome)
		}
	}
	want := []string{"session.login token:viewer ok", "session.logout token:viewer ok", "session.login token:operator ok"}
	if !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v", got, want)
	}
}

// Over TLS the session cookie is Secure.
func TestDashboardCookieSecureUnderTLS(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ts := httptest.NewTLSServer(f.srv.Handler())
	defer ts.Close()
	b := newBrowser(t, ts)
	r := b.tryLogin(f.tok[patchpilot.RoleViewer])
	c := cookieNamed(r, sessionCookie)
	if r.status != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("login over TLS: %d, cookie %+v; want a Secure HttpOnly cookie", r.status, c)
	}
}

// startApproval starts the approval plan through the API as role and
// waits until it waits for its approval.
func (f *fixture) startApproval(role patchpilot.Role) string {
	f.t.Helper()
	return f.startApprovalOn(role, "test")
}

// startApprovalOn is startApproval over the hosts labelled env=env (see
// seedHostsIn).
func (f *fixture) startApprovalOn(role patchpilot.Role, env string) string {
	f.t.Helper()
	plan := strings.Replace(approvalPlan, `selector: "env=test"`, `selector: "env=`+env+`"`, 1)
	st := decode[app.RolloutStatus](f.t, f.as(role, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(plan)+`}`, http.StatusCreated))
	f.waitState(st.ID, is(patchpilot.RolloutWaitingApproval))
	return st.ID
}

func TestDashboardHeadersOnEveryPage(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	plan := decode[PlanCreated](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/plans", `{"patch": "web=1.1"}`, http.StatusCreated))
	b := f.loggedIn(patchpilot.RoleAdmin)
	for _, path := range []string{"/ui/login", "/ui/", "/ui/hosts", "/ui/hosts/web-1", "/ui/updates", "/ui/plans/" + plan.ID,
		"/ui/rollouts", "/ui/rollouts/" + id, "/ui/rollouts/" + id + "/live", "/ui/history", "/ui/kpis", "/ui/kpis?since=90d", "/ui/hosts/nope",
		"/ui/static/app.css", "/ui/static/app.js"} {
		r := b.get(path)
		if r.status >= 500 {
			t.Errorf("GET %s: %s", path, r)
		}
		if got := r.header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, r.header)
		}
		if strings.Contains(string(r.body), "http://") && !strings.HasPrefix(path, "/ui/static/") {
			// Only the SVG namespace names another host, and it is
			// never fetched.
			rest := strings.ReplaceAll(string(r.body), `xmlns="http://www.w3.org/2000/svg"`, "")
			if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
				t.Errorf("GET %s refers to another host", path)
			}
		}
		if strings.Contains(string(r.body), "style=") || strings.Contains(string(r.body), "<script>") {
			t.Errorf("GET %s has an inline style or script, which the CSP blocks", path)
		}
	}
	if r := b.get("/ui/hosts/nope"); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "not_found") && !strings.Contains(string(r.body), "NOT") {
		t.Logf("unknown host page: %s", r)
	}
}

func TestDashboardCSRF(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	b := f.loggedIn(patchpilot.RoleOperator)
	body := b.page("/ui/rollouts/" + id)
	tok := csrf(t, body)
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{}); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "CSRF") {
		t.Errorf("pause without a CSRF token: %s", r)
	}
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {tok + "x"}}); r.status != http.StatusForbidden {
		t.Errorf("pause with a wrong CSRF token: %d", r.status)
	}
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {tok}}, "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("pause from another origin: %d", r.status)
	}
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {tok}}, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("pause from a cross-site page: %d", r.status)
	}
	// Another session's token is not this one's.
	other := f.loggedIn(patchpilot.RoleOperator)
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {csrf(t, other.page("/ui/"))}}); r.status != http.StatusForbidden {
		t.Errorf("pause with another session's token: %d", r.status)
	}
	st, _ := f.app.RolloutStatus(f.ctx, id)
	if st.State != patchpilot.RolloutWaitingApproval {
		t.Fatalf("a refused form changed the rollout: %s", st.State)
	}
	r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {tok}}, "Origin", f.ts.URL, "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/rollouts/"+id) {
		t.Fatalf("pause with the token: %s", r)
	}
	f.waitState(id, is(patchpilot.RolloutPaused))
	if page := b.page(r.header.Get("Location")); !strings.Contains(page, "pause requested") {
		t.Errorf("the page after pausing does not say so")
	}
	var got []string
	for _, e := range f.people.entries() {
		if e.Rollout == id && e.Action != "rollout.start" {
			got = append(got, e.Action+" "+e.Actor+" "+e.Outcome)
		}
	}
	if want := []string{"rollout.pause token:operator ok"}; !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v (refused forms change nothing)", got, want)
	}
}

func TestDashboardRoles(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	viewer := f.loggedIn(patchpilot.RoleViewer)
	page := viewer.page("/ui/rollouts/" + id)
	for _, action := range []string{"approve", "pause", "abort", "rollback"} {
		if strings.Contains(page, `/rollouts/`+id+`/`+action+`"`) {
			t.Errorf("a viewer sees the %s form", action)
		}
	}
	if strings.Contains(viewer.page("/ui/updates"), "Plan this") {
		t.Errorf("a viewer sees plan this")
	}
	r := viewer.post("/ui/rollouts/"+id+"/approve", url.Values{"csrf": {csrf(t, page)}, "stage": {"first"}})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "needs approver") {
		t.Errorf("approve as a viewer: %s", r)
	}
	operator := f.loggedIn(patchpilot.RoleOperator)
	page = operator.page("/ui/rollouts/" + id)
	if strings.Contains(page, `id="approve"`) || !strings.Contains(page, `id="pause"`) {
		t.Errorf("an operator sees approve, or not pause")
	}
	if r := operator.post("/ui/rollouts/"+id+"/approve", url.Values{"csrf": {csrf(t, page)}}); r.status != http.StatusForbidden {
		t.Errorf("approve as an operator: %d", r.status)
	}
	approver := f.loggedIn(patchpilot.RoleApprover)
	page = approver.page("/ui/rollouts/" + id)
	if !strings.Contains(page, `id="approve"`) {
		t.Fatalf("an approver does not see approve")
	}
	r = approver.post("/ui/rollouts/"+id+"/approve", url.Values{"csrf": {csrf(t, page)}, "stage": {"first"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("approve as an approver: %s", r)
	}
	st := f.waitState(id, patchpilot.RolloutState.Final)
	if st.Stages[0].ApprovedBy != "token:approver" {
		t.Errorf("approved by %q", st.Stages[0].ApprovedBy)
	}
	var got []string
	for _, e := range f.people.entries() {
		if e.Action == "rollout.approve" {
			got = append(got, e.Actor+" "+e.Outcome+" "+e.Rollout)
		}
	}
	want := []string{"token:viewer forbidden " + id, "token:operator forbidden " + id, "token:approver ok " + id}
	if !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v", got, want)
	}
}

// A finished rollout that changed hosts can still be rolled back, as the
// API and 'rollout rollback' allow: its page offers the rollback to an
// operator, and posting it rolls the changed hosts back. A finished
// rollout that changed nothing offers none.
func TestDashboardRollBackFinished(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+id+"/abort", "", http.StatusOK)
	f.waitState(id, patchpilot.RolloutState.Final)
	operator := f.loggedIn(patchpilot.RoleOperator)
	if page := operator.page("/ui/rollouts/" + id); strings.Contains(page, `id="rollback"`) {
		t.Errorf("an aborted rollout that changed no host offers a rollback")
	}
	// As if the rollout had patched web-1 and succeeded.
	runs, err := f.app.Store.HostRuns(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h := runs[0]
	h.State, h.Order, h.Reason = patchpilot.HostSucceeded, 1, "installed web 1.0→1.1"
	h.FromVersions, h.ToVersions = map[string]string{"web": "1.0"}, map[string]string{"web": "1.1"}
	if err := f.app.Store.SaveHostRun(f.ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := f.app.Store.SetRolloutState(f.ctx, id, patchpilot.RolloutSucceeded, "1 of 1 hosts succeeded"); err != nil {
		t.Fatal(err)
	}
	if page := f.loggedIn(patchpilot.RoleViewer).page("/ui/rollouts/" + id); strings.Contains(page, `/rollouts/`+id+`/rollback"`) {
		t.Errorf("a viewer sees the rollback form")
	}
	page := operator.page("/ui/rollouts/" + id)
	if !strings.Contains(page, `id="rollback"`) || strings.Contains(page, `id="abort"`) || strings.Contains(page, `id="pause"`) {
		t.Fatalf("a succeeded rollout with a changed host offers no rollback, or offers abort or pause:\n%s", page)
	}
	r := operator.post("/ui/rollouts/"+id+"/rollback", url.Values{"csrf": {csrf(t, page)}, "hosts": {""}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), url.QueryEscape("rollback requested for 1 host: "+h.Host)) {
		t.Fatalf("rollback from the page: %s (Location %q)", r, r.header.Get("Location"))
	}
	// The server carries the rollback out: web-1 cannot be reached, so
	// its rollback fails; either way it is no longer a succeeded host.
	st := f.waitState(id, func(s patchpilot.RolloutState) bool { return s != patchpilot.RolloutSucceeded && s.Final() })
	for _, run := range st.Runs() {
		if run.Host == h.Host && run.State == patchpilot.HostSucceeded {
			t.Errorf("%s is still %s after the rollback from the page", run.Host, run.State)
		}
	}
}

// The rollout's starter may not approve it: the app's refusal is shown
// on the rollout's page; another approver's approval goes through.
func TestDashboardFourEyes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleApprover)
	b := f.loggedIn(patchpilot.RoleApprover)
	page := b.page("/ui/rollouts/" + id)
	r := b.post("/ui/rollouts/"+id+"/approve", url.Values{"csrf": {csrf(t, page)}, "stage": {"first"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("self-approval: %s", r)
	}
	body := string(r.body)
	if !strings.Contains(body, `id="error"`) || !strings.Contains(body, "four-eyes") || !strings.Contains(body, `id="stages"`) {
		t.Errorf("self-approval page does not show the refusal on the rollout's page:\n%s", body)
	}
	made := decode[tokenCreated](t, f.as(patchpilot.RoleAdmin, "POST", "/api/v1/tokens", `{"name": "bob", "role": "approver"}`, http.StatusCreated))
	bob := f.browser()
	bob.login(made.Secret)
	page = bob.page("/ui/rollouts/" + id)
	if r := bob.post("/ui/rollouts/"+id+"/approve", url.Values{"csrf": {csrf(t, page)}, "stage": {"first"}}); r.status != http.StatusSeeOther {
		t.Fatalf("bob's approval: %s", r)
	}
	var got []string
	for _, e := range f.people.entries() {
		if e.Action == "rollout.approve" {
			got = append(got, e.Actor+" "+e.Outcome)
		}
	}
	if want := []string{"token:approver forbidden", "token:bob ok"}; !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v", got, want)
	}
}

// seedFleet adds hosts in every state to the fixture's two: one never
// collected, one needing a reboot with services to restart and a
// critical advisory, one up to date.
func seedFleet(a *app.App) error {
	ctx := context.Background()
	hosts := []patchpilot.Host{
		{Name: "db-1", Address: "192.0.2.5", Labels: map[string]string{"env": "prod", "role": "db"}},
		{Name: "db-2", Address: "192.0.2.6", Labels: map[string]string{"env": "prod", "role": "db"}},
		{Name: "new-1", Address: "192.0.2.7", Labels: map[string]string{"env": "prod"}},
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		return err
	}
	now := time.Now().UTC()
	db1 := patchpilot.Facts{Host: "db-1", CollectedAt: now, Source: "ssh", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
		Kernel: "6.1.0-18-amd64", Arch: "x86_64", PackagesKnown: true, UpdatesKnown: true, RebootRequired: true, RebootPackages: []string{"linux-image-amd64"},
		NeedsRestart: []string{"postgresql.service", "cron.service"}, Services: []string{"postgresql.service", "cron.service", "ssh.service"},
		Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.11-1"}, {Name: "libpq5", Version: "15.5-0"}},
		Updates: []patchpilot.Update{
			{Package: "openssl", InstalledVersion: "3.0.11-1", CandidateVersion: "3.0.13-1", Security: true,
				Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5678-1", CVEs: []string{"CVE-2024-0727", "CVE-2023-6237"}, Severity: "critical"}}},
			{Package: "libpq5", InstalledVersion: "15.5-0", CandidateVersion: "15.6-0", Security: true,
				Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5690-1", CVEs: []string{"CVE-2024-0985"}, CVSS: 8.0}}},
			{Package: "tzdata", InstalledVersion: "2024a", CandidateVersion: "2024b"},
		}}
	db2 := patchpilot.Facts{Host: "db-2", CollectedAt: now, Source: "ssh", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
		PackagesKnown: true, UpdatesKnown: true, Packages: []patchpilot.Package{{Name: "openssl", Version: "3.0.13-1"}}}
	// db-1 has had its updates pending for 40 days: the critical one is
	// past its 7-day deadline.
	old := db1
	old.CollectedAt = now.Add(-40 * 24 * time.Hour)
	for _, fa := range []patchpilot.Facts{old, db1, db2} {
		if err := a.Store.SaveFacts(ctx, fa); err != nil {
			return err
		}
	}
	return nil
}

var idNumber = regexp.MustCompile(`id="([a-z0-9_ -]+)">(\d+)<`)

// numbers reads the numbers a page shows with an id.
func numbers(body string) map[string]int {
	out := map[string]int{}
	for _, m := range idNumber.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

func TestDashboardOverviewMatchesAPI(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
	}})
	id := f.startApproval(patchpilot.RoleOperator)
	got := numbers(f.loggedIn(patchpilot.RoleViewer).page("/ui/"))

	hosts := decode[[]patchpilot.HostSummary](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts", "", http.StatusOK))
	sec := decode[[]patchpilot.HostUpdate](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?security=true", "", http.StatusOK))
	rs := decode[[]patchpilot.Rollout](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts", "", http.StatusOK))
	want := map[string]int{"n-hosts": len(hosts), "n-security-updates": len(sec)}
	secHosts, reboot := map[string]bool{}, 0
	for _, u := range sec {
		secHosts[u.Host] = true
	}
	for _, h := range hosts {
		if h.RebootRequired {
			reboot++
		}
	}
	want["n-security-hosts"], want["n-reboot"] = len(secHosts), reboot
	running := 0
	for _, r := range rs {
		if !r.State.Final() {
			running++
		}
	}
	want["n-running"] = running
	// The seeded fleet: db-1 needs a reboot and restarts; its openssl
	// fix is critical and its libpq5 fix high by CVSS.
	want["n-restart"], want["sev-critical"], want["sev-high"] = 1, 1, 1
	want["sev-none"] = len(sec) - 2
	comp := decode[struct{ Totals app.ComplianceTotals }](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/compliance", "", http.StatusOK))
	for _, st := range app.SLAStates() {
		want["state-"+string(st)] = comp.Totals.Of(st)
	}
	want["n-out-of-sla"], want["n-overdue"] = comp.Totals.OutOfSLA, comp.Totals.OverdueUpdates
	// The unrated security updates have no deadline: the overview counts
	// them next to the SLA figures.
	want["n-unrated"] = comp.Totals.UnratedUpdates
	if comp.Totals.UnratedUpdates != len(sec)-2 || comp.Totals.UnratedHosts == 0 {
		t.Errorf("the API counts %d unrated security updates on %d hosts; the fleet has %d", comp.Totals.UnratedUpdates, comp.Totals.UnratedHosts, len(sec)-2)
	}
	if comp.Totals.OutOfSLA != 1 || comp.Totals.Unknown != 1 || comp.Totals.OverdueUpdates == 0 {
		t.Errorf("the seeded fleet's compliance is not what the test expects: %+v", comp.Totals)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("overview %s = %d; the API says %d", k, got[k], v)
		}
	}
	if len(hosts) != 5 || len(sec) != 4 || reboot != 1 || running != 1 {
		t.Errorf("the seeded fleet is not what the test expects: %d hosts, %d security updates, %d reboots, %d running (%s)", len(hosts), len(sec), reboot, running, id)
	}
}

// TestDashboardOverviewCountsAdvisoryFixesAsSecurity checks that the
// overview's hosts with security updates are the hosts of the security
// updates it counts: an update the package manager did not mark but that
// fixes a stored advisory makes its host one, as it makes the update one.
func TestDashboardOverviewCountsAdvisoryFixesAsSecurity(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		ctx := context.Background()
		if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "app-1", Address: "192.0.2.9"}}); err != nil {
			t.Fatal(err)
		}
		fa := patchpilot.Facts{Host: "app-1", CollectedAt: time.Now().UTC(), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "expat", Version: "2.5.0-1"}},
			Updates:  []patchpilot.Update{{Package: "expat", InstalledVersion: "2.5.0-1", CandidateVersion: "2.5.0-1+deb12u1"}}}
		if err := a.Store.SaveFacts(ctx, fa); err != nil {
			t.Fatal(err)
		}
		adv := patchpilot.Advisory{ID: "DSA-9001-1", Published: time.Now().UTC().Add(-time.Hour), Severity: "high",
			Affected: []patchpilot.AffectedPackage{{Ecosystem: "Debian:12", Name: "expat",
				Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "2.5.0-1+deb12u1"}}}}}
		if _, err := a.Store.SaveAdvisories(ctx, []patchpilot.Advisory{adv}); err != nil {
			t.Fatal(err)
		}
	}})
	sec := decode[[]patchpilot.HostUpdate](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?security=true", "", http.StatusOK))
	hosts := map[string]bool{}
	for _, u := range sec {
		hosts[u.Host] = true
	}
	if !hosts["app-1"] {
		t.Fatalf("the advisory does not make app-1's update a security one: %+v", sec)
	}
	got := numbers(f.loggedIn(patchpilot.RoleViewer).page("/ui/"))
	if got["n-security-hosts"] != len(hosts) || got["n-security-updates"] != len(sec) {
		t.Errorf("overview: %d security updates on %d hosts; the API lists %d on %d hosts",
			got["n-security-updates"], got["n-security-hosts"], len(sec), len(hosts))
	}
}

// TestDashboardDryRunShowsItsGateCheck: a dry run checks each host's
// gates once and keeps the results on the host's record; its page lists
// them as gate verdicts instead of saying no gate was checked.
func TestDashboardDryRunShowsItsGateCheck(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	st := decode[app.RolloutStatus](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts",
		`{"plan": `+jsonString(approvalPlan)+`, "dry_run": true}`, http.StatusCreated))
	f.waitState(st.ID, func(s patchpilot.RolloutState) bool { return s.Final() || s == patchpilot.RolloutHalted })
	hr, err := f.app.Store.HostRun(f.ctx, st.ID, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	hr.Gates = []patchpilot.GateResult{{Gate: "services_running", Outcome: patchpilot.GateError,
		Reason: "the baseline could not be taken: systemctl exited with status 1", Time: time.Now().UTC()}}
	if err := f.app.Store.SaveHostRun(f.ctx, hr); err != nil {
		t.Fatal(err)
	}
	page := f.loggedIn(patchpilot.RoleViewer).page("/ui/rollouts/" + st.ID)
	if strings.Contains(page, "No gate has been checked yet") || !strings.Contains(page, "the baseline could not be taken: systemctl exited with status 1") {
		t.Errorf("the dry run's page does not list its gate check:\n%s", page)
	}
}

func TestDashboardHosts(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
	}})
	b := f.loggedIn(patchpilot.RoleViewer)
	rows := func(path string) []string { return hostRows(b.page(path)) }
	if got := rows("/ui/hosts"); !slices.Equal(got, []string{"db-1", "db-2", "new-1", "web-1", "web-2"}) {
		t.Errorf("hosts = %v", got)
	}
	if got := rows("/ui/hosts?sort=name&dir=desc"); !slices.Equal(got, []string{"web-2", "web-1", "new-1", "db-2", "db-1"}) {
		t.Errorf("hosts by name, descending = %v", got)
	}
	if got := rows("/ui/hosts?sort=security&dir=desc"); len(got) != 5 || got[0] != "db-1" {
		t.Errorf("hosts by security updates, descending = %v", got)
	}
	if got := rows("/ui/hosts?label=role%3Ddb"); !slices.Equal(got, []string{"db-1", "db-2"}) {
		t.Errorf("hosts with role=db = %v", got)
	}
	if got := rows("/ui/hosts?name=WEB"); !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("hosts named like web = %v", got)
	}
	if got := rows("/ui/hosts?state=unknown"); !slices.Equal(got, []string{"new-1"}) {
		t.Errorf("hosts never collected = %v", got)
	}
	if got := rows("/ui/hosts?state=out_of_sla"); !slices.Equal(got, []string{"db-1"}) {
		t.Errorf("hosts out of their SLA = %v", got)
	}
	for _, bad := range []string{"label=%3Ddb", "state=sleepy", "sort=age"} {
		if r := b.get("/ui/hosts?" + bad); r.status != http.StatusBadRequest {
			t.Errorf("hosts?%s: %d; want 400", bad, r.status)
		}
	}
	// One host's compliance is the fleet's report's entry for it.
	comp, err := f.app.Compliance(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range comp.Hosts {
		one, err := f.app.HostCompliance(f.ctx, h.Host)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(one)
		b, _ := json.Marshal(h)
		if string(a) != string(b) || h.Host == "db-1" && one.State != app.SLAOut {
			t.Errorf("HostCompliance(%s) = %s; Compliance says %s", h.Host, a, b)
		}
	}
	if _, err := f.app.HostCompliance(f.ctx, "nope"); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("HostCompliance of an unknown host: %v", err)
	}
	// A host's page: facts, updates with their CVEs, services to restart.
	page := b.page("/ui/hosts/db-1")
	for _, want := range []string{`id="sla-state">out of sla<`, `id="overdue"`, "6.1.0-18-amd64", "CVE-2024-0727", "CVE-2024-0985", "security · critical", "security · high",
		"postgresql.service", "linux-image-amd64", "role=db", `id="n-updates">3<`} {
		if !strings.Contains(page, want) {
			t.Errorf("db-1's page lacks %q", want)
		}
	}
	if r := b.get("/ui/hosts/nope"); r.status != http.StatusNotFound {
		t.Errorf("unknown host: %d", r.status)
	}
	// The overview lists the host out of its SLA.
	if ov := b.page("/ui/"); !strings.Contains(ov, `id="out-of-sla"`) || !strings.Contains(ov, `<a href="/ui/hosts/db-1">db-1</a></td><td>`) {
		t.Errorf("the overview does not list db-1 as out of its SLA")
	}
}

// The KPI page shows the API's numbers for the same period, with charts.
func TestDashboardKPIs(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	now := time.Now().UTC()
	outs := []patchpilot.Outcome{
		{Time: now.Add(-48 * time.Hour), Rollout: "r-1", Host: "web-1", Outcome: patchpilot.OutcomeSucceeded, Packages: []patchpilot.PackageChange{{Name: "web", From: "0.9", To: "1.0"}}},
		{Time: now.Add(-47 * time.Hour), Rollout: "r-1", Host: "web-2", Outcome: patchpilot.OutcomeRolledBack, Packages: []patchpilot.PackageChange{{Name: "web", From: "0.9", To: "1.0"}}},
		{Time: now.Add(-20 * time.Hour), Rollout: "r-2", Host: "web-2", Outcome: patchpilot.OutcomeSucceeded, Packages: []patchpilot.PackageChange{{Name: "web", From: "0.9", To: "1.0"}}},
	}
	if _, err := f.app.Store.ImportOutcomes(f.ctx, outs); err != nil {
		t.Fatal(err)
	}
	kp := decode[app.KPIReport](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/kpis?since=7d", "", http.StatusOK))
	b := f.loggedIn(patchpilot.RoleViewer)
	if r := b.get("/ui/kpis?since=7d"); r.status != http.StatusOK {
		t.Fatalf("KPI page: %s\nlog:\n%s", r, f.logs.String())
	}
	page := b.page("/ui/kpis?since=7d")
	got := numbers(page)
	if got["k-patches"] != kp.Patches.Total || got["k-rollbacks"] != kp.Rollbacks || kp.Patches.Total != 3 || kp.Rollbacks != 1 {
		t.Errorf("KPI page patches %d, rollbacks %d; the API says %d and %d", got["k-patches"], got["k-rollbacks"], kp.Patches.Total, kp.Rollbacks)
	}
	cfr := regexp.MustCompile(`id="k-cfr">([0-9.]+)%<`).FindStringSubmatch(page)
	if cfr == nil {
		t.Fatalf("no change failure rate on the page")
	}
	if v, _ := strconv.ParseFloat(cfr[1], 64); v < kp.ChangeFailureRate*100-0.05 || v > kp.ChangeFailureRate*100+0.05 || kp.ChangeFailureRate == 0 {
		t.Errorf("change failure rate %s%%; the API says %v", cfr[1], kp.ChangeFailureRate)
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d charts on the KPI page; want 4", n)
	}
	if r := b.get("/ui/kpis?since=soon"); r.status != http.StatusBadRequest {
		t.Errorf("since=soon: %d", r.status)
	}
	if r := b.get("/ui/kpis?since=7d&from=2026-01-01T00:00:00Z"); r.status != http.StatusBadRequest {
		t.Errorf("since and from: %d", r.status)
	}
}

// A host's patch history and risk history come from its outcomes, and
// the history page counts them and calibrates the model on them.
func TestDashboardHostHistory(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	outs := []patchpilot.Outcome{
		{Time: at, Rollout: "r-old-1", Host: "web-1", OS: "debian:12", Outcome: patchpilot.OutcomeSucceeded,
			Packages: []patchpilot.PackageChange{{Name: "web", From: "0.9", To: "1.0"}}},
		{Time: at.Add(time.Hour), Rollout: "r-old-2", Host: "web-1", OS: "debian:12", Outcome: patchpilot.OutcomeRolledBack, Reason: "gate breached",
			Packages: []patchpilot.PackageChange{{Name: "openssl", From: "3.0.11", To: "3.0.13"}}},
		{Time: at.Add(2 * time.Hour), Rollout: "r-old-2", Host: "web-2", OS: "debian:12", Outcome: patchpilot.OutcomeSucceeded,
			Packages: []patchpilot.PackageChange{{Name: "openssl", From: "3.0.11", To: "3.0.13"}}},
	}
	if _, err := f.app.Store.ImportOutcomes(f.ctx, outs); err != nil {
		t.Fatal(err)
	}
	b := f.loggedIn(patchpilot.RoleViewer)
	page := b.page("/ui/hosts/web-1")
	hist := page[strings.Index(page, `id="history"`):]
	if !strings.Contains(hist, "/ui/rollouts/r-old-2") || !strings.Contains(hist, "rolled back") || !strings.Contains(hist, "gate breached") {
		t.Errorf("web-1's patch history lacks the rolled back patch:\n%s", hist)
	}
	risk := page[strings.Index(page, `id="risk"`):]
	if n := len(regexp.MustCompile(`</td><td class="r">\d+\.\d%</td>`).FindAllString(risk, -1)); n != 2 {
		t.Errorf("web-1's risk history has %d predicted failure rates; want 2:\n%s", n, risk)
	}
	hp := b.page("/ui/history")
	if !strings.Contains(hp, `id="n-records">3<`) || !strings.Contains(hp, `id="calibration"`) || !strings.Contains(hp, "<svg") {
		t.Errorf("history page lacks the record count or the calibration:\n%s", hp)
	}
	// openssl: 2 patches, 1 failed.
	if !regexp.MustCompile(`<td>openssl</td><td class="r">2</td><td class="r">1</td><td class="r">50.0%</td>`).MatchString(hp) {
		t.Errorf("history page lacks openssl's count")
	}
}

// gateEvent is a canary judge's verdict on one metric at one look, as
// the judge writes it into a gate result's evidence.
func gateEvent(id, host string, look int, estimate, lower, upper float64, outcome patchpilot.GateOutcome) patchpilot.Event {
	ev := map[string]any{"metric": "latency_p99", "outcome": "inconclusive", "estimate": estimate, "lower": lower, "upper": upper,
		"margin": 0.1, "unit": "relative", "looks": look, "evidence": map[string]any{"method": "did", "hosts": []map[string]any{
			{"host": host, "group": "patched", "baseline_mean": 100.0, "current_mean": 100.0 * (1 + estimate)},
			{"host": "ctl-1", "group": "control", "baseline_mean": 101.0, "current_mean": 101.5},
		}}}
	raw, _ := json.Marshal(ev)
	v := estimate
	margin := 0.1
	rep := patchpilot.HealthReport{Verdict: patchpilot.UnderReview, Reason: "canary (did): still looking",
		Results: []patchpilot.GateResult{{Gate: "canary:latency_p99", Outcome: outcome, Reason: "interval straddles the margin",
			Value: &v, Threshold: &margin, Evidence: raw}}}
	data, _ := json.Marshal(rep)
	return patchpilot.Event{Kind: patchpilot.EventGateVerdict, Rollout: id, Host: host, Actor: "controller", Message: "gate verdict", Data: data}
}

func TestDashboardRolloutPage(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	for look, e := range [][3]float64{{0.02, -0.05, 0.09}, {0.04, -0.01, 0.09}, {0.05, 0.01, 0.08}} {
		if _, err := f.app.Store.AppendEvent(f.ctx, gateEvent(id, "web-1", look+1, e[0], e[1], e[2], patchpilot.GateInconclusive)); err != nil {
			t.Fatal(err)
		}
	}
	// A look read again (by another host's check of the stage) is one point.
	if _, err := f.app.Store.AppendEvent(f.ctx, gateEvent(id, "web-1", 2, 0.04, -0.01, 0.09, patchpilot.GateInconclusive)); err != nil {
		t.Fatal(err)
	}
	b := f.loggedIn(patchpilot.RoleViewer)
	page := b.page("/ui/rollouts/" + id)
	stages := page[strings.Index(page, `id="stages"`):]
	if i, j := strings.Index(stages, "<strong>first</strong>"), strings.Index(stages, "<strong>rest</strong>"); i < 0 || j < i {
		t.Errorf("the stages are not listed in order")
	}
	if !strings.Contains(stages, "waiting approval") {
		t.Errorf("the first stage's state is not shown")
	}
	verdicts := page[strings.Index(page, `id="verdicts"`):]
	if n := strings.Count(verdicts, "canary:latency_p99"); n != 4 {
		t.Errorf("%d verdicts of canary:latency_p99 listed; want 4", n)
	}
	if n := strings.Count(page, "<title>estimate: "); n != 3 {
		t.Errorf("the estimate is drawn at %d looks; want 3", n)
	}
	if !strings.Contains(verdicts, "interval straddles the margin") || !strings.Contains(verdicts, "&#34;current_mean&#34;") {
		t.Errorf("the verdicts lack their reason or evidence")
	}
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("%d charts; want the interval and the means of latency_p99", n)
	}
	if !strings.Contains(page, "latency_p99 in stage first: estimated change and interval by look") || !strings.Contains(page, "canaries now") {
		t.Errorf("the charts lack their titles or series")
	}
	if !strings.Contains(page, `href="/ui/rollouts/`+id+`" id="refresh"`) || !strings.Contains(page, `data-live="true"`) {
		t.Errorf("the page lacks its refresh link or live marker")
	}
}

// A rollout with an incident shows it, on the page and in its live
// fragment: when, the stage, the hosts and why.
func TestDashboardRolloutIncident(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	ev, _ := json.Marshal(patchpilot.IncidentData{Hosts: []patchpilot.IncidentHost{{Host: "web-1", Stage: "first", State: patchpilot.HostRolledBack, Reason: "gate breached"}}})
	if _, err := f.app.Store.AddIncident(f.ctx, patchpilot.Incident{Rollout: id, Time: time.Now(), Stage: "first",
		Reason: "1 of 1 hosts failed, more than max_failures 0 allows", Hosts: []string{"web-1"}, Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	b := f.loggedIn(patchpilot.RoleViewer)
	for _, path := range []string{"/ui/rollouts/" + id, "/ui/rollouts/" + id + "/live"} {
		page := b.page(path)
		i := strings.Index(page, "<h2>Incidents</h2>")
		if i < 0 {
			t.Fatalf("%s has no incidents section", path)
		}
		inc := page[i:]
		for _, want := range []string{"stage first", "web-1", "1 of 1 hosts failed, more than max_failures 0 allows", "gate breached"} {
			if !strings.Contains(inc, want) {
				t.Errorf("%s: the incident lacks %q", path, want)
			}
		}
		if strings.Contains(inc, "No incident.") {
			t.Errorf("%s says there is no incident", path)
		}
	}
}

// The live fragment is the rollout's state without the page around it,
// and the session's event stream tells when to fetch it again.
func TestDashboardLiveFragmentAndEvents(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	id := f.startApproval(patchpilot.RoleOperator)
	b := f.loggedIn(patchpilot.RoleOperator)
	frag := b.page("/ui/rollouts/" + id + "/live")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `id="rollout-state">waiting approval<`) || !strings.Contains(frag, `id="pause"`) {
		t.Fatalf("fragment:\n%s", frag)
	}
	// The stream needs a session: without one the browser is sent to log in.
	if r := f.browser().get("/ui/events?rollout=" + id); r.status != http.StatusSeeOther {
		t.Errorf("events without a session: %d", r.status)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/ui/events?rollout="+id, nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("events: %d %v", res.StatusCode, res.Header)
	}
	// Pausing writes an event to the stream; the fragment then shows it.
	page := b.page("/ui/rollouts/" + id)
	if r := b.post("/ui/rollouts/"+id+"/pause", url.Values{"csrf": {csrf(t, page)}}); r.status != http.StatusSeeOther {
		t.Fatalf("pause: %s", r)
	}
	sc := bufio.NewScanner(res.Body)
	seen := false
	for !seen && sc.Scan() {
		seen = strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), "paus")
	}
	if !seen {
		t.Fatalf("the stream ended without the pause: %v", sc.Err())
	}
	if frag := b.page("/ui/rollouts/" + id + "/live"); !strings.Contains(frag, `id="rollout-state">paused<`) || !strings.Contains(frag, `id="resume"`) {
		t.Errorf("fragment after the pause:\n%s", frag)
	}
}

// "Plan this" on the updates page makes a plan to review; starting it
// from the plan's page starts a rollout; both are audited.
func TestDashboardPlanAndStart(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.loggedIn(patchpilot.RoleOperator)
	page := b.page("/ui/updates")
	if !strings.Contains(page, "web=1.1") || !strings.Contains(page, "Plan this") {
		t.Fatalf("updates page lacks web=1.1 or plan this:\n%s", page)
	}
	r := b.post("/ui/plans", url.Values{"csrf": {csrf(t, page)}, "patch": {"web=1.1"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/plans/") {
		t.Fatalf("plan this: %s", r)
	}
	planPath := r.header.Get("Location")
	plan := b.page(planPath)
	for _, want := range []string{`id="plan-yaml"`, "web=1.1", `id="policy-decision"`, `id="start"`} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan page lacks %q:\n%s", want, plan)
		}
	}
	r = b.post(planPath+"/start", url.Values{"csrf": {csrf(t, plan)}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/rollouts/") {
		t.Fatalf("start: %s", r)
	}
	rid := strings.TrimPrefix(r.header.Get("Location"), "/ui/rollouts/")
	st := f.waitState(rid, func(patchpilot.RolloutState) bool { return true })
	if st.CreatedBy != "token:operator" || st.PlanID != strings.TrimPrefix(planPath, "/ui/plans/") {
		t.Errorf("rollout = %+v", st)
	}
	viewer := f.loggedIn(patchpilot.RoleViewer)
	if strings.Contains(viewer.page(planPath), `id="start"`) {
		t.Errorf("a viewer sees start")
	}
	var got []string
	for _, e := range f.people.entries() {
		if !strings.HasPrefix(e.Action, "session.") {
			got = append(got, e.Action+" "+e.Actor+" "+e.Outcome)
		}
	}
	if want := []string{"plan.create token:operator ok", "rollout.start token:operator ok"}; !slices.Equal(got, want) {
		t.Errorf("audit = %v; want %v", got, want)
	}
	if r := b.post("/ui/plans", url.Values{"csrf": {csrf(t, page)}, "patch": {"nothing=9"}}); r.status < 400 || r.status >= 500 {
		t.Errorf("a plan for a package no host has: %s", r)
	}
}

// The host list shows hostsPerPage hosts a page, with links between them
// that keep the filters and the sort.
func TestDashboardHostPages(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		var hosts []patchpilot.Host
		for i := range hostsPerPage + 10 {
			hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("node-%03d", i), Labels: map[string]string{"env": "lab"}})
		}
		if err := a.Store.UpsertHosts(context.Background(), hosts); err != nil {
			t.Fatal(err)
		}
		// 25 of them need a reboot.
		for _, h := range hosts[:25] {
			fa := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh", OSFamily: patchpilot.FamilyDebian,
				OSName: "debian", OSVersion: "12", RebootRequired: true, PackagesKnown: true, UpdatesKnown: true}
			if err := a.Store.SaveFacts(context.Background(), fa); err != nil {
				t.Fatal(err)
			}
		}
	}})
	b := f.loggedIn(patchpilot.RoleViewer)
	// The overview counts every host needing a reboot and lists the first.
	ov := b.page("/ui/")
	if got := numbers(ov)["n-reboot"]; got != 25 || strings.Count(ov, `<li><a href="/ui/hosts/node-`) != overviewList || !strings.Contains(ov, "and 5 more") {
		t.Errorf("overview: %d hosts need a reboot, %d listed; want 25, %d listed and 5 more", got, strings.Count(ov, `<li><a href="/ui/hosts/node-`), overviewList)
	}
	row := regexp.MustCompile(`<td><a href="/ui/hosts/([^"]+)">`)
	first := b.page("/ui/hosts?label=env%3Dlab&sort=name&dir=desc")
	if n := len(row.FindAllString(first, -1)); n != hostsPerPage {
		t.Errorf("page 1 has %d hosts; want %d", n, hostsPerPage)
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first)
	if next == nil {
		t.Fatalf("page 1 has no link to page 2")
	}
	second := b.page(html.UnescapeString(next[1]))
	got := row.FindAllStringSubmatch(second, -1)
	if len(got) != 10 || got[0][1] != "node-009" || got[9][1] != "node-000" || !strings.Contains(second, `rel="prev"`) || strings.Contains(second, `rel="next"`) {
		t.Errorf("page 2 (%s) has %d hosts from %v", next[1], len(got), got)
	}
	if r := b.get("/ui/hosts?page=3"); r.status != http.StatusBadRequest {
		t.Errorf("page 3 of 2: %d", r.status)
	}
	if r := b.get("/ui/updates?page=2"); r.status != http.StatusBadRequest {
		t.Errorf("updates page 2 of 1: %d", r.status)
	}
}

// hostRows are the host names a host list page shows, in its order.
func hostRows(page string) []string {
	var names []string
	for _, m := range hostLink.FindAllStringSubmatch(page, -1) {
		names = append(names, m[1])
	}
	return names
}

var hostLink = regexp.MustCompile(`<td><a href="/ui/hosts/([^"]+)">`)
