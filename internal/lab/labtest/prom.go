package labtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// QueryTimeout bounds one query a lab test sends to the lab's Prometheus.
// It is generous: on a busy machine a query that takes a few seconds is
// slow, not broken, and WaitFor tries again after a failed one.
const QueryTimeout = 30 * time.Second

// WaitFor polls cond every interval until it reports true, for at most
// timeout, and fails the test with cond's last status if it never does.
// Each call of cond gets a context bounded by QueryTimeout. Lab tests wait
// with it for the data they need (samples scraped, a target up) rather
// than for a fixed time, which a busy machine may not honour.
func WaitFor(t testing.TB, what string, timeout, interval time.Duration, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	began := time.Now()
	status := "not tried"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), QueryTimeout)
		ok, s := cond(ctx)
		cancel()
		status = s
		if ok {
			t.Logf("%s after %s", what, time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Since(began) > timeout {
			t.Fatalf("waited %s for %s: %s", timeout, what, status)
		}
		time.Sleep(interval)
	}
}

// Sample is one point of a Prometheus series.
type Sample struct {
	Time  time.Time
	Value float64
}

// QueryRange runs a range query against the Prometheus at base (its
// http:// URL) and returns each series' samples, keyed by the series'
// labels as Prometheus prints them.
func QueryRange(ctx context.Context, base, expr string, start, end time.Time, step time.Duration) (map[string][]Sample, error) {
	q := url.Values{"query": {expr}, "start": {unix(start)}, "end": {unix(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := get(ctx, base+"/api/v1/query_range?"+q.Encode(), &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	out := map[string][]Sample{}
	for _, r := range body.Data.Result {
		key := fmt.Sprint(r.Metric)
		for _, v := range r.Values {
			s, err := sample(v)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			out[key] = append(out[key], s)
		}
	}
	return out, nil
}

// Samples names the data a lab test waits for: for every host, at least
// Min samples of Query (a PromQL expression with {{.Host}} where the
// host's name goes, giving one series) in the last Window at Step, the
// newest no more than two steps old.
type Samples struct {
	Name   string // for the log: "latency_mean"
	Query  string
	Hosts  []string
	Window time.Duration
	Step   time.Duration
	Min    int
}

// WaitForSamples waits up to timeout until the Prometheus at base has the
// samples s names: the baseline a canary judge needs, say. A lab whose
// Prometheus fell behind makes the test wait here rather than fail the
// judge on stale or missing samples. NaN samples do not count, as the
// judge cannot use them either.
func WaitForSamples(t testing.TB, base string, s Samples, timeout time.Duration) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d samples of %s per host in %s", s.Min, s.Name, s.Window), timeout, s.Step,
		func(ctx context.Context) (bool, string) {
			end := time.Now()
			for _, h := range s.Hosts {
				expr := strings.ReplaceAll(s.Query, "{{.Host}}", h)
				res, err := QueryRange(ctx, base, expr, end.Add(-s.Window), end, s.Step)
				if err != nil {
					return false, err.Error()
				}
				if len(res) != 1 {
					return false, fmt.Sprintf("host %s: %d series, want 1", h, len(res))
				}
				for _, ss := range res {
					ss = numbers(ss)
					if len(ss) < max(s.Min, 1) {
						return false, fmt.Sprintf("host %s: %d samples in the last %s, want %d", h, len(ss), s.Window, s.Min)
					}
					if age := end.Sub(ss[len(ss)-1].Time); age > 2*s.Step {
						return false, fmt.Sprintf("host %s: newest sample is %s old", h, age.Round(time.Second))
					}
				}
			}
			return true, ""
		})
}

// get fetches a URL and decodes its JSON body into v.
func get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %s: %w", u, resp.Status, err)
	}
	return nil
}

func unix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// numbers drops the NaN samples, which a judge cannot use either.
func numbers(ss []Sample) []Sample {
	var out []Sample
	for _, s := range ss {
		if !math.IsNaN(s.Value) {
			out = append(out, s)
		}
	}
	return out
}

// LogScrapeHealth logs, for every target of the Prometheus at base, how
// its scrapes went over the last window: how many failed, the slowest,
// and the longest gap between two scrapes. A failing lab test calls it to
// tell a starved Prometheus (long gaps on every target) from a slow or
// failing target (failed scrapes on some).
func LogScrapeHealth(t testing.TB, base string, window time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), QueryTimeout)
	defer cancel()
	w := fmt.Sprintf("%ds", int(window.Seconds())+1)
	up, err := rawSeries(ctx, base, "up["+w+"]")
	if err != nil {
		t.Logf("scrape health: %v", err)
		return
	}
	dur, err := rawSeries(ctx, base, "max_over_time(scrape_duration_seconds["+w+"])")
	if err != nil {
		t.Logf("scrape health: %v", err)
	}
	for key, ss := range up {
		failed, gap := 0, time.Duration(0)
		for i, s := range ss {
			if s.Value != 1 {
				failed++
			}
			if i > 0 {
				gap = max(gap, s.Time.Sub(ss[i-1].Time))
			}
		}
		slowest := "?"
		if d := dur[key]; len(d) > 0 {
			slowest = fmt.Sprintf("%.2fs", d[0].Value)
		}
		t.Logf("scrape health %s: %d scrapes, %d failed, slowest %s, longest gap %s", key, len(ss), failed, slowest, gap)
	}
}

// rawSeries runs an instant query at the current time and returns its
// samples per series, keyed like QueryRange's: a range selector gives the
// raw samples, any other expression one sample.
func rawSeries(ctx context.Context, base, expr string) (map[string][]Sample, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := get(ctx, base+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	out := map[string][]Sample{}
	for _, r := range body.Data.Result {
		delete(r.Metric, "__name__")
		key := fmt.Sprint(r.Metric)
		vs := r.Values
		if len(vs) == 0 {
			vs = [][2]any{r.Value}
		}
		for _, v := range vs {
			s, err := sample(v)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			out[key] = append(out[key], s)
		}
	}
	return out, nil
}

// sample decodes one [unix seconds, "value"] pair of the Prometheus API.
func sample(v [2]any) (Sample, error) {
	ts, _ := v[0].(float64)
	str, _ := v[1].(string)
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("sample %v: %w", v, err)
	}
	return Sample{Time: time.Unix(0, int64(ts*1e9)), Value: f}, nil
}
