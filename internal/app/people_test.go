package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openPeopleApp opens an App as the user "ann" on a fresh store with an
// injected clock and a debug logger writing to the returned buffer.
func openPeopleApp(t *testing.T) (context.Context, *App, *testClock, *syncBuffer, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2026, 5, 12, 9, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	path := filepath.Join(dir, "pp.db")
	a, err := New(ctx, Options{DBPath: path, Env: []string{"HOME=" + dir, "USER=ann"}, CurrentUser: osUser("ann", "1000"), Now: clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return ctx, a, clock, logs, path
}

func wantCode(t *testing.T, what string, err error, code patchpilot.Code) {
	t.Helper()
	if got := patchpilot.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %s", what, err, got, code)
	}
}

var secretShape = regexp.MustCompile(`^ppt_[a-z2-7]{52}$`)

func TestCreateTokenAndAuthenticate(t *testing.T) {
	ctx, a, clock, _, _ := openPeopleApp(t)
	secret, tk, err := a.CreateToken(ctx, "alice", patchpilot.RoleApprover, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	if !secretShape.MatchString(secret) {
		t.Errorf("secret %q, want ppt_ and 52 characters of lower-case base32", secret)
	}
	if tk.Name != "alice" || tk.Role != patchpilot.RoleApprover || tk.CreatedBy != "user:ann" || !tk.CreatedAt.Equal(clock.Now()) {
		t.Errorf("token = %+v, want alice, approver, created by user:ann now", tk)
	}
	other, _, err := a.CreateToken(ctx, "bob.ci_1-x", patchpilot.RoleOperator, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Fatal("two tokens got the same secret")
	}
	// The store keeps the SHA-256 of the secret, nothing else.
	sum := sha256.Sum256([]byte(secret))
	if got, err := a.Store.TokenByHash(ctx, sum[:]); err != nil || got.Name != "alice" {
		t.Errorf("TokenByHash(sha256(secret)) = %+v, %v; want alice", got, err)
	}

	p, err := a.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.Token != "alice" || p.Role != patchpilot.RoleApprover || p.Actor() != "token:alice" {
		t.Errorf("principal = %+v, want alice the approver", p)
	}
	p, err = a.Authenticate(ctx, other)
	if err != nil || p.Token != "bob.ci_1-x" || p.Role != patchpilot.RoleOperator {
		t.Errorf("Authenticate(bob) = %+v, %v", p, err)
	}

	// The audit log holds both creations, by the local user.
	entries, err := a.Audit(ctx, patchpilot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Action != "token.create" || entries[0].Target != "alice" ||
		entries[0].Actor != "user:ann" || entries[0].Outcome != "ok" || entries[0].Token != "" ||
		!strings.Contains(string(entries[0].Detail), `"approver"`) {
		t.Errorf("audit = %+v, want token.create of alice by user:ann, ok, with its role", entries)
	}
}

func TestCreateTokenRefusals(t *testing.T) {
	ctx, a, _, _, _ := openPeopleApp(t)
	for _, name := range []string{"", "Alice", "a b", "a/b", "ä", strings.Repeat("a", 65), "token:x"} {
		_, _, err := a.CreateToken(ctx, name, patchpilot.RoleViewer, "user:ann")
		wantCode(t, "name "+name, err, patchpilot.EINVALID)
		if !strings.Contains(err.Error(), "token name") {
			t.Errorf("name %q: error %q does not name the field", name, err)
		}
	}
	if _, _, err := a.CreateToken(ctx, strings.Repeat("a", 64), patchpilot.RoleViewer, "user:ann"); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
	for _, role := range []patchpilot.Role{"", "root", "Admin"} {
		_, _, err := a.CreateToken(ctx, "r", role, "user:ann")
		wantCode(t, "role "+string(role), err, patchpilot.EINVALID)
		if !strings.Contains(err.Error(), "viewer, operator, approver, admin") {
			t.Errorf("role %q: error %q does not list the roles", role, err)
		}
	}
	_, _, err := a.CreateToken(ctx, "r", patchpilot.RoleViewer, "")
	wantCode(t, "empty actor", err, patchpilot.EINVALID)

	if _, _, err := a.CreateToken(ctx, "dup", patchpilot.RoleViewer, "token:admin"); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.CreateToken(ctx, "dup", patchpilot.RoleAdmin, "token:admin")
	wantCode(t, "duplicate", err, patchpilot.ECONFLICT)

	// Refused attempts are in the audit log with their outcome.
	entries, err := a.Audit(ctx, patchpilot.AuditFilter{Actor: "token:admin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Outcome != "ok" || entries[1].Outcome != string(patchpilot.ECONFLICT) ||
		entries[1].Token != "admin" || entries[1].Target != "dup" {
		t.Errorf("audit of token:admin = %+v, want ok then conflict, with the token's name", entries)
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	ctx, a, clock, _, _ := openPeopleApp(t)
	secret, _, err := a.CreateToken(ctx, "alice", patchpilot.RoleAdmin, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	unknown := "ppt_" + strings.Repeat("a", 52)
	for name, s := range map[string]string{
		"empty":          "",
		"no prefix":      secret[4:],
		"other prefix":   "ghp_" + secret[4:],
		"short":          secret[:len(secret)-1],
		"long":           secret + "a",
		"upper case":     strings.ToUpper(secret),
		"not base32":     secret[:len(secret)-1] + "1",
		"with a newline": secret + "\n",
		"unknown":        unknown,
	} {
		_, err := a.Authenticate(ctx, s)
		wantCode(t, name, err, patchpilot.EUNAUTHENTICATED)
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q shows the secret", name, err)
		}
	}
	clock.Add(time.Hour)
	if err := a.RevokeToken(ctx, "alice", "user:ann"); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(ctx, secret)
	wantCode(t, "revoked", err, patchpilot.EUNAUTHENTICATED)
	if !strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), secret) {
		t.Errorf("revoked: error %q, want it to say revoked and not show the secret", err)
	}
	// Revoking twice changes nothing; an unknown name is not found.
	if err := a.RevokeToken(ctx, "alice", "user:ann"); err != nil {
		t.Errorf("revoking again: %v", err)
	}
	wantCode(t, "revoke unknown", a.RevokeToken(ctx, "nobody", "user:ann"), patchpilot.ENOTFOUND)
	tokens, err := a.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].RevokedAt == nil || !tokens[0].RevokedAt.Equal(clock.Now()) {
		t.Errorf("tokens = %+v, want alice revoked at %v", tokens, clock.Now())
	}
	entries, err := a.Audit(ctx, patchpilot.AuditFilter{Since: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range entries {
		if e.Action != "token.revoke" {
			t.Errorf("audit entry %+v, want token.revoke", e)
		}
		outcomes = append(outcomes, e.Target+":"+e.Outcome)
	}
	if got := strings.Join(outcomes, " "); got != "alice:ok alice:ok nobody:not_found" {
		t.Errorf("revocations in the audit log: %s", got)
	}
}

func TestAuthenticateRecordsUseOnceAMinute(t *testing.T) {
	ctx, a, clock, _, _ := openPeopleApp(t)
	secret, _, err := a.CreateToken(ctx, "alice", patchpilot.RoleViewer, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() *time.Time {
		t.Helper()
		tokens, err := a.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tokens[0].LastUsed
	}
	if lastUsed() != nil {
		t.Fatal("a new token has a last use")
	}
	first := clock.Now()
	auth := func() {
		t.Helper()
		if _, err := a.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	auth()
	if lu := lastUsed(); lu == nil || !lu.Equal(first) {
		t.Fatalf("last use %v, want %v", lu, first)
	}
	clock.Add(59 * time.Second)
	auth()
	if lu := lastUsed(); !lu.Equal(first) {
		t.Errorf("last use %v after a use within the minute, want it still %v", lu, first)
	}
	clock.Add(time.Second)
	auth()
	if lu := lastUsed(); !lu.Equal(clock.Now()) {
		t.Errorf("last use %v a minute later, want %v", lu, clock.Now())
	}
}

// TestSecretsNeverStoredOrLogged creates tokens, authenticates with them
// (and with a revoked one), records an audit entry that names a secret by
// mistake, and then reads every byte of the database files and the logs:
// no secret may be found, in whole or without its prefix.
func TestSecretsNeverStoredOrLogged(t *testing.T) {
	ctx, a, clock, logs, path := openPeopleApp(t)
	var secrets []string
	for _, name := range []string{"alice", "bob", "ci"} {
		s, _, err := a.CreateToken(ctx, name, patchpilot.RoleOperator, "user:ann")
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	for i := range 3 {
		for _, s := range secrets {
			if _, err := a.Authenticate(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		clock.Add(time.Duration(i+1) * time.Minute)
	}
	if err := a.RevokeToken(ctx, "ci", "token:alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secrets[2]); err == nil {
		t.Fatal("a revoked token authenticated")
	}
	// A front end that put a request's header into an entry by mistake.
	detail, _ := json.Marshal(map[string]string{"authorization": "Bearer " + secrets[0]})
	if err := a.RecordAudit(ctx, patchpilot.AuditEntry{Actor: "token:alice", Token: "alice", Action: "rollout.pause",
		Target: secrets[1], Rollout: "r-" + secrets[2], Outcome: "ok", Detail: detail}); err != nil {
		t.Fatal(err)
	}
	entries, err := a.Audit(ctx, patchpilot.AuditFilter{Actor: "token:alice", Rollout: ""})
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Target != "ppt_[redacted]" || last.Rollout != "r-ppt_[redacted]" || !strings.Contains(string(last.Detail), "Bearer ppt_[redacted]") {
		t.Errorf("audit entry = %+v, want the secrets redacted", last)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	var stored []byte
	files, _ := filepath.Glob(path + "*") // the database, and its -wal and -shm if any are left
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	if len(stored) == 0 {
		t.Fatal("read no database bytes")
	}
	logText := logs.String()
	if !strings.Contains(logText, "token created") || !strings.Contains(logText, "token authenticated") || !strings.Contains(logText, "alice") {
		t.Errorf("the logs do not mention the created tokens; the scan would prove nothing:\n%s", logText)
	}
	for i, s := range secrets {
		for _, form := range []string{s, s[len(TokenPrefix):], strings.ToUpper(s[len(TokenPrefix):])} {
			if bytes.Contains(stored, []byte(form)) {
				t.Errorf("secret %d found in the database files", i)
			}
			if strings.Contains(logText, form) {
				t.Errorf("secret %d found in the logs", i)
			}
		}
		// The hash is what is stored: its presence shows the scan reads
		// the table (as bytes, never as hex text).
		sum := sha256.Sum256([]byte(s))
		if !bytes.Contains(stored, sum[:]) {
			t.Errorf("hash of secret %d not found: the scan does not see the tokens table", i)
		}
		if bytes.Contains(stored, []byte(hex.EncodeToString(sum[:]))) || strings.Contains(logText, hex.EncodeToString(sum[:])) {
			t.Errorf("hash of secret %d stored or logged as hex text", i)
		}
	}
}

func TestRecordAuditAndFilter(t *testing.T) {
	ctx, a, clock, _, _ := openPeopleApp(t)
	start := clock.Now()
	for i, e := range []patchpilot.AuditEntry{
		{Actor: "token:alice", Token: "alice", Action: "rollout.start", Target: "r-1", Rollout: "r-1", Outcome: "ok"},
		{Actor: "token:bob", Token: "bob", Action: "rollout.approve", Target: "r-1", Rollout: "r-1", Outcome: "forbidden",
			Detail: json.RawMessage(`{"stage":"final"}`)},
		{Actor: "token:alice", Token: "alice", Action: "rollout.start", Target: "r-2", Rollout: "r-2", Outcome: "ok"},
	} {
		if err := a.RecordAudit(ctx, e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		clock.Add(time.Hour)
	}
	got, err := a.Audit(ctx, patchpilot.AuditFilter{Actor: "token:alice"})
	if err != nil || len(got) != 2 || got[0].Rollout != "r-1" || got[1].Rollout != "r-2" || !got[0].Time.Equal(start) {
		t.Errorf("by actor = %+v, %v", got, err)
	}
	got, err = a.Audit(ctx, patchpilot.AuditFilter{Rollout: "r-1", Since: start.Add(time.Minute)})
	if err != nil || len(got) != 1 || got[0].Actor != "token:bob" || string(got[0].Detail) != `{"stage":"final"}` {
		t.Errorf("by rollout and since = %+v, %v", got, err)
	}
	_, err = a.Audit(ctx, patchpilot.AuditFilter{Limit: -1})
	wantCode(t, "negative limit", err, patchpilot.EINVALID)
	_, err = a.Audit(ctx, patchpilot.AuditFilter{Since: start, Until: start.Add(-time.Second)})
	wantCode(t, "until before since", err, patchpilot.EINVALID)
	for name, e := range map[string]patchpilot.AuditEntry{
		"no actor":   {Action: "a", Outcome: "ok"},
		"no action":  {Actor: "token:a", Outcome: "ok"},
		"no outcome": {Actor: "token:a", Action: "a"},
		"bad detail": {Actor: "token:a", Action: "a", Outcome: "ok", Detail: json.RawMessage(`"text"`)},
	} {
		wantCode(t, name, a.RecordAudit(ctx, e), patchpilot.EINVALID)
	}
}

const savedPlanYAML = `rollout:
  name: kernel
  patch: {packages: ["linux-image-amd64=6.1.2"]}
  targets: {selector: "role=web"}
  stages:
    - {name: canary, targets: 1}
    - {name: final, targets: rest, approval: required}
`

func TestSavePlan(t *testing.T) {
	ctx, a, clock, _, _ := openPeopleApp(t)
	p, src, err := parsePlanForTest(savedPlanYAML)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := a.SavePlan(ctx, p, src, "token:alice")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^p-20260512-090000-[0-9a-f]{4}$`).MatchString(rec.ID) || rec.Name != "kernel" ||
		rec.Source != savedPlanYAML || rec.CreatedBy != "token:alice" || !rec.CreatedAt.Equal(clock.Now()) {
		t.Errorf("record = %+v", rec)
	}
	got, err := a.PlanRecord(ctx, rec.ID)
	if err != nil || got.ID != rec.ID || got.Source != rec.Source || got.CreatedBy != rec.CreatedBy || !got.CreatedAt.Equal(rec.CreatedAt) {
		t.Errorf("PlanRecord = %+v, %v; want %+v", got, err, rec)
	}
	// Without a source the plan's YAML is written from it.
	rec2, err := a.SavePlan(ctx, p, nil, "user:ann")
	if err != nil {
		t.Fatal(err)
	}
	if rec2.ID == rec.ID || !strings.Contains(rec2.Source, "approval: required") {
		t.Errorf("record without source = %+v", rec2)
	}
	list, err := a.PlanRecords(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("PlanRecords = %+v, %v", list, err)
	}
	_, err = a.PlanRecord(ctx, "p-none")
	wantCode(t, "unknown plan", err, patchpilot.ENOTFOUND)

	// Refusals: bad YAML names its line, a plan that its source does not
	// say, no stages, no actor, too large.
	_, err = a.SavePlan(ctx, p, []byte("rollout:\n  stages:\n    - {name: a, targets: x}\n"), "token:alice")
	wantCode(t, "bad source", err, patchpilot.EINVALID)
	if !strings.Contains(err.Error(), ":3:") {
		t.Errorf("bad source: error %q does not name line 3", err)
	}
	other := p
	other.Name = "other"
	_, err = a.SavePlan(ctx, other, src, "token:alice")
	wantCode(t, "plan differs from source", err, patchpilot.EINVALID)
	_, err = a.SavePlan(ctx, patchpilot.Plan{}, nil, "token:alice")
	wantCode(t, "no stages", err, patchpilot.EINVALID)
	_, err = a.SavePlan(ctx, p, src, "")
	wantCode(t, "no actor", err, patchpilot.EINVALID)
	_, err = a.SavePlan(ctx, p, bytes.Repeat([]byte("#"), 1<<20+1), "token:alice")
	wantCode(t, "too large", err, patchpilot.EINVALID)
}

// parsePlanForTest reads a plan as a front end does from a request body.
func parsePlanForTest(src string) (patchpilot.Plan, []byte, error) {
	p, err := planner.Parse([]byte(src), "test plan")
	return p, []byte(src), err
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 12, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"0s":                        now,
		"2026-05-01T10:00:00Z":      time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		"2026-05-01T12:00:00+02:00": time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
	} {
		got, err := ParseSince("--since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "1.5d", "d", "-2d", "2026-05-01"} {
		_, err := ParseSince("--since", in, now)
		wantCode(t, in, err, patchpilot.EINVALID)
		if !strings.Contains(err.Error(), "--since") {
			t.Errorf("ParseSince(%q): error %q does not name the flag", in, err)
		}
	}
}
