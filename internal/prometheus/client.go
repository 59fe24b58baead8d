// Package prometheus is a small client for the Prometheus HTTP API: instant
// queries (/api/v1/query) and range queries (/api/v1/query_range). It uses
// the standard library only; the health gates need two endpoints and a
// strict reading of their answers, not a client library.
//
// Every failure is an error: a transport failure or timeout (EUNAVAILABLE or
// ETIMEOUT), an HTTP 4xx or 5xx, or an answer with "status": "error" (a bad
// query is EINVALID, anything else EUNAVAILABLE). Sample values are returned
// as they come, NaN and infinities included: Prometheus writes them as the
// strings "NaN", "+Inf" and "-Inf", and callers decide what they mean (the
// health gates fail closed on them). Stale series are not returned by
// Prometheus at all; Vector.Fresh filters samples older than a bound for
// callers that want to be sure.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DefaultTimeout bounds one query when Client.Timeout is 0. Prometheus also
// receives it as the query's own timeout.
const DefaultTimeout = 10 * time.Second

// maxBody bounds how much of an answer is read, so that a runaway query
// cannot exhaust the controller's memory.
const maxBody = 32 << 20

// Client queries one Prometheus server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// Options configure a Client. Zero values are documented defaults.
type Options struct {
	// HTTPClient sends the requests; nil means a client of its own with
	// no global state.
	HTTPClient *http.Client
	// Timeout bounds each query; 0 means DefaultTimeout.
	Timeout time.Duration
}

// New returns a client for the server at rawURL ("http://host:9090", with
// an optional path prefix).
func New(rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "prometheus url %q: expected http://host:port", rawURL).
			WithHint("set health.prometheus.url to the server's base URL, such as http://127.0.0.1:9090")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: o.HTTPClient, timeout: o.Timeout}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// Query evaluates an instant query at time at (the server's now when zero)
// and returns its vector, or a scalar as a vector of one unlabelled sample.
func (c *Client) Query(ctx context.Context, query string, at time.Time) (Vector, error) {
	v := url.Values{"query": {query}, "timeout": {c.timeout.String()}}
	if !at.IsZero() {
		v.Set("time", formatTime(at))
	}
	var data queryData
	if err := c.get(ctx, "/api/v1/query", v, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var raw []rawSeries
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, decodeError(query, err)
		}
		out := make(Vector, 0, len(raw))
		for _, s := range raw {
			p, err := s.Value.point()
			if err != nil {
				return nil, decodeError(query, err)
			}
			out = append(out, Sample{Metric: s.Metric, Point: p})
		}
		return out, nil
	case "scalar":
		var p rawPoint
		if err := json.Unmarshal(data.Result, &p); err != nil {
			return nil, decodeError(query, err)
		}
		pt, err := p.point()
		if err != nil {
			return nil, decodeError(query, err)
		}
		return Vector{{Metric: map[string]string{}, Point: pt}}, nil
	}
	return nil, patchpilot.Errorf(patchpilot.EINVALID, "prometheus query %q: expected a vector or a scalar, got a %s", query, data.ResultType).
		WithHint("write an instant query that returns one value per series, such as avg(rate(x[5m]))")
}

// QueryRange evaluates a range query from start to end every step and
// returns its matrix.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) (Matrix, error) {
	if step <= 0 || end.Before(start) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "prometheus range query %q: need start <= end and a positive step", query)
	}
	v := url.Values{"query": {query}, "start": {formatTime(start)}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}, "timeout": {c.timeout.String()}}
	var data queryData
	if err := c.get(ctx, "/api/v1/query_range", v, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "prometheus range query %q: expected a matrix, got a %s", query, data.ResultType)
	}
	var raw []rawRangeSeries
	if err := json.Unmarshal(data.Result, &raw); err != nil {
		return nil, decodeError(query, err)
	}
	out := make(Matrix, 0, len(raw))
	for _, s := range raw {
		series := Series{Metric: s.Metric, Points: make([]Point, 0, len(s.Values))}
		for _, rp := range s.Values {
			p, err := rp.point()
			if err != nil {
				return nil, decodeError(query, err)
			}
			series.Points = append(series.Points, p)
		}
		out = append(out, series)
	}
	return out, nil
}

// apiResponse is the envelope of every API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// get sends one GET and decodes the envelope's data into out.
func (c *Client) get(ctx context.Context, path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path += path
	u.RawQuery = params.Encode()
	query := params.Get("query")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "prometheus request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, query, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return c.transportError(ctx, query, err)
	}
	var env apiResponse
	jsonErr := json.Unmarshal(body, &env)
	if jsonErr == nil && env.Status == "error" {
		return apiError(resp.StatusCode, query, env)
	}
	if resp.StatusCode/100 != 2 {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus query %q: HTTP %s: %s", query, resp.Status, snippet(body)).
			WithHint("check that health.prometheus.url points at a Prometheus server")
	}
	if jsonErr != nil || env.Status != "success" {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus query %q: not a Prometheus API answer: %s", query, snippet(body)).
			WithHint("check that health.prometheus.url points at a Prometheus server")
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return decodeError(query, err)
	}
	return nil
}

func (c *Client) transportError(ctx context.Context, query string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return patchpilot.Errorf(patchpilot.ETIMEOUT, "prometheus query %q: no answer from %s within %s", query, c.base.Host, c.timeout).
			WithHint("check that Prometheus is running and not overloaded")
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return patchpilot.Errorf(patchpilot.ECANCELED, "prometheus query %q: %w", query, ctx.Err())
	}
	return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus query %q: %w", query, err).
		WithHint("check that Prometheus is running at " + c.base.String())
}

// apiError maps an API error: bad queries are the plan's fault, the rest
// is the server's.
func apiError(status int, query string, env apiResponse) error {
	code := patchpilot.EUNAVAILABLE
	hint := "check the Prometheus server's log"
	switch env.ErrorType {
	case "bad_data":
		code, hint = patchpilot.EINVALID, "fix the PromQL query in the plan's health.prometheus.queries"
	case "timeout", "canceled":
		code, hint = patchpilot.ETIMEOUT, "make the query cheaper or raise the timeout"
	}
	return patchpilot.Errorf(code, "prometheus query %q: %s (HTTP %d): %s", query, env.ErrorType, status, env.Error).WithHint(hint)
}

func decodeError(query string, err error) error {
	return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "prometheus query %q: unreadable answer: %w", query, err)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// errorf is a shorthand used by the value decoders.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
