package debian

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
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

func FuzzParseConffileCheck(f *testing.F) {
	osfamilytest.AddSeeds(f, "depth.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConffileCheck(osfamily.Sections(data))
		if err != nil {
			return
		}
		for _, m := range c.Modified() {
			if m.Package == "" || !strings.HasPrefix(m.Path, "/") || !m.Conffile {
				t.Fatalf("bad modified file %+v", m)
			}
		}
	})
}

func FuzzParseDpkgVerify(f *testing.F) {
	data, err := os.ReadFile("testdata/dpkg-verify/debian12-lab.out")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		mods, err := ParseDpkgVerify(data)
		if err != nil {
			return
		}
		for _, m := range mods {
			if !strings.HasPrefix(m.Path, "/") || m.Missing == (m.Checks != "") {
				t.Fatalf("bad modified file %+v", m)
			}
		}
	})
}

func FuzzParseAptPolicy(f *testing.F) {
	osfamilytest.AddSeeds(f, "depth.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		p := ParseAptPolicy(osfamily.Sections(data))
		for _, fp := range p.Foreign() {
			if fp.Name == "" || fp.Version == "" {
				t.Fatalf("bad foreign package %+v", fp)
			}
			switch fp.Relation {
			case patchpilot.ForeignNoCandidate, patchpilot.ForeignNewer, patchpilot.ForeignOlder:
			default:
				t.Fatalf("bad relation %+v", fp)
			}
		}
		if !slices.IsSorted(p.Pinned) {
			t.Fatalf("pinned not sorted: %v", p.Pinned)
		}
	})
}
