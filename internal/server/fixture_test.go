package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// people reads the real app's audit log for the tests' checks.
type people struct {
	t     *testing.T
	app   *app.App
	after int64 // the last entry of the fixture's own set-up
}

// entries is the audit log since the fixture was set up, oldest first.
func (p *people) entries() []patchpilot.AuditEntry {
	p.t.Helper()
	es, err := p.app.Audit(context.Background(), patchpilot.AuditFilter{})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []patchpilot.AuditEntry
	for _, e := range es {
		if e.ID > p.after {
			out = append(out, e)
		}
	}
	return out
}

// downDialer reaches no host: every dial fails as unreachable, at once or,
// with block set, when the context ends.
type downDialer struct{ block chan struct{} }

func (d downDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if d.block != nil {
		select {
		case d.block <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s: no network in this test", h.Name)
}

// fixture is a server on a fresh SQLite store with two hosts, web-1 and
// web-2 (env=test, web 1.0 installed, 1.1 pending), and a token per role.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	app    *app.App
	srv    *Server
	ts     *httptest.Server
	people *people
	tok    map[patchpilot.Role]string
	logs   *syncBuffer
}

type fixtureOptions struct {
	dialer  patchpilot.Dialer
	noStart bool // leave Start (resuming stored rollouts) to the test
	seed    func(a *app.App)
	// wrap, when set, wraps the app's controller.
	wrap func(Controller) Controller
	// config is a patchpilot.yaml (policy, schedules) applied to the
	// app's options.
	config string
	// now is the app's and the server's clock.
	now func() time.Time
	// schedules makes the server run the configured schedules.
	schedules bool
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ao := app.Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"}, Logger: logger, Now: o.now}
	if o.config != "" {
		path := filepath.Join(dir, "patchpilot.yaml")
		if err := os.WriteFile(path, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := app.LoadConfig(path, false)
		if err != nil {
			t.Fatal(err)
		}
		if ao, err = c.Apply(ao); err != nil {
			t.Fatal(err)
		}
	}
	a, err := app.New(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	seedHosts(t, a)
	if o.seed != nil {
		o.seed(a)
	}
	if o.dialer == nil {
		o.dialer = downDialer{}
	}
	f := &fixture{t: t, ctx: ctx, app: a, people: &people{t: t, app: a}, tok: map[patchpilot.Role]string{}, logs: logs}
	for _, r := range patchpilot.Roles {
		secret, _, err := a.CreateToken(ctx, string(r), r, "user:test")
		if err != nil {
			t.Fatal(err)
		}
		f.tok[r] = secret
	}
	if es := f.people.entries(); len(es) > 0 {
		f.people.after = es[len(es)-1].ID
	}
	var sched *app.SchedulerOptions
	if o.schedules {
		sched = &app.SchedulerOptions{Dialer: o.dialer}
	}
	f.srv, err = New(Options{App: a, People: a, Plans: a, PollInterval: 5 * time.Millisecond, Schedules: sched, AutoApprovalInterval: 10 * time.Millisecond,
		NewController: func(eo app.EngineOptions) Controller {
			eo.Dialer = o.dialer
			eo.LeaseTTL = 30 * time.Second
			var c Controller = AppController{C: a.Controller(eo)}
			if o.wrap != nil {
				c = o.wrap(c)
			}
			return c
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	t.Cleanup(func() { f.srv.Shutdown(context.Background()) })
	if !o.noStart {
		if err := f.srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func seedHosts(t *testing.T, a *app.App) {
	t.Helper()
	seedHostsIn(t, a, "test", "web-1", "web-2")
}

// seedHostsIn adds hosts as seedHosts does, labelled env=env: a test that
// needs rollouts at once over hosts of their own (a host is in one
// unfinished rollout at a time) targets each group by its label.
func seedHostsIn(t *testing.T, a *app.App, env string, names ...string) {
	t.Helper()
	ctx := context.Background()
	var hosts []patchpilot.Host
	for _, n := range names {
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "192.0.2.1", Labels: map[string]string{"env": env}})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Now().UTC(), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "web", Version: "1.0"}},
			Updates:  []patchpilot.Update{{Package: "web", InstalledVersion: "1.0", CandidateVersion: "1.1", Security: true}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// apiError decodes an error body.
func (r response) apiError(t *testing.T) errorBody {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e.Error
}

// do sends a request with the secret as bearer token ("" for none).
func (f *fixture) do(method, path, secret, body string, header ...string) response {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// as sends a request with the token of a role and wants the status.
func (f *fixture) as(role patchpilot.Role, method, path, body string, want int) response {
	f.t.Helper()
	r := f.do(method, path, f.tok[role], body)
	if r.status != want {
		f.t.Fatalf("%s %s as %s: %s; want %d", method, path, role, r, want)
	}
	return r
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

// waitState waits until the rollout's state satisfies ok, reading it
// through the API (the test waits for data, not for a time; the bound
// only keeps a broken run from hanging).
func (f *fixture) waitState(id string, ok func(patchpilot.RolloutState) bool) app.RolloutStatus {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := decode[app.RolloutStatus](f.t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/rollouts/"+id, "", http.StatusOK))
		if ok(st.State) {
			return st
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("rollout %s stays %s: %s", id, st.State, st.Reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func is(states ...patchpilot.RolloutState) func(patchpilot.RolloutState) bool {
	return func(s patchpilot.RolloutState) bool { return slices.Contains(states, s) }
}

// approvalPlan waits for a person before its first stage.
const approvalPlan = `rollout:
  name: web-1.1
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, approval: required}
    - {name: rest, targets: rest}
`

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
