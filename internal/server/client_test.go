package server

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// client is a client of the fixture's server with the token of role.
func (f *fixture) client(role patchpilot.Role) *Client {
	f.t.Helper()
	c, err := NewClient(ClientOptions{URL: f.ts.URL, Token: f.tok[role]})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// The client reads what the handlers answer, in the root and app types,
// and the server's errors come back with their codes.
func TestClientReads(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	c := f.client(patchpilot.RoleViewer)

	sums, err := c.HostSummaries(ctx)
	if err != nil || len(sums) != 2 || sums[0].Name != "web-1" || sums[0].PendingUpdateCount != 1 {
		t.Fatalf("HostSummaries = %+v, %v", sums, err)
	}
	d, err := c.Host(ctx, "web-1", false)
	if err != nil || d.Name != "web-1" || d.Port != 22 || d.Facts == nil || d.Facts.Packages != nil || len(d.Updates) != 1 {
		t.Fatalf("Host = %+v, %v", d, err)
	}
	if d, err = c.Host(ctx, "web-1", true); err != nil || len(d.Facts.Packages) != 1 {
		t.Fatalf("Host with packages = %+v, %v", d.Facts, err)
	}
	_, err = c.Host(ctx, "nope", false)
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Host(nope) = %v; want not_found naming it", err)
	}
	ups, err := c.Updates(ctx, patchpilot.UpdateFilter{Host: "web-2", SecurityOnly: true})
	if err != nil || len(ups) != 1 || ups[0].Host != "web-2" || ups[0].CandidateVersion != "1.1" {
		t.Errorf("Updates = %+v, %v", ups, err)
	}
	res, err := c.Assess(ctx, app.AssessQuery{Host: "web-1"})
	if err != nil || len(res.Patches) != 1 || res.ModelVersion == "" {
		t.Errorf("Assess = %+v, %v", res, err)
	}
	if _, err := c.Outcomes(ctx, patchpilot.OutcomeFilter{Host: "ghost"}); patchpilot.ExitCode(err) != patchpilot.ExitNotFound {
		t.Errorf("Outcomes of a host nothing knows = %v; want exit 4", err)
	}
	if rs, err := c.Rollouts(ctx, patchpilot.RolloutFilter{Limit: 3}); err != nil || len(rs) != 0 {
		t.Errorf("Rollouts = %+v, %v", rs, err)
	}

	// A viewer may not make plans; a bad token is refused; both exit 6.
	if _, err := c.CreatePlan(ctx, "web=1.1", ""); patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN || patchpilot.ErrorHint(err) == "" {
		t.Errorf("CreatePlan as viewer = %v (hint %q); want forbidden with a hint", err, patchpilot.ErrorHint(err))
	}
	bad, err := NewClient(ClientOptions{URL: f.ts.URL, Token: "pp_nosuchtoken"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.HostSummaries(ctx); patchpilot.ErrorCode(err) != patchpilot.EUNAUTHENTICATED || patchpilot.ExitCode(err) != patchpilot.ExitDenied {
		t.Errorf("bad token = %v; want unauthenticated, exit 6", err)
	}
}

// A plan made through the client is stored; a rollout started from it
// runs in the server and Follow watches it to where a person must act,
// passing its events on once each, in order.
func TestClientPlanStartFollow(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	op, ap := f.client(patchpilot.RoleOperator), f.client(patchpilot.RoleApprover)

	created, err := op.CreatePlan(ctx, "web=1.1", "env=test")
	if err != nil || created.ID == "" || len(created.Targets) != 2 || !strings.Contains(created.Source, "# plan shape:") {
		t.Fatalf("CreatePlan = %+v, %v", created, err)
	}
	if sp, err := op.Plan(ctx, created.ID); err != nil || sp.Source != created.Source {
		t.Errorf("Plan(%s) = %+v, %v", created.ID, sp, err)
	}
	if _, err := op.StartStoredRollout(ctx, "p-nope", false); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("start of a plan that does not exist = %v; want not_found", err)
	}

	st, err := op.StartRollout(ctx, []byte(approvalPlan), false)
	if err != nil || st.ID == "" {
		t.Fatalf("StartRollout = %+v, %v", st, err)
	}
	var seen []int64
	record := func(e patchpilot.Event) { seen = append(seen, e.ID) }
	st, err = op.Follow(ctx, st.ID, FollowOptions{Interval: 5 * time.Millisecond, OnEvent: record})
	if err != nil || st.State != patchpilot.RolloutWaitingApproval {
		t.Fatalf("Follow = %s, %v; want waiting_approval", st.State, err)
	}
	if len(seen) == 0 || !slices.IsSorted(seen) {
		t.Errorf("events followed: %v; want some, in order", seen)
	}

	// The operator who started it may not approve (role); the approver may.
	if _, err := op.Approve(ctx, st.ID, ""); patchpilot.ErrorCode(err) != patchpilot.EFORBIDDEN {
		t.Errorf("Approve as operator = %v; want forbidden", err)
	}
	last, err := ap.LastEventID(ctx, st.ID)
	if err != nil || last < seen[len(seen)-1] {
		t.Fatalf("LastEventID = %d, %v; want at least %d, the last followed", last, err, seen[len(seen)-1])
	}
	done, err := ap.Approve(ctx, st.ID, "")
	if err != nil || done.Stage != "first" {
		t.Fatalf("Approve = %+v, %v", done, err)
	}
	var after []int64
	st, err = ap.Follow(ctx, st.ID, FollowOptions{Interval: 5 * time.Millisecond, After: last, OnEvent: func(e patchpilot.Event) { after = append(after, e.ID) }})
	// The hosts cannot be reached: the rollout ends in the server.
	if err != nil || !st.State.Final() {
		t.Fatalf("Follow after approval = %s, %v; want an end state", st.State, err)
	}
	if len(after) == 0 || after[0] <= last {
		t.Errorf("events after %d: %v; want only newer ones", last, after)
	}
	if patchpilot.ExitCode(app.RolloutResult(st)) != patchpilot.ExitHalted {
		t.Errorf("end state %s: exit %d; want 10", st.State, patchpilot.ExitCode(app.RolloutResult(st)))
	}
	if _, err := ap.Abort(ctx, st.ID); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
		t.Errorf("Abort of an ended rollout = %v; want conflict", err)
	}
}

// NewClient refuses what would leak the token or cannot work.
func TestNewClientRefuses(t *testing.T) {
	for _, tt := range []struct {
		o    ClientOptions
		want string
	}{
		{ClientOptions{URL: "http://patchpilot.example:8080", Token: "x"}, "in clear"},
		{ClientOptions{URL: "http://192.0.2.7", Token: "x"}, "in clear"},
		{ClientOptions{URL: "ftp://patchpilot.example", Token: "x"}, "expected an http:// or https:// URL"},
		{ClientOptions{URL: "patchpilot.example:8080", Token: "x"}, "expected an http:// or https:// URL"},
		{ClientOptions{URL: "https://ann:pw@patchpilot.example", Token: "x"}, "without user"},
		{ClientOptions{URL: "https://patchpilot.example", Token: "a b"}, "white space"},
		{ClientOptions{URL: "", Token: "x"}, "no URL"},
		{ClientOptions{URL: "http://127.0.0.1:8080/api/v1", Token: "x"}, "without the API's path"},
		{ClientOptions{URL: "https://pp.example/patchpilot/api/v1/", Token: "x"}, "without the API's path"},
		{ClientOptions{URL: "https://patchpilot.example", Token: "x", CACertFile: "/nonexistent/ca.pem"}, "--ca-cert"},
	} {
		_, err := NewClient(tt.o)
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewClient(%+v) = %v; want invalid with %q", tt.o, err, tt.want)
		}
		if err != nil && tt.o.Token != "" && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the URL's password: %v", err)
		}
	}
	if _, err := NewClient(ClientOptions{URL: "https://patchpilot.example"}); patchpilot.ExitCode(err) != patchpilot.ExitDenied || !strings.Contains(patchpilot.ErrorHint(err), "PATCHPILOT_TOKEN") {
		t.Errorf("no token: %v (hint %q); want exit 6 saying how to give one", err, patchpilot.ErrorHint(err))
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080"} {
		if _, err := NewClient(ClientOptions{URL: u, Token: "x"}); err != nil {
			t.Errorf("NewClient(%s) = %v; plain http to the loopback is allowed", u, err)
		}
	}
	if _, err := NewClient(ClientOptions{URL: "http://patchpilot.example", Token: "x", InsecureHTTP: true}); err != nil {
		t.Errorf("--insecure-http: %v", err)
	}
}

// An https server's certificate is verified: one from an unknown CA is
// refused (exit 5, with a hint at --ca-cert), and trusted with its CA.
func TestClientVerifiesCertificate(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ts := httptest.NewTLSServer(f.srv.Handler())
	t.Cleanup(ts.Close)
	ctx := context.Background()

	c, err := NewClient(ClientOptions{URL: ts.URL, Token: f.tok[patchpilot.RoleViewer]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.HostSummaries(ctx)
	if patchpilot.ExitCode(err) != patchpilot.ExitUnavailable || !strings.Contains(patchpilot.ErrorHint(err), "--ca-cert") {
		t.Fatalf("untrusted certificate: %v (hint %q); want exit 5 and a hint at --ca-cert", err, patchpilot.ErrorHint(err))
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = NewClient(ClientOptions{URL: ts.URL, Token: f.tok[patchpilot.RoleViewer], CACertFile: ca}); err != nil {
		t.Fatal(err)
	}
	if sums, err := c.HostSummaries(ctx); err != nil || len(sums) != 2 {
		t.Errorf("with --ca-cert: %d hosts, %v", len(sums), err)
	}

	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(ClientOptions{URL: ts.URL, Token: "x", CACertFile: notPEM}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("a CA file without a certificate = %v; want invalid", err)
	}
}

// A server that is down is unavailable (exit 5), naming it.
func TestClientServerDown(t *testing.T) {
	ts := httptest.NewServer(nil)
	url := ts.URL
	ts.Close()
	c, err := NewClient(ClientOptions{URL: url, Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Rollouts(context.Background(), patchpilot.RolloutFilter{})
	if patchpilot.ExitCode(err) != patchpilot.ExitUnavailable || !strings.Contains(err.Error(), url) {
		t.Errorf("server down: %v; want exit 5 naming %s", err, url)
	}
}
