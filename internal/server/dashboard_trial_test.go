package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
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
