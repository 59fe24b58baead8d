package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testHostSummaries(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st,
		patchpilot.Host{Name: "b-web", Address: "10.0.0.2", Labels: map[string]string{"role": "web"}},
		patchpilot.Host{Name: "a-new"},
	)
	old := Facts("b-web", baseTime, 50, 9)
	latest := Facts("b-web", baseTime.Add(time.Hour), 40, 7) // 7 updates, 3 of them security
	latest.RebootRequired = true
	latest.Kernel = "6.1.0-20-amd64"
	mustSave(t, st, latest)
	mustSave(t, st, old)

	got, err := st.HostSummaries(ctx)
	if err != nil {
		t.Fatalf("HostSummaries: %v", err)
	}
	at := baseTime.Add(time.Hour)
	want := []patchpilot.HostSummary{
		{Name: "a-new", Address: "a-new", OSFamily: patchpilot.FamilyUnknown, Labels: map[string]string{}},
		{Name: "b-web", Address: "10.0.0.2", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
			Kernel: "6.1.0-20-amd64", Arch: "x86_64", PackageCount: 40, PendingUpdateCount: 7,
			SecurityUpdateCount: 3, RebootRequired: true, Labels: map[string]string{"role": "web"}, CollectedAt: &at},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostSummaries:\n got %s\nwant %s", jsonString(t, got), jsonString(t, want))
	}
	// The JSON contract: a host never collected has a null time and {} labels.
	if js := jsonString(t, got[0]); !strings.Contains(js, `"collected_at":null`) || !strings.Contains(js, `"labels":{}`) {
		t.Errorf("summary of a host never collected is %s, want collected_at null and labels {}", js)
	}
	// The counts agree with Summarize on the full facts.
	if sum := patchpilot.Summarize(patchpilot.Host{Name: "b-web", Address: "10.0.0.2",
		Labels: map[string]string{"role": "web"}}, &latest); !reflect.DeepEqual(sum, got[1]) {
		t.Errorf("stored summary %+v differs from Summarize %+v", got[1], sum)
	}

	empty := s.store(t)
	if got, err := empty.HostSummaries(ctx); err != nil || len(got) != 0 {
		t.Errorf("HostSummaries of an empty store = %v, %v; want none", got, err)
	}
}

func (s suite) testPendingUpdates(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	mustUpsert(t, st, patchpilot.Host{Name: "deb"}, patchpilot.Host{Name: "alma"}, patchpilot.Host{Name: "never"})

	// An older snapshot whose updates must not be listed.
	stale := Facts("deb", baseTime, 10, 0)
	stale.Updates = []patchpilot.Update{{Package: "stale", CandidateVersion: "9", Security: true}}
	mustSave(t, st, stale)
	deb := Facts("deb", baseTime.Add(time.Hour), 10, 0)
	deb.Updates = []patchpilot.Update{
		{Package: "zlib1g", SourcePackage: "zlib", InstalledVersion: "1:1.2.13.dfsg-1",
			CandidateVersion: "1:1.2.13.dfsg-1+deb12u1"},
		{Package: "libssl3", SourcePackage: "openssl", InstalledVersion: "3.0.11-1~deb12u2",
			CandidateVersion: "3.0.13-1~deb12u1", Security: true,
			Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5678-1", CVEs: []string{"CVE-2024-0727"}}}},
		{Package: "openssl", SourcePackage: "openssl", InstalledVersion: "3.0.11-1~deb12u2",
			CandidateVersion: "3.0.13-1~deb12u1", Security: true},
	}
	mustSave(t, st, deb)
	alma := patchpilot.Facts{Host: "alma", CollectedAt: baseTime, Source: "ssh", OSFamily: patchpilot.FamilyRedHat,
		OSName: "almalinux", OSVersion: "9.4", Kernel: "5.14.0-427.el9.x86_64", Arch: "x86_64", UpdatesKnown: true,
		Updates: []patchpilot.Update{{Package: "bash", SourcePackage: "bash", InstalledVersion: "5.1.8-6.el9",
			CandidateVersion: "5.1.8-9.el9"}}}
	mustSave(t, st, alma)

	type row struct {
		host, pkg, ecosystem string
		family               patchpilot.OSFamily
		security             bool
		advisories           int
	}
	list := func(t *testing.T, f patchpilot.UpdateFilter) []row {
		t.Helper()
		ups, err := st.PendingUpdates(ctx, f)
		if err != nil {
			t.Fatalf("PendingUpdates(%+v): %v", f, err)
		}
		var out []row
		for _, u := range ups {
			if u.Advisories == nil {
				t.Errorf("%s %s: Advisories is nil, want an empty slice", u.Host, u.Package)
			}
			out = append(out, row{u.Host, u.Package, u.Ecosystem, u.Family, u.Security, len(u.Advisories)})
		}
		return out
	}
	var (
		bash    = row{"alma", "bash", "AlmaLinux:9", patchpilot.FamilyRedHat, false, 0}
		libssl  = row{"deb", "libssl3", "Debian:12", patchpilot.FamilyDebian, true, 1}
		openssl = row{"deb", "openssl", "Debian:12", patchpilot.FamilyDebian, true, 0}
		zlib    = row{"deb", "zlib1g", "Debian:12", patchpilot.FamilyDebian, false, 0}
	)
	cases := []struct {
		name   string
		filter patchpilot.UpdateFilter
		want   []row
	}{
		{"all", patchpilot.UpdateFilter{}, []row{bash, libssl, openssl, zlib}},
		{"host", patchpilot.UpdateFilter{Host: "deb"}, []row{libssl, openssl, zlib}},
		{"security", patchpilot.UpdateFilter{SecurityOnly: true}, []row{libssl, openssl}},
		{"package", patchpilot.UpdateFilter{Package: "zlib1g"}, []row{zlib}},
		{"source package", patchpilot.UpdateFilter{Package: "openssl"}, []row{libssl, openssl}},
		{"package of an older snapshot only", patchpilot.UpdateFilter{Package: "stale"}, nil},
		{"package, security", patchpilot.UpdateFilter{Package: "openssl", SecurityOnly: true}, []row{libssl, openssl}},
		{"combined", patchpilot.UpdateFilter{Host: "alma", SecurityOnly: true}, nil},
		{"unknown host", patchpilot.UpdateFilter{Host: "ghost"}, nil},
		{"never collected", patchpilot.UpdateFilter{Host: "never"}, nil},
		{"hosts after", patchpilot.UpdateFilter{HostsAfter: "alma"}, []row{libssl, openssl, zlib}},
		{"hosts through", patchpilot.UpdateFilter{HostsThrough: "alma"}, []row{bash}},
		{"hosts between", patchpilot.UpdateFilter{HostsAfter: "alma", HostsThrough: "deb"}, []row{libssl, openssl, zlib}},
		{"hosts after the last", patchpilot.UpdateFilter{HostsAfter: "deb"}, nil},
		{"hosts through, package", patchpilot.UpdateFilter{HostsThrough: "deb", Package: "openssl"}, []row{libssl, openssl}},
		{"hosts after, package", patchpilot.UpdateFilter{HostsAfter: "deb", Package: "openssl"}, nil},
		{"host and range", patchpilot.UpdateFilter{Host: "deb", HostsThrough: "alma"}, nil},
		{"hosts", patchpilot.UpdateFilter{Hosts: []string{"alma", "deb"}}, []row{bash, libssl, openssl, zlib}},
		{"hosts, one", patchpilot.UpdateFilter{Hosts: []string{"deb"}}, []row{libssl, openssl, zlib}},
		{"hosts, unknown and never collected", patchpilot.UpdateFilter{Hosts: []string{"ghost", "never", "alma"}}, []row{bash}},
		{"hosts, security", patchpilot.UpdateFilter{Hosts: []string{"alma", "deb"}, SecurityOnly: true}, []row{libssl, openssl}},
		{"hosts, package", patchpilot.UpdateFilter{Hosts: []string{"alma", "deb"}, Package: "openssl"}, []row{libssl, openssl}},
		{"hosts and host", patchpilot.UpdateFilter{Hosts: []string{"alma"}, Host: "deb"}, nil},
		{"hosts and range", patchpilot.UpdateFilter{Hosts: []string{"alma", "deb"}, HostsAfter: "alma"}, []row{libssl, openssl, zlib}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := list(t, c.filter); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}

	t.Run("Fields", func(t *testing.T) {
		ups, err := st.PendingUpdates(ctx, patchpilot.UpdateFilter{Host: "deb", Package: "libssl3"})
		if err != nil || len(ups) != 1 {
			t.Fatalf("PendingUpdates = %v, %v; want one", ups, err)
		}
		want := patchpilot.HostUpdate{Host: "deb", Package: "libssl3", SourcePackage: "openssl",
			InstalledVersion: "3.0.11-1~deb12u2", CandidateVersion: "3.0.13-1~deb12u1", Security: true,
			Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5678-1", CVEs: []string{"CVE-2024-0727"}}},
			Ecosystem:  "Debian:12", Family: patchpilot.FamilyDebian}
		if !reflect.DeepEqual(ups[0], want) {
			t.Errorf("got %+v\nwant %+v", ups[0], want)
		}
		ups, err = st.PendingUpdates(ctx, patchpilot.UpdateFilter{Host: "alma"})
		if err != nil || len(ups) != 1 {
			t.Fatalf("PendingUpdates = %v, %v; want one", ups, err)
		}
		if js := jsonString(t, ups[0]); !strings.Contains(js, `"advisories":[]`) {
			t.Errorf("JSON of an update without advisories is %s, want \"advisories\":[]", js)
		}
	})
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}
