package datadog

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Point is one value of a series; Value is NaN where Datadog answered null.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one series of a query's answer.
type Series struct {
	Metric string
	// Scope is the series' tags ("host:web01"), and Tags the same as a
	// map, for display.
	Scope  string
	Tags   map[string]string
	Points []Point
}

type queryAnswer struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Series []struct {
		Metric    string        `json:"metric"`
		Scope     string        `json:"scope"`
		Pointlist [][2]*float64 `json:"pointlist"`
	} `json:"series"`
}

// Query runs a metrics query over [from, to] (GET /api/v1/query; from and
// to in POSIX seconds, rounded outwards). Datadog picks the points'
// interval from the span; a query may set it with .rollup(avg, 15).
// Errors: a refusal or failure is a *patchpilot.DeliveryError wrapped with
// the query (EINVALID for 400, EUNAVAILABLE otherwise); an answer with
// status "error" is EINVALID.
func (c *Client) Query(ctx context.Context, query string, from, to time.Time) ([]Series, error) {
	if to.Before(from) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "datadog query %q: the end is before the start", query)
	}
	if c.appKey == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "datadog query %q: the integration %s has no app_key, which reading metrics needs", query, c.name).
			WithHint("add app_key: {env: DD_APP_KEY} to the integration in patchpilot.yaml")
	}
	start := from.Unix()
	end := to.Unix()
	if to.Truncate(time.Second).Before(to) {
		end++
	}
	v := url.Values{"from": {strconv.FormatInt(start, 10)}, "to": {strconv.FormatInt(end, 10)}, "query": {query}}
	body, err := c.do(ctx, http.MethodGet, "/api/v1/query", v, nil, true)
	if err != nil {
		code := patchpilot.EUNAVAILABLE
		if de, ok := err.(*patchpilot.DeliveryError); ok && de.Status == http.StatusBadRequest {
			code = patchpilot.EINVALID
		} else if !ok {
			return nil, err
		}
		return nil, patchpilot.Errorf(code, "datadog query %q: %w", query, err).WithHint("check the query and the integration's keys and site")
	}
	var a queryAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "datadog query %q: unreadable answer: %v", query, err)
	}
	if a.Status == "error" || a.Error != "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "datadog query %q: %s", query, a.Error).
			WithHint("fix the Datadog query in the plan")
	}
	if a.Status != "ok" {
		return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "datadog query %q: not a metrics query answer (status %q)", query, a.Status)
	}
	out := make([]Series, 0, len(a.Series))
	for _, s := range a.Series {
		ser := Series{Metric: s.Metric, Scope: s.Scope, Tags: scopeTags(s.Scope)}
		for _, p := range s.Pointlist {
			if p[0] == nil {
				continue
			}
			ms := *p[0]
			pt := Point{Time: time.UnixMilli(int64(math.Round(ms))).UTC(), Value: math.NaN()}
			if p[1] != nil {
				pt.Value = *p[1]
			}
			ser.Points = append(ser.Points, pt)
		}
		sort.SliceStable(ser.Points, func(i, j int) bool { return ser.Points[i].Time.Before(ser.Points[j].Time) })
		out = append(out, ser)
	}
	return out, nil
}

// CanReadMetrics reports, as an error naming the integration's line, that
// the client has no application key: Query needs one. A rollout whose
// gates read Datadog is refused at its start rather than at its first
// bake.
func (c *Client) CanReadMetrics() error {
	if c.appKey != "" {
		return nil
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: missing; reading metrics (the plan's health.datadog gates and canary) needs the application key", c.appAt).
		WithHint("add app_key: {env: DD_APP_KEY} to the integration in patchpilot.yaml")
}

// scopeTags reads a series' scope, "host:web01,env:prod", as labels.
func scopeTags(scope string) map[string]string {
	out := map[string]string{}
	for _, t := range strings.Split(scope, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		k, v, _ := strings.Cut(t, ":")
		out[k] = v
	}
	return out
}

// promQL finds what only PromQL has: a range selector ([5m]) and its
// functions over them (rate(, irate(, increase(, histogram_quantile().
var promQL = regexp.MustCompile(`\[|(^|[^A-Za-z0-9_.])(rate|irate|increase|histogram_quantile|sum by|avg by)\s*\(`)

func promQLWord(m []string) string {
	if m[2] == "" {
		return "["
	}
	return m[2] + "("
}

// ValidateQuery checks the shape of a metrics query, as far as it can be
// checked without Datadog: not empty, braces and parentheses balanced, not
// PromQL, and at least one metric with a scope, such as
// avg:system.cpu.user{host:web01}.
func ValidateQuery(q string) error {
	q = strings.TrimSpace(q)
	if q == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "the query is empty")
	}
	depth := map[rune]int{}
	pairs := map[rune]rune{'}': '{', ')': '('}
	for _, r := range q {
		switch r {
		case '{', '(':
			depth[r]++
		case '}', ')':
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "query %q: %q closes nothing", q, r)
			}
		}
	}
	if depth['{'] != 0 || depth['('] != 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "query %q: a brace or parenthesis is not closed", q)
	}
	if m := promQL.FindStringSubmatch(q); m != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "query %q: %q looks like PromQL; a Datadog metrics query is written as avg:system.cpu.user{host:web01} (a rollup as .rollup(avg, 60), a rate as per_second(...))", q, promQLWord(m)).
			WithHint("write the query in Datadog's syntax, as the Metrics Explorer shows it, or use health.prometheus for PromQL")
	}
	if !strings.Contains(q, "{") {
		return patchpilot.Errorf(patchpilot.EINVALID, "query %q: expected a metric with a scope, such as avg:system.cpu.user{host:{{.Host}}}", q)
	}
	return nil
}
