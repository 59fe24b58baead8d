// Package datadog speaks Datadog's HTTP API: the metrics query API
// (GET /api/v1/query), which the health gates and the canary judge read
// metrics from in place of Prometheus, and the events API
// (POST /api/v1/events), to which a rollout's moments are posted.
//
// The site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, ...) selects
// the API host, https://api.SITE; url overrides it (a proxy, or a test's
// server). The API key goes in DD-API-KEY, the application key, which
// reading metrics needs, in DD-APPLICATION-KEY; both are read from the
// environment or a file and never written anywhere.
package datadog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type of patchpilot.yaml.
const Type = "datadog"

// Sites are Datadog's sites; the API of site S is https://api.S.
var Sites = []string{"datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu",
	"ap1.datadoghq.com", "ap2.datadoghq.com", "ddog-gov.com"}

// DefaultSite is the site when none is given.
const DefaultSite = "datadoghq.com"

// DefaultTimeout bounds one request.
const DefaultTimeout = 15 * time.Second

const maxBody = 32 << 20

// Settings are a datadog integration's keys in patchpilot.yaml.
type Settings struct {
	// Site is the Datadog site; empty means DefaultSite.
	Site string `yaml:"site"`
	// URL overrides https://api.SITE.
	URL string `yaml:"url"`
	// APIKey is sent as DD-API-KEY.
	APIKey integrations.Secret `yaml:"api_key"`
	// AppKey is sent as DD-APPLICATION-KEY; reading metrics needs it,
	// posting events does not.
	AppKey integrations.Secret `yaml:"app_key"`
	// Tags are added to every event ("env:prod").
	Tags []string `yaml:"tags"`
	// SourceTypeName is the events' source_type_name; empty means
	// DefaultSourceTypeName.
	SourceTypeName string `yaml:"source_type_name"`
}

// Client calls one Datadog site's API. It is safe for concurrent use.
type Client struct {
	name           string
	appAt          string // where app_key is (or would be) written
	base           *url.URL
	apiKey, appKey string
	tags           []string
	sourceType     string
	http           *http.Client
	timeout        time.Duration
}

// Options are a Client's dependencies; zero values are defaults.
type Options struct {
	HTTPClient *http.Client
	Timeout    time.Duration
}

// New builds the client of an integration spec, reading its settings and
// its keys (getenv is how environment variables are read).
func New(spec integrations.Spec, getenv func(string) string, o Options) (*Client, error) {
	var s Settings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	if s.Site == "" {
		s.Site = DefaultSite
	}
	if !slices.Contains(Sites, s.Site) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected one of %s, got %q", spec.At("site"), strings.Join(Sites, ", "), s.Site)
	}
	raw := "https://api." + s.Site
	if s.URL != "" {
		raw = s.URL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected an http or https URL such as https://api.datadoghq.com, got %q", spec.At("url"), integrations.RedactURL(s.URL))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{name: spec.Name, appAt: spec.At("app_key"), base: u, tags: s.Tags, sourceType: s.SourceTypeName, http: o.HTTPClient, timeout: o.Timeout}
	if c.apiKey, err = s.APIKey.Resolve(spec.At("api_key"), getenv); err != nil {
		return nil, err
	}
	if !s.AppKey.IsZero() {
		if c.appKey, err = s.AppKey.Resolve(spec.At("app_key"), getenv); err != nil {
			return nil, err
		}
	}
	if c.sourceType == "" {
		c.sourceType = DefaultSourceTypeName
	}
	c.http = integrations.NoRedirects(c.http)
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// Name is the integration's name.
func (c *Client) Name() string { return c.name }

// URL is the API's base URL.
func (c *Client) URL() string { return c.base.String() }

// do sends one request and returns the answer's body when it is a 2xx; a
// refusal or failure is a *patchpilot.DeliveryError. withApp adds the
// application key.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, withApp bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "datadog request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("DD-API-KEY", c.apiKey)
	if withApp {
		req.Header.Set("DD-APPLICATION-KEY", c.appKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, patchpilot.Errorf(patchpilot.ECANCELED, "datadog: %w", ctx.Err())
		}
		if de, ok := integrations.RedirectRefused(Type, err); ok {
			de.Message = c.base.Host + " " + de.Message
			return nil, de
		}
		msg := "no answer from " + c.base.Host + ": " + integrations.RedactError(err, c.apiKey, c.appKey)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("no answer from %s within %s", c.base.Host, c.timeout)
		}
		return nil, &patchpilot.DeliveryError{Service: Type, Message: msg, Retryable: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode, Message: "reading the answer: " + integrations.RedactError(err, c.apiKey, c.appKey), Retryable: true}
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	return nil, answerError(resp, data, withApp, c.apiKey, c.appKey)
}

// answerError maps a refusal: 429 and 5xx may be retried (after
// Retry-After or X-RateLimit-Reset), 400, 401 and 403 may not. withApp
// says whether the request carried the application key (reading metrics
// does, posting events does not), for the 401/403 message.
func answerError(resp *http.Response, body []byte, withApp bool, secrets ...string) *patchpilot.DeliveryError {
	e := &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode, Message: integrations.RedactText(errorText(body), secrets...)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Retryable = true
		e.RetryAfter = retryAfter(resp.Header)
		e.Message = "rate limited: " + e.Message
	case resp.StatusCode >= 500:
		e.Retryable = true
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if withApp {
			e.Message += " (check the integration's api_key and app_key: the application key must be allowed to read metrics, and both must belong to the site's organisation)"
		} else {
			e.Message += " (check the integration's api_key: it must be a valid API key of the site's organisation)"
		}
	case resp.StatusCode == http.StatusBadRequest:
		e.Message += " (the request was refused as malformed: check the query)"
	}
	return e
}

// retryAfter reads Retry-After (seconds) or, failing that, Datadog's
// X-RateLimit-Reset (seconds until the period resets).
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After", "X-RateLimit-Reset"} {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Get(k))); err == nil && v >= 0 {
			return time.Duration(v) * time.Second
		}
	}
	return 0
}

// errorText reads Datadog's {"errors": [...]} answer, or the body.
func errorText(body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
		Error  string   `json:"error"`
	}
	if jsonUnmarshal(body, &e) == nil {
		if len(e.Errors) > 0 {
			return strings.Join(e.Errors, "; ")
		}
		if e.Error != "" {
			return e.Error
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
