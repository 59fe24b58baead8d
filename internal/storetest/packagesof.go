package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// packagesOf is LatestPackagesOf computed the straightforward way, from
// each host's whole latest package list.
func packagesOf(t *testing.T, st patchpilot.Store, hosts []string, names []string) map[string][]patchpilot.Package {
	t.Helper()
	named := map[string]bool{}
	for _, n := range names {
		named[n] = true
	}
	out := map[string][]patchpilot.Package{}
	for _, h := range hosts {
		f, err := st.LatestFacts(context.Background(), h)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]bool{}
		has := false
		for _, p := range f.Packages {
			if named[p.Name] {
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
			if named[p.Name] || mine[p.SourceName] {
				pkgs = append(pkgs, p)
			}
		}
		out[h] = pkgs
	}
	return out
}

// testLatestPackagesOf states that LatestPackagesOf returns what each
// host's whole latest list says: the named packages and their siblings of
// the same source package on that host, in collected order; packages
// without a source package; several versions of one package; a package
// whose source package changed between snapshots; older snapshots' rows
// left out; hosts without the packages, or without facts, absent.
func (s suite) testLatestPackagesOf(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	hosts := []string{"deb-1", "deb-2", "rpm-1", "old-1", "never"}
	for _, h := range hosts {
		mustUpsert(t, st, patchpilot.Host{Name: h})
	}
	pkg := func(name, version, source string) patchpilot.Package {
		return patchpilot.Package{Name: name, Version: version, Arch: "amd64", SourceName: source, SourceVersion: version}
	}
	save := func(host string, at time.Time, pkgs ...patchpilot.Package) {
		f := Facts(host, at, 0, 0)
		f.Packages = pkgs
		mustSave(t, st, f)
	}
	t0 := baseTime
	save("deb-1", t0, pkg("libssl3", "3.0.11", "openssl"), pkg("bash", "5.2", "bash"), pkg("openssl", "3.0.11", "openssl"),
		pkg("zlib1g", "1.2", "zlib"), pkg("linux-image-amd64", "6.1.76", "linux-signed-amd64"),
		pkg("linux-image-amd64", "6.1.69", "linux-signed-amd64"), pkg("tzdata", "2024a", ""), pkg("libssl-dev", "3.0.11", "openssl"))
	save("deb-2", t0, pkg("bash", "5.2", "bash"), pkg("openssl", "3.0.9", "openssl"))
	// Its latest snapshot builds libfoo from another source package.
	save("deb-2", t0.Add(time.Hour), pkg("libfoo", "1.0", "foo-old"), pkg("foo-old-utils", "1.0", "foo-old"), pkg("bash", "5.2", "bash"))
	save("deb-2", t0.Add(2*time.Hour), pkg("libfoo", "2.0", "foo"), pkg("foo-old-utils", "1.0", "foo-old"), pkg("foo-doc", "2.0", "foo"),
		pkg("bash", "5.2", "bash"))
	save("rpm-1", t0, pkg("openssl-libs", "3.0.7", ""), pkg("tzdata", "2024a", ""), pkg("bash", "5.1", ""), pkg("openssl", "3.0.7", ""))
	// Only its older snapshot has openssl.
	save("old-1", t0, pkg("openssl", "3.0.1", "openssl"), pkg("libssl3", "3.0.1", "openssl"))
	save("old-1", t0.Add(time.Hour), pkg("bash", "5.2", "bash"), pkg("libssl-dev", "3.0.1", "openssl"))

	for _, names := range [][]string{
		{"openssl"}, {"libssl3"}, {"bash"}, {"tzdata"}, {"linux-image-amd64"}, {"libfoo"}, {"foo-old-utils"},
		{"openssl", "bash", "zlib1g"}, {"openssl-libs", "libssl3"}, {"nosuch"}, {"libssl-dev"}, {"tzdata", "libfoo", "nosuch"},
	} {
		got, err := st.LatestPackagesOf(ctx, names)
		if err != nil {
			t.Fatalf("LatestPackagesOf(%v): %v", names, err)
		}
		if want := packagesOf(t, st, hosts, names); !reflect.DeepEqual(got, want) {
			t.Errorf("LatestPackagesOf(%v):\n got %+v\nwant %+v", names, got, want)
		}
	}
	if got, err := st.LatestPackagesOf(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("LatestPackagesOf(nil) = %v, %v; want none", got, err)
	}
}
