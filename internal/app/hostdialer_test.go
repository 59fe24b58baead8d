package app

import (
	"context"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/local"
)

// remoteDialer records the hosts it was asked for.
type remoteDialer struct{ dialled []string }

func (d *remoteDialer) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	d.dialled = append(d.dialled, h.Name)
	return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: no usable private key", h.Name)
}

// TestEngineDialsLocalHostsLocally: the engine's one dialer, used for every
// step of a host's pipeline, runs the machine collected with --local
// through the local runner and every other host over the remote dialer,
// whatever the host's name.
func TestEngineDialsLocalHostsLocally(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	remote := &remoteDialer{}
	eng := a.Engine(EngineOptions{Dialer: remote})

	r, err := eng.Dialer.Dial(ctx, LocalHost("box"))
	if err != nil {
		t.Fatalf("dial the local host: %v", err)
	}
	defer r.Close()
	if _, ok := r.(*local.Runner); !ok {
		t.Fatalf("the local host got a %T, want the local runner", r)
	}
	res, err := r.Run(ctx, patchpilot.Command{Args: []string{"true"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run true locally: %v, exit %d", err, res.ExitCode)
	}
	if len(remote.dialled) != 0 {
		t.Errorf("the local host was also dialled remotely: %v", remote.dialled)
	}

	// Hosts from an inventory go over SSH, even one whose inventory file
	// is called "local" or one that is named localhost.
	for _, h := range []patchpilot.Host{
		{Name: "web1", Address: "10.0.0.1", Source: "inventory.ini"},
		{Name: "web2", Address: "10.0.0.2", Source: LocalSource},
		{Name: "localhost", Address: "localhost", Source: "inventory.ini"},
	} {
		if _, err := eng.Dialer.Dial(ctx, h); patchpilot.ErrorCode(err) != patchpilot.EUNREACHABLE {
			t.Errorf("host %+v: got %v, want the remote dialer's error", h, err)
		}
	}
	if len(remote.dialled) != 3 {
		t.Errorf("remote dialer was asked for %v, want web1, web2 and localhost", remote.dialled)
	}

	// The stored host round-trips with what marks it local.
	if err := a.Store.UpsertHosts(ctx, []patchpilot.Host{LocalHost("box")}); err != nil {
		t.Fatal(err)
	}
	h, err := a.Store.Host(ctx, "box")
	if err != nil {
		t.Fatal(err)
	}
	if !IsLocalHost(h) {
		t.Errorf("stored host %+v is no longer local", h)
	}
}
