package planner

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// withPackages is a debian:12 web host that has the given packages
// ("name" or "name<source") installed and runs the given services.
func withPackages(name string, pkgs []string, services ...string) HostView {
	f := &patchpilot.Facts{Host: name, CollectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		OSName: "debian", OSVersion: "12", OSFamily: patchpilot.FamilyDebian, Services: services}
	for _, p := range pkgs {
		n, src, _ := strings.Cut(p, "<")
		f.Packages = append(f.Packages, patchpilot.Package{Name: n, SourceName: src})
	}
	return NewHostView(patchpilot.Host{Name: name, Labels: map[string]string{"role": "web"}}, f)
}

func TestKeyPackages(t *testing.T) {
	patch := patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-libdemo", Version: "2.0"}}}
	tests := []struct {
		name string
		host HostView
		want []string
	}{
		{"library only", withPackages("a", []string{"pp-libdemo<pp-libdemo", "bash"}), []string{"pp-libdemo"}},
		{"library and its tools", withPackages("b", []string{"pp-libdemo<pp-libdemo", "pp-libdemo-tools<pp-libdemo"}),
			[]string{"pp-libdemo", "pp-libdemo-tools"}},
		{"service of the package", withPackages("c", []string{"pp-libdemo<pp-libdemo"}, "pp-libdemo.service", "ssh.service"),
			[]string{"pp-libdemo", "svc:pp-libdemo"}},
		{"service listed twice", withPackages("c2", []string{"pp-libdemo<pp-libdemo"}, "pp-libdemo.service", "pp-libdemo"),
			[]string{"pp-libdemo", "svc:pp-libdemo"}},
		{"not installed", withPackages("d", []string{"bash"}), []string{}},
		{"no facts", NewHostView(patchpilot.Host{Name: "e"}, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keyPackages(&tt.host, patch, patchNames(patch))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keyPackages = %v, want %v", got, tt.want)
			}
		})
	}
	if got := keyPackages(&tests[1].host, patchpilot.PatchSpec{SecurityAll: true}, patchNames(patchpilot.PatchSpec{SecurityAll: true})); got != nil {
		t.Errorf("security patch: keyPackages = %v, want none", got)
	}
}

// Hosts of one OS and role that run different sets of the patch's
// packages are different configurations: the canaries cover each of them
// before any gets a second canary.
func TestResolveCoversKeyPackages(t *testing.T) {
	hosts := []HostView{
		withPackages("web1", []string{"pp-libdemo<pp-libdemo"}),
		withPackages("web2", []string{"pp-libdemo<pp-libdemo"}),
		withPackages("web3", []string{"pp-libdemo<pp-libdemo"}),
		withPackages("web4", []string{"pp-libdemo<pp-libdemo", "pp-libdemo-tools<pp-libdemo"}),
		withPackages("web5", []string{"pp-libdemo<pp-libdemo", "pp-libdemo-tools<pp-libdemo"}),
		withPackages("web6", []string{"pp-libdemo<pp-libdemo"}, "pp-libdemo.service"),
	}
	p := patchpilot.Plan{Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-libdemo", Version: "2.0"}}},
		Stages: stagesOf(t, "validation:1", "canary:2", "final:rest")}
	rp, err := Resolve(p, hosts)
	if err != nil {
		t.Fatal(err)
	}
	got := append(append([]string{}, rp.Stages[0].Hosts...), rp.Stages[1].Hosts...)
	if want := []string{"web1", "web4", "web6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("canaries %v, want %v (one per set of key packages)", got, want)
	}
	if len(rp.Notes) != 0 {
		t.Errorf("notes %v: every configuration is covered", rp.Notes)
	}
	if r := strings.Join(rp.Stages[1].Reasons, "; "); !strings.Contains(r, "debian:12/web/pp-libdemo+pp-libdemo-tools") {
		t.Errorf("canary reasons %q do not name the key packages", r)
	}
}
