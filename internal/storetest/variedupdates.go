package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// VariedFleet is a fleet whose pending updates vary in every way a store
// keeps them: several OSes, hosts that share updates and hosts whose
// update differs from another's only by its advisories, its origin or
// its arch, a package pending twice in one snapshot (two arches), updates
// stored out of package order, updates without a candidate version,
// history (older snapshots with other updates, one saved after a newer
// one), a host whose latest snapshot has no updates, and a host never
// collected. Snapshots is every snapshot in the order to save them.
type VariedFleet struct {
	Hosts     []patchpilot.Host
	Snapshots []patchpilot.Facts
}

// NewVariedFleet makes a VariedFleet of about n collected hosts; the same
// n makes the same fleet.
func NewVariedFleet(n int) VariedFleet {
	rng := rand.New(rand.NewPCG(uint64(n), 21))
	type osInfo struct {
		family                           patchpilot.OSFamily
		name, version, arch, origin, sep string
	}
	oses := []osInfo{
		{patchpilot.FamilyDebian, "debian", "12", "amd64", "Debian-Security", "-"},
		{patchpilot.FamilyDebian, "ubuntu", "22.04", "amd64", "Ubuntu:22.04/jammy-security", "-"},
		{patchpilot.FamilyRedHat, "almalinux", "9.4", "x86_64", "baseos", ".el9-"},
	}
	type pkg struct{ name, source string }
	pkgs := []pkg{{"libssl3", "openssl"}, {"openssl", "openssl"}, {"zlib1g", "zlib"}, {"bash", ""},
		{"linux-image-amd64", "linux"}, {"libc6", "glibc"}, {"curl", "curl"}, {"libcurl4", "curl"},
		{"nginx", "nginx"}, {"tzdata", ""}}
	update := func(o osInfo, p pkg, gen int) patchpilot.Update {
		u := patchpilot.Update{Package: p.name, SourcePackage: p.source, Arch: o.arch,
			InstalledVersion: fmt.Sprintf("1.%d%s1", gen, o.sep), CandidateVersion: fmt.Sprintf("1.%d%s2", gen, o.sep),
			Origin: o.origin}
		switch rng.IntN(6) {
		case 0:
			u.Security = true
			u.Advisories = []patchpilot.AdvisoryRef{{ID: fmt.Sprintf("DSA-%d-1", 5000+gen), CVEs: []string{"CVE-2026-0001"}}}
		case 1:
			u.Security = true
			u.Advisories = []patchpilot.AdvisoryRef{{ID: fmt.Sprintf("DSA-%d-1", 5000+gen), Severity: "high", CVSS: 7.5},
				{ID: "USN-1-1"}}
		case 2:
			u.Origin = "backports"
		case 3:
			u.CandidateVersion = "" // a package manager that named no version
		}
		return u
	}
	snapshot := func(h string, o osInfo, at time.Time, gen, count int) patchpilot.Facts {
		f := patchpilot.Facts{Host: h, CollectedAt: at, Source: "ssh", OSFamily: o.family, OSName: o.name,
			OSVersion: o.version, Arch: o.arch, Kernel: "6.1.0", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "bash", Version: "5.2", Arch: o.arch, Status: "installed"}}}
		for _, i := range rng.Perm(len(pkgs))[:count] {
			f.Updates = append(f.Updates, update(o, pkgs[i], gen))
			if pkgs[i].name == "libc6" {
				twin := f.Updates[len(f.Updates)-1]
				twin.Arch = "i386"
				f.Updates = append(f.Updates, twin)
			}
		}
		return f
	}
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var v VariedFleet
	v.Hosts = append(v.Hosts, patchpilot.Host{Name: "never-collected"})
	for i := range n {
		o := oses[i%len(oses)]
		name := fmt.Sprintf("%s-%03d", o.name, i)
		v.Hosts = append(v.Hosts, patchpilot.Host{Name: name})
		switch {
		case i%7 == 3: // updated since: the latest snapshot has none
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base, 1, 4), snapshot(name, o, base.Add(time.Hour), 2, 0))
		case i%5 == 1: // history, the older snapshot saved last
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base.Add(2*time.Hour), 2, 1+rng.IntN(len(pkgs))),
				snapshot(name, o, base, 1, 1+rng.IntN(len(pkgs))))
		default:
			v.Snapshots = append(v.Snapshots, snapshot(name, o, base.Add(time.Duration(i)*time.Minute), rng.IntN(2), 1+rng.IntN(len(pkgs))))
		}
	}
	return v
}

// Save stores the fleet's hosts and snapshots.
func (v VariedFleet) Save(t *testing.T, st patchpilot.Store) {
	t.Helper()
	mustUpsert(t, st, v.Hosts...)
	for _, f := range v.Snapshots {
		mustSave(t, st, f)
	}
}

// Latest is each collected host's latest snapshot, by name.
func (v VariedFleet) Latest() map[string]patchpilot.Facts {
	out := map[string]patchpilot.Facts{}
	for _, f := range v.Snapshots {
		if l, ok := out[f.Host]; !ok || f.CollectedAt.After(l.CollectedAt) {
			out[f.Host] = f
		}
	}
	return out
}

// WantPendingUpdates is what PendingUpdates returns for filter, worked out
// from the snapshots themselves: the latest snapshot's updates of each host
// the filter keeps, by host name and then by package, in collected order
// among updates of one package.
func (v VariedFleet) WantPendingUpdates(filter patchpilot.UpdateFilter) []patchpilot.HostUpdate {
	latest := v.Latest()
	names := make([]string, 0, len(latest))
	for name := range latest {
		names = append(names, name)
	}
	slices.Sort(names)
	out := []patchpilot.HostUpdate{}
	for _, name := range names {
		switch {
		case filter.Host != "" && name != filter.Host,
			len(filter.Hosts) > 0 && !slices.Contains(filter.Hosts, name),
			filter.HostsAfter != "" && name <= filter.HostsAfter,
			filter.HostsThrough != "" && name > filter.HostsThrough:
			continue
		}
		f := latest[name]
		var mine []patchpilot.HostUpdate
		for _, u := range f.Updates {
			if filter.SecurityOnly && !u.Security ||
				filter.Package != "" && u.Package != filter.Package && u.SourcePackage != filter.Package {
				continue
			}
			advs := slices.Clone(u.Advisories)
			if advs == nil {
				advs = []patchpilot.AdvisoryRef{}
			}
			mine = append(mine, patchpilot.HostUpdate{Host: name, Package: u.Package, SourcePackage: u.SourcePackage,
				InstalledVersion: u.InstalledVersion, CandidateVersion: u.CandidateVersion, Security: u.Security,
				Advisories: advs, Ecosystem: f.Ecosystem(), Family: f.OSFamily})
		}
		slices.SortStableFunc(mine, func(a, b patchpilot.HostUpdate) int { return strings.Compare(a.Package, b.Package) })
		out = append(out, mine...)
	}
	return out
}

// Filters are the filters CheckPendingUpdates tries: each kind alone and
// combined, on hosts and packages the fleet has and has not.
func (v VariedFleet) Filters() []patchpilot.UpdateFilter {
	latest := v.Latest()
	names := make([]string, 0, len(latest))
	for name := range latest {
		names = append(names, name)
	}
	slices.Sort(names)
	mid := names[len(names)/2]
	fs := []patchpilot.UpdateFilter{{}, {SecurityOnly: true}, {Host: names[0]}, {Host: "never-collected"}, {Host: "ghost"},
		{Hosts: []string{names[1], names[len(names)-1], "ghost"}}, {HostsThrough: mid}, {HostsAfter: mid},
		{HostsAfter: names[1], HostsThrough: mid, SecurityOnly: true}, {Hosts: names[:3], Package: "openssl"}}
	for _, p := range []string{"openssl", "libssl3", "curl", "libc6", "bash", "glibc", "linux", "absent"} {
		fs = append(fs, patchpilot.UpdateFilter{Package: p}, patchpilot.UpdateFilter{Package: p, SecurityOnly: true},
			patchpilot.UpdateFilter{Package: p, HostsAfter: mid}, patchpilot.UpdateFilter{Package: p, Host: names[2]})
	}
	return fs
}

// CheckPendingUpdates compares what st returns for the fleet's pending
// updates (PendingUpdates under every filter of Filters, LatestFacts,
// FirstSeen) with what the snapshots say, on a store holding v.
func (v VariedFleet) CheckPendingUpdates(t *testing.T, st patchpilot.Store) {
	t.Helper()
	ctx := context.Background()
	for _, f := range v.Filters() {
		got, err := st.PendingUpdates(ctx, f)
		if err != nil {
			t.Fatalf("PendingUpdates(%+v): %v", f, err)
		}
		if want := v.WantPendingUpdates(f); !reflect.DeepEqual(got, want) {
			t.Errorf("PendingUpdates(%+v): %d updates, want %d\ngot  %+v\nwant %+v", f, len(got), len(want), got, want)
		}
	}
	for name, want := range v.Latest() {
		got, err := st.LatestFacts(ctx, name)
		if err != nil {
			t.Fatalf("LatestFacts(%s): %v", name, err)
		}
		if !reflect.DeepEqual(got.Updates, want.Updates) {
			t.Errorf("LatestFacts(%s).Updates = %+v\nwant %+v", name, got.Updates, want.Updates)
		}
	}
	// The first sighting of each (package, candidate version): the
	// earliest snapshot that listed it.
	type pv struct{ pkg, version string }
	first := map[pv]patchpilot.UpdateSighting{}
	var pkgs []string
	for _, f := range v.Snapshots {
		for _, u := range f.Updates {
			if !slices.Contains(pkgs, u.Package) {
				pkgs = append(pkgs, u.Package)
			}
			if u.CandidateVersion == "" {
				continue
			}
			k := pv{u.Package, u.CandidateVersion}
			if s, ok := first[k]; !ok || f.CollectedAt.Before(s.FirstSeen) {
				first[k] = patchpilot.UpdateSighting{Package: u.Package, Version: u.CandidateVersion, Host: f.Host, FirstSeen: f.CollectedAt}
			}
		}
	}
	got, err := st.FirstSeen(ctx, pkgs)
	if err != nil {
		t.Fatalf("FirstSeen: %v", err)
	}
	if len(got) != len(first) {
		t.Errorf("FirstSeen: %d sightings, want %d", len(got), len(first))
	}
	for _, s := range got {
		w := first[pv{s.Package, s.Version}]
		// Two hosts may list an update first at the same time: either
		// host is right then.
		if !s.FirstSeen.Equal(w.FirstSeen) {
			t.Errorf("FirstSeen %s %s = %s on %s, want %s", s.Package, s.Version, s.FirstSeen, s.Host, w.FirstSeen)
		}
	}
}

func (s suite) testPendingUpdatesVaried(t *testing.T) {
	st := s.store(t)
	v := NewVariedFleet(40)
	v.Save(t, st)
	v.CheckPendingUpdates(t, st)
}
