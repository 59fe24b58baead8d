package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// What an operator sees when a rollout would take a host another
// rollout, still waiting for an approval, holds: exit 1, the holder and
// the host named once each, and the command that shows the holder; the
// same locally and through the server. Once the holder is aborted, the
// same start goes through.
func TestRolloutStartOverHeldHosts(t *testing.T) {
	f := newRemoteFixture(t)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.yaml"), filepath.Join(dir, "second.yaml")
	for path, src := range map[string]string{first: `rollout:
  name: web-1.1
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, approval: required}
    - {name: rest, targets: rest}
`, second: `rollout:
  name: web-1.1-again
  patch: {packages: ["web=1.1"]}
  targets: {hosts: [web-2]}
  stages:
    - {name: all, targets: rest}
`} {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := f.local("rollout", "start", first)
	m := rolloutID.FindStringSubmatch(l.stdout)
	if l.code != patchpilot.ExitWaitingApproval || m == nil {
		t.Fatalf("rollout start: exit %d; want 12 with the rollout id\n%s\n%s", l.code, l.stdout, l.stderr)
	}
	id := m[1]
	want := "error: host web-2 is in rollout " + id + " (waiting_approval), which has not finished: one rollout at a time changes a host\n" +
		"hint: finish it first ('patchpilot rollout status " + id + "' shows what it waits for and how to end it), or leave those hosts out of the targets\n"
	for _, r := range []result{f.local("rollout", "start", second), f.remote(patchpilot.RoleOperator, "rollout", "start", second)} {
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("rollout start over a held host: exit %d, stdout %q, stderr\n%s\nwant exit 1 and\n%s", r.code, r.stdout, r.stderr, want)
		}
	}
	if list := decodeJSON[[]struct {
		ID string `json:"id"`
	}](t, f.local("rollout", "list", "-o", "json").stdout); len(list) != 1 || list[0].ID != id {
		t.Errorf("rollout list after the refusals = %v; want only %s", list, id)
	}
	if r := f.local("rollout", "abort", id); r.code != 0 {
		t.Fatalf("rollout abort: exit %d\n%s", r.code, r.stderr)
	}
	// The host cannot be reached: the rollout starts and halts (10).
	if r := f.local("rollout", "start", second); r.code != patchpilot.ExitHalted {
		t.Errorf("rollout start once the holder was aborted: exit %d; want 10 (halted: no network)\n%s", r.code, r.stderr)
	}
}
