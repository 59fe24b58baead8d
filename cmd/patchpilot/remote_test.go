package main

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

// noNetwork reaches no host: every dial fails as unreachable.
type noNetwork struct{}

func (noNetwork) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s: no network in this test", h.Name)
}

// remoteFixture is a server on a SQLite database that the same binary
// also reads locally with --db: two hosts, web-1 and web-2 (env=test, web
// 1.0 installed, 1.1 pending as a security update), and a token per role.
type remoteFixture struct {
	e   *env
	db  string
	url string
	tok map[patchpilot.Role]string
	// tlsURL is the same server over https, with a certificate signed by
	// the CA in caFile.
	tlsURL, caFile string
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	return newRemoteFixtureOf(t, []string{"web-1", "web-2"})
}

// newRemoteFixtureOf is newRemoteFixture with the hosts named.
func newRemoteFixtureOf(t *testing.T, names []string) *remoteFixture {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")
	a, err := app.New(ctx, app.Options{DBPath: db, Env: []string{"HOME=" + e.home, "USER=root"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	var hosts []patchpilot.Host
	for _, n := range names {
		hosts = append(hosts, patchpilot.Host{Name: n, Address: "192.0.2.1", User: "deploy", Port: 2222,
			Groups: []string{"web"}, Labels: map[string]string{"env": "test"}, Source: "inventory.ini"})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 11, 2, 10, i, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", Kernel: "6.1.0-26-amd64", Arch: "amd64",
			PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "web", Version: "1.0"}, {Name: "libc6", Version: "2.36-9"}},
			Updates:  []patchpilot.Update{{Package: "web", InstalledVersion: "1.0", CandidateVersion: "1.1", Security: true}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	tok := map[patchpilot.Role]string{}
	for _, r := range patchpilot.Roles {
		if tok[r], _, err = a.CreateToken(ctx, string(r), r, "user:test"); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := server.New(server.Options{App: a, People: a, Plans: a, PollInterval: 5 * time.Millisecond,
		NewController: func(eo app.EngineOptions) server.Controller {
			eo.Dialer = noNetwork{}
			eo.LeaseTTL = 30 * time.Second
			return server.AppController{C: a.Controller(eo)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tlsTS := httptest.NewUnstartedServer(srv.Handler())
	// The refused handshake of the test without --ca-cert is expected.
	tlsTS.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsTS.StartTLS()
	t.Cleanup(tlsTS.Close)
	ca := filepath.Join(e.home, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsTS.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &remoteFixture{e: e, db: db, url: ts.URL, tok: tok, tlsURL: tlsTS.URL, caFile: ca}
}

// local runs the binary on the database.
func (f *remoteFixture) local(args ...string) result {
	f.e.t.Helper()
	return f.e.run(append(args, "--db", f.db)...)
}

// remote runs the binary against the server with the token of role,
// given in the environment.
func (f *remoteFixture) remote(role patchpilot.Role, args ...string) result {
	f.e.t.Helper()
	saved := f.e.vars
	defer func() { f.e.vars = saved }()
	f.e.vars = append(append([]string{}, saved...), "PATCHPILOT_SERVER="+f.url, "PATCHPILOT_TOKEN="+f.tok[role])
	return f.e.run(args...)
}

// same runs a command locally and against the server and wants the same
// standard output, byte for byte, and the same exit code.
func (f *remoteFixture) same(t *testing.T, args ...string) result {
	t.Helper()
	return f.sameAs(t, patchpilot.RoleViewer, args...)
}

// sameAs is same with the token of role.
func (f *remoteFixture) sameAs(t *testing.T, role patchpilot.Role, args ...string) result {
	t.Helper()
	l, r := f.local(args...), f.remote(role, args...)
	if l.code != r.code {
		t.Errorf("patchpilot %s: exit %d locally, %d against the server\nlocal stderr: %s\nremote stderr: %s",
			strings.Join(args, " "), l.code, r.code, l.stderr, r.stderr)
	}
	if l.stdout != r.stdout {
		t.Errorf("patchpilot %s: output differs\nlocally:\n%s\nagainst the server:\n%s", strings.Join(args, " "), l.stdout, r.stdout)
	}
	return r
}

// The read commands print the same against a server as locally, in every
// format, and fail with the same exit codes.
func TestRemoteReadsMatchLocal(t *testing.T) {
	f := newRemoteFixture(t)
	for _, args := range [][]string{
		{"hosts"}, {"hosts", "-o", "json"}, {"hosts", "-o", "yaml"},
		{"hosts", "show", "web-1"}, {"hosts", "show", "web-1", "-o", "json"}, {"hosts", "show", "web-2", "--packages"},
		{"updates"}, {"updates", "--security", "-o", "json"}, {"updates", "--host", "web-2"},
		{"assess"}, {"assess", "-o", "json"}, {"assess", "--host", "web-1", "-o", "yaml"},
		{"history"}, {"history", "-o", "json"}, {"rollout", "list"}, {"rollout", "list", "-o", "json"},
		{"deps"}, {"deps", "web-1", "-o", "dot"},
	} {
		if r := f.same(t, args...); r.code != 0 {
			t.Errorf("patchpilot %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := f.same(t, "deps", "nosuch"); r.code != 4 || !strings.Contains(r.stderr, `"nosuch"`) {
		t.Errorf("patchpilot deps nosuch against the server: exit %d, %s; want 4 naming it", r.code, r.stderr)
	}
	// A report names the time it was made, which differs between two runs
	// a second apart; everything else is the same.
	generated := regexp.MustCompile(`Generated (by patchpilot )?at [0-9TZ:-]+|"generated_at": "[^"]*"`)
	for _, args := range [][]string{
		{"report", "--since", "2026-10-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z"},
		{"report", "--since", "2026-10-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "-o", "html"},
		{"report", "--since", "2026-10-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "-o", "md"},
		{"report", "--since", "2026-10-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "-o", "json"},
	} {
		l, r := f.local(args...), f.remote(patchpilot.RoleViewer, args...)
		if l.code != 0 || r.code != 0 {
			t.Errorf("patchpilot %s: exit %d locally, %d against the server\n%s%s", strings.Join(args, " "), l.code, r.code, l.stderr, r.stderr)
		}
		if a, b := generated.ReplaceAllString(l.stdout, "GENERATED"), generated.ReplaceAllString(r.stdout, "GENERATED"); a != b {
			t.Errorf("patchpilot %s: output differs\nlocally:\n%s\nagainst the server:\n%s", strings.Join(args, " "), a, b)
		}
	}
	if out := f.same(t, "hosts", "show", "web-1").stdout; !strings.Contains(out, "192.0.2.1:2222") || !strings.Contains(out, "deploy") {
		t.Errorf("hosts show: no address, port or user:\n%s", out)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"hosts", "show", "nope"}, 4},
		{[]string{"rollout", "status", "r-nope"}, 4},
		{[]string{"rollout", "events", "r-nope"}, 4},
		{[]string{"history", "--host", "ghost"}, 4},
		{[]string{"history", "--rollout", "r-nope"}, 4},
		{[]string{"assess", "--patch", "nosuch=1"}, 4},
	} {
		if r := f.same(t, tt.args...); r.code != tt.code || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("patchpilot %s against the server: exit %d, stderr %q; want %d", strings.Join(tt.args, " "), r.code, r.stderr, tt.code)
		}
	}
}

// An empty fleet reads the same too.
func TestRemoteEmptyMatchesLocal(t *testing.T) {
	f := newRemoteFixtureOf(t, nil)
	for _, args := range [][]string{
		{"hosts"}, {"hosts", "-o", "json"}, {"updates", "-o", "json"}, {"assess"}, {"history", "-o", "yaml"},
		{"rollout", "list"}, {"rollout", "list", "-o", "json"},
	} {
		if r := f.same(t, args...); r.code != 0 {
			t.Errorf("patchpilot %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// rolloutID reads the "rollout ID" line the start command prints first.
var rolloutID = regexp.MustCompile(`(?m)^rollout (\S+)$`)

// A plan proposed through the server is the one proposed locally, and is
// stored there; a rollout started through the server is driven by it and
// followed by the command, which exits as the local one does at each
// point where a person must act; the people who may act are the token's.
func TestRemoteRollout(t *testing.T) {
	f := newRemoteFixture(t)
	dir := t.TempDir()

	l := f.local("plan", "--patch", "web=1.1", "--targets", "env=test")
	r := f.remote(patchpilot.RoleOperator, "plan", "--patch", "web=1.1", "--targets", "env=test")
	if l.code != 0 || r.code != 0 || l.stdout != r.stdout {
		t.Fatalf("plan: exit %d locally, %d remotely; outputs\n%s\n---\n%s\nremote stderr: %s", l.code, r.code, l.stdout, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`plan \S+ stored in http://`).MatchString(r.stderr) {
		t.Errorf("plan against the server: no stored plan id on stderr: %q", r.stderr)
	}
	js := decodeJSON[planResult](t, f.remote(patchpilot.RoleOperator, "plan", "--patch", "web=1.1", "-o", "json").stdout)
	if js.ID == "" || js.Plan == "" || len(js.Targets) != 2 {
		t.Errorf("plan -o json against the server = %+v; want its id, plan and targets", js)
	}
	if r := f.remote(patchpilot.RoleViewer, "plan", "--patch", "web=1.1"); r.code != patchpilot.ExitDenied {
		t.Errorf("plan with a viewer token: exit %d, stderr %q; want 6", r.code, r.stderr)
	}

	// A plan that waits for a person before its first stage: the start
	// command exits 12 there, locally and through the server.
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(`rollout:
  name: web-1.1
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, approval: required}
    - {name: rest, targets: rest}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	l = f.local("rollout", "start", plan)
	// The local rollout waits with the hosts the server's is to take: a
	// host is in one unfinished rollout at a time, so it is aborted
	// first.
	if lm := rolloutID.FindStringSubmatch(l.stdout); lm == nil {
		t.Fatalf("rollout start locally: exit %d, no rollout id in\n%s\n%s", l.code, l.stdout, l.stderr)
	} else if a := f.local("rollout", "abort", lm[1]); a.code != 0 {
		t.Fatalf("rollout abort %s locally: exit %d\n%s", lm[1], a.code, a.stderr)
	}
	r = f.remote(patchpilot.RoleOperator, "rollout", "start", plan, "--poll-interval", "10ms")
	if l.code != patchpilot.ExitWaitingApproval || r.code != l.code {
		t.Fatalf("rollout start: exit %d locally, %d against the server; want 12 both\nremote stdout:\n%s\nremote stderr:\n%s", l.code, r.code, r.stdout, r.stderr)
	}
	m := rolloutID.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "waiting_approval") || !strings.Contains(r.stderr, "waits for approval") {
		t.Fatalf("rollout start against the server: stdout\n%s\nstderr\n%s\nwant the id, the status and why it stopped", r.stdout, r.stderr)
	}
	id := m[1]
	f.same(t, "rollout", "status", id)
	f.same(t, "rollout", "status", id, "-o", "json")
	f.same(t, "rollout", "events", id)
	f.same(t, "rollout", "events", id, "-o", "json")

	// A viewer may not approve, nor may the operator that started it.
	for _, role := range []patchpilot.Role{patchpilot.RoleViewer, patchpilot.RoleOperator} {
		if r := f.remote(role, "rollout", "approve", id); r.code != patchpilot.ExitDenied || !strings.Contains(r.stderr, "error: ") {
			t.Errorf("rollout approve with a %s token: exit %d, stderr %q; want 6", role, r.code, r.stderr)
		}
	}
	// An approver may; the server drives the rollout on, the command
	// follows it: the hosts cannot be reached, it halts (exit 10).
	r = f.remote(patchpilot.RoleApprover, "rollout", "approve", id, "--poll-interval", "10ms")
	if r.code != patchpilot.ExitHalted || !strings.Contains(r.stdout, "stage first of rollout "+id+" approved") || !strings.Contains(r.stderr, "unreachable") {
		t.Fatalf("rollout approve by an approver: exit %d; want 10\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f.same(t, "rollout", "status", id)
	f.same(t, "history")
	f.same(t, "history", "--rollout", id, "-o", "yaml")
	f.same(t, "rollout", "list")
	if r := f.sameAs(t, patchpilot.RoleOperator, "rollout", "abort", id); r.code != 1 {
		t.Errorf("abort of an ended rollout: exit %d; want 1 (conflict)", r.code)
	}
	// No host was changed: there is nothing to roll back, as locally.
	if r := f.sameAs(t, patchpilot.RoleOperator, "rollout", "rollback", id); r.code == 0 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("rollback of a rollout that changed no host: exit %d, stderr %q; want an error", r.code, r.stderr)
	}

	// Pause and abort print what they did, as locally.
	r = f.remote(patchpilot.RoleOperator, "rollout", "start", plan, "--detach")
	m = rolloutID.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("rollout start --detach: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := f.remote(patchpilot.RoleOperator, "rollout", "pause", m[1]); r.code != 0 || r.stdout != "rollout "+m[1]+" paused: hosts in flight finish; resume with 'patchpilot rollout resume "+m[1]+"'\n" {
		t.Errorf("rollout pause: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := f.remote(patchpilot.RoleOperator, "rollout", "resume", m[1], "--poll-interval", "10ms"); r.code != patchpilot.ExitWaitingApproval {
		t.Errorf("rollout resume: exit %d; want 12 (it waits for approval again)\n%s", r.code, r.stderr)
	}
	if r := f.remote(patchpilot.RoleOperator, "rollout", "abort", m[1], "-o", "json"); r.code != 0 || decodeJSON[rolloutRequest](t, r.stdout).Request != "abort" {
		t.Errorf("rollout abort -o json: exit %d, stdout %q", r.code, r.stdout)
	}
}

// What cannot run against a server, or would not be used by it, is a
// usage error naming the commands that can; a token the server refuses
// exits 6; a token file others can read is refused before it is used.
func TestRemoteRefusals(t *testing.T) {
	f := newRemoteFixture(t)
	for _, args := range [][]string{
		{"inventory", "collect", "--local"}, {"hosts", "rm", "web-1"}, {"model", "train"}, {"lab", "up"},
		{"history", "export"}, {"server", "--server", f.url},
	} {
		r := f.remote(patchpilot.RoleAdmin, args...)
		if r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "not against a server") || !strings.Contains(r.stderr, "rollout start") {
			t.Errorf("patchpilot %s against a server: exit %d, stderr %q; want 2 naming the commands that work", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := f.remote(patchpilot.RoleViewer, "version"); r.code != 0 {
		t.Errorf("version with a server set: exit %d, %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"hosts", "--db", f.db}, {"rollout", "resume", "r-1", "--lease-ttl", "1m"}, {"rollout", "approve", "r-1", "--known-hosts", "kh"},
	} {
		if r := f.remote(patchpilot.RoleViewer, args...); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "does not apply against a server") {
			t.Errorf("patchpilot %s against a server: exit %d, stderr %q; want 2", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := f.local("rollout", "resume", "r-1", "--detach"); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "--detach works only with --server") {
		t.Errorf("--detach locally: exit %d, stderr %q; want 2", r.code, r.stderr)
	}

	// Tokens: a bad one is refused by the server (6), none at all is
	// refused before any call (6, as the server would); a plain-http URL
	// to another machine is a usage error (2).
	e := f.e
	e.vars = append(e.vars, "PATCHPILOT_TOKEN=pp_bogus")
	if r := e.run("hosts", "--server", f.url); r.code != patchpilot.ExitDenied || !strings.Contains(r.stderr, "token") {
		t.Errorf("bad token: exit %d, stderr %q; want 6", r.code, r.stderr)
	}
	e.vars = e.vars[:len(e.vars)-1]
	if r := e.run("hosts", "--server", f.url); r.code != patchpilot.ExitDenied || !strings.Contains(r.stderr, "PATCHPILOT_TOKEN") {
		t.Errorf("no token: exit %d, stderr %q; want 6 saying how to give one", r.code, r.stderr)
	}
	tf := filepath.Join(e.home, "token")
	if err := os.WriteFile(tf, []byte(f.tok[patchpilot.RoleViewer]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("hosts", "--server", f.url, "--token-file", tf); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("token file readable by others: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	if err := os.Chmod(tf, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.run("hosts", "--server", f.url, "--token-file", tf); r.code != 0 || !strings.Contains(r.stdout, "web-2") {
		t.Errorf("token file: exit %d, stderr %q", r.code, r.stderr)
	}
	// https: the certificate is verified; a private CA is given with
	// --ca-cert (or PATCHPILOT_CA_CERT).
	if r := e.run("hosts", "--server", f.tlsURL, "--token-file", tf); r.code != patchpilot.ExitUnavailable || !strings.Contains(r.stderr, "--ca-cert") {
		t.Errorf("https with an unknown CA: exit %d, stderr %q; want 5 and a hint at --ca-cert", r.code, r.stderr)
	}
	local := f.local("hosts")
	if r := e.run("hosts", "--server", f.tlsURL, "--token-file", tf, "--ca-cert", f.caFile); r.code != 0 || r.stdout != local.stdout {
		t.Errorf("https with --ca-cert: exit %d, stderr %q, stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, local.stdout)
	}
	if r := e.run("hosts", "--server", "http://patchpilot.example:8080", "--token-file", tf); r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, "--insecure-http") {
		t.Errorf("plain http to another machine: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
}

// The admin's commands and the configuration's read work against a
// server too, as the token's role allows: tokens, the audit log, the
// schedules and the policy check.
func TestRemoteAdminCommands(t *testing.T) {
	f := newRemoteFixture(t)
	r := f.remote(patchpilot.RoleAdmin, "token", "create", "ci", "--role", "viewer", "-o", "json")
	created := decodeJSON[createdToken](t, r.stdout)
	if r.code != 0 || created.Name != "ci" || created.Role != patchpilot.RoleViewer || !strings.HasPrefix(created.Secret, "ppt_") || created.CreatedBy != "token:admin" {
		t.Fatalf("token create against the server: exit %d, %+v, stderr %q", r.code, created, r.stderr)
	}
	// The new secret authenticates against the server.
	e := f.e
	e.vars = append(e.vars, "PATCHPILOT_TOKEN="+created.Secret)
	if r := e.run("hosts", "--server", f.url); r.code != 0 || !strings.Contains(r.stdout, "web-1") {
		t.Errorf("hosts with the token created remotely: exit %d, stderr %q", r.code, r.stderr)
	}
	e.vars = e.vars[:len(e.vars)-1]
	if r := f.remote(patchpilot.RoleAdmin, "token", "list"); r.code != 0 || !regexp.MustCompile(`(?m)^ci\s+viewer\s+active`).MatchString(r.stdout) {
		t.Errorf("token list against the server: exit %d, stdout\n%s", r.code, r.stdout)
	}
	if r := f.remote(patchpilot.RoleAdmin, "token", "revoke", "ci"); r.code != 0 || !strings.Contains(r.stdout, "Token ci revoked at") {
		t.Errorf("token revoke against the server: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := f.remote(patchpilot.RoleAdmin, "token", "revoke", "nope"); r.code != 4 {
		t.Errorf("token revoke of an unknown token against the server: exit %d, stderr %q; want 4", r.code, r.stderr)
	}
	for _, args := range [][]string{{"token", "list"}, {"token", "create", "x", "--role", "admin"}, {"audit"}} {
		if r := f.remote(patchpilot.RoleApprover, args...); r.code != patchpilot.ExitDenied {
			t.Errorf("patchpilot %s with an approver's token: exit %d, stderr %q; want 6", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// The audit log, the schedules and the policy check read the same
	// through the server as locally.
	audit := f.sameAs(t, patchpilot.RoleAdmin, "audit", "-o", "json")
	entries := decodeJSON[[]patchpilot.AuditEntry](t, audit.stdout)
	var actions []string
	for _, en := range entries {
		if en.Actor == "token:admin" {
			actions = append(actions, en.Action+" "+en.Target+" "+en.Outcome)
		}
	}
	if want := []string{"token.create ci ok", "token.revoke ci ok", "token.revoke nope not_found"}; strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("audit of the admin's calls = %q; want %q", actions, want)
	}
	f.sameAs(t, patchpilot.RoleAdmin, "audit", "--actor", "token:admin", "--limit", "1")
	f.same(t, "schedule", "list")
	plan := filepath.Join(f.e.home, "plan.yaml")
	if r := f.local("plan", "--patch", "web=1.1", "--targets", "env=test", "--out", plan); r.code != 0 {
		t.Fatalf("plan: exit %d, %s", r.code, r.stderr)
	}
	if r := f.same(t, "policy", "check", plan); r.code != 0 || !strings.Contains(r.stdout, "VERDICT") {
		t.Errorf("policy check against the server: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	f.same(t, "policy", "check", filepath.Join(f.e.home, "missing.yaml"))
}
