package suse

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

func FuzzParseUpdates(f *testing.F) {
	osfamilytest.AddSeeds(f, "updates.out")
	osfamilytest.AddSeeds(f, "patches.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		ups, err := ParseUpdates(data)
		if err != nil {
			return
		}
		for _, u := range ups {
			if u.Name == "" || u.Edition == "" {
				t.Fatalf("update without name or edition: %+v", u)
			}
		}
		// Whatever was parsed must join without panicking, as updates
		// and as patches.
		_ = Updates(ups, ups, []patchpilot.Package{{Name: "x", Version: "1-1", Arch: "x86_64"}})
	})
}

func FuzzPatchSources(f *testing.F) {
	f.Add("Security update for openssl-1_1, openssl-3")
	f.Add("Security update for the Linux Kernel")
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range PatchSources(s) {
			if name == "" {
				t.Fatal("empty source name")
			}
		}
	})
}

func FuzzParseLocks(f *testing.F) {
	f.Add([]byte("type: package\nmatch_type: glob\ncase_sensitive: on\nsolvable_name: vim\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		names := ParseLocks(strings.Split(string(data), "\n"))
		if !slices.IsSorted(names) || slices.Contains(names, "") {
			t.Fatalf("bad names %q", names)
		}
	})
}
