package orchestrator

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

// refusingDialer dials one host through the real SSH dialer, whose
// known_hosts does not know that host's key, and every other host through
// the fake fleet.
type refusingDialer struct {
	fleet   *fleet
	refused string
	real    *ssh.Dialer
	srv     *sshtest.Server
}

func (d refusingDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if h.Name != d.refused {
		return d.fleet.Dial(ctx, h)
	}
	r, err := d.real.Dial(ctx, d.srv.Host(h.Name))
	if err == nil {
		_ = r.Close()
		return nil, errors.New("the SSH dialer accepted an unknown host key")
	}
	return nil, err
}

// TestUnknownHostKeyIsRefusedNotUnreachable checks that a host whose SSH
// host key is refused ends failed with the host_key_refused reason and how
// to fix it, not unreachable, and that its outcome is not a failure of the
// patch.
func TestUnknownHostKeyIsRefusedNotUnreachable(t *testing.T) {
	srv := sshtest.Start(t)
	real, err := ssh.NewDialer(ssh.Options{HomeDir: t.TempDir(), KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts"),
		User: srv.User, ConnectTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, hostsNamed(3))
	id := e.start(`
patch: {packages: ["web=1.1"]}
targets: {selector: "env=test"}
stages:
  - {name: all, targets: rest, parallel: 1, max_failures: 1, on_failure: halt_and_alert}
`)
	hosts := e.stageHosts(id, "all")
	refused := hosts[1]
	e.e.Dialer = refusingDialer{fleet: e.f, refused: refused, real: real, srv: srv}

	// The SSH package's error is recognisable as a host key refusal.
	_, dialErr := real.Dial(context.Background(), srv.Host(refused))
	var pe *patchpilot.Error
	if !errors.As(dialErr, &pe) || pe.Code != patchpilot.EHOSTKEY || patchpilot.ErrorCode(dialErr) != patchpilot.EHOSTKEY {
		t.Fatalf("ssh dial error %v: want a *patchpilot.Error with code %s", dialErr, patchpilot.EHOSTKEY)
	}

	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("rollout state = %s, want succeeded (one failure is allowed)", got)
	}
	runs, err := e.db.HostRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range runs {
		if hr.Host != refused {
			continue
		}
		if hr.State != patchpilot.HostFailed {
			t.Errorf("state = %s, want failed", hr.State)
		}
		for _, want := range []string{"host_key_refused", "unknown", "--accept-new-host-keys", "known_hosts"} {
			if !strings.Contains(hr.Reason, want) {
				t.Errorf("reason %q does not contain %q", hr.Reason, want)
			}
		}
		if strings.Contains(hr.Reason, "unreachable") {
			t.Errorf("reason %q calls the host unreachable", hr.Reason)
		}
	}
	outs, err := e.db.Outcomes(context.Background(), patchpilot.OutcomeFilter{Rollout: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Host == refused && o.Outcome != patchpilot.OutcomeUnreachable {
			t.Errorf("outcome of %s = %s, want %s: the patch never reached it", refused, o.Outcome, patchpilot.OutcomeUnreachable)
		}
	}
}
