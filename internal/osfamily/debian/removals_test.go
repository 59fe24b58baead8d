package debian

import (
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// The collector keeps what the update simulation would remove: the crafted
// Ubuntu transcript's dist-upgrade removes olddaemon.
func TestParseKeepsRemovals(t *testing.T) {
	f := parseDir(t, "ubuntu2204-crafted")
	want := []patchpilot.PackageChange{{Name: "olddaemon", From: "1.2-1"}}
	if p, ok := findPackage(f, "olddaemon", "amd64"); ok {
		want[0].SourcePackage = p.SourceName
	}
	if !reflect.DeepEqual(f.Removals, want) {
		t.Errorf("Removals = %+v, want %+v", f.Removals, want)
	}
	if f := parseDir(t, "debian12-vm"); f.Removals != nil {
		t.Errorf("debian12-vm Removals = %+v, want none", f.Removals)
	}
}
