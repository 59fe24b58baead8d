package health_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/health"
	"github.com/patchpilot/patchpilot/internal/local"
)

// TestLocalMachine runs the SSH gates on this machine through the local
// Runner. ports_listening works anywhere ss does; the systemd gates need
// systemd as PID 1, and where it is missing they must fail closed rather
// than pass.
func TestLocalMachine(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c, err := health.New(crits(t, "ports_listening", "services_running"), patchpilot.HealthConfig{}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A host reached at a name owns every socket, loopback included.
	target := patchpilot.HealthTarget{Host: patchpilot.Host{Name: "localhost", Address: "localhost"}, Runner: local.New(), Since: time.Now()}
	base, err := c.Baseline(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(base["ports_listening"]), addr) {
		t.Fatalf("baseline lacks %s: %s", addr, base["ports_listening"])
	}
	ln.Close()
	rep, err := c.Check(context.Background(), target, base)
	if err != nil {
		t.Fatal(err)
	}
	if p := result(t, rep, "ports_listening"); p.Outcome != patchpilot.GateBreach || !strings.Contains(p.Reason, addr) {
		t.Errorf("ports_listening: %s %q", p.Outcome, p.Reason)
	}
	svc := result(t, rep, "services_running")
	_, statErr := os.Stat("/run/systemd/system") // sd_booted(3)
	systemd := statErr == nil
	if !systemd && svc.Outcome != patchpilot.GateError {
		t.Errorf("services_running without systemd: %s %q, want error", svc.Outcome, svc.Reason)
	}
	if rep.Verdict != patchpilot.Unhealthy && !systemd {
		t.Errorf("verdict %s, want rollback", rep.Verdict)
	}
}
