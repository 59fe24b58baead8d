package lab

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab/labowner"
)

// fakeLab writes a state file of a lab without hosts in a new directory
// and registers it on subnet.
func fakeLab(t *testing.T, subnet, owner string) string {
	t.Helper()
	dir := t.TempDir()
	s := &State{Version: stateVersion, ID: randomHex(4), Dir: dir, Phase: phaseUp, Subnet: subnet,
		CreatedAt: time.Now().UTC(), Owner: owner}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	if err := register(s); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReclaimAbandonedTakesDownOnlyLabsOfExitedOwners(t *testing.T) {
	old := registryDir
	registryDir = filepath.Join(t.TempDir(), "registry")
	t.Cleanup(func() { registryDir = old })

	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dead, err := labowner.Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	live, err := labowner.Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	abandoned := fakeLab(t, "127.0.201", dead)
	owned := fakeLab(t, "127.0.202", live)
	unowned := fakeLab(t, "127.0.203", "")
	restarting := fakeLab(t, "127.0.204", dead) // the caller's own directory
	gone := fakeLab(t, "127.0.205", dead)
	if err := os.Remove(filepath.Join(gone, stateFile)); err != nil {
		t.Fatal(err)
	}

	if err := reclaimAbandoned(context.Background(), restarting, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abandoned, stateFile)); !os.IsNotExist(err) {
		t.Errorf("the lab of an exited owner is still up: %v", err)
	}
	if _, ok := registered("127.0.201"); ok {
		t.Error("the abandoned lab is still registered")
	}
	for subnet, dir := range map[string]string{"127.0.202": owned, "127.0.203": unowned, "127.0.204": restarting} {
		if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
			t.Errorf("the lab on %s was taken down: %v", subnet, err)
		}
		if d, ok := registered(subnet); !ok || d != dir {
			t.Errorf("the registry names %q for %s, want %s", d, subnet, dir)
		}
	}
	if _, ok := registered("127.0.205"); ok {
		t.Error("the entry of a lab that is gone is kept")
	}
}

func TestOptionsRefuseABadOwner(t *testing.T) {
	if err := (Options{Dir: t.TempDir(), Owner: "nobody"}).Validate(); err == nil {
		t.Error("Validate accepted owner \"nobody\"")
	}
}
