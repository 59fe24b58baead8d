package pkgmgr

import (
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
)

func TestFor(t *testing.T) {
	if pm, err := For(patchpilot.FamilyDebian); err != nil {
		t.Error(err)
	} else if _, ok := pm.(*debian.PackageManager); !ok {
		t.Errorf("debian: got %T", pm)
	}
	if pm, err := For(patchpilot.FamilyRedHat); err != nil {
		t.Error(err)
	} else if _, ok := pm.(*redhat.PackageManager); !ok {
		t.Errorf("redhat: got %T", pm)
	}
	if _, err := For(patchpilot.FamilySUSE); patchpilot.ErrorCode(err) != patchpilot.EUNSUPPORTED {
		t.Errorf("suse: got %v, want EUNSUPPORTED", err)
	}
}
