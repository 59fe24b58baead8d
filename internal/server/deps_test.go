package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// seedDeps adds db-1 (postgresql on 5432) and a snapshot of web-1 that
// saw a connection from its nginx to db-1's port.
func seedDeps(a *app.App) {
	ctx := context.Background()
	now := time.Now().UTC()
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{{Name: "db-1", Address: "198.51.100.2"}}); err != nil {
		panic(err)
	}
	for _, f := range []patchpilot.Facts{
		{Host: "db-1", CollectedAt: now, Depth: &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{{
			Unit: "postgresql.service", Package: "postgresql-15", Version: "15.6", Listens: []patchpilot.Socket{{Port: 5432}}}}}},
		{Host: "web-1", CollectedAt: now.Add(time.Second), Depth: &patchpilot.HostDepth{
			Services:    []patchpilot.ServiceDetail{{Unit: "nginx.service", Package: "nginx-core", Version: "1.22"}},
			Connections: []patchpilot.Connection{{Direction: patchpilot.DirectionOut, Service: "nginx.service", Peer: "198.51.100.2", Port: 5432}},
			Modified:    []patchpilot.ModifiedFile{{Package: "nginx-common", Path: "/etc/nginx/nginx.conf", Conffile: true, Checks: "??5??????"}},
			Held:        []string{"nginx-core"}}},
	} {
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			panic(err)
		}
	}
}

func TestDeps(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: seedDeps})
	g := decode[patchpilot.DependencyGraph](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps", "", http.StatusOK))
	if len(g.Edges) != 1 {
		t.Fatalf("edges = %+v, want web-1 → db-1", g.Edges)
	}
	e := g.Edges[0]
	if e.From.Host != "web-1" || e.From.Service != "nginx.service" || e.To.Host != "db-1" || e.To.Package != "postgresql-15" ||
		e.To.Port != 5432 || e.State != patchpilot.EdgeLive {
		t.Errorf("edge = %+v, want web-1:nginx → db-1:postgresql:5432, live", e)
	}
	if g.MaxAge != patchpilot.DefaultDependencyMaxAge {
		t.Errorf("max age %s, want the default", g.MaxAge)
	}
	g = decode[patchpilot.DependencyGraph](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps?host=web-2&max_age=36h", "", http.StatusOK))
	if len(g.Edges) != 0 || g.MaxAge != 36*time.Hour || g.Edges == nil {
		t.Errorf("web-2's neighbourhood over 36h = %+v, want no edges (an empty list)", g)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps?host=nope", "", http.StatusNotFound).apiError(t); e.Field != "host" || e.Code != patchpilot.ENOTFOUND {
		t.Errorf("unknown host: %+v, want 404 naming host", e)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps?max_age=soon", "", http.StatusBadRequest).apiError(t); e.Field != "max_age" {
		t.Errorf("max_age=soon: %+v, want 400 naming max_age", e)
	}
	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps?depth=2", "", http.StatusBadRequest).apiError(t); e.Field != "depth" {
		t.Errorf("unknown parameter: %+v, want it named", e)
	}

	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/deps?max_age=", "", http.StatusBadRequest).apiError(t); e.Field != "max_age" {
		t.Errorf("max_age empty: %+v, want 400 naming max_age", e)
	}

	// A host's detail carries its part of the map.
	d := decode[HostDetail](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts/db-1", "", http.StatusOK))
	if d.Dependencies == nil || len(d.Dependencies.DependedOnBy) != 1 || d.Dependencies.DependedOnBy[0].From.Host != "web-1" ||
		len(d.Dependencies.DependsOn) != 0 || d.Dependencies.DependsOn == nil || d.Dependencies.Notes == nil ||
		!slices.Equal(d.Dependencies.Dependents.Hosts, []string{"web-1"}) {
		t.Errorf("db-1's dependencies = %+v, want web-1 depending on it", d.Dependencies)
	}

	// The client reads the same.
	c := f.client(patchpilot.RoleViewer)
	if hd, err := c.Host(f.ctx, "web-1", false); err != nil || hd.Dependencies == nil || len(hd.Dependencies.DependsOn) != 1 {
		t.Errorf("client Host(web-1) dependencies = %+v, %v; want web-1 → db-1", hd.Dependencies, err)
	}
	cg, err := c.DependencyGraph(f.ctx, app.DepsOptions{Host: "db-1", MaxAge: 48 * time.Hour})
	if err != nil || len(cg.Edges) != 1 || cg.MaxAge != 48*time.Hour {
		t.Errorf("client DependencyGraph = %+v, %v", cg, err)
	}
}

// The host page shows what the host depends on, what depends on it, its
// services in depth and its modifications.
func TestDashboardHostDependencies(t *testing.T) {
	f := newFixture(t, fixtureOptions{seed: seedDeps})
	b := f.loggedIn(patchpilot.RoleViewer)
	page := b.page("/ui/hosts/web-1")
	for _, want := range []string{
		`<td>db-1:postgresql:5432 (postgresql-15 15.6)</td><td>web-1:nginx (nginx-core 1.22)</td><td>observed</td><td><span class="badge good">live</span>`,
		`<td>/etc/nginx/nginx.conf</td><td>nginx-common</td><td><span class="badge warn">conffile</span> changed ??5??????</td>`,
		`<dd id="held"><span class="chip">nginx-core</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("web-1's page lacks %s", want)
		}
	}
	page = b.page("/ui/hosts/db-1")
	by := page[strings.Index(page, `id="depended-on-by"`):]
	if !strings.Contains(by, "<td>web-1:nginx (nginx-core 1.22)</td>") {
		t.Errorf("db-1's page does not show web-1 depending on it:\n%s", by)
	}
	if !strings.Contains(page, "<td>postgresql.service</td><td>postgresql-15</td><td>15.6</td><td><span class=\"chip\">*:5432</span>") {
		t.Errorf("db-1's page does not list its service in depth")
	}
}
