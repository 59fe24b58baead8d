package risk_test

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// reasonRecords are updates whose reasons the tests below read: two binary
// packages of one source, another source, and records with and without
// CVEs and history.
func reasonRecords() []risk.Record {
	return []risk.Record{
		{Host: "web-1", Labels: map[string]string{"role": "web"}, OS: "debian:12", Package: "openssl", SourcePackage: "openssl",
			FromVersion: "3.0.11-1~deb12u1", ToVersion: "3.0.15-1~deb12u1", CVECount: 3, Severity: "high", Services: []string{"nginx", "sshd"}},
		{Host: "web-1", Labels: map[string]string{"role": "web"}, OS: "debian:12", Package: "libssl3", SourcePackage: "openssl",
			FromVersion: "3.0.11-1~deb12u1", ToVersion: "3.0.15-1~deb12u1", CVECount: 3, Severity: "high", Dependents: 40},
		{Host: "web-1", Labels: map[string]string{"role": "web"}, OS: "debian:12", Package: "nginx", SourcePackage: "nginx",
			FromVersion: "1.22.1-9", ToVersion: "1.22.1-9+deb12u1"},
		{Host: "db-1", Labels: map[string]string{"role": "db"}, OS: "debian:12", Package: "linux-image-amd64", SourcePackage: "linux",
			FromVersion: "6.1.1-1", ToVersion: "6.1.4-1", CVECount: 12, RebootRequired: true},
	}
}

// models are the cold-start model and one trained on a synthetic history.
func models(t *testing.T) map[string]*risk.Model {
	t.Helper()
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	var hist []risk.Record
	for i := range 400 {
		src := []string{"openssl", "nginx", "pp-agent", "linux"}[i%4]
		r := rec(i, fmt.Sprintf("web-%d", i%9), []string{"web", "db"}[i%2], src, i%11 == 0 || (src == "nginx" && i%5 == 0))
		r.CVECount = i % 6
		hist = append(hist, r)
	}
	trained, err := risk.Train(hist, risk.TrainOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if trained.ColdStart() {
		t.Fatalf("the synthetic history fitted no regression: %+v", trained.Training)
	}
	return map[string]*risk.Model{"cold start": risk.NewColdStart(p, t0), "trained": trained}
}

// TestReasonsOncePerSource: openssl and libssl3 are one change; their
// reasons show once, not once per binary package.
func TestReasonsOncePerSource(t *testing.T) {
	for name, m := range models(t) {
		recs := reasonRecords()
		one := m.AssessPatch(recs[:2])
		seen := map[string]bool{}
		for _, r := range one.Reasons {
			if seen[r.Feature] {
				t.Errorf("%s: reason %q (%s) shows twice for one source: %v", name, r.Text, r.Feature, one.Reasons)
			}
			seen[r.Feature] = true
		}
		two := m.AssessPatch(recs[:3])
		texts := map[string]bool{}
		for _, r := range two.Reasons {
			if texts[r.Text] {
				t.Errorf("%s: two sources, reason text %q twice: %v", name, r.Text, two.Reasons)
			}
			texts[r.Text] = true
		}
	}
}

// comparison finds "X% of the time (all updates Y%)" in a reason's text.
var comparison = regexp.MustCompile(`([0-9.]+)% of the time \(all updates ([0-9.]+)%\)`)

// TestReasonWordsAgreeWithNumbers: every reason's rendering, direction and
// stated comparison point the way its effect does, and a cold-start effect
// is measured against an average update, so it stays within a few points.
func TestReasonWordsAgreeWithNumbers(t *testing.T) {
	for name, m := range models(t) {
		for _, rec := range reasonRecords() {
			for _, r := range m.Assess(rec).Reasons {
				s := r.String()
				wantDir := "raises"
				if r.Effect < 0 {
					wantDir = "lowers"
				}
				if r.Direction != wantDir || !strings.HasPrefix(s, wantDir+" the risk by ") {
					t.Errorf("%s %s: effect %+.4f rendered %q with direction %q", name, rec.Package, r.Effect, s, r.Direction)
				}
				if want := fmt.Sprintf(" %.1f points: ", math.Abs(100*r.Effect)); !strings.Contains(s, want) {
					t.Errorf("%s %s: %q does not state the effect as %q", name, rec.Package, s, want)
				}
				if strings.Contains(r.Text, "need more regression fixes") || strings.Contains(r.Text, " 0 of 0 ") {
					t.Errorf("%s %s: %q states a trend, not a fact about this update", name, rec.Package, s)
				}
				if m := comparison.FindStringSubmatch(r.Text); m != nil {
					rate, _ := strconv.ParseFloat(m[1], 64)
					all, _ := strconv.ParseFloat(m[2], 64)
					if (rate > all) != (r.Effect > 0) {
						t.Errorf("%s %s: %q compares %.1f%% with %.1f%% against its own sign", name, rec.Package, s, rate, all)
					}
				}
				if name == "cold start" && math.Abs(r.Effect) > 0.1 {
					t.Errorf("cold start %s: effect %+.1f points for %q; against an average update it cannot be that large", rec.Package, 100*r.Effect, r.Text)
				}
			}
		}
	}
}

// TestColdStartIsOneThing: the cold-start model, and a model trained on too
// little history, are cold start; a fitted one is not.
func TestColdStartIsOneThing(t *testing.T) {
	p, _ := risk.DefaultPriors()
	if !risk.NewColdStart(p, t0).ColdStart() {
		t.Error("NewColdStart is not cold start")
	}
	thin, err := risk.Train([]risk.Record{rec(1, "a", "web", "x", true), rec(2, "b", "web", "x", false)}, risk.TrainOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if !thin.ColdStart() {
		t.Errorf("a model trained on 2 records is not cold start: %+v", thin.Training)
	}
	if models(t)["trained"].ColdStart() {
		t.Error("a fitted model is cold start")
	}
}

// The version history counts host patches by source package: two failed
// patches of curl on one host are "2 of 2 host patches", not hosts, and a
// binary package built from curl is told that the source's version failed.
// An update without a version or a role says so instead of leaving a blank.
func TestVersionHistoryWords(t *testing.T) {
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	m := risk.NewColdStart(p, t0)
	const v = "7.88.1-10+deb12u15"
	for i := range 2 {
		m.History.Observe(risk.Record{Time: t0.Add(time.Duration(i) * time.Hour), Host: "vm", Package: "curl", SourcePackage: "curl",
			FromVersion: "7.88.1-10+deb12u14", ToVersion: v, Outcome: patchpilot.OutcomeRolledBack})
	}
	texts := func(a risk.Assessment) string {
		var out []string
		for _, r := range a.Reasons {
			out = append(out, r.Text)
		}
		for _, w := range a.Warnings {
			out = append(out, w.Text)
		}
		return strings.Join(out, "\n")
	}
	base := risk.Record{Time: t0.Add(48 * time.Hour), Host: "vm2", Labels: map[string]string{"role": "web"},
		FromVersion: "7.88.1-10+deb12u14", ToVersion: v, SourcePackage: "curl"}
	curl, lib := base, base
	curl.Package, lib.Package = "curl", "libcurl4"
	if got := texts(m.Assess(curl)); !strings.Contains(got, "curl "+v+" already failed in 2 of 2 host patches in this fleet") ||
		strings.Contains(got, "hosts in this fleet") {
		t.Errorf("curl:\n%s\nwant the failures counted as host patches", got)
	}
	if got := texts(m.Assess(lib)); !strings.Contains(got, "curl (source of libcurl4) "+v+" already failed in 2 of 2 host patches") {
		t.Errorf("libcurl4:\n%s\nwant the source package's version named as the one that failed", got)
	}
	blank := risk.Record{Time: t0.Add(48 * time.Hour), Host: "vm", Package: "curl"}
	got := texts(m.Assess(blank))
	for _, bad := range []string{"not yet installed anywhere", "on  hosts", "curl  "} {
		if strings.Contains(got, bad) {
			t.Errorf("an update without version or role:\n%s\nsays %q", got, bad)
		}
	}
}

// A patch of many sources can be rated high while each source is below an
// average update: what drives its probability is how many sources it
// changes, and its reasons say so first, with the effect that explains the
// number (the patch's probability less its riskiest source's). The scores
// are the sources' combined as independent risks, as before.
func TestPatchReasonsNameTheSourceCount(t *testing.T) {
	for name, m := range models(t) {
		for _, n := range []int{1, 2, 5, 33, 40} {
			var recs []risk.Record
			for i := range n {
				src := fmt.Sprintf("lib%02d", i)
				recs = append(recs, risk.Record{Host: "web-1", Labels: map[string]string{"role": "web"}, OS: "debian:12",
					Package: src, SourcePackage: src, FromVersion: "1.0-1", ToVersion: "1.0-1+deb12u1", CVECount: i % 3,
					TransactionSize: n})
				if i == 1 { // a second binary package of lib01's source
					recs = append(recs, risk.Record{Host: "web-1", Labels: map[string]string{"role": "web"}, OS: "debian:12",
						Package: "lib01-dev", SourcePackage: src, FromVersion: "1.0-1", ToVersion: "1.0-1+deb12u1", TransactionSize: n})
				}
			}
			a := m.AssessPatch(recs)
			// The score: sources as independent risks, each its riskiest
			// binary package's.
			survive, pmax, riskiest := 1.0, 0.0, ""
			bySource := map[string]float64{}
			for _, r := range recs {
				bySource[r.Source()] = math.Max(bySource[r.Source()], m.Assess(r).Probability)
			}
			for i := range n {
				src := fmt.Sprintf("lib%02d", i)
				p := bySource[src]
				survive *= 1 - p
				if p > pmax {
					pmax, riskiest = p, src
				}
			}
			if want := 1 - survive; math.Abs(a.Probability-want) > 1e-12 {
				t.Errorf("%s, %d sources: probability %v, want %v", name, n, a.Probability, want)
			}
			var sources []risk.Reason
			for _, r := range a.Reasons {
				if r.Feature == risk.ReasonSources {
					sources = append(sources, r)
				}
			}
			effect := a.Probability - pmax
			if n == 1 || effect < 0.001 {
				if len(sources) != 0 {
					t.Errorf("%s, %d sources: a sources reason %v for an effect of %.4f", name, n, sources, effect)
				}
				continue
			}
			if len(sources) != 1 || a.Reasons[0].Feature != risk.ReasonSources {
				t.Fatalf("%s, %d sources at %.1f%%: the reasons do not start with the source count: %v", name, n, 100*a.Probability, a.Reasons)
			}
			r := a.Reasons[0]
			want := fmt.Sprintf("raises the risk by %.1f points: the patch changes %d source packages and each can fail on its own: %.1f%% together, %.1f%% for the riskiest alone (%s)",
				100*effect, n, 100*a.Probability, 100*pmax, riskiest)
			if r.Direction != "raises" || math.Abs(r.Effect-effect) > 1e-12 || r.String() != want {
				t.Errorf("%s, %d sources: %q (%s %.4f), want %q", name, n, r.String(), r.Direction, r.Effect, want)
			}
			if len(a.Reasons) > risk.MaxReasons+1 {
				t.Errorf("%s, %d sources: %d reasons", name, n, len(a.Reasons))
			}
		}
	}
	// The case in point: a patch rated high lists a reason that raises it.
	for name, m := range models(t) {
		var recs []risk.Record
		for i := range 33 {
			src := fmt.Sprintf("lib%02d", i)
			recs = append(recs, risk.Record{Host: "web-1", OS: "debian:12", Package: src, SourcePackage: src,
				FromVersion: "1.0-1", ToVersion: "1.0-1+deb12u1", TransactionSize: 33})
		}
		a := m.AssessPatch(recs)
		raises := false
		for _, r := range a.Reasons {
			raises = raises || (r.Direction == "raises" && r.Effect >= 0.01)
		}
		if a.Level != patchpilot.RiskHigh || !raises {
			t.Errorf("%s: a patch of 33 sources at %.1f%% (%s) lists no reason that raises it: %v", name, 100*a.Probability, a.Level, a.Reasons)
		}
	}
}
