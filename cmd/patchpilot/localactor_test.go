package main

import (
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/app"
)

// localActor is the actor the CLI records in this environment: the user
// running the tests (TestLocalActorIsTheOSUser checks what that is).
func (e *env) localActor() string { return app.Options{Env: e.vars}.LocalActor() }

// TestLocalActorIsTheOSUser: with the config's user: naming the fleet's SSH
// user (and PATCHPILOT_USER another), a rollout started, a stage approved,
// a model restored and a token created at this machine are recorded as the
// operating-system user running the command; run as root through sudo, as
// the user sudo names in SUDO_USER, marked "(via sudo)".
func TestLocalActorIsTheOSUser(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	want := "user:" + u.Username
	if want == "user:nobody" || want == "user:mallory" {
		t.Skipf("running as %s, the SSH user this test sets", u.Username)
	}
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedPolicyFleet(t, db)
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	writeFile(t, cfg, "db: "+db+"\nuser: nobody\npolicy:\n  groups:\n    - {name: prod, hosts: env=prod, level: supervised, two_approvers: true}\n")
	plan := filepath.Join(e.home, "plan.yaml")
	writeFile(t, plan, "rollout:\n  patch: {packages: [\"openssl=3.0.2\"]}\n  targets: {selector: \"env=prod,role=db\"}\n  stages: [{name: all, targets: rest}]\n")

	r := e.runIn("--config", cfg, "rollout", "start", plan)
	id, _, _ := strings.Cut(strings.TrimPrefix(r.stdout, "rollout "), "\n")
	if r.code != 12 || !strings.Contains(r.stdout+r.stderr, "rollout created by "+want+":") || strings.Contains(r.stdout+r.stderr, "user:nobody") {
		t.Fatalf("rollout start: exit %d, want 12 and the rollout created by %s\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	list := decodeJSON[[]struct {
		ID        string `json:"id"`
		CreatedBy string `json:"created_by"`
	}](t, e.mustRun("--config", cfg, "rollout", "list", "-o", "json"))
	if len(list) != 1 || list[0].ID != id || list[0].CreatedBy != want {
		t.Errorf("rollout list = %+v, want %s created by %s", list, id, want)
	}
	r = e.runIn("--config", cfg, "rollout", "approve", id)
	if r.code != 12 || !strings.Contains(r.stdout, "approval of stage all of rollout "+id+" recorded") {
		t.Fatalf("rollout approve: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	approved := false
	for _, ev := range decodeJSON[[]struct {
		Actor string `json:"actor"`
		Kind  string `json:"kind"`
	}](t, e.mustRun("--config", cfg, "rollout", "events", id, "-o", "json")) {
		if ev.Kind == "rollout.approved" {
			approved = true
			if ev.Actor != want {
				t.Errorf("rollout.approved by %s, want %s", ev.Actor, want)
			}
		}
	}
	if !approved {
		t.Errorf("no rollout.approved event")
	}

	// PATCHPILOT_USER sets the SSH user, not the actor.
	e.vars = append(e.vars, "PATCHPILOT_USER=mallory")
	created := decodeJSON[map[string]any](t, e.mustRun("--config", cfg, "token", "create", "zz1", "--role", "admin", "-o", "json"))
	if created["created_by"] != want {
		t.Errorf("token created by %v with PATCHPILOT_USER=mallory, want %s", created["created_by"], want)
	}

	// A model restored with 'model use' says who restored it.
	e.mustRun("--config", cfg, "history", "import", historyTest)
	first := decodeJSON[map[string]any](t, e.mustRun("--config", cfg, "model", "train", "-o", "json"))
	e.mustRun("--config", cfg, "history", "import", historyTrain)
	e.mustRun("--config", cfg, "model", "train")
	v1, _ := first["model_version"].(string)
	if out := e.mustRun("--config", cfg, "model", "use", v1); !strings.Contains(out, "restored by "+want+" ") || strings.Contains(out, "mallory") {
		t.Errorf("model use with PATCHPILOT_USER=mallory, want restored by %s:\n%s", want, out)
	}

	// Through sudo: SUDO_USER is honoured for root only.
	e.vars = append(e.vars, "SUDO_USER=alice", "SUDO_UID=1000")
	sudoWant := want
	if u.Uid == "0" {
		sudoWant = "user:alice (via sudo)"
	}
	created = decodeJSON[map[string]any](t, e.mustRun("--config", cfg, "token", "create", "zz2", "--role", "admin", "-o", "json"))
	if created["created_by"] != sudoWant {
		t.Errorf("token created by %v with SUDO_USER=alice as uid %s, want %s", created["created_by"], u.Uid, sudoWant)
	}
	audit := decodeJSON[[]struct {
		Actor  string `json:"actor"`
		Target string `json:"target"`
	}](t, e.mustRun("--config", cfg, "audit", "--actor", sudoWant, "-o", "json"))
	if last := len(audit) - 1; last < 0 || audit[last].Actor != sudoWant || audit[last].Target != "zz2" {
		t.Errorf("audit --actor %q = %+v, want zz2's creation last", sudoWant, audit)
	}
}
