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
		{pin("nginx", "1.22"), []string{`"nginx=1.22"`, "no package nginx is installed or pending on any of the 2 targets with facts"}},
		{pin("openssl", "3.0.15-1"), []string{"openssl is a source package", "libssl3"}},
	} {
		_, err := a.ProposePlan(ctx, tt.patch, "role=web")
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("ProposePlan(%+v): %v, want %s", tt.patch, err, patchpilot.EINVALID)
			continue
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
