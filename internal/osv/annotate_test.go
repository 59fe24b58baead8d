package osv

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// index is a lookup over imported records, as a store would answer it:
// exact ecosystem and package name.
type index struct {
	byKey map[[2]string][]patchpilot.Advisory
	calls map[[2]string]int
	err   error
}

func newIndex(t *testing.T, path string) *index {
	t.Helper()
	advs, err := ImportPath(path)
	if err != nil {
		t.Fatal(err)
	}
	ix := &index{byKey: map[[2]string][]patchpilot.Advisory{}, calls: map[[2]string]int{}}
	for _, a := range advs {
		seen := map[[2]string]bool{}
		for _, p := range a.Affected {
			k := [2]string{p.Ecosystem, p.Name}
			if !seen[k] {
				seen[k] = true
				ix.byKey[k] = append(ix.byKey[k], a)
			}
		}
	}
	return ix
}

func (ix *index) lookup(_ context.Context, ecosystem, pkg string) ([]patchpilot.Advisory, error) {
	k := [2]string{ecosystem, pkg}
	ix.calls[k]++
	if ix.err != nil {
		return nil, ix.err
	}
	return ix.byKey[k], nil
}

func TestAnnotate(t *testing.T) {
	ix := newIndex(t, "testdata/records")
	updates := []patchpilot.HostUpdate{
		// Ubuntu: the binary libssl3 from source openssl; two records match.
		{Host: "web1", Package: "libssl3", SourcePackage: "openssl", InstalledVersion: "3.0.2-0ubuntu1.12",
			CandidateVersion: "3.0.2-0ubuntu1.14", Ecosystem: "Ubuntu:22.04:LTS", Family: patchpilot.FamilyDebian},
		// The same package on another host: answered from the cache.
		{Host: "web2", Package: "libssl3", SourcePackage: "openssl", InstalledVersion: "3.0.2-0ubuntu1.13",
			CandidateVersion: "3.0.2-0ubuntu1.14", Ecosystem: "Ubuntu:22.04:LTS"},
		// AlmaLinux: dnf named the advisory already, without CVEs.
		{Host: "db1", Package: "openssl-libs", SourcePackage: "openssl", InstalledVersion: "3.0.1-41.el9",
			CandidateVersion: "3.0.1-43.el9_0", Ecosystem: "AlmaLinux:9", Family: patchpilot.FamilyRedHat, Security: true,
			Advisories: []patchpilot.AdvisoryRef{{ID: "ALSA-2022:7288", Severity: "Important"}, {ID: "ALBA-2022:1"}}},
		// Debian: installed version already fixed.
		{Host: "mail1", Package: "openssl", SourcePackage: "openssl", InstalledVersion: "3.0.11-1~deb12u2",
			CandidateVersion: "3.0.13-1~deb12u1", Ecosystem: "Debian:12"},
		// Debian: bind9 with an epoch.
		{Host: "ns1", Package: "bind9-libs", SourcePackage: "bind9", InstalledVersion: "1:9.18.19-1~deb12u1",
			CandidateVersion: "1:9.18.24-1", Ecosystem: "Debian:12"},
		// Unknown ecosystem: left alone.
		{Host: "x", Package: "openssl", InstalledVersion: "1", CandidateVersion: "2", Ecosystem: "Plan9:4"},
	}
	if err := Annotate(context.Background(), updates, ix.lookup); err != nil {
		t.Fatal(err)
	}
	type result struct {
		security bool
		refs     []patchpilot.AdvisoryRef
	}
	want := []result{
		{true, []patchpilot.AdvisoryRef{
			{ID: "CVE-2024-0727", CVEs: []string{"CVE-2024-0727"}, Severity: "low", CVSS: 5.5},
			{ID: "USN-6622-1", CVEs: []string{"CVE-2023-5678", "CVE-2024-0727"}, Severity: "medium"},
		}},
		// 3.0.2-0ubuntu1.13 is listed, and below the fix, for both.
		{true, []patchpilot.AdvisoryRef{
			{ID: "CVE-2024-0727", CVEs: []string{"CVE-2024-0727"}, Severity: "low", CVSS: 5.5},
			{ID: "USN-6622-1", CVEs: []string{"CVE-2023-5678", "CVE-2024-0727"}, Severity: "medium"},
		}},
		{true, []patchpilot.AdvisoryRef{
			{ID: "ALSA-2022:7288", CVEs: []string{"CVE-2022-3602", "CVE-2022-3786"}, Severity: "Important"},
			{ID: "ALBA-2022:1"},
		}},
		{false, nil},
		{true, []patchpilot.AdvisoryRef{{ID: "DSA-5532-1", CVEs: []string{"CVE-2023-4807", "CVE-2023-5363"}}}},
		{false, nil},
	}
	for i, u := range updates {
		got := result{u.Security, u.Advisories}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s %s: got %+v\nwant %+v", u.Host, u.Package, got, want[i])
		}
	}
	for k, n := range ix.calls {
		if n != 1 {
			t.Errorf("lookup %v made %d times, want once", k, n)
		}
	}
	// Ubuntu hosts also look in the Pro archive's records.
	if ix.calls[[2]string{"Ubuntu:Pro:22.04:LTS", "openssl"}] != 1 {
		t.Errorf("no lookup of the Pro ecosystem: %v", ix.calls)
	}
}

func TestAnnotateErrors(t *testing.T) {
	ix := newIndex(t, "testdata/records")
	updates := []patchpilot.HostUpdate{
		{Host: "bad", Package: "openssl", InstalledVersion: "not:a:version", CandidateVersion: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
		{Host: "good", Package: "openssl", InstalledVersion: "3.0.11-1~deb12u1", CandidateVersion: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
		// The same updates on other hosts: matched once, reported for each.
		{Host: "bad-too", Package: "openssl", InstalledVersion: "not:a:version", CandidateVersion: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
		{Host: "good-too", Package: "openssl", InstalledVersion: "3.0.11-1~deb12u1", CandidateVersion: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
	}
	err := Annotate(context.Background(), updates, ix.lookup)
	for _, want := range []string{"bad: openssl not:a:version -> 3.0.11-1~deb12u2", "bad-too: openssl not:a:version"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want one naming %q", err, want)
		}
	}
	if updates[0].Security || !updates[1].Security || updates[2].Security || !updates[3].Security {
		t.Errorf("security = %v, %v, %v, %v; want the good updates annotated despite the bad ones",
			updates[0].Security, updates[1].Security, updates[2].Security, updates[3].Security)
	}
	if !reflect.DeepEqual(updates[1].Advisories, updates[3].Advisories) || len(updates[1].Advisories) == 0 {
		t.Errorf("the same update on two hosts got %+v and %+v", updates[1].Advisories, updates[3].Advisories)
	}
	updates = updates[:2]

	ix.err = patchpilot.Errorf(patchpilot.EUNAVAILABLE, "database is locked")
	err = Annotate(context.Background(), updates[1:], ix.lookup)
	if patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE || !strings.Contains(err.Error(), "look up advisories for openssl in Debian:12") {
		t.Errorf("error = %v, want the lookup's failure", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Annotate(ctx, updates, ix.lookup); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}
