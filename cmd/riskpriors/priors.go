package main

import (
	"encoding/json"
	"sort"

	"github.com/patchpilot/patchpilot/internal/risk"
)

// cveBuckets are the CVE-count ranges of the priors (Max 0: no bound).
func cveBuckets() []risk.CVEBucket {
	return []risk.CVEBucket{{Min: 0, Max: 1}, {Min: 2, Max: 3}, {Min: 4, Max: 9}, {Min: 10}}
}

type tally struct{ f, n int }

func (t *tally) add(failed bool) {
	t.n++
	if failed {
		t.f++
	}
}

func (t tally) rate() risk.RateCount {
	rc := risk.RateCount{Failures: t.f, Total: t.n}
	if t.n > 0 {
		rc.Rate = float64(t.f) / float64(t.n)
	}
	return rc
}

// advisoryCategory is the category of an advisory: that of its first
// package the table knows, else "other".
func advisoryCategory(pkgs []string) string {
	for _, p := range pkgs {
		if c := risk.Categorize(p, ""); c != risk.CategoryOther {
			return c
		}
	}
	return risk.CategoryOther
}

// priors computes the figures: rates over advisories (Debian DSA and DLA,
// Ubuntu USN), and the upstream-change rates over Debian's per-release
// updates that name the previous version.
func (ds *dataset) priors() risk.Priors {
	var global tally
	cats := map[string]*tally{}
	trackers := map[string]*tally{}
	buckets := cveBuckets()
	bt := make([]tally, len(buckets))
	for _, a := range ds.advisories {
		global.add(a.regression)
		get(cats, advisoryCategory(a.packages)).add(a.regression)
		get(trackers, a.tracker).add(a.regression)
		for i, b := range buckets {
			if a.cves >= b.Min && (b.Max == 0 || a.cves <= b.Max) {
				bt[i].add(a.regression)
				break
			}
		}
	}
	var upstream, backport tally
	for _, u := range ds.updates {
		vc := risk.CompareChange("debian", u.from, u.to)
		switch {
		case vc.Jump == risk.JumpUnknown:
		case vc.NewUpstream:
			upstream.add(u.regression)
		default:
			backport.add(u.regression)
		}
	}
	p := risk.Priors{
		Global: global.rate(), Categories: map[string]risk.RateCount{}, Trackers: map[string]risk.RateCount{},
		NewUpstream: upstream.rate(), Backport: backport.rate(),
	}
	for k, t := range cats {
		p.Categories[k] = t.rate()
	}
	for k, t := range trackers {
		p.Trackers[k] = t.rate()
	}
	for i, b := range buckets {
		b.RateCount = bt[i].rate()
		p.CVEBuckets = append(p.CVEBuckets, b)
	}
	p.Provenance = risk.Provenance{
		Label:       "was_followed_by_regression: the advisory was later followed by a published regression fix",
		Excluded:    "rows with is_regression_fix=1 (the regression fixes themselves)",
		GeneratedBy: "go run ./cmd/riskpriors",
	}
	if !ds.from.IsZero() {
		p.Provenance.From, p.Provenance.To = ds.from.Format(dateLayout), ds.to.Format(dateLayout)
	}
	for _, f := range ds.files {
		p.Provenance.Files = append(p.Provenance.Files, risk.SourceFile{Name: f.name, Rows: f.rows, Used: f.used})
	}
	sort.Slice(p.Provenance.Files, func(i, j int) bool { return p.Provenance.Files[i].Name < p.Provenance.Files[j].Name })
	return p
}

func get(m map[string]*tally, k string) *tally {
	t, ok := m[k]
	if !ok {
		t = &tally{}
		m[k] = t
	}
	return t
}

// marshalPriors writes indented JSON with sorted keys (encoding/json sorts
// map keys), so that the embedded file diffs well.
func marshalPriors(p risk.Priors) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
