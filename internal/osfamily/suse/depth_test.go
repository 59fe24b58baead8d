package suse

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// TestParseLocks reads libzypp's locks file as "zypper addlock" writes
// it (the format of zypp's locks file: "key: value" stanzas).
func TestParseLocks(t *testing.T) {
	got := ParseLocks(strings.Split(`type: package
match_type: glob
case_sensitive: on
solvable_name: kernel-default

type: patch
match_type: exact
case_sensitive: on
solvable_name: openSUSE-2024-1

match_type: glob
case_sensitive: on
solvable_name: vim

type: package
solvable_name: kernel-default
`, "\n"))
	if want := []string{"kernel-default", "vim"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := ParseLocks(nil); len(got) != 0 {
		t.Errorf("no locks file: got %v", got)
	}
}

func TestDepthPackagesSection(t *testing.T) {
	secs := osfamily.Sections([]byte("== verify\nS.5....T.  c /etc/zypp/zypp.conf\n== locks\ntype: package\nsolvable_name: bash\n"))
	if len(secs["verify"]) != 1 || !slices.Equal(ParseLocks(secs["locks"]), []string{"bash"}) {
		t.Errorf("sections %v", secs)
	}
	var names []string
	for _, s := range Steps(osfamily.Options{Depth: true}) {
		names = append(names, s.Name)
	}
	if slices.Contains(names, osfamily.StepNeedsRestart) || !slices.Contains(names, osfamily.StepDepth) {
		t.Errorf("steps in depth %v", names)
	}
}
