package app

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestProposePlanChecksPins: a plan's pins must be versions inventory saw
// on the targets (a candidate, one between installed and candidate, or an
// installed one); anything else is refused naming the pin and what was seen.
func TestProposePlanChecksPins(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{{Name: "web1", Labels: map[string]string{"role": "web"}}, {Name: "web2", Labels: map[string]string{"role": "web"}},
		{Name: "new1", Labels: map[string]string{"role": "web"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts[:2] { // new1 was never collected
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "libssl3", Version: "3.0.11-1", SourceName: "openssl"}, {Name: "curl", Version: "7.88.1-10"}},
			Updates:  []patchpilot.Update{{Package: "libssl3", SourcePackage: "openssl", InstalledVersion: "3.0.11-1", CandidateVersion: "3.0.15-1"}}}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	pin := func(name, version string) patchpilot.PatchSpec {
		return patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: name, Version: version}}}
	}
	for _, ok := range []patchpilot.PatchSpec{
		pin("libssl3", "3.0.15-1"), // the candidate
		pin("libssl3", "3.0.13-1"), // between installed and candidate
		pin("curl", "7.88.1-10"),   // installed already
		{SecurityAll: true},
	} {
		if _, err := a.ProposePlan(ctx, ok, "role=web"); err != nil {
			t.Errorf("ProposePlan(%+v): %v", ok, err)
		}
	}
	for _, tt := range []struct {
		patch patchpilot.PatchSpec
		want  []string
	}{
		{pin("libssl3", "3.0.99-1"), []string{`"libssl3=3.0.99-1"`, "candidate 3.0.15-1 on web1, web2", "installed 3.0.11-1 on web1, web2"}},
		{pin("libssl3", "3.0.9-1"), []string{`"libssl3=3.0.9-1"`, "candidate 3.0.15-1"}},
		{pin("nginx", "1.22"), []string{`patch pin "nginx=1.22"`, "no package nginx is installed or pending on any of the 2 targets with facts"}},
		{pin("openssl", "3.0.15-1"), []string{"openssl is a source package", "libssl3"}},
	} {
		_, err := a.ProposePlan(ctx, tt.patch, "role=web")
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("ProposePlan(%+v): %v, want %s", tt.patch, err, patchpilot.EINVALID)
			continue
		}
		// The API takes the patch too: the error names no CLI flag.
		if strings.Contains(err.Error(), "--patch") {
			t.Errorf("ProposePlan(%+v): error %q names the CLI flag", tt.patch, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ProposePlan(%+v): error %q does not say %q", tt.patch, err, w)
			}
		}
	}
	// A host that never answered, named on purpose: nothing to check
	// against, so the plan is made and says the facts show no update.
	if _, err := a.ProposePlan(ctx, pin("libssl3", "3.0.99-1"), "name=new1"); err != nil {
		t.Errorf("pins on a never collected target: %v, want a plan", err)
	}
}

// A host that holds a pinned package lists no update of it: assess names
// it as left out (and why), its error for that host alone says the
// package is held there, and plan keeps it with the warning that apt
// refuses the change.
func TestAssessNamesHeldHosts(t *testing.T) {
	ctx, a, _ := openTestApp(t)
	hosts := []patchpilot.Host{{Name: "web1", Labels: map[string]string{"role": "web"}}, {Name: "web2", Labels: map[string]string{"role": "web"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f := patchpilot.Facts{Host: h.Name, CollectedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "ssh",
			OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", PackagesKnown: true, UpdatesKnown: true,
			Packages: []patchpilot.Package{{Name: "pp-libdemo", Version: "1.0.0"}}, Depth: &patchpilot.HostDepth{}}
		if h.Name == "web1" {
			f.Updates = []patchpilot.Update{{Package: "pp-libdemo", InstalledVersion: "1.0.0", CandidateVersion: "1.1.0"}}
		} else {
			f.Depth.Held = []string{"pp-libdemo"}
		}
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.Assess(ctx, AssessQuery{Patch: "pp-libdemo=1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Patches) != 1 || len(res.Patches[0].Hosts) != 1 || res.Patches[0].Hosts[0].Host != "web1" {
		t.Errorf("patches %+v, want web1 alone assessed", res.Patches)
	}
	want := HeldPin{Host: "web2", Package: "pp-libdemo", InstalledVersion: "1.0.0", Version: "1.1.0", Release: "apt-mark unhold pp-libdemo"}
	if len(res.Held) != 1 || res.Held[0] != want {
		t.Errorf("held %+v, want %+v", res.Held, want)
	}
	if txt := want.Text(); !strings.Contains(txt, "left out web2: pp-libdemo is held there") {
		t.Errorf("held text %q", txt)
	}

	_, err = a.Assess(ctx, AssessQuery{Patch: "pp-libdemo=1.1.0", Host: "web2"})
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(patchpilot.ErrorHint(err), "pp-libdemo is held on web2 ('apt-mark unhold pp-libdemo' releases it)") {
		t.Errorf("assess on the holding host: %v (hint %q), want ENOTFOUND with a hint naming the hold", err, patchpilot.ErrorHint(err))
	}

	prop, err := a.ProposePlan(ctx, patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "pp-libdemo", Version: "1.1.0"}}}, "role=web")
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(prop.Header, "\n"); !strings.Contains(strings.Join(prop.Targets, ","), "web2") || !strings.Contains(h, "pp-libdemo is held on web2 (apt-mark hold)") {
		t.Errorf("plan targets %v, header:\n%s\nwant web2 kept with the held warning", prop.Targets, h)
	}
}
