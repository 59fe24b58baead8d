// Package alertmanager reads the alerts a Prometheus Alertmanager holds,
// through its API v2 (GET /api/v2/alerts), for the no_firing_alerts gate:
// the alerts a team already trusts stop a wave. It parses and checks
// Alertmanager's label matchers (name="value", name!="value",
// name=~"regex", name!~"regex") so that a plan's matchers are refused when
// the plan is read, not at the bake.
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// DefaultTimeout bounds one request when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// maxBody bounds how much of an answer is read.
const maxBody = 16 << 20

// Client reads one Alertmanager. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// Options configure a Client; zero values are defaults.
type Options struct {
	// HTTPClient sends the requests; nil means a client of its own that
	// ignores proxy settings.
	HTTPClient *http.Client
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// New returns a client for the Alertmanager at rawURL
// ("http://alertmanager:9093", with an optional path prefix).
func New(rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "alertmanager url %q: expected http://host:port", rawURL).
			WithHint("set health.alertmanager.url to Alertmanager's base URL, such as http://127.0.0.1:9093")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: o.HTTPClient, timeout: o.Timeout}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	}
	c.http = integrations.NoRedirects(c.http)
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// URL returns Alertmanager's base URL.
func (c *Client) URL() string { return c.base.String() }

// Alert is one alert of GET /api/v2/alerts (gettableAlert).
type Alert struct {
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Status       AlertStatus       `json:"status"`
}

// AlertStatus is an alert's state: active, suppressed or unprocessed.
type AlertStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// Name is the alert's alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Firing returns the alerts that fire now and match every matcher: active,
// neither silenced nor inhibited. The matchers go to Alertmanager as
// filters, and the answer is checked against them again, so that an
// Alertmanager that ignored a filter cannot fail a host for another
// host's alert.
func (c *Client) Firing(ctx context.Context, matchers []Matcher) ([]Alert, error) {
	v := url.Values{"active": {"true"}, "silenced": {"false"}, "inhibited": {"false"}}
	for _, m := range matchers {
		v.Add("filter", m.String())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path += "/api/v2/alerts"
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "alertmanager request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "alertmanager refused the alert filter %v: HTTP %s: %s", filters(matchers), resp.Status, snippet(body)).
			WithHint("fix health.alertmanager.matchers in the plan")
	case resp.StatusCode/100 != 2:
		return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "alertmanager at %s answered HTTP %s: %s", c.base.Host, resp.Status, snippet(body)).
			WithHint("check that health.alertmanager.url points at a running Alertmanager")
	}
	var alerts []Alert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "alertmanager at %s: not an API v2 alert list: %s", c.base.Host, snippet(body)).
			WithHint("check that health.alertmanager.url points at Alertmanager 0.16 or later (API v2)")
	}
	out := alerts[:0]
	for _, a := range alerts {
		if a.Status.State != "" && a.Status.State != "active" {
			continue
		}
		if len(a.Status.SilencedBy) > 0 || len(a.Status.InhibitedBy) > 0 {
			continue
		}
		if MatchAll(matchers, a.Labels) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (c *Client) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return patchpilot.Errorf(patchpilot.ETIMEOUT, "alertmanager at %s: no answer within %s", c.base.Host, c.timeout).
			WithHint("check that Alertmanager is running and reachable")
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return patchpilot.Errorf(patchpilot.ECANCELED, "alertmanager: %w", ctx.Err())
	}
	if de, ok := integrations.RedirectRefused("alertmanager", err); ok {
		return patchpilot.Errorf(patchpilot.EINVALID, "alertmanager at %s %s", c.base.Host, de.Message).
			WithHint("set health.alertmanager.url to the address Alertmanager answers at")
	}
	return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "alertmanager: %s", integrations.RedactError(err)).
		WithHint("check that Alertmanager is running at " + integrations.RedactURL(c.base.String()))
}

func filters(ms []Matcher) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.String())
	}
	return out
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Matcher is one label matcher.
type Matcher struct {
	Name  string
	Op    string // =, !=, =~ or !~
	Value string
	re    *regexp.Regexp
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseMatcher reads a matcher as Alertmanager writes them:
// instance="10.0.0.5:9100", severity=~"critical|warning". The value may be
// unquoted when it has no quote, comma or space. A regular expression is
// anchored at both ends, as Alertmanager anchors it.
func ParseMatcher(s string) (Matcher, error) {
	bad := func(why string) (Matcher, error) {
		return Matcher{}, patchpilot.Errorf(patchpilot.EINVALID, "matcher %q: %s", s, why).
			WithHint(`write a matcher such as instance="{{.Instance}}" or severity=~"critical|warning"`)
	}
	t := strings.TrimSpace(s)
	i := strings.IndexAny(t, "=!")
	if i <= 0 {
		return bad("expected a label name, an operator (=, !=, =~, !~) and a value")
	}
	m := Matcher{Name: strings.TrimSpace(t[:i])}
	rest := t[i:]
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(rest, op) {
			m.Op, rest = op, strings.TrimSpace(rest[len(op):])
			break
		}
	}
	if m.Op == "" {
		return bad("expected an operator =, !=, =~ or !~ after the label name")
	}
	if !labelName.MatchString(m.Name) {
		return bad("the label name must be letters, digits and '_', not starting with a digit")
	}
	switch {
	case strings.HasPrefix(rest, `"`):
		v, err := strconv.Unquote(rest)
		if err != nil {
			return bad("the value's quotes do not close, or it has text after them")
		}
		m.Value = v
	case strings.ContainsAny(rest, "\"', {}"):
		return bad("quote a value that has quotes, commas, spaces or braces")
	default:
		m.Value = rest
	}
	if m.Op == "=~" || m.Op == "!~" {
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return bad("invalid regular expression: " + err.Error())
		}
		m.re = re
	}
	return m, nil
}

// String writes the matcher as Alertmanager's filter parameter reads it.
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// Matches reports whether labels satisfy the matcher; a missing label is
// the empty string, as in Alertmanager.
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re != nil && m.re.MatchString(v)
	case "!~":
		return m.re != nil && !m.re.MatchString(v)
	}
	return false
}

// MatchAll reports whether labels satisfy every matcher.
func MatchAll(ms []Matcher, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}
