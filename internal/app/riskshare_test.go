package app

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// variedFleet stores 36 hosts that differ in every way an assessment
// reads: four OS releases of two families, three roles and none, hosts
// with and without update history (succeeded, failed, rolled back, alike
// histories on several hosts), a failed and quarantined version, dry runs
// that remove packages, held packages and files changed on the host in
// depth, a kernel update that reboots a host others depend on, binary
// packages of one source (openssl, libssl3) and several candidate versions
// of one package across the fleet, updates whose advisories repeat a CVE,
// and hosts with nothing pending (h13 among the others, h36 last).
func variedFleet(t *testing.T) (context.Context, *App) {
	t.Helper()
	ctx, a, _ := openTestApp(t)
	type osRel struct {
		family          patchpilot.OSFamily
		name, version   string
		kernelPkg, kver string
	}
	oses := []osRel{
		{patchpilot.FamilyDebian, "debian", "12", "linux-image-amd64", "6.1.119-1"},
		{patchpilot.FamilyDebian, "debian", "11", "linux-image-amd64", "5.10.226-1"},
		{patchpilot.FamilyDebian, "ubuntu", "22.04", "linux-image-generic", "5.15.0.126.124"},
		{patchpilot.FamilyRedHat, "rocky", "9", "kernel", "5.14.0-503.15.1.el9_5"},
	}
	roles := []string{"web", "db", "cache", ""}
	var hosts []patchpilot.Host
	for i := range 37 {
		labels := map[string]string{"env": "prod"}
		if r := roles[i%len(roles)]; r != "" {
			labels["role"] = r
		}
		if i == 5 || i == 9 {
			labels["depends_on"] = "h00" // h00's reboot reaches them
		}
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("h%02d", i), Labels: labels})
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		o := oses[(i/4)%len(oses)]
		demo := "1.1.4"
		if i%8 == 0 || i%7 == 3 {
			demo = "1.1.3" // the quarantined version, on some hosts
		}
		f := patchpilot.Facts{Host: h.Name, CollectedAt: testNow.Add(-time.Hour), Source: "ssh",
			OSFamily: o.family, OSName: o.name, OSVersion: o.version, Kernel: "6.1.0", Arch: "x86_64",
			PackagesKnown: true, UpdatesKnown: true, Services: []string{"ssh.service", "cron.service"},
			Packages: []patchpilot.Package{{Name: "pp-demo-web", Version: "1.0.0"}, {Name: "openssl", Version: "3.0.14-1", SourceName: "openssl"},
				{Name: "libssl3", Version: "3.0.14-1", SourceName: "openssl"}, {Name: "pp-libdemo", Version: "1.0.0"}},
			Updates: []patchpilot.Update{
				{Package: "pp-demo-web", InstalledVersion: "1.0.0", CandidateVersion: demo},
				{Package: "openssl", SourcePackage: "openssl", InstalledVersion: "3.0.14-1", CandidateVersion: "3.0.15-1", Security: true,
					Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5801-1", CVEs: []string{"CVE-2024-9143", "CVE-2024-5535"}, Severity: "high"}}},
				{Package: "libssl3", SourcePackage: "openssl", InstalledVersion: "3.0.14-1", CandidateVersion: "3.0.15-1", Security: true,
					Advisories: []patchpilot.AdvisoryRef{{ID: "DSA-5801-1", CVEs: []string{"CVE-2024-9143", "CVE-2024-5535"}, Severity: "high"}}},
			}}
		if i%3 == 0 {
			f.Updates = append(f.Updates, patchpilot.Update{Package: o.kernelPkg, InstalledVersion: "1", CandidateVersion: o.kver})
		}
		if i%5 == 1 {
			f.Updates = append(f.Updates, patchpilot.Update{Package: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"})
		}
		if i%6 == 2 {
			f.Removals = []patchpilot.PackageChange{{Name: "pp-agent-legacy", From: "1.0.0"}}
		}
		if i%3 == 1 {
			f.Services = append(f.Services, "nginx.service")
		}
		if i%4 == 2 {
			// Two advisories of one update that name a CVE both.
			f.Updates[1].Advisories = append(f.Updates[1].Advisories,
				patchpilot.AdvisoryRef{ID: "OSV-2024-9143", CVEs: []string{"CVE-2024-9143", "CVE-2024-0727"}, CVSS: 9.1})
		}
		if i == 13 || i == 36 {
			f.Updates = nil
		}
		if i%9 == 4 {
			f.Depth = &patchpilot.HostDepth{Held: []string{"pp-libdemo"}}
		}
		if i%11 == 7 {
			f.Depth = &patchpilot.HostDepth{Modified: []patchpilot.ModifiedFile{{Package: "pp-demo-web", Path: "/etc/pp-demo-web.conf", Conffile: true}}}
		}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	t0 := testNow.Add(-48 * time.Hour)
	outcome := func(rollout, host, pkg, version string, kind patchpilot.OutcomeKind, at time.Time) patchpilot.Outcome {
		return patchpilot.Outcome{Time: at, Rollout: rollout, Host: host, OS: "debian:12", Labels: map[string]string{"role": "web"},
			Packages: []patchpilot.PackageChange{{Name: pkg, From: "1.0.0", To: version}},
			Outcome:  kind, Reason: "canary:latency_mean fail", GateResults: []patchpilot.GateResult{}}
	}
	for _, o := range []patchpilot.Outcome{
		outcome("r-1", "h00", "pp-demo-web", "1.1.3", patchpilot.OutcomeRolledBack, t0),
		outcome("r-1", "h04", "pp-demo-web", "1.1.3", patchpilot.OutcomeSucceeded, t0),
		outcome("r-1", "h08", "pp-demo-web", "1.1.3", patchpilot.OutcomeSucceeded, t0.Add(time.Minute)),
		outcome("r-1", "h12", "pp-demo-web", "1.1.3", patchpilot.OutcomeSucceeded, t0.Add(2*time.Minute)),
		outcome("r-2", "h16", "pp-libdemo", "1.0.5", patchpilot.OutcomeFailed, t0.Add(time.Hour)),
		outcome("r-2", "h20", "pp-libdemo", "1.0.5", patchpilot.OutcomeFailed, t0.Add(time.Hour)),
	} {
		if err := a.Store.RecordOutcome(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, a
}

// TestAssessSharedEqualsEachHost: scoring alike hosts once and sharing the
// assessment gives exactly what scoring every host on its own gives, for
// the whole fleet and for --patch and --host queries, in Go values and in
// the JSON the CLI prints.
func TestAssessSharedEqualsEachHost(t *testing.T) {
	ctx, a := variedFleet(t)
	queries := []AssessQuery{{}, {Patch: "pp-demo-web=1.1.4"}, {Patch: "pp-demo-web=1.1.3"}, {Patch: "openssl"},
		{Patch: "pp-libdemo=1.1.0"}, {Patch: "pp-demo-web,libssl3=3.0.15-1"}, {Host: "h00"}, {Host: "h07"},
		{Host: "h01"}, {Patch: "openssl=3.0.15-1", Host: "h02"}}
	// Assess without its cache of the fleet's assessment, which would
	// answer the second question with the first's answer.
	assess := func(q AssessQuery) (AssessResult, error) {
		res, err := a.assess(ctx, q)
		if err == nil {
			err = a.markQuarantined(ctx, &res)
		}
		return res, err
	}
	compare := func(model string) {
		t.Helper()
		// The fleet's facts read per host with the dependency map read on
		// its own, then in one query that the map is built from: the
		// answers must not change either.
		// The whole fleet's assessment is read a part of the hosts at a
		// time: in one part, in parts of 7 hosts, and host by host, with
		// the reads as far ahead of the scoring as they get (8 parts, so
		// that the first are read while the facts are) or one part ahead.
		first := map[int]AssessResult{}
		for _, c := range []struct{ from, part, ahead int }{{200, 2000, 8}, {0, 2000, 1}, {0, 7, 1}, {0, 7, 8}, {0, 1, 8}} {
			fleetReadFrom, fleetPartHosts, fleetPartsAhead = c.from, c.part, c.ahead
			for i, q := range queries {
				a.assessEachHost = false
				shared, err := assess(q)
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				a.assessEachHost = true
				each, err := assess(q)
				a.assessEachHost = false
				if err != nil {
					t.Fatalf("%+v each host: %v", q, err)
				}
				if !reflect.DeepEqual(shared, each) {
					t.Errorf("%s, %+v: shared assessment differs from each host's:\n%+v\n%+v", model, q, shared, each)
				}
				js, _ := json.Marshal(shared)
				je, _ := json.Marshal(each)
				if string(js) != string(je) {
					t.Errorf("%s, %+v: JSON differs:\n%s\n%s", model, q, js, je)
				}
				if prev, ok := first[i]; !ok {
					first[i] = shared
				} else if !reflect.DeepEqual(prev, shared) {
					t.Errorf("%s, %+v, %+v: the assessment differs from the first one's:\n%+v\n%+v", model, c, q, shared, prev)
				}
			}
		}
		fleetReadFrom, fleetPartHosts, fleetPartsAhead = 200, 2000, 8
	}
	compare("cold start")
	// A trained model, with weights on more features, over a history
	// that gives many of the fleet's hosts (h00 to h16) one of their own.
	if _, err := a.ImportHistory(ctx, writeHistory(t, synthetic(400, testNow.Add(-2000*time.Hour), 0.5, 0.05, 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TrainModel(ctx); err != nil {
		t.Fatal(err)
	}
	compare("trained")
	// A model that weighs every feature, so that no fact of a host an
	// assessment reads goes without effect.
	m, _, err := a.Model(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Weights {
		m.Weights[i] = 0.2 + 0.05*float64(i)
		if i%4 == 3 {
			m.Weights[i] = -m.Weights[i]
		}
	}
	m.Version = "rm-everyfeature"
	blob, err := risk.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SaveModel(ctx, m.Version, testNow, json.RawMessage(`{}`), blob); err != nil {
		t.Fatal(err)
	}
	compare("every feature weighed")

	// The fleet is as varied as it claims: what the comparison covered.
	res, err := a.Assess(ctx, AssessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range res.Patches {
		if len(p.Quarantined) > 0 {
			seen["quarantined"] = true
		}
		for _, h := range p.Hosts {
			if h.BlastRadius != nil {
				seen["blast radius"] = true
			}
			for _, w := range h.Warnings {
				seen["warning "+w.Kind] = true
			}
		}
	}
	for _, want := range []string{"quarantined", "blast radius", "warning removals", "warning version_failed", "warning held",
		"warning modified_files", "warning host_rolled_back"} {
		if !seen[want] {
			t.Errorf("the fleet's assessment shows no %s (saw %v)", want, seen)
		}
	}
}
