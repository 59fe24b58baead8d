package app

import (
	"context"

	"github.com/patchpilot/patchpilot"
)

// LocalSource is the Host.Source of the machine collected with
// 'inventory collect --local': the controller's own machine.
const LocalSource = "local"

// localAddress is the address stored for the controller's own machine.
const localAddress = "localhost"

// LocalHost is the stored host of the controller's own machine, named
// name. Such a host is reached through the local runner, never over SSH.
func LocalHost(name string) patchpilot.Host {
	return patchpilot.Host{Name: name, Address: localAddress, Source: LocalSource, Labels: map[string]string{}}
}

// IsLocalHost reports whether h is the controller's own machine as
// 'inventory collect --local' stored it. The address is checked besides the
// source so that a host from an inventory file that happens to be called
// "local" is still reached over SSH, unless it also names this machine.
func IsLocalHost(h patchpilot.Host) bool {
	return h.Source == LocalSource && h.Address == localAddress
}

// hostDialer reaches each host the way it was collected: the controller's
// own machine through the local runner (as root, or through sudo -n when
// not), every other host through remote (SSH). A machine that patches
// only itself therefore needs no SSH server, key or known_hosts entry.
type hostDialer struct {
	local  patchpilot.Dialer
	remote patchpilot.Dialer // nil: no remote host can be dialled
}

var _ patchpilot.Dialer = hostDialer{}

func (d hostDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if IsLocalHost(h) {
		return d.local.Dial(ctx, h)
	}
	if d.remote == nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "host %s: no SSH dialer configured", h.Name)
	}
	return d.remote.Dial(ctx, h)
}
