package main

import (
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// debianReleases maps codenames to release numbers for the "os" field.
func debianReleases() map[string]string {
	return map[string]string{
		"woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
		"jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11",
	}
}

// records converts the data to the history format. A Debian update becomes
// one record per release it fixed, on a "host" named after the release
// (debian-jessie), so that host history means release history; an Ubuntu
// notice becomes one record on the host "ubuntu" for its first source
// package. The advisory list (dsa, dla, usn) is the role label. An update
// later followed by a regression fix is "failed", any other "succeeded".
func (ds *dataset) records() []risk.Record {
	regressionOf := map[string]string{}
	for _, a := range ds.advisories {
		if a.regressionID != "" {
			regressionOf[a.id] = a.regressionID
		}
	}
	rel := debianReleases()
	var out []risk.Record
	for _, u := range ds.updates {
		r := risk.Record{
			Time: u.date, Host: "debian-" + u.release, OS: "debian:" + orDefault(rel[u.release], u.release),
			Labels:  map[string]string{patchpilot.LabelRole: strings.ToLower(u.tracker)},
			Package: u.source, SourcePackage: u.source, FromVersion: u.from, ToVersion: u.to, CVEs: u.cves,
			Outcome: patchpilot.OutcomeSucceeded,
		}
		if r.Package == "linux" || strings.HasPrefix(r.Package, "linux-2.6") {
			r.RebootRequired = true
		}
		if u.regression {
			r.Outcome = patchpilot.OutcomeFailed
			r.Reason = "followed by a regression fix"
			if id := regressionOf[u.id]; id != "" {
				r.Reason += " (" + id + ")"
			}
		}
		out = append(out, r)
	}
	for _, a := range ds.advisories {
		if a.tracker != "USN" {
			continue
		}
		release := strings.Fields(a.releases)
		os := "ubuntu"
		if len(release) > 0 {
			os += ":" + release[0]
		}
		r := risk.Record{
			Time: a.date, Host: "ubuntu", OS: os, Labels: map[string]string{patchpilot.LabelRole: "usn"},
			Package: a.packages[0], SourcePackage: a.packages[0], CVECount: a.cves, Outcome: patchpilot.OutcomeSucceeded,
		}
		if risk.Categorize(r.Package, "") == risk.CategoryKernel {
			r.RebootRequired = true
		}
		if a.regression {
			r.Outcome = patchpilot.OutcomeFailed
			r.Reason = "followed by a regression fix"
			if a.regressionID != "" {
				r.Reason += " (" + a.regressionID + ")"
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
