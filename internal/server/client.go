package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// ClientOptions say which server a Client talks to and how.
type ClientOptions struct {
	// URL is the server's base URL, such as https://patchpilot.example:8080.
	URL string
	// Token is the API token's secret, sent as a bearer token.
	Token string
	// CACertFile, when set, is a PEM file of the certificate authority
	// that signed the server's certificate (a private CA), trusted on top
	// of the system's.
	CACertFile string
	// InsecureHTTP allows a plain-http URL to a host that is not the
	// loopback: the token then crosses the network in clear.
	InsecureHTTP bool
	// HTTPClient, when set, is used as it is (tests); CACertFile is then
	// ignored.
	HTTPClient *http.Client
	// UserAgent names the caller; default "patchpilot".
	UserAgent string
}

// Client calls the server's API and returns the root and app types the
// server's handlers answer with, and the server's errors as
// *patchpilot.Error with their code, so that a front end shows them as it
// shows the app's own.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	agent string
}

// NewClient checks the options and builds a client. It refuses a
// plain-http URL to another host than the loopback unless InsecureHTTP
// is set.
func NewClient(o ClientOptions) (*Client, error) {
	raw := strings.TrimSpace(o.URL)
	if raw == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--server: no URL given").
			WithHint("give the server's URL, such as https://patchpilot.example:8080")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--server %q: expected an http:// or https:// URL with a host", raw).
			WithHint("such as https://patchpilot.example:8080")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--server %q: expected a URL without user, query or fragment", u.Redacted()).
			WithHint("give the token with PATCHPILOT_TOKEN or --token-file, not in the URL")
	}
	if p := strings.TrimSuffix(u.Path, "/"); strings.HasSuffix(p, "/api/v1") || strings.HasSuffix(p, "/api") {
		root := *u
		root.Path = strings.TrimSuffix(strings.TrimSuffix(p, "/v1"), "/api")
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--server %s: expected the server's own URL, without the API's path", u).
			WithHint("use --server " + root.String())
	}
	if u.Scheme == "http" && !o.InsecureHTTP && !loopback(u.Hostname()) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--server %s: plain http to %s would send the token over the network in clear", u, u.Hostname()).
			WithHint("use https (with --ca-cert for a private CA), or give --insecure-http if the network is trusted")
	}
	if o.Token == "" {
		// As the server answers a call without a token: exit 6.
		return nil, patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "no API token for %s", u).
			WithHint("set PATCHPILOT_TOKEN or give --token-file FILE (an admin creates one with 'patchpilot token create NAME --role ROLE')")
	}
	if strings.ContainsAny(o.Token, " \t\r\n") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "the API token holds white space: expected the secret alone")
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CACertFile != "" {
			pool, err := caPool(o.CACertFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		hc = &http.Client{Transport: tr}
	}
	// Never follow a redirect: it could carry the token elsewhere.
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	agent := o.UserAgent
	if agent == "" {
		agent = "patchpilot"
	}
	return &Client{base: u, token: o.Token, http: &c, agent: agent}, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// caPool is the system's trusted authorities and those of file.
func caPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--ca-cert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "--ca-cert %s: no PEM certificate in the file", file).
			WithHint("give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)")
	}
	return pool, nil
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// do sends a request and decodes a 2xx answer's JSON into out (when not
// nil). An error answer becomes the *patchpilot.Error its body describes.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := *c.base
	u.Path = c.base.Path + "/api/v1" + path
	u.RawQuery = q.Encode()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = bytes.NewReader(b.data), b.contentType
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "encode the request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "server request %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(ctx, c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return transportError(ctx, c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "the answer of %s %s from %s is not the JSON expected: %s", method, path, c.base, err).
			WithHint("check that --server names a patchpilot server of the same version")
	}
	return nil
}

// transportError is a request that got no answer.
func transportError(ctx context.Context, base *url.URL, err error) error {
	if ctx.Err() != nil {
		return patchpilot.Errorf(patchpilot.ErrorCode(ctx.Err()), "%s: %w", base, ctx.Err())
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // the URL is named once, without the path
	}
	hint := "check that the server runs and that --server names it"
	var cerr *tls.CertificateVerificationError
	if errors.As(err, &cerr) {
		hint = "the server's certificate is not trusted: give its CA with --ca-cert FILE"
	}
	return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "server %s: %s", base, err).WithHint(hint)
}

// answerError reads an error answer's body.
func answerError(resp *http.Response, data []byte) error {
	var body apiError
	if err := json.Unmarshal(data, &body); err == nil && body.Error.Code != "" {
		e := patchpilot.Errorf(body.Error.Code, "%s", body.Error.Message)
		if body.Error.Hint != "" {
			e = e.WithHint(body.Error.Hint)
		}
		return e
	}
	code := patchpilot.EUNAVAILABLE
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		code = patchpilot.EUNAUTHENTICATED
	case http.StatusForbidden:
		code = patchpilot.EFORBIDDEN
	case http.StatusNotFound:
		code = patchpilot.ENOTFOUND
	case http.StatusBadRequest:
		code = patchpilot.EINVALID
	}
	return patchpilot.Errorf(code, "%s %s: %s", resp.Request.Method, resp.Request.URL.Redacted(), resp.Status).
		WithHint("check that --server names a patchpilot server")
}

// HostSummaries lists the hosts (GET /hosts).
func (c *Client) HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	var out []patchpilot.HostSummary
	return out, c.do(ctx, "GET", "/hosts", nil, nil, &out)
}

// Host returns one host with its latest facts, their history and its
// pending updates (GET /hosts/{name}); packages includes the installed
// package list.
func (c *Client) Host(ctx context.Context, name string, packages bool) (HostDetail, error) {
	var (
		out HostDetail
		q   url.Values
	)
	if packages {
		q = url.Values{"packages": {"true"}}
	}
	return out, c.do(ctx, "GET", "/hosts/"+url.PathEscape(name), q, nil, &out)
}

// DependencyGraph is the dependency map (GET /deps): the fleet's, or one
// host's neighbourhood; a zero MaxAge is the server's configured one.
func (c *Client) DependencyGraph(ctx context.Context, o app.DepsOptions) (patchpilot.DependencyGraph, error) {
	var out patchpilot.DependencyGraph
	q := url.Values{}
	if o.Host != "" {
		q.Set("host", o.Host)
	}
	if o.MaxAge != 0 {
		q.Set("max_age", o.MaxAge.String())
	}
	return out, c.do(ctx, "GET", "/deps", q, nil, &out)
}

// Updates lists pending updates (GET /updates).
func (c *Client) Updates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	if len(f.Hosts) > 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "pending updates of a list of hosts: the API selects one host or all")
	}
	q := url.Values{}
	if f.Host != "" {
		q.Set("host", f.Host)
	}
	if f.SecurityOnly {
		q.Set("security", "true")
	}
	if f.Package != "" {
		q.Set("package", f.Package)
	}
	var out []patchpilot.HostUpdate
	return out, c.do(ctx, "GET", "/updates", q, nil, &out)
}

// Assess scores pending updates with the server's risk model (POST
// /assessments).
func (c *Client) Assess(ctx context.Context, q app.AssessQuery) (app.AssessResult, error) {
	var out app.AssessResult
	return out, c.do(ctx, "POST", "/assessments", nil, assessRequest{Patch: q.Patch, Host: q.Host}, &out)
}

// CreatePlan proposes a plan for patch (pins or "security") over the
// hosts targets selects, and stores it (POST /plans).
func (c *Client) CreatePlan(ctx context.Context, patch, targets string) (PlanCreated, error) {
	return c.CreatePlanWith(ctx, patch, targets, false)
}

// CreatePlanWith is CreatePlan, keeping the targets on whose class the
// patch is quarantined when allowQuarantined is set.
func (c *Client) CreatePlanWith(ctx context.Context, patch, targets string, allowQuarantined bool) (PlanCreated, error) {
	var out PlanCreated
	return out, c.do(ctx, "POST", "/plans", nil, planRequest{Patch: patch, Targets: targets, AllowQuarantined: allowQuarantined}, &out)
}

// Quarantines lists the quarantined versions (GET /quarantines).
func (c *Client) Quarantines(ctx context.Context) ([]app.Quarantine, error) {
	var out []app.Quarantine
	return out, c.do(ctx, "GET", "/quarantines", nil, nil, &out)
}

// ClearQuarantine lifts a quarantine as the token's principal (POST
// /quarantines/clear); the request's Actor is not sent.
func (c *Client) ClearQuarantine(ctx context.Context, req app.QuarantineClear) (app.QuarantineCleared, error) {
	var out app.QuarantineCleared
	body := quarantineClearRequest{Package: req.Package, Version: req.Version, Class: string(req.Class), Reason: req.Reason}
	return out, c.do(ctx, "POST", "/quarantines/clear", nil, body, &out)
}

// Plan returns a stored plan (GET /plans/{id}).
func (c *Client) Plan(ctx context.Context, id string) (StoredPlan, error) {
	var out StoredPlan
	return out, c.do(ctx, "GET", "/plans/"+url.PathEscape(id), nil, nil, &out)
}

// Rollouts lists rollouts, newest first (GET /rollouts), each with its
// plan parsed from the source it was started with (a source that no
// longer parses leaves the plan empty).
func (c *Client) Rollouts(ctx context.Context, f patchpilot.RolloutFilter) ([]patchpilot.Rollout, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []patchpilot.Rollout
	if err := c.do(ctx, "GET", "/rollouts", q, nil, &out); err != nil {
		return nil, err
	}
	// The API sends each plan as its YAML source, as it was started.
	for i, r := range out {
		if p, err := app.ParsePlan([]byte(r.PlanSource), "rollout "+r.ID); err == nil {
			out[i].Plan = p
		}
	}
	return out, nil
}

// StartRollout sends a plan's YAML and starts it in the server, which
// drives it (POST /rollouts).
func (c *Client) StartRollout(ctx context.Context, planYAML []byte, dryRun bool) (app.RolloutStatus, error) {
	var out app.RolloutStatus
	return out, c.do(ctx, "POST", "/rollouts", nil, startRequest{Plan: string(planYAML), DryRun: dryRun}, &out)
}

// StartStoredRollout starts the stored plan id (POST /rollouts).
func (c *Client) StartStoredRollout(ctx context.Context, planID string, dryRun bool) (app.RolloutStatus, error) {
	var out app.RolloutStatus
	return out, c.do(ctx, "POST", "/rollouts", nil, startRequest{PlanID: planID, DryRun: dryRun}, &out)
}

// RolloutStatus returns a rollout's status (GET /rollouts/{id}).
func (c *Client) RolloutStatus(ctx context.Context, id string) (app.RolloutStatus, error) {
	var out app.RolloutStatus
	return out, c.do(ctx, "GET", "/rollouts/"+url.PathEscape(id), nil, nil, &out)
}

// RolloutEvents returns a rollout's events after the event id after, in
// order (GET /rollouts/{id}/events).
func (c *Client) RolloutEvents(ctx context.Context, id string, after int64) ([]patchpilot.Event, error) {
	var q url.Values
	if after > 0 {
		q = url.Values{"after": {strconv.FormatInt(after, 10)}}
	}
	var out []patchpilot.Event
	return out, c.do(ctx, "GET", "/rollouts/"+url.PathEscape(id)+"/events", q, nil, &out)
}

// Approve approves the stage waiting (or the one named) of a rollout.
func (c *Client) Approve(ctx context.Context, id, stage string) (RequestDone, error) {
	var out RequestDone
	return out, c.do(ctx, "POST", "/rollouts/"+url.PathEscape(id)+"/approve", nil, approveRequest{Stage: stage}, &out)
}

// Pause asks a rollout to stop dispatching hosts.
func (c *Client) Pause(ctx context.Context, id string) (RequestDone, error) {
	return c.request(ctx, id, "pause", nil)
}

// Resume carries a paused or held rollout on, in the server.
func (c *Client) Resume(ctx context.Context, id string) (RequestDone, error) {
	return c.request(ctx, id, "resume", nil)
}

// Abort ends a rollout.
func (c *Client) Abort(ctx context.Context, id string) (RequestDone, error) {
	return c.request(ctx, id, "abort", nil)
}

// Rollback asks for the named hosts (default: every changed host) of a
// rollout to be rolled back.
func (c *Client) Rollback(ctx context.Context, id string, hosts []string) (RequestDone, error) {
	return c.request(ctx, id, "rollback", rollbackRequest{Hosts: hosts})
}

func (c *Client) request(ctx context.Context, id, what string, body any) (RequestDone, error) {
	var out RequestDone
	return out, c.do(ctx, "POST", "/rollouts/"+url.PathEscape(id)+"/"+what, nil, body, &out)
}

// LastEventID returns the id of a rollout's latest event (0: none).
func (c *Client) LastEventID(ctx context.Context, id string) (int64, error) {
	evs, err := c.RolloutEvents(ctx, id, 0)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[len(evs)-1].ID, nil
}

// Outcomes lists the outcome history (GET /history).
func (c *Client) Outcomes(ctx context.Context, f patchpilot.OutcomeFilter) ([]app.HistoryRecord, error) {
	q := url.Values{}
	for k, v := range map[string]string{"host": f.Host, "rollout": f.Rollout, "package": f.Package} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []app.HistoryRecord
	return out, c.do(ctx, "GET", "/history", q, nil, &out)
}

// FollowOptions say how Follow watches a rollout.
type FollowOptions struct {
	// Interval is the time between two looks at the rollout; default 1s.
	Interval time.Duration
	// ApprovalWait is how long a rollout waiting for an approval is
	// still watched before Follow returns (0: at once).
	ApprovalWait time.Duration
	// OnEvent receives each event of the rollout after the event id
	// After, in order.
	OnEvent func(patchpilot.Event)
	After   int64
	// AwaitRequest says that a request made just before Follow (resume)
	// reaches the rollout after the server answered it: the states Follow
	// stops at count only once an event of the request newer than After
	// is seen.
	AwaitRequest bool
	// Now is the clock for ApprovalWait; default time.Now.
	Now func() time.Time
}

// Follow watches a rollout the server drives until it ends, waits for an
// approval (after ApprovalWait) or is paused, passing its events on as
// they come, and returns its status then. The local controller stops at
// the same points.
func (c *Client) Follow(ctx context.Context, id string, o FollowOptions) (app.RolloutStatus, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var (
		after       = o.After
		waitingFrom time.Time
	)
	// events passes on the events after the last one passed on.
	events := func() error {
		evs, err := c.RolloutEvents(ctx, id, after)
		if err != nil {
			return err
		}
		for _, e := range evs {
			after = e.ID
			if e.Kind == patchpilot.EventRequest {
				o.AwaitRequest = false
			}
			if o.OnEvent != nil {
				o.OnEvent(e)
			}
		}
		return nil
	}
	for {
		// The status first, then the events: the events that led to the
		// state seen are passed on before Follow returns; those the
		// controller writes just after a state (such as why a stage
		// waits) are looked for once more before it returns.
		// A request's event seen in this round may be newer than the
		// state read before it: the state counts from the next round.
		awaiting := o.AwaitRequest
		st, err := c.RolloutStatus(ctx, id)
		if err != nil {
			return st, err
		}
		if err := events(); err != nil {
			return st, err
		}
		switch {
		case awaiting:
		case st.State.Final(), st.State == patchpilot.RolloutPaused:
			return st, events()
		case st.State == patchpilot.RolloutWaitingApproval:
			if waitingFrom.IsZero() {
				waitingFrom = o.Now()
			}
			if o.Now().Sub(waitingFrom) >= o.ApprovalWait {
				return st, events()
			}
		default:
			waitingFrom = time.Time{}
		}
		t := time.NewTimer(o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, patchpilot.Errorf(patchpilot.ErrorCode(ctx.Err()), "following rollout %s: %w", id, ctx.Err()).
				WithHint(fmt.Sprintf("the server drives it on; follow it again with 'patchpilot rollout status %s'", id))
		case <-t.C:
		}
	}
}

// rawBody is a request body sent as it is (a plan's YAML), not as JSON.
type rawBody struct {
	data        []byte
	contentType string
}

// CheckPolicy evaluates the server's policy on a plan's YAML over the
// server's hosts (POST /policies/check).
func (c *Client) CheckPolicy(ctx context.Context, planYAML []byte) (app.PolicyReport, error) {
	var out app.PolicyReport
	return out, c.do(ctx, "POST", "/policies/check", nil, rawBody{planYAML, "application/yaml"}, &out)
}

// Schedules lists the server's schedules with their next and last runs
// (GET /schedules).
func (c *Client) Schedules(ctx context.Context) ([]app.ScheduleView, error) {
	var out []app.ScheduleView
	return out, c.do(ctx, "GET", "/schedules", nil, nil, &out)
}

// Tokens lists the server's API tokens without their secrets (GET
// /tokens; admin).
func (c *Client) Tokens(ctx context.Context) ([]patchpilot.Token, error) {
	var out []patchpilot.Token
	return out, c.do(ctx, "GET", "/tokens", nil, nil, &out)
}

// CreateToken creates an API token in the server and returns its secret,
// shown this once (POST /tokens; admin).
func (c *Client) CreateToken(ctx context.Context, name string, role patchpilot.Role) (string, patchpilot.Token, error) {
	var out tokenCreated
	err := c.do(ctx, "POST", "/tokens", nil, tokenRequest{Name: name, Role: role}, &out)
	return out.Secret, out.Token, err
}

// RevokeToken revokes an API token of the server (DELETE /tokens/{name};
// admin).
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/tokens/"+url.PathEscape(name), nil, nil, nil)
}

// Audit lists the server's audit log (GET /audit; admin).
func (c *Client) Audit(ctx context.Context, f patchpilot.AuditFilter) ([]patchpilot.AuditEntry, error) {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "rollout": f.Rollout} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []patchpilot.AuditEntry
	return out, c.do(ctx, "GET", "/audit", q, nil, &out)
}

// Compliance is every host's standing against its patch SLA (GET
// /compliance).
func (c *Client) Compliance(ctx context.Context) (app.ComplianceReport, error) {
	var out app.ComplianceReport
	return out, c.do(ctx, "GET", "/compliance", nil, nil, &out)
}

// KPIs are the KPIs of a period (GET /kpis); a zero From or To is the
// server's default (30 days back, now).
func (c *Client) KPIs(ctx context.Context, q app.KPIQuery) (app.KPIReport, error) {
	var out app.KPIReport
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	return out, c.do(ctx, "GET", "/kpis", v, nil, &out)
}
