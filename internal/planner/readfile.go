package planner

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// MaxPlanBytes bounds a plan file (docs/cli.md, Input size caps). Real plans
// are a few KiB; without the bound a 50 MB file took 18 s and 2.3 GB to
// parse, and /dev/zero exhausted memory.
const MaxPlanBytes = 1 << 20

// ReadFile reads the plan file at path (at most MaxPlanBytes) and parses it
// strictly (Parse), reading relative paths in it from the plan file's
// directory. It also returns the file's bytes, which a rollout
// stores as its source.
func ReadFile(path string) (patchpilot.Plan, []byte, error) {
	data, err := capped.ReadFile(path, "plan", MaxPlanBytes)
	switch {
	case errors.Is(err, capped.ErrTooLarge):
		return patchpilot.Plan{}, nil, err
	case errors.Is(err, fs.ErrNotExist):
		return patchpilot.Plan{}, nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "read plan: %w", err)
	case err != nil:
		return patchpilot.Plan{}, nil, patchpilot.Errorf(patchpilot.EINVALID, "read plan: %w", err)
	}
	// Playbooks and inventories the plan names are relative to the
	// plan file.
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return patchpilot.Plan{}, nil, patchpilot.Errorf(patchpilot.EINVALID, "read plan: %w", err)
	}
	p, err := parse(data, path, dir)
	return p, data, err
}
