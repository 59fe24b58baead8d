package suse

import (
	"slices"
	"testing"

	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// TestParseLocks reads "zypper locks" in the table layout zypper 1.14
// prints (zypper(8), "locks"): a header, a separator, a row per lock.
func TestParseLocks(t *testing.T) {
	got := ParseLocks([]string{
		"# | Name            | Type    | Repository",
		"--+-----------------+---------+-----------",
		"1 | kernel-default  | package | (any)",
		"2 | openSUSE-2024-1 | patch   | (any)",
		"3 | vim             |         | (any)",
		"4 | kernel-default  | package | repo-oss",
	})
	if want := []string{"kernel-default", "vim"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := ParseLocks([]string{"There are no package locks defined."}); len(got) != 0 {
		t.Errorf("no locks: got %v", got)
	}
}

func TestDepthPackagesSection(t *testing.T) {
	secs := osfamily.Sections([]byte("== verify\nS.5....T.  c /etc/zypp/zypp.conf\n== locks\n# | Name | Type | Repository\n--+------+------+-----------\n1 | bash | package | (any)\n"))
	if len(secs["verify"]) != 1 || !slices.Equal(ParseLocks(secs["locks"]), []string{"bash"}) {
		t.Errorf("sections %v", secs)
	}
	var names []string
	for _, s := range Steps(osfamily.Options{Depth: true}) {
		names = append(names, s.Name)
	}
	if slices.Contains(names, osfamily.StepNeedsRestart) || !slices.Contains(names, StepDepthPackages) {
		t.Errorf("steps in depth %v", names)
	}
}
