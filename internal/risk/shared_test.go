package risk_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// sharedModel is a cold-start model in which every feature has a weight, so
// that a feature the scorer failed to tell apart would change a score, and
// a history of hosts with alike and different records (see below).
func sharedModel(t *testing.T) *risk.Model {
	t.Helper()
	p, err := risk.DefaultPriors()
	if err != nil {
		t.Fatal(err)
	}
	m := risk.NewColdStart(p, t0)
	for i := range m.Weights {
		m.Weights[i] = 0.2 + 0.05*float64(i)
		if i%4 == 3 {
			m.Weights[i] = -m.Weights[i]
		}
	}
	for i, o := range []struct {
		host, pkg string
		outcome   patchpilot.OutcomeKind
		at        int // hours after t0
	}{
		// a and b alike; f as a but its failure came first, g as a but
		// its last patch was another package's, h as f without the
		// failure; e as c but for its name.
		{"a", "openssl", patchpilot.OutcomeSucceeded, 0}, {"a", "openssl", patchpilot.OutcomeFailed, 3},
		{"b", "openssl", patchpilot.OutcomeSucceeded, 1}, {"b", "openssl", patchpilot.OutcomeFailed, 4},
		{"c", "openssl", patchpilot.OutcomeSucceeded, 2}, {"c", "openssl", patchpilot.OutcomeRolledBack, 5},
		{"e", "openssl", patchpilot.OutcomeSucceeded, 2}, {"e", "openssl", patchpilot.OutcomeRolledBack, 5},
		{"d", "openssl", patchpilot.OutcomeFailed, 6},
		{"f", "openssl", patchpilot.OutcomeFailed, 0}, {"f", "openssl", patchpilot.OutcomeSucceeded, 3},
		{"g", "openssl", patchpilot.OutcomeSucceeded, 0}, {"g", "curl", patchpilot.OutcomeFailed, 3},
		{"h", "openssl", patchpilot.OutcomeSucceeded, 0}, {"h", "openssl", patchpilot.OutcomeSucceeded, 3}, // as f without failure
	} {
		r := rec(i, o.host, "web", o.pkg, false)
		r.Outcome, r.Time = o.outcome, t0.Add(time.Duration(o.at)*time.Hour)
		m.Observe(r)
	}
	return m
}

// recordVariants are a record and, for every field an assessment reads,
// the record with that field changed (named by the field).
func recordVariants() (risk.Record, map[string]func(*risk.Record)) {
	base := risk.Record{Time: t0.Add(100 * time.Hour), Host: "a", OS: "debian:12", Labels: map[string]string{"role": "web"},
		Package: "libssl3", SourcePackage: "openssl", FromVersion: "3.0_14-1", ToVersion: "3.0.14-2",
		CVEs: []string{"CVE-2024-9143"}, Severity: "high", TransactionSize: 2, Services: []string{"ssh.service"},
		Dependents: 3, OSFamily: patchpilot.FamilyDebian}
	return base, map[string]func(*risk.Record){
		"Host": func(r *risk.Record) { r.Host = "c" },
		// rpm reads the upstream 3.0_14 as 3.0.14, dpkg does not.
		"OS":             func(r *risk.Record) { r.OS = "rocky:9" },
		"Labels":         func(r *risk.Record) { r.Labels = map[string]string{"role": "db"} },
		"Package":        func(r *risk.Record) { r.Package = "openssl" },
		"SourcePackage":  func(r *risk.Record) { r.SourcePackage = "" },
		"FromVersion":    func(r *risk.Record) { r.FromVersion = "2.9.1-1" },
		"ToVersion":      func(r *risk.Record) { r.ToVersion = "3.1.0-1" },
		"Category":       func(r *risk.Record) { r.Category = "kernel" },
		"CVEs":           func(r *risk.Record) { r.CVEs = []string{"CVE-2024-9143", "CVE-2024-5535"} },
		"Severity":       func(r *risk.Record) { r.Severity = "critical" },
		"RebootRequired": func(r *risk.Record) { r.RebootRequired = true },
		"CVECount":       func(r *risk.Record) { r.CVEs, r.CVECount = nil, 4 },
		"TransactionSize": func(r *risk.Record) {
			r.TransactionSize = 7
		},
		"Removals":   func(r *risk.Record) { r.Removals = []string{"libssl1.1"} },
		"Conflicts":  func(r *risk.Record) { r.Conflicts = true },
		"Services":   func(r *risk.Record) { r.Services = append(r.Services, "nginx.service") },
		"Dependents": func(r *risk.Record) { r.Dependents = 40 },
		"BlastRadius": func(r *risk.Record) {
			r.BlastRadius = &risk.BlastRadius{Hosts: 1, Services: 1, Touched: []string{"nginx"}, Edges: []string{"b:curl → a:443"}}
		},
		"OSFamily": func(r *risk.Record) { r.OSFamily = patchpilot.FamilyRedHat },
		"Modified": func(r *risk.Record) {
			r.Modified = []patchpilot.ModifiedFile{{Package: "libssl3", Path: "/etc/ssl/openssl.cnf", Conffile: true}}
		},
		"Held": func(r *risk.Record) { r.Held = true },
	}
}

// TestPatchScorerMatchesAssessPatch: every record that differs from one
// already scored in a field the model reads gets its own score, so that
// the shared scorer answers what AssessPatch answers, for single records
// and patches of two, on hosts with and without (alike) histories; and
// alike hosts do share.
func TestPatchScorerMatchesAssessPatch(t *testing.T) {
	m := sharedModel(t)
	base, variants := recordVariants()

	// Record's fields are each varied above or known not to be read by an
	// assessment: a new field must be added to one or the other.
	unread := map[string]bool{"Time": true, "Outcome": true, "Reason": true, "Rollout": true, "Unrelated": true}
	rt := reflect.TypeFor[risk.Record]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if _, ok := variants[f.Name]; !ok && !unread[f.Name] {
			t.Errorf("Record.%s is neither varied by this test nor known to be unread by an assessment", f.Name)
		}
	}

	s := m.NewPatchScorer()
	check := func(what string, recs []risk.Record) {
		t.Helper()
		want := m.AssessPatch(recs)
		want.Features = nil
		if got := s.AssessPatch(recs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: shared\n%+v\nwant\n%+v", what, got, want)
		}
	}
	hosts := []string{"a", "b", "c", "d", "e", "f", "g", "h", "new1", "new2", ""}
	for _, host := range hosts {
		r := base
		r.Host = host
		check("base on "+host, []risk.Record{r})
		for name, change := range variants {
			v := r
			change(&v)
			if name != "Host" {
				v.Host = host
			}
			check(name+" on "+host, []risk.Record{v})
			other := base
			other.Package, other.TransactionSize = "openssl", 2
			other.Host = v.Host
			check(name+" on "+host+" with openssl", []risk.Record{other, v})
			check(name+" on "+host+" after openssl", []risk.Record{v, other})
		}
	}

	// Hosts without history share, and so do hosts with alike histories;
	// a host whose last patch was rolled back is named in a warning and
	// shares with none.
	s = m.NewPatchScorer()
	for _, host := range []string{"new1", "new2", "new3"} {
		r := base
		r.Host = host
		got := s.AssessPatch([]risk.Record{r})
		if got.Host != host {
			t.Errorf("assessment on %s names host %q", host, got.Host)
		}
		// Shared slices leave no room to append into.
		if cap(got.Reasons) != len(got.Reasons) || cap(got.Warnings) != len(got.Warnings) || cap(got.Packages) != len(got.Packages) {
			t.Errorf("assessment on %s: shared slices with room beyond their length", host)
		}
	}
	if s.Distinct() != 1 {
		t.Errorf("three hosts without history: %d distinct scorings, want 1", s.Distinct())
	}
	for _, host := range []string{"a", "b"} {
		r := base
		r.Host = host
		s.AssessPatch([]risk.Record{r})
	}
	if s.Distinct() != 2 {
		t.Errorf("two more hosts with alike histories: %d distinct scorings, want 2", s.Distinct())
	}
	r := base
	r.Host = "c"
	if as := s.AssessPatch([]risk.Record{r}); len(as.Warnings) == 0 || as.Warnings[len(as.Warnings)-1].Kind != risk.WarnHostRolledBack {
		t.Errorf("host c's warnings %+v, want its rolled-back last patch", as.Warnings)
	}
	r.Host = "new4"
	if as := s.AssessPatch([]risk.Record{r}); len(as.Warnings) != 0 && as.Warnings[len(as.Warnings)-1].Kind == risk.WarnHostRolledBack {
		t.Errorf("host new4 inherits a rolled-back warning: %+v", as.Warnings)
	}
}

// TestPatchScorerHostsInterleaved: the scorer keeps what the last host's
// history gives its keys; hosts whose records come interleaved, in patches
// that mix hosts, still get their own histories' scores and warnings.
func TestPatchScorerHostsInterleaved(t *testing.T) {
	m := sharedModel(t)
	base, _ := recordVariants()
	s := m.NewPatchScorer()
	hosts := []string{"a", "c", "a", "c", "new1", "d", "a", "", "e", "c", "h", "f", "new1", "g"}
	for i, host := range hosts {
		r := base
		r.Host = host
		other := base
		other.Package, other.Host = "openssl", hosts[(i+1)%len(hosts)]
		for _, recs := range [][]risk.Record{{r}, {r, other}, {other, r}} {
			want := m.AssessPatch(recs)
			want.Features = nil
			if got := s.AssessPatch(recs); !reflect.DeepEqual(got, want) {
				t.Errorf("%d: %s then %s: shared\n%+v\nwant\n%+v", i, recs[0].Host, recs[len(recs)-1].Host, got, want)
			}
		}
	}
}
