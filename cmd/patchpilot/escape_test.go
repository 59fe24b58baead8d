package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

func TestEscapeControls(t *testing.T) {
	tests := []struct {
		in         string
		keepLayout bool
		want       string
	}{
		{"web-1 ✓", false, "web-1 ✓"},
		{"a\x1b[2Jb", false, `a\x1b[2Jb`},
		{"a\rb\x07", false, `a\rb\a`},
		{"a\tb\nc", true, "a\tb\nc"},
		{"a\tb\nc", false, `a\tb\nc`},
		{"\u009b31m", true, `\u009b31m`},
		{"evil\u202etxt", true, `evil\u202etxt`},
		{"bad\xffbyte", true, `bad\xffbyte`},
	}
	for _, tt := range tests {
		if got := escapeControls(tt.in, tt.keepLayout); got != tt.want {
			t.Errorf("escapeControls(%q, %v) = %q, want %q", tt.in, tt.keepLayout, got, tt.want)
		}
	}
}

// TestTablesEscapeStoredControls stores a host whose name, label and
// outcome reason hold terminal escape sequences, and checks that no table
// or progress line prints them raw.
func TestTablesEscapeStoredControls(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	const name = "evil\x1b[2J"
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	h := patchpilot.Host{Name: name, Address: "127.0.0.1", Port: closedPort(t), Labels: map[string]string{"role": "web\x1b]0;pwned\x07"}}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{h}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveFacts(ctx, patchpilot.Facts{Host: name, CollectedAt: time.Now().UTC(), OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12\x1b[31m", PackagesKnown: true, UpdatesKnown: true,
		Updates: []patchpilot.Update{{Package: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.0.1\r"}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordOutcome(ctx, patchpilot.Outcome{Rollout: "r-old", Host: name, Time: time.Now().UTC(),
		Outcome: patchpilot.OutcomeFailed, Reason: "dpkg said \x1b[1mno\x1b[0m"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	plan := filepath.Join(e.home, "plan.yaml")
	writeFile(t, plan, "rollout:\n  patch: {packages: [\"pp-libdemo=1.0.1\"]}\n  targets: {selector: \"\"}\n"+
		"  stages:\n    - {name: all, targets: rest, bake: 1s, on_failure: halt_and_alert}\n")
	knownHosts := filepath.Join(e.home, "known_hosts")
	writeFile(t, knownHosts, "")

	start := e.runIn("rollout", "start", plan, "--db", db, "--known-hosts", knownHosts, "--connect-timeout", "2s")
	first, _, _ := strings.Cut(start.stdout, "\n")
	id := strings.TrimPrefix(first, "rollout ")
	for _, args := range [][]string{
		{"hosts"}, {"hosts", "show", name}, {"updates"}, {"history"}, {"assess"},
		{"rollout", "status", id}, {"rollout", "events", id},
		{"hosts", "-o", "yaml"},
	} {
		r := e.runIn(append(args, "--db", db)...)
		if r.code != 0 {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		checkNoControls(t, strings.Join(args, " "), r)
		if !strings.Contains(r.stdout, `evil\x1b[2J`) && !strings.Contains(r.stdout, `evil\e[2J`) {
			t.Errorf("%v does not show the host's name escaped:\n%s", args, r.stdout)
		}
	}
	checkNoControls(t, "rollout start", start)
	if !strings.Contains(start.stderr, `evil\x1b[2J`) {
		t.Errorf("rollout start's progress does not name the host escaped:\n%s", start.stderr)
	}
}

// checkNoControls fails the test when a command's output holds a control
// character other than tab and newline.
func checkNoControls(t *testing.T, what string, r result) {
	t.Helper()
	for _, out := range []string{r.stdout, r.stderr} {
		if i := strings.IndexFunc(out, func(r rune) bool { return needsEscape(r, true) }); i >= 0 {
			t.Errorf("%s printed a raw control character at %d: %q", what, i, out[max(0, i-20):min(len(out), i+20)])
		}
	}
}

func TestTruncateKeepsCharactersWhole(t *testing.T) {
	got := truncate("pp-demo-web 1.0.0→1.1.0 and more", 21)
	if !utf8.ValidString(got) || len(got) > 21 || !strings.HasSuffix(got, "...") {
		t.Errorf("truncate = %q, want valid UTF-8 of at most 21 bytes ending in ...", got)
	}
}
