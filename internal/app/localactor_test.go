package app

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// osUser is an Options.CurrentUser that says the process runs as name
// with the user id uid.
func osUser(name, uid string) func() (*user.User, error) {
	return func() (*user.User, error) {
		return &user.User{Uid: uid, Gid: uid, Username: name, HomeDir: "/home/" + name}, nil
	}
}

func TestLocalActor(t *testing.T) {
	noName := func() (*user.User, error) { return &user.User{Uid: "4242"}, nil }
	failing := func() (*user.User, error) { return nil, errors.New("user: unknown userid 4242") }
	for _, tc := range []struct {
		name    string
		current func() (*user.User, error)
		env     []string
		want    string
	}{
		{"the OS user, not the SSH user nor $USER", osUser("alice", "1000"), []string{"USER=ops"}, "user:alice"},
		{"root", osUser("root", "0"), []string{"USER=ops"}, "user:root"},
		{"root through sudo", osUser("root", "0"), []string{"USER=root", "SUDO_USER=alice", "SUDO_UID=1000"}, "user:alice (via sudo)"},
		{"sudo by root", osUser("root", "0"), []string{"SUDO_USER=root"}, "user:root"},
		{"SUDO_USER set by an unprivileged user", osUser("bob", "1001"), []string{"SUDO_USER=alice"}, "user:bob"},
		{"SUDO_USER not a user name", osUser("root", "0"), []string{"SUDO_USER=alice (via sudo) bob"}, "user:root"},
		{"PATCHPILOT_USER is the SSH user only", osUser("alice", "1000"), []string{"PATCHPILOT_USER=mallory"}, "user:alice"},
		{"no name for the uid", noName, nil, "user:4242"},
		{"no passwd entry", failing, nil, "user:" + strconv.Itoa(os.Getuid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{SSHUser: "nobody", Env: tc.env, CurrentUser: tc.current}
			if got := o.LocalActor(); got != tc.want {
				t.Errorf("LocalActor() = %q, want %q", got, tc.want)
			}
		})
	}
	// Without CurrentUser, the process's own user.
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	if got := (Options{SSHUser: "nobody"}).LocalActor(); got != "user:"+u.Username {
		t.Errorf("default LocalActor() = %q, want user:%s", got, u.Username)
	}
}

// TestLocalActorNotSSHUser: with the config's user: naming the fleet's SSH
// user, what a person does at this machine is recorded as that person,
// not as the SSH user: a rollout's creator, its events, a stage approval,
// a quarantine clearance, a model restored and a token with the audit log.
func TestLocalActorNotSSHUser(t *testing.T) {
	ctx, a, _, _, _ := openPeopleApp(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patchpilot.yaml")
	if err := os.WriteFile(cfg, []byte("user: nobody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Apply(a.Options)
	if err != nil {
		t.Fatal(err)
	}
	o.Env = append(o.Env, "USER=root", "SUDO_USER=alice", "SUDO_UID=1000", "PATCHPILOT_USER=mallory")
	o.CurrentUser = osUser("root", "0")
	a.Options = o
	if a.Options.SSHUser != "nobody" {
		t.Fatalf("SSH user = %q, want nobody from the config", a.Options.SSHUser)
	}
	const want = "user:alice (via sudo)"
	if got := a.LocalActor(); got != want {
		t.Fatalf("LocalActor() = %q, want %q", got, want)
	}

	seedWebHosts(t, ctx, a)
	p, src, err := parsePlanForTest(savedPlanYAML)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Controller(EngineOptions{}).Start(ctx, p, src, StartOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedBy != want {
		t.Errorf("rollout created by %q, want %q", r.CreatedBy, want)
	}
	evs, err := a.Store.Events(ctx, patchpilot.EventFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	created := false
	for _, e := range evs {
		if e.Kind == patchpilot.EventRolloutCreated {
			created = true
			if want := "rollout created by " + want + ":"; !strings.HasPrefix(e.Message, want) {
				t.Errorf("rollout.created message %q, want it to start %q", e.Message, want)
			}
		}
	}
	if !created {
		t.Errorf("no rollout.created event in %+v", evs)
	}

	_, tk, err := a.CreateToken(ctx, "ci", patchpilot.RoleOperator, a.LocalActor())
	if err != nil {
		t.Fatal(err)
	}
	if tk.CreatedBy != want {
		t.Errorf("token created by %q, want %q", tk.CreatedBy, want)
	}
	entries, err := a.Store.Audit(ctx, patchpilot.AuditFilter{Actor: want})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Action != "token.create" {
		t.Errorf("audit of %s = %+v, want the token's creation", want, entries)
	}
}
