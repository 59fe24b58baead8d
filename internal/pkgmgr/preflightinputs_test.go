package pkgmgr_test

import (
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/orchestrator"
	"github.com/patchpilot/patchpilot/internal/pkgmgr"
)

// The Debian family's hosts have their preflight run ahead of their stage
// (orchestrator.PreflightInputs); the others at their turn.
func TestPreflightInputsOfTheFamilies(t *testing.T) {
	for family, want := range map[patchpilot.OSFamily]bool{patchpilot.FamilyDebian: true, patchpilot.FamilyRedHat: false} {
		pm, err := pkgmgr.For(family)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := pm.(orchestrator.PreflightInputs); got != want {
			t.Errorf("%s: offers PreflightInputs %v, want %v", family, got, want)
		}
	}
}
