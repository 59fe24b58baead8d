package redhat

import (
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily/osfamilytest"
)

func FuzzParseRPMQuery(f *testing.F) {
	osfamilytest.AddSeeds(f, "packages.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseRPMQuery(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
	})
}

func FuzzParseCheckUpdate(f *testing.F) {
	osfamilytest.AddSeeds(f, "updates.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		cu, err := ParseCheckUpdate(data)
		if err != nil {
			return
		}
		all := append([]Available{}, cu.Updates...)
		for _, o := range cu.Obsoleting {
			all = append(all, o.Available)
			all = append(all, o.Replaces...)
		}
		for _, a := range all {
			if a.Name == "" || a.Arch == "" || a.Version == "" || a.Repo == "" {
				t.Fatalf("incomplete entry %+v", a)
			}
		}
		// Whatever was parsed must join without panicking.
		_ = Updates(cu, nil, []patchpilot.Package{{Name: "x", Version: "1-1", Arch: "x86_64"}})
	})
}

func FuzzParseUpdateInfo(f *testing.F) {
	osfamilytest.AddSeeds(f, "advisories.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		advs, err := ParseUpdateInfo(data)
		if err != nil {
			return
		}
		for _, a := range advs {
			if a.ID == "" || a.Name == "" || a.Arch == "" || a.Version == "" {
				t.Fatalf("incomplete advisory %+v", a)
			}
		}
	})
}

func FuzzParseNeedsRestarting(f *testing.F) {
	osfamilytest.AddSeeds(f, "reboot.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, code := range []int{0, 1, 2, 127} {
			req, pkgs, known := ParseNeedsRestarting(patchpilot.Result{Stdout: data, ExitCode: code})
			if (req || len(pkgs) > 0) && !known {
				t.Fatalf("exit %d: unknown answer with reboot %v packages %q", code, req, pkgs)
			}
			if code != 1 && req {
				t.Fatalf("exit %d: reboot required", code)
			}
		}
	})
}

func FuzzParseRPMVerify(f *testing.F) {
	osfamilytest.AddSeeds(f, "depth.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		mods, err := ParseRPMVerify(strings.Split(string(data), "\n"))
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
