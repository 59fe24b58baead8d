package inventory

import (
	"errors"

	"github.com/patchpilot/patchpilot/internal/capped"
)

// Caps on the size of the files an inventory is read from (docs/cli.md,
// Input size caps). They stop a wrong path such as /dev/zero, or a file
// that never ends, from exhausting memory; real files are far smaller.
const (
	// MaxInventoryBytes bounds one inventory file (INI, YAML or host
	// list). Inventories of tens of thousands of hosts are a few MiB.
	MaxInventoryBytes = 64 << 20
	// MaxVarsFileBytes bounds one group_vars/ or host_vars/ file, which
	// holds variables, not host lists.
	MaxVarsFileBytes = 16 << 20
	// MaxFactsBytes bounds one fact file (a fact cache entry or the output
	// of the setup module). One with a package list of a large host is a
	// few MiB.
	MaxFactsBytes = 64 << 20
)

// readCapped reads a file of at most max bytes; what names the kind of
// file in the error past the cap.
func readCapped(path, what string, max int64) ([]byte, error) {
	data, err := capped.ReadFile(path, what, max)
	if err != nil {
		if errors.Is(err, capped.ErrTooLarge) {
			return nil, err
		}
		return nil, openError(path, err)
	}
	return data, nil
}
