package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Security updates whose advisories carry no severity get no deadline from
// the default SLA, so they leave their host compliant; the report counts
// them, and the hosts they are on, next to the in-SLA figure rather than
// let the fleet look clean.
func TestComplianceCountsUnratedSecurityUpdates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hosts := []patchpilot.Host{{Name: "deb-1"}, {Name: "deb-2"}, {Name: "rpm-1"}, {Name: "clean-1"}, {Name: "never-1"}, {Name: "staging-1", Labels: map[string]string{"env": "staging"}}}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	unrated := func(pkg string) patchpilot.Update {
		return patchpilot.Update{Package: pkg, SourcePackage: pkg, InstalledVersion: "1.0", CandidateVersion: "1.1", Security: true}
	}
	unratedAdv := func(pkg string) patchpilot.Update {
		u := unrated(pkg)
		u.Advisories = []patchpilot.AdvisoryRef{{ID: "DSA-" + pkg}} // an advisory with neither a word nor a score
		return u
	}
	critical := func(pkg string) patchpilot.Update {
		u := unrated(pkg)
		u.Advisories = []patchpilot.AdvisoryRef{{ID: "DSA-c-" + pkg, Severity: "critical"}}
		return u
	}
	plain := patchpilot.Update{Package: "vim", InstalledVersion: "9.0", CandidateVersion: "9.1"} // not a security update
	facts := []patchpilot.Facts{
		// Three unrated security updates, one rated within its deadline.
		{Host: "deb-1", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
			Updates: []patchpilot.Update{unrated("expat"), unratedAdv("zlib"), unrated("curl"), critical("openssl"), plain}},
		// Only unrated ones: compliant by the SLA.
		{Host: "deb-2", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
			Updates: []patchpilot.Update{unrated("expat")}},
		// Another family, one unrated.
		{Host: "rpm-1", OSFamily: patchpilot.FamilyRedHat, OSName: "rocky", OSVersion: "9.4",
			Updates: []patchpilot.Update{unrated("glibc"), critical("kernel")}},
		// Nothing pending but a plain update.
		{Host: "clean-1", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12", Updates: []patchpilot.Update{plain}},
		// Unrated updates in a group whose SLA gives them a deadline: measured, not unrated.
		{Host: "staging-1", OSFamily: patchpilot.FamilyDebian, OSName: "debian", OSVersion: "12",
			Updates: []patchpilot.Update{unrated("expat"), unrated("curl")}},
	}
	for _, f := range facts {
		f.CollectedAt, f.Source, f.PackagesKnown, f.UpdatesKnown = now.Add(-time.Hour), "ssh", true, true
		if err := a.Store.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	a.Options.Policy = Policy{Groups: []PolicyGroup{{Name: "staging", Selector: "env=staging", SLA: SLA{Unrated: 30 * 24 * time.Hour}}}}

	rep, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantUnrated := map[string]int{"deb-1": 3, "deb-2": 1, "rpm-1": 1, "clean-1": 0, "never-1": 0, "staging-1": 0}
	wantState := map[string]SLAState{"deb-1": SLAWithin, "deb-2": SLACompliant, "rpm-1": SLAWithin, "clean-1": SLACompliant,
		"never-1": SLAUnknown, "staging-1": SLAWithin}
	for h, n := range wantUnrated {
		hc, ok := rep.Host(h)
		if !ok || hc.Unrated != n || hc.State != wantState[h] {
			t.Errorf("%s: unrated %d, state %q; want %d, %q", h, hc.Unrated, hc.State, n, wantState[h])
		}
		// One host measured alone agrees with the fleet's measure.
		one, err := a.HostCompliance(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if one.Unrated != hc.Unrated || one.State != hc.State || one.Pending != hc.Pending {
			t.Errorf("%s measured alone: %+v; in the fleet: %+v", h, one, hc)
		}
	}
	if st, _ := rep.Host("staging-1"); st.Pending != 2 {
		t.Errorf("staging-1: %d pending with a deadline, want its 2 unrated updates measured", st.Pending)
	}
	want := ComplianceTotals{Hosts: 6, Compliant: 2, WithinSLA: 3, Unknown: 1, UnratedUpdates: 5, UnratedHosts: 3}
	if rep.Totals != want {
		t.Errorf("totals %+v, want %+v", rep.Totals, want)
	}
	if got := rep.Unrated(); len(got) != 3 || got[0].Host != "deb-1" || got[1].Host != "deb-2" || got[2].Host != "rpm-1" {
		t.Errorf("unrated hosts %+v, want deb-1, then deb-2 and rpm-1 by name", got)
	}
	fig := rep.Totals.InSLAFigure()
	if want := "5 of 5 (100.0%); 0 out of SLA, 1 never collected; but 5 pending security updates on 3 hosts have no severity, so no deadline: not measured by the SLA"; fig != want {
		t.Errorf("in-SLA figure %q, want %q", fig, want)
	}
	if got, want := rep.UnratedFigure(2), "5 on 3 hosts, with no severity and so no deadline: deb-1 (3), deb-2 (1) and 1 more"; got != want {
		t.Errorf("unrated figure %q, want %q", got, want)
	}

	// With none, the figures say nothing more.
	clean := ComplianceReport{Totals: ComplianceTotals{Hosts: 1, Compliant: 1}}
	if fig := clean.Totals.InSLAFigure(); strings.Contains(fig, "severity") || clean.UnratedFigure(10) != "none" {
		t.Errorf("a fleet without unrated updates: %q, %q", fig, clean.UnratedFigure(10))
	}
	one := ComplianceTotals{Hosts: 1, WithinSLA: 1, UnratedUpdates: 1, UnratedHosts: 1}
	if !strings.HasSuffix(one.InSLAFigure(), "1 pending security update on 1 host has no severity, so no deadline: not measured by the SLA") {
		t.Errorf("one unrated update: %q", one.InSLAFigure())
	}

	// The mailed report says it next to the figure and in its subject.
	m := kpiReportMail(KPIReport{From: now.Add(-30 * 24 * time.Hour), To: now, GeneratedAt: now}, rep, false)
	if !strings.HasSuffix(m.Subject, ", 5 security updates without a severity") {
		t.Errorf("subject %q", m.Subject)
	}
	for _, w := range []string{"; but 5 pending security updates on 3 hosts have no severity", "Unrated security updates:", "deb-1 (3), deb-2 (1), rpm-1 (1)"} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("mail lacks %q:\n%s", w, m.Text)
		}
	}
}
