package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// fakePeople keeps tokens and the audit log in memory.
type fakePeople struct {
	mu      sync.Mutex
	secrets map[string]string // secret -> token name
	tokens  map[string]patchpilot.Token
	audit   []patchpilot.AuditEntry
}

func newFakePeople() *fakePeople {
	return &fakePeople{secrets: map[string]string{}, tokens: map[string]patchpilot.Token{}}
}

func (p *fakePeople) add(name string, role patchpilot.Role) string {
	secret := "pp_" + name + "_secret"
	p.mu.Lock()
	defer p.mu.Unlock()
	p.secrets[secret] = name
	p.tokens[name] = patchpilot.Token{Name: name, Role: role, CreatedBy: "test", CreatedAt: time.Now()}
	return secret
}

func (p *fakePeople) Authenticate(_ context.Context, secret string) (patchpilot.Principal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.secrets[secret]
	if !ok || p.tokens[name].RevokedAt != nil {
		return patchpilot.Principal{}, patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "unknown or revoked token")
	}
	return patchpilot.Principal{Token: name, Role: p.tokens[name].Role}, nil
}

// CreateToken creates a token and, as the app does, records the attempt.
func (p *fakePeople) CreateToken(ctx context.Context, name string, role patchpilot.Role, actor string) (string, patchpilot.Token, error) {
	secret, t, err := p.createToken(name, role, actor)
	p.recordResult(ctx, actor, "token.create", name, err)
	return secret, t, err
}

func (p *fakePeople) createToken(name string, role patchpilot.Role, actor string) (string, patchpilot.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.tokens[name]; ok {
		return "", patchpilot.Token{}, patchpilot.Errorf(patchpilot.ECONFLICT, "token %s exists", name)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := "pp_" + hex.EncodeToString(b)
	t := patchpilot.Token{Name: name, Role: role, CreatedBy: actor, CreatedAt: time.Now()}
	p.secrets[secret], p.tokens[name] = name, t
	return secret, t, nil
}

func (p *fakePeople) Tokens(context.Context) ([]patchpilot.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []patchpilot.Token
	for _, t := range p.tokens {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b patchpilot.Token) int { return strings.Compare(a.Name, b.Name) })
	return ts, nil
}

// RevokeToken revokes a token and, as the app does, records the attempt.
func (p *fakePeople) RevokeToken(ctx context.Context, name, actor string) error {
	err := p.revokeToken(name)
	p.recordResult(ctx, actor, "token.revoke", name, err)
	return err
}

func (p *fakePeople) revokeToken(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tokens[name]
	if !ok {
		return patchpilot.Errorf(patchpilot.ENOTFOUND, "no token %s", name)
	}
	now := time.Now()
	t.RevokedAt = &now
	p.tokens[name] = t
	return nil
}

func (p *fakePeople) recordResult(ctx context.Context, actor, action, target string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = string(patchpilot.ErrorCode(err))
	}
	_ = p.RecordAudit(ctx, patchpilot.AuditEntry{Time: time.Now(), Actor: actor, Token: strings.TrimPrefix(actor, "token:"),
		Action: action, Target: target, Outcome: outcome})
}

func (p *fakePeople) RecordAudit(_ context.Context, e patchpilot.AuditEntry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.ID = int64(len(p.audit) + 1)
	p.audit = append(p.audit, e)
	return nil
}

func (p *fakePeople) Audit(_ context.Context, f patchpilot.AuditFilter) ([]patchpilot.AuditEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []patchpilot.AuditEntry
	for _, e := range p.audit {
		if (f.Actor == "" || e.Actor == f.Actor) && (f.Rollout == "" || e.Rollout == f.Rollout) && !e.Time.Before(f.Since) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (p *fakePeople) entries() []patchpilot.AuditEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.audit)
}

// fakePlans keeps plans in memory.
type fakePlans struct {
	mu    sync.Mutex
	plans map[string]StoredPlan
}

func (p *fakePlans) SavePlan(_ context.Context, pl patchpilot.Plan, source []byte, actor string) (StoredPlan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	parsed, err := app.ParsePlan(source, "plan")
	if err != nil {
		return StoredPlan{}, err
	}
	want, _ := app.MarshalPlan(pl)
	got, _ := app.MarshalPlan(parsed)
	if string(want) != string(got) {
		return StoredPlan{}, patchpilot.Errorf(patchpilot.EINVALID, "the plan and its source differ")
	}
	sp := StoredPlan{ID: fmt.Sprintf("p-%d", len(p.plans)+1), Name: pl.Name, CreatedBy: actor, CreatedAt: time.Now(), Source: string(source)}
	p.plans[sp.ID] = sp
	return sp, nil
}

func (p *fakePlans) PlanRecord(_ context.Context, id string) (StoredPlan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp, ok := p.plans[id]
	if !ok {
		return StoredPlan{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "no plan %s", id)
	}
	return sp, nil
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
	people *fakePeople
	plans  *fakePlans
	tok    map[patchpilot.Role]string
	logs   *syncBuffer
}

type fixtureOptions struct {
	dialer  patchpilot.Dialer
	noStart bool // leave Start (resuming stored rollouts) to the test
	seed    func(a *app.App)
	// wrap, when set, wraps the app's controller.
	wrap func(Controller) Controller
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(ctx, app.Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"}, Logger: logger})
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
	f := &fixture{t: t, ctx: ctx, app: a, people: newFakePeople(), plans: &fakePlans{plans: map[string]StoredPlan{}},
		tok: map[patchpilot.Role]string{}, logs: logs}
	for _, r := range patchpilot.Roles {
		f.tok[r] = f.people.add(string(r), r)
	}
	f.srv, err = New(Options{App: a, People: f.people, Plans: f.plans, PollInterval: 5 * time.Millisecond,
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
	ctx := context.Background()
	var hosts []patchpilot.Host
	for _, n := range []string{"web-1", "web-2"} {
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "192.0.2.1", Labels: map[string]string{"env": "test"}})
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
