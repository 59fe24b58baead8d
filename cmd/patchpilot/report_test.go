package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seedSLA stores three hosts: late-1 with a critical update pending for 20
// days (out of its 7-day SLA), fresh-1 with one pending for a day, and
// never-1 never collected; and one succeeded patch of fresh-1 ten days ago.
func seedSLA(t *testing.T, path string) time.Time {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "late-1"}, {Name: "fresh-1"}, {Name: "never-1"}}); err != nil {
		t.Fatal(err)
	}
	crit := func(v string) patchpilot.Update {
		return patchpilot.Update{Package: "openssl", InstalledVersion: "3.0.1", CandidateVersion: v, Security: true,
			Advisories: []patchpilot.AdvisoryRef{{ID: "RHSA-<b>1</b>", Severity: "critical"}}}
	}
	for _, f := range []patchpilot.Facts{
		{Host: "late-1", CollectedAt: now.Add(-20 * 24 * time.Hour), Updates: []patchpilot.Update{crit("3.0.2")}},
		{Host: "fresh-1", CollectedAt: now.Add(-24 * time.Hour), Updates: []patchpilot.Update{crit("3.0.3")}},
	} {
		f.OSFamily, f.OSName, f.OSVersion, f.Source, f.PackagesKnown, f.UpdatesKnown = patchpilot.FamilyRedHat, "rocky", "9.4", "ssh", true, true
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
		exp := patchpilot.SLAExposure{Host: f.Host, CollectedAt: f.CollectedAt, Oldest: map[patchpilot.Severity]time.Time{"critical": f.CollectedAt}}
		if err := st.SaveSLAExposures(ctx, []patchpilot.SLAExposure{exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordOutcome(ctx, patchpilot.Outcome{Rollout: "r-1", Host: "fresh-1", Time: now.Add(-10 * 24 * time.Hour),
		Outcome: patchpilot.OutcomeSucceeded, Packages: []patchpilot.PackageChange{{Name: "zlib", From: "1", To: "2"}}}); err != nil {
		t.Fatal(err)
	}
	return now
}

func TestReport(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedSLA(t, db)

	table := e.mustRun("report", "--db", db)
	for _, want := range []string{"Patching report", "Hosts within their SLA now:", "1 of 2 (50.0%); 1 out of SLA, 1 never collected",
		"Hosts out of their SLA", "late-1", "openssl", "3.0.2", "critical", "13d"} {
		if !strings.Contains(table, want) {
			t.Errorf("table report lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "fresh-1  ") && strings.Contains(table, "3.0.3") {
		t.Errorf("a host within its SLA is listed as out of it:\n%s", table)
	}

	// A fleet with no host collected yet has no share within its SLA, not
	// 0%.
	empty := e.mustRun("report", "--db", filepath.Join(e.home, "empty.db"))
	if !strings.Contains(empty, "0 of 0 (n/a)") || strings.Contains(empty, "0.0%; ") {
		t.Errorf("report of an empty fleet:\n%s", empty)
	}

	doc := decodeJSON[reportDoc](t, e.mustRun("report", "--db", db, "-o", "json"))
	if doc.ComplianceNow.OutOfSLA != 1 || doc.ComplianceNow.WithinSLA != 1 || doc.ComplianceNow.Unknown != 1 ||
		len(doc.OutOfSLA) != 1 || doc.OutOfSLA[0].Host != "late-1" || doc.Patches.Succeeded != 1 || doc.Weekly == nil {
		t.Errorf("json report: %+v", doc)
	}
	if d := doc.OutOfSLA[0].Overdue[0].Overdue(); d < 12*24*time.Hour || d > 14*24*time.Hour {
		t.Errorf("overdue by %v, want about 13 days", d)
	}
	if n := len(doc.Compliance); n < 30 || n > 32 {
		t.Errorf("%d compliance days in 30 days", n)
	}

	md := e.mustRun("report", "--db", db, "-o", "md", "--since", "60d")
	for _, want := range []string{"# Patching report", "| KPI | Value |", "## Hosts out of their SLA", "| late-1 | default | openssl | 3.0.2 | critical |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown report lacks %q:\n%s", want, md)
		}
	}

	out := filepath.Join(e.home, "report.html")
	r := e.run("report", "--db", db, "-o", "html", "--out", out)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, out) {
		t.Fatalf("report --out: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	for _, want := range []string{"<!DOCTYPE html>", "<style>", "<svg", "Hosts within their SLA, by day", "late-1"} {
		if !strings.Contains(html, want) {
			t.Errorf("html report lacks %q", want)
		}
	}
	// Self-contained: nothing fetched, nothing run.
	for _, bad := range []string{"<script", "<link", " src=", "href=", "url(", "@import"} {
		if strings.Contains(html, bad) {
			t.Errorf("html report contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`https?://[^"]*`).FindAllString(html, -1); len(m) > 0 {
		for _, u := range m {
			if u != "http://www.w3.org/2000/svg" {
				t.Errorf("html report names %s", u)
			}
		}
	}

	// Bad input names the flag and the expected form.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--since", "a while"}, `--since "a while": expected a duration back from now such as 24h or 7d`},
		{[]string{"report", "--until", "yesterday"}, `--until "yesterday"`},
		{[]string{"report", "-o", "pdf"}, `--output "pdf": expected table, json, md or html`},
		{[]string{"report", "--since", "1d", "--until", "2d"}, "ends"},
	} {
		r := e.run(append(tt.args, "--db", db)...)
		if r.code != patchpilot.ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, patchpilot.ExitUsage, tt.want)
		}
	}
	help := e.mustRun("report", "--help")
	for _, want := range []string{"--since", "--out", "table, json, md or html", "docs/kpis.md"} {
		if !strings.Contains(help, want) {
			t.Errorf("report --help lacks %q", want)
		}
	}
}

func TestHostsShowSLAState(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedSLA(t, db)
	out := e.mustRun("hosts", "--db", db)
	if !strings.Contains(out, "SLA") || !regexp.MustCompile(`late-1 .*out_of_sla`).MatchString(out) ||
		!regexp.MustCompile(`fresh-1 .*within_sla`).MatchString(out) || !regexp.MustCompile(`never-1 .*unknown`).MatchString(out) {
		t.Errorf("hosts without SLA states:\n%s", out)
	}
	rows := decodeJSON[[]hostRow](t, e.mustRun("hosts", "--db", db, "-o", "json"))
	states := map[string]string{}
	for _, r := range rows {
		states[r.Name] = string(r.SLAState)
	}
	if states["late-1"] != "out_of_sla" || states["fresh-1"] != "within_sla" || states["never-1"] != "unknown" {
		t.Errorf("hosts -o json SLA states: %v", states)
	}
}

// --until alone ends the default period there; a repeated or future end
// is refused.
func TestReportPeriod(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedSLA(t, db)
	until := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	doc := decodeJSON[reportDoc](t, e.mustRun("report", "--db", db, "--until", until.Format(time.RFC3339), "-o", "json"))
	if !doc.To.Equal(until) || !doc.From.Equal(until.Add(-30*24*time.Hour)) {
		t.Errorf("--until alone: %s to %s; want the 30 days up to %s", doc.From, doc.To, until)
	}
	r := e.run("report", "--db", db, "--until", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
	if r.code != 2 || !strings.Contains(r.stderr, "after now") {
		t.Errorf("a period ending in the future: exit %d, %s", r.code, r.stderr)
	}
}

// A fleet whose pending security updates carry no severity is within its
// SLA by the rule (no severity, no deadline), but the report says so next
// to the figure in every format, naming the hosts.
func TestReportCountsUnratedSecurityUpdates(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "web-1"}}); err != nil {
		t.Fatal(err)
	}
	f := patchpilot.Facts{Host: "web-1", CollectedAt: time.Now().UTC().Add(-time.Hour), OSFamily: patchpilot.FamilyDebian,
		OSName: "debian", OSVersion: "12", Source: "ssh", PackagesKnown: true, UpdatesKnown: true}
	for i := range 90 {
		f.Updates = append(f.Updates, patchpilot.Update{Package: "pkg" + strconv.Itoa(i), InstalledVersion: "1", CandidateVersion: "2", Security: true})
	}
	if err := st.SaveFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	st.Close()

	table := e.mustRun("report", "--db", db)
	for _, want := range []string{"1 of 1 (100.0%); 0 out of SLA, 0 never collected; but 90 pending security updates on 1 host have no severity, so no deadline",
		"Unrated security updates:", "90 on 1 host, with no severity and so no deadline: web-1 (90)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table report lacks %q:\n%s", want, table)
		}
	}
	doc := decodeJSON[reportDoc](t, e.mustRun("report", "--db", db, "-o", "json"))
	if doc.ComplianceNow.UnratedUpdates != 90 || doc.ComplianceNow.UnratedHosts != 1 || doc.ComplianceNow.Compliant != 1 ||
		len(doc.Unrated) != 1 || doc.Unrated[0].Host != "web-1" || doc.Unrated[0].Unrated != 90 {
		t.Errorf("json report: compliance %+v, unrated %+v", doc.ComplianceNow, doc.Unrated)
	}
	md := e.mustRun("report", "--db", db, "-o", "md")
	if !strings.Contains(md, "| Unrated security updates | 90 on 1 host, with no severity and so no deadline: web-1 (90) |") {
		t.Errorf("markdown report:\n%s", md)
	}
	html := e.mustRun("report", "--db", db, "-o", "html")
	if !strings.Contains(html, "but 90 pending security updates on 1 host have no severity") {
		t.Errorf("html report lacks the unrated updates")
	}
}
