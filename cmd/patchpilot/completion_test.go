package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// complete asks for the completions of the last word of args, as the
// shell scripts do, and returns them without cobra's directive line.
func complete(t *testing.T, e *env, args ...string) (words []string, directive string) {
	t.Helper()
	r := e.runIn(append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, r.code, r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		word, _, _ := strings.Cut(line, "\t")
		words = append(words, word)
	}
	return words, directive
}

func TestShellCompletion(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedHosts(t, db, "web-1", "web-2", "db-1")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateRollout(ctx, patchpilot.Rollout{ID: "r-20261204-1", State: patchpilot.RolloutPaused,
		Plan:   patchpilot.Plan{Name: "openssl", Patch: patchpilot.PatchSpec{SecurityAll: true}},
		Stages: []patchpilot.StageRun{{Name: "all", Hosts: []string{"web-1"}}}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--db", db, "hosts", "show", ""}, "db-1,web-1,web-2"},
		{[]string{"--db", db, "hosts", "show", "web"}, "web-1,web-2"},
		{[]string{"--db", db, "hosts", "show", "web-1", ""}, ""},
		{[]string{"--db", db, "hosts", "rm", "web-1", ""}, "db-1,web-2"},
		{[]string{"--db", db, "updates", "--host", "d"}, "db-1"},
		{[]string{"--db", db, "history", "--host", "w"}, "web-1,web-2"},
		{[]string{"--db", db, "history", "--rollout", ""}, "r-20261204-1"},
		{[]string{"--db", db, "rollout", "resume", "r-"}, "r-20261204-1"},
		{[]string{"--db", db, "rollout", "rollback", "r-20261204-1", "--hosts", "db"}, "db-1"},
		{[]string{"--db", db, "rollout", "status", ""}, "r-20261204-1"},
		{[]string{"hosts", "-o", ""}, "table,json,yaml"},
		{[]string{"rollout", "list", "--output", "j"}, "json"},
		{[]string{"--log-level", ""}, "debug,info,warn,error"},
	}
	for _, tt := range tests {
		words, _ := complete(t, e, tt.args...)
		if got := strings.Join(words, ","); got != tt.want {
			t.Errorf("complete %v = %q, want %q", tt.args, got, tt.want)
		}
	}
	// Plan files: the shell is told to offer *.yaml and *.yml.
	words, directive := complete(t, e, "rollout", "start", "")
	if strings.Join(words, ",") != "yaml,yml" || directive != ":8" {
		t.Errorf("complete rollout start = %v %s, want yaml,yml with the file-extension directive :8", words, directive)
	}
	if words, directive := complete(t, e, "history", "import", ""); strings.Join(words, ",") != "jsonl,json" || directive != ":8" {
		t.Errorf("complete history import = %v %s, want jsonl,json with :8", words, directive)
	}
	// Completing must not create a database.
	missing := filepath.Join(e.home, "missing.db")
	if words, _ := complete(t, e, "--db", missing, "hosts", "show", ""); len(words) != 0 {
		t.Errorf("complete without a database = %v", words)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("completion created %s", missing)
	}

	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := e.runIn("completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "patchpilot") || !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: exit %d, script %.200q", shell, r.code, r.stdout)
		}
	}
}

func TestManPages(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "man1")
	r := e.runIn("man", dir)
	if r.code != 0 {
		t.Fatalf("man: exit %d\n%s", r.code, r.stderr)
	}
	for _, page := range []string{"patchpilot.1", "patchpilot-rollout-start.1", "patchpilot-hosts-rm.1", "patchpilot-plan.1",
		"patchpilot-token-create.1", "patchpilot-token-revoke.1", "patchpilot-audit.1"} {
		data, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("man wrote no %s: %v", page, err)
			continue
		}
		if !strings.HasPrefix(string(data), ".nh\n.TH \"PATCHPILOT\" \"1\"") && !strings.Contains(string(data), ".TH \"PATCHPILOT\" \"1\"") {
			t.Errorf("%s is not a section 1 man page:\n%.300s", page, data)
		}
		if !strings.Contains(string(data), ".SH NAME") || !strings.Contains(string(data), ".SH SYNOPSIS") {
			t.Errorf("%s lacks NAME or SYNOPSIS:\n%.300s", page, data)
		}
	}
	again := filepath.Join(t.TempDir(), "man1")
	e.runIn("man", again)
	a, _ := os.ReadFile(filepath.Join(dir, "patchpilot-plan.1"))
	b, _ := os.ReadFile(filepath.Join(again, "patchpilot-plan.1"))
	if string(a) != string(b) {
		t.Errorf("two runs wrote different pages: the pages should not depend on the time")
	}
	if r := e.runIn("man"); r.code != 2 {
		t.Errorf("man without DIR: exit %d, want 2", r.code)
	}
	if r := e.runIn("man", "/proc/nope/man1"); r.code != 2 || !strings.Contains(r.stderr, "/proc/nope") {
		t.Errorf("man into an impossible directory: exit %d, stderr %q; want 2 naming it", r.code, r.stderr)
	}
}
