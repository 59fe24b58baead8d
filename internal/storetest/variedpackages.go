package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// NewVariedPackageFleet makes a fleet of about n collected hosts whose
// installed packages vary in every way a store keeps them: several OSes
// and arches, packages built from one source package and packages
// without a source package, several versions of one package on a host
// (kernels), one package in two arches on a host, statuses other than
// installed, packages listed out of name order, hosts that share most
// packages and hosts whose package differs from another's in one field
// alone, history (older snapshots with other packages, one saved after a
// newer one), hosts whose latest snapshot dropped a package or has none,
// and a host never collected. The same n makes the same fleet.
func NewVariedPackageFleet(n int) VariedFleet {
	rng := rand.New(rand.NewPCG(uint64(n), 22))
	type osInfo struct {
		family                   patchpilot.OSFamily
		name, version, arch, sep string
	}
	oses := []osInfo{
		{patchpilot.FamilyDebian, "debian", "12", "amd64", "-"},
		{patchpilot.FamilyDebian, "ubuntu", "22.04", "arm64", "-"},
		{patchpilot.FamilyRedHat, "rocky", "9.4", "x86_64", ".el9-"},
	}
	type pkg struct{ name, source string }
	pkgs := []pkg{{"libssl3", "openssl"}, {"openssl", "openssl"}, {"libssl-dev", "openssl"}, {"zlib1g", "zlib"},
		{"bash", ""}, {"tzdata", ""}, {"libc6", "glibc"}, {"libc-bin", "glibc"}, {"curl", "curl"},
		{"libcurl4", "curl"}, {"nginx", "nginx"}, {"nginx-common", "nginx"}, {"vim", "vim"}, {"ca-certificates", ""}}
	snapshot := func(h string, o osInfo, at time.Time, gen int, drop bool) patchpilot.Facts {
		f := patchpilot.Facts{Host: h, CollectedAt: at, Source: "ssh", OSFamily: o.family, OSName: o.name,
			OSVersion: o.version, Arch: o.arch, Kernel: "6.1.0", PackagesKnown: true}
		for _, i := range rng.Perm(len(pkgs)) {
			p := pkgs[i]
			if drop && rng.IntN(3) == 0 {
				continue
			}
			version := fmt.Sprintf("1.%d%s%d", gen+rng.IntN(2), o.sep, 1+rng.IntN(2))
			ip := patchpilot.Package{Name: p.name, Version: version, Arch: o.arch, SourceName: p.source}
			if p.source != "" {
				ip.SourceVersion = version
			}
			switch rng.IntN(12) {
			case 0:
				ip.Status = "half-configured"
			case 1:
				ip.Arch = "all"
			case 2:
				ip.SourceVersion = version + "+b1" // a binary rebuild
			}
			f.Packages = append(f.Packages, ip)
			if p.name == "libc6" && o.family == patchpilot.FamilyDebian && rng.IntN(2) == 0 {
				twin := ip
				twin.Arch = "i386"
				f.Packages = append(f.Packages, twin)
			}
		}
		// Kernels: the running one and one or two kept before it.
		for k := range 1 + rng.IntN(3) {
			v := fmt.Sprintf("6.1.%d", 90-k*7-gen)
			f.Packages = append(f.Packages, patchpilot.Package{Name: "linux-image-" + o.arch, Version: v, Arch: o.arch,
				SourceName: "linux-signed-" + o.arch, SourceVersion: v})
		}
		return f
	}
	base := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	var v VariedFleet
	v.Hosts = append(v.Hosts, patchpilot.Host{Name: "never-collected"})
	for i := range n {
		o := oses[i%len(oses)]
		name := fmt.Sprintf("%s-%03d", o.name, i)
		v.Hosts = append(v.Hosts, patchpilot.Host{Name: name})
		switch {
		case i%11 == 4: // its latest snapshot lists no packages
			empty := snapshot(name, o, base.Add(time.Hour), 2, false)
			empty.Packages, empty.PackagesKnown = nil, false
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base, 1, false), empty)
		case i%7 == 3: // three snapshots; the latest dropped packages
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base, 0, false), snapshot(name, o, base.Add(time.Hour), 1, false),
				snapshot(name, o, base.Add(2*time.Hour), 2, true))
		case i%5 == 1: // history, the older snapshot saved last
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base.Add(2*time.Hour), 2, false),
				snapshot(name, o, base, 1, false))
		default:
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base.Add(time.Duration(i)*time.Minute), rng.IntN(2), i%4 == 0))
		}
	}
	return v
}

// PackageNameSets are the name lists CheckPackages asks LatestPackagesOf
// for: single packages with and without a source package, a package named
// as its source package is, kernels, several at once, names no host has.
func (v VariedFleet) PackageNameSets() [][]string {
	return [][]string{{"openssl"}, {"libssl3"}, {"bash"}, {"tzdata", "ca-certificates"}, {"libc6"},
		{"linux-image-amd64"}, {"linux-image-arm64", "linux-image-x86_64"}, {"nginx-common"}, {"glibc"},
		{"openssl", "bash", "zlib1g", "curl"}, {"libcurl4", "vim", "nosuch"}, {"nosuch"}}
}

// WantPackagesOf is what LatestPackagesOf returns for names, worked out
// from the fleet's latest snapshots.
func (v VariedFleet) WantPackagesOf(names []string) map[string][]patchpilot.Package {
	out := map[string][]patchpilot.Package{}
	for host, f := range v.Latest() {
		mine := map[string]bool{}
		has := false
		for _, p := range f.Packages {
			if slices.Contains(names, p.Name) {
				has = true
				if p.SourceName != "" {
					mine[p.SourceName] = true
				}
			}
		}
		if !has {
			continue
		}
		var pkgs []patchpilot.Package
		for _, p := range f.Packages {
			if slices.Contains(names, p.Name) || mine[p.SourceName] {
				pkgs = append(pkgs, p)
			}
		}
		out[host] = pkgs
	}
	return out
}

// CheckPackages compares what st returns for the fleet's installed
// packages (LatestFacts, LatestPackagesOf over PackageNameSets) with what
// the latest snapshots say, on a store holding v.
func (v VariedFleet) CheckPackages(t *testing.T, st patchpilot.Store) {
	t.Helper()
	ctx := context.Background()
	for name, want := range v.Latest() {
		got, err := st.LatestFacts(ctx, name)
		if err != nil {
			t.Fatalf("LatestFacts(%s): %v", name, err)
		}
		if !reflect.DeepEqual(got.Packages, want.Packages) {
			t.Errorf("LatestFacts(%s).Packages = %+v\nwant %+v", name, got.Packages, want.Packages)
		}
	}
	for _, names := range v.PackageNameSets() {
		got, err := st.LatestPackagesOf(ctx, names)
		if err != nil {
			t.Fatalf("LatestPackagesOf(%v): %v", names, err)
		}
		if want := v.WantPackagesOf(names); !reflect.DeepEqual(got, want) {
			t.Errorf("LatestPackagesOf(%v):\n got %+v\nwant %+v", names, got, want)
		}
	}
}

// testPackagesVaried states that a fleet's installed packages read back as
// the snapshots say, before and after its history is pruned, and after
// later snapshots that share the packages stored before.
func (s suite) testPackagesVaried(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	v := NewVariedPackageFleet(45)
	v.Save(t, st)
	v.CheckPackages(t, st)
	if _, err := st.PruneFacts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v.CheckPackages(t, st)
	for name, f := range v.Latest() {
		hist, err := st.FactHistory(ctx, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].PackageCount != len(f.Packages) {
			t.Errorf("FactHistory(%s) after pruning = %+v, want one snapshot of %d packages", name, hist, len(f.Packages))
		}
	}
	// Later snapshots: one host takes another's packages, another drops
	// all but its first.
	latest := v.Latest()
	a, b := latest["debian-000"], latest["rocky-002"]
	next := a
	next.CollectedAt = a.CollectedAt.Add(24 * time.Hour)
	next.Packages = append(slices.Clone(b.Packages), patchpilot.Package{Name: "brand-new", Version: "1"})
	later := b
	later.CollectedAt = b.CollectedAt.Add(24 * time.Hour)
	later.Packages = b.Packages[:1]
	for _, f := range []patchpilot.Facts{next, later} {
		mustSave(t, st, f)
		v.Snapshots = append(v.Snapshots, f)
	}
	v.CheckPackages(t, st)
}
