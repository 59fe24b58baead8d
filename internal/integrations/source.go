package integrations

import (
	"context"

	"github.com/patchpilot/patchpilot"
)

// HostSource is an inventory source: a service that says which hosts
// there are (a CMDB, an HTTP endpoint). Collection takes the hosts from it
// and the facts from the hosts themselves, over SSH.
type HostSource interface {
	// Name is the integration's name.
	Name() string
	// Hosts reads the hosts, each with a name and labels; a host whose
	// record is unusable is an error naming it.
	Hosts(ctx context.Context) ([]patchpilot.Host, error)
}
