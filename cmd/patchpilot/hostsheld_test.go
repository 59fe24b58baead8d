package main

import (
	"os"
	"path/filepath"
	"strings"
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

// rollout list --state keeps the rollouts in one state, locally and
// through the server (the API's ?state=); a state that is none exits 2
// naming the states.
func TestRolloutListByState(t *testing.T) {
	f := newRemoteFixture(t)
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(`rollout:
  name: web-1.1
  patch: {packages: ["web=1.1"]}
  targets: {selector: "env=test"}
  stages:
    - {name: first, targets: 1, approval: required}
    - {name: rest, targets: rest}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	l := f.local("rollout", "start", path)
	m := rolloutID.FindStringSubmatch(l.stdout)
	if l.code != patchpilot.ExitWaitingApproval || m == nil {
		t.Fatalf("rollout start: exit %d; want 12 with the rollout id\n%s\n%s", l.code, l.stdout, l.stderr)
	}
	type listed = []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	for _, r := range []result{f.local("rollout", "list", "--state", "waiting_approval", "-o", "json"),
		f.remote(patchpilot.RoleViewer, "rollout", "list", "--state", "waiting_approval", "-o", "json")} {
		if list := decodeJSON[listed](t, r.stdout); r.code != 0 || len(list) != 1 || list[0].ID != m[1] {
			t.Errorf("rollout list --state waiting_approval: exit %d, %v; want %s\n%s", r.code, list, m[1], r.stderr)
		}
	}
	for _, r := range []result{f.local("rollout", "list", "--state", "running", "-o", "json"),
		f.remote(patchpilot.RoleViewer, "rollout", "list", "--state", "running", "-o", "json")} {
		if list := decodeJSON[listed](t, r.stdout); r.code != 0 || len(list) != 0 {
			t.Errorf("rollout list --state running: exit %d, %v; want none\n%s", r.code, list, r.stderr)
		}
	}
	if r := f.local("rollout", "list", "--state", "done"); r.code != 2 || !strings.Contains(r.stderr, `--state "done": expected one of pending, running, waiting_approval`) {
		t.Errorf("rollout list --state done: exit %d, stderr %q; want 2 naming the states", r.code, r.stderr)
	}
}
