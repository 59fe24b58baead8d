package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

var cliSecretShape = regexp.MustCompile(`ppt_[a-z2-7]{52}`)

// TestTokenCommands creates, lists and revokes tokens through the CLI and
// checks that the secret it printed once authenticates until revoked, and
// is never shown again.
func TestTokenCommands(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")

	r := e.runIn("--db", db, "token", "create", "alice", "--role", "approver")
	if r.code != 0 {
		t.Fatalf("token create: exit %d\n%s", r.code, r.stderr)
	}
	secret := cliSecretShape.FindString(r.stdout)
	if secret == "" || !strings.Contains(r.stdout, "will not be shown again") {
		t.Fatalf("token create printed no secret or no warning:\n%s", r.stdout)
	}
	r = e.runIn("--db", db, "token", "create", "ci", "--role", "operator", "-o", "json")
	if r.code != 0 {
		t.Fatalf("token create -o json: exit %d\n%s", r.code, r.stderr)
	}
	created := decodeJSON[map[string]any](t, r.stdout)
	ciSecret, _ := created["secret"].(string)
	if !cliSecretShape.MatchString(ciSecret) || created["name"] != "ci" || created["role"] != "operator" ||
		created["created_by"] != e.localActor() || !strings.Contains(r.stderr, "will not be shown again") {
		t.Errorf("token create -o json: stdout %s, stderr %q; want the token with its secret, the warning on stderr", r.stdout, r.stderr)
	}

	// Refusals: exit codes and messages that name what is wrong.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"token", "create", "alice", "--role", "viewer"}, 1, `token named "alice" exists already`},
		{[]string{"token", "create", "Bad Name", "--role", "viewer"}, 2, "token name"},
		{[]string{"token", "create", "x", "--role", "root"}, 2, `--role "root": expected viewer, operator, approver or admin`},
		{[]string{"token", "create", "x"}, 2, "--role is required"},
		{[]string{"token", "create"}, 2, "one token NAME"},
		{[]string{"token", "revoke", "nobody"}, 4, `token "nobody" not found`},
	} {
		r := e.runIn(append([]string{"--db", db}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
		}
	}

	ctx := context.Background()
	a, err := app.New(ctx, app.Options{DBPath: db, Env: e.vars})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if p, err := a.Authenticate(ctx, secret); err != nil || p.Token != "alice" || p.Role != patchpilot.RoleApprover {
		t.Fatalf("Authenticate with the printed secret = %+v, %v", p, err)
	}

	r = e.runIn("--db", db, "token", "revoke", "ci")
	if r.code != 0 || !strings.Contains(r.stdout, "Token ci revoked") {
		t.Fatalf("token revoke: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := a.Authenticate(ctx, ciSecret); patchpilot.ErrorCode(err) != patchpilot.EUNAUTHENTICATED {
		t.Errorf("a revoked token authenticates: %v", err)
	}

	table := e.mustRun("--db", db, "token", "list")
	if !regexp.MustCompile(`alice\s+approver\s+active`).MatchString(table) || !regexp.MustCompile(`ci\s+operator\s+revoked`).MatchString(table) {
		t.Errorf("token list:\n%s", table)
	}
	list := e.runIn("--db", db, "token", "list", "-o", "json")
	tokens := decodeJSON[[]map[string]any](t, list.stdout)
	if len(tokens) != 2 || tokens[1]["revoked_at"] == nil || tokens[0]["last_used"] == nil {
		t.Errorf("token list -o json = %v, want alice used and ci revoked", tokens)
	}
	for _, s := range []string{secret, ciSecret} {
		sum := sha256.Sum256([]byte(s))
		for _, out := range []string{table, list.stdout, list.stderr} {
			if strings.Contains(out, s) || strings.Contains(out, s[4:]) || strings.Contains(out, hex.EncodeToString(sum[:])) {
				t.Errorf("token list shows a secret or its hash:\n%s", out)
			}
		}
	}
	if r := e.runIn("--db", filepath.Join(e.home, "none.db"), "token", "list"); r.code != 0 || !strings.Contains(r.stdout, "No tokens yet") {
		t.Errorf("token list of an empty database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditCommand(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")
	e.mustRun("--db", db, "token", "create", "alice", "--role", "admin")
	e.runIn("--db", db, "token", "create", "alice", "--role", "admin") // refused: recorded as a conflict
	e.mustRun("--db", db, "token", "revoke", "alice")

	table := e.mustRun("--db", db, "audit")
	for _, want := range []string{regexp.QuoteMeta(e.localActor()) + `\s+-\s+token\.create\s+alice\s+-\s+ok\s+\{"role":"admin"\}`,
		`token\.create\s+alice\s+-\s+conflict`, `token\.revoke\s+alice\s+-\s+ok`} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("audit table lacks %s:\n%s", want, table)
		}
	}
	r := e.runIn("--db", db, "audit", "--since", "1h", "--actor", e.localActor(), "--limit", "2", "-o", "json")
	entries := decodeJSON[[]patchpilot.AuditEntry](t, r.stdout)
	if len(entries) != 2 || entries[0].Outcome != "conflict" || entries[1].Action != "token.revoke" {
		t.Errorf("audit --limit 2 -o json = %+v, want the newest two, oldest first", entries)
	}
	if got := e.mustRun("--db", db, "audit", "--actor", "token:nobody"); !strings.Contains(got, "No audit entries match") {
		t.Errorf("audit of an unknown actor:\n%s", got)
	}
	if got := e.runIn("--db", db, "audit", "--since", "2999-01-01T00:00:00Z", "-o", "json"); got.code != 0 || strings.TrimSpace(got.stdout) != "[]" {
		t.Errorf("audit since the future: exit %d, %q; want []", got.code, got.stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--since", "yesterday"}, `--since "yesterday": expected a duration`},
		{[]string{"audit", "--limit", "-1"}, "--limit -1: expected 0"},
		{[]string{"audit", "extra"}, "no arguments"},
	} {
		r := e.runIn(append([]string{"--db", db}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

func TestTokenCompletion(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "pp.db")
	e.mustRun("--db", db, "token", "create", "alice", "--role", "admin")
	e.mustRun("--db", db, "token", "create", "albert", "--role", "viewer")
	e.mustRun("--db", db, "token", "create", "bob", "--role", "viewer")
	e.mustRun("--db", db, "token", "revoke", "albert")
	if words, _ := complete(t, e, "--db", db, "token", "revoke", "a"); strings.Join(words, ",") != "alice" {
		t.Errorf("complete token revoke a = %v, want the active token alice", words)
	}
	if words, _ := complete(t, e, "token", "create", "x", "--role", ""); strings.Join(words, ",") != "viewer,operator,approver,admin" {
		t.Errorf("complete --role = %v, want the roles", words)
	}
}
