package server

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// exported reads the text exposition format: each series name with the
// label names and values it is exported with.
func exported(body string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	line := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	pair := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	for _, l := range strings.Split(body, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(l, "#") {
			continue
		}
		labels := out[m[1]]
		if labels == nil {
			labels = map[string][]string{}
			out[m[1]] = labels
		}
		for _, p := range pair.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(labels[p[1]], p[2]) {
				labels[p[1]] = append(labels[p[1]], p[2])
			}
		}
	}
	return out
}

// TestGrafanaDashboardQueriesExportedMetrics reads the shipped Grafana
// dashboard and checks every PromQL expression of its panels against what
// the server's /metrics really exports: each metric it names, each label
// it groups or selects by, and each label value it selects.
func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../../contrib/grafana/patchpilot-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard %q (%q) has %d panels", dash.Title, dash.UID, len(dash.Panels))
	}

	// The server's metrics, with a rollout run (host outcomes are
	// exported once there are some) and requests served (the API's
	// histogram has series from the first one).
	f := newFixture(t, fixtureOptions{})
	id := decode[struct{ ID string }](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(onePlan)+`}`, http.StatusCreated)).ID
	f.waitState(id, patchpilot.RolloutState.Final)
	var got map[string]map[string][]string
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := f.do("GET", "/metrics", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("metrics: %s", r)
		}
		got = exported(string(r.body))
		_, hist := got["patchpilot_api_request_duration_seconds_bucket"]
		_, outcomes := got["patchpilot_host_outcomes"]
		if hist && outcomes || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	metricName := regexp.MustCompile(`\bpatchpilot_[a-z0-9_]+\b`)
	selector := regexp.MustCompile(`(patchpilot_[a-z0-9_]+)\{([^}]*)\}`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	ids := map[int]bool{}
	exprs := 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			where := p.Title + " " + tg.RefID
			exprs++
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: %q names no patchpilot metric", where, tg.Expr)
			}
			// The labels the expression's metrics have.
			labels := map[string]bool{}
			for _, n := range names {
				ls, ok := got[n]
				if !ok {
					t.Errorf("%s: %q names %s, which /metrics does not export", where, tg.Expr, n)
					continue
				}
				for l := range ls {
					labels[l] = true
				}
			}
			for _, s := range selector.FindAllStringSubmatch(tg.Expr, -1) {
				for _, m := range matcher.FindAllStringSubmatch(s[2], -1) {
					values, ok := got[s[1]][m[1]]
					if !ok {
						t.Errorf("%s: %s has no label %q", where, s[1], m[1])
						continue
					}
					if m[2] == "=" && !slices.Contains(values, m[3]) {
						t.Errorf("%s: %s{%s} selects %q, which is not among its values %v", where, s[1], m[1], m[3], values)
					}
				}
			}
			for _, g := range grouping.FindAllStringSubmatch(tg.Expr, -1) {
				for _, l := range strings.Split(g[1], ",") {
					if l = strings.TrimSpace(l); l != "" && !labels[l] {
						t.Errorf("%s: %q groups by %q, a label its metrics do not have", where, tg.Expr, l)
					}
				}
			}
		}
	}
	if exprs < len(dash.Panels) {
		t.Errorf("%d expressions for %d panels", exprs, len(dash.Panels))
	}
}
