package debian

import (
	"testing"

	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

func FuzzParseDpkgQuery(f *testing.F) {
	osfamilytest.AddSeeds(f, "packages.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseDpkgQuery(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.SourceName == "" {
				t.Fatalf("package without a name or source: %+v", p)
			}
			if p.Status == "" && p.Version == "" {
				t.Fatalf("installed package without a version: %+v", p)
			}
		}
	})
}

func FuzzParseAptSimulate(f *testing.F) {
	osfamilytest.AddSeeds(f, "updates.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		plan, err := ParseAptSimulate(data)
		if err != nil {
			return
		}
		for _, u := range plan.Updates {
			if u.Package == "" || u.CandidateVersion == "" {
				t.Fatalf("update without a package or candidate: %+v", u)
			}
		}
		for _, r := range plan.Removals {
			if r.Package == "" {
				t.Fatalf("removal without a package: %+v", r)
			}
		}
	})
}
