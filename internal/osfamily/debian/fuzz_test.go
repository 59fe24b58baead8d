package debian

import (
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, file string) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", file))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseDpkgQuery(f *testing.F) {
	addSeeds(f, "packages.out")
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
	addSeeds(f, "updates.out")
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
