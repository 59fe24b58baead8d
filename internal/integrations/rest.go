package integrations

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// MaxAnswerBytes caps what a service's answer is read to by RESTCall when
// the call names no cap of its own.
const MaxAnswerBytes = 4 << 20

// RESTCall is one JSON call to a service's REST API.
type RESTCall struct {
	// Service names the service in errors ("jira", "servicenow").
	Service string
	Method  string
	URL     string
	// Header holds the authorization and any header the service wants
	// beyond Accept and Content-Type, which RESTCall sets.
	Header http.Header
	// Body is encoded as JSON when not nil.
	Body any
	// MaxBytes caps the answer read; 0 means MaxAnswerBytes.
	MaxBytes int64
	// Hint says what to check when the service refuses the credentials
	// (401, 403) or does not know the resource (404).
	AuthHint, NotFoundHint string
	// Secrets are the call's credentials (a token, a password, the
	// Authorization value): removed from every error, with the URL's
	// query and userinfo, should a service or the network repeat them.
	Secrets []string
}

// Do sends the call and decodes a 2xx answer into out (when out is not
// nil and the answer has a body). Any other answer is a
// *patchpilot.DeliveryError: 429 and 5xx are retryable (with the
// service's Retry-After), so is a network failure; 4xx are not, with a
// message naming what to check. A redirect is not followed (hc is used
// as NoRedirects(hc)): it is a non-retryable DeliveryError. Errors name
// the URL without its query or userinfo and never hold c.Secrets. The
// answer's status is returned too.
func (c RESTCall) Do(ctx context.Context, hc *http.Client, out any) (int, error) {
	var body io.Reader
	if c.Body != nil {
		b, err := json.Marshal(c.Body)
		if err != nil {
			return 0, patchpilot.Errorf(patchpilot.EINTERNAL, "%s: encode request: %v", c.Service, err)
		}
		body = bytes.NewReader(b)
	}
	// The query may hold a credential, and a service may repeat the
	// request's path and query in its answer.
	secrets := c.Secrets
	if _, q, ok := strings.Cut(c.URL, "?"); ok {
		q, _, _ = strings.Cut(q, "#")
		secrets = append(slices.Clip(secrets), q)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s %s: not a valid URL: %s", c.Service, c.Method, RedactURL(c.URL), RedactError(err, secrets...))
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if c.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	what := fmt.Sprintf("%s %s", c.Method, RedactURL(c.URL))
	resp, err := NoRedirects(hc).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if de, ok := RedirectRefused(c.Service, err); ok {
			de.Message = what + ": " + de.Message
			return 0, de
		}
		var ue interface{ Unwrap() error }
		msg := err.Error()
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			msg = ue.Unwrap().Error()
		}
		return 0, &patchpilot.DeliveryError{Service: c.Service, Message: what + ": " + RedactText(msg, secrets...), Retryable: true}
	}
	defer resp.Body.Close()
	limit := c.MaxBytes
	if limit <= 0 {
		limit = MaxAnswerBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, &patchpilot.DeliveryError{Service: c.Service, Status: resp.StatusCode,
			Message: fmt.Sprintf("read the answer to %s: %s", what, RedactError(err, secrets...)), Retryable: true}
	}
	if int64(len(data)) > limit {
		return resp.StatusCode, &patchpilot.DeliveryError{Service: c.Service, Status: resp.StatusCode,
			Message: fmt.Sprintf("the answer to %s is larger than %d bytes", what, limit)}
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, &patchpilot.DeliveryError{Service: c.Service, Status: resp.StatusCode,
					Message: fmt.Sprintf("the answer to %s is not the JSON expected: %s", what, RedactError(err, secrets...))}
			}
		}
		return resp.StatusCode, nil
	}
	de := &patchpilot.DeliveryError{Service: c.Service, Status: resp.StatusCode}
	said := serviceMessage(data, secrets...)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		de.Retryable, de.RetryAfter = true, RetryAfter(resp.Header.Get("Retry-After"), time.Now())
		de.Message = what + ": rate limited"
	case resp.StatusCode >= 500:
		de.Retryable = true
		de.Message = what + ": service error"
	case resp.StatusCode == http.StatusUnauthorized:
		de.Message = what + ": bad credentials"
		if c.AuthHint != "" {
			de.Message += "; " + c.AuthHint
		}
	case resp.StatusCode == http.StatusForbidden:
		de.Message = what + ": forbidden: the account lacks the permission"
		if c.AuthHint != "" {
			de.Message += "; " + c.AuthHint
		}
	case resp.StatusCode == http.StatusNotFound:
		de.Message = what + ": not found"
		if c.NotFoundHint != "" {
			de.Message += "; " + c.NotFoundHint
		}
	default:
		de.Message = what + ": refused"
	}
	if said != "" {
		de.Message += ": " + said
	}
	return resp.StatusCode, de
}

// RetryAfter reads a Retry-After header: seconds, or an HTTP date
// (relative to now). Zero when absent or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// serviceMessage picks what a service said from its error answer: Jira's
// errorMessages and errors, ServiceNow's error.message and error.detail,
// a "message" or "error" string, or else the trimmed text, without the
// secrets and URLs' queries (RedactText).
func serviceMessage(data []byte, secrets ...string) string {
	var v struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
		Error         json.RawMessage   `json:"error"`
	}
	var parts []string
	if json.Unmarshal(data, &v) == nil {
		parts = append(parts, v.ErrorMessages...)
		for k, m := range v.Errors {
			parts = append(parts, k+": "+m)
		}
		if v.Message != "" {
			parts = append(parts, v.Message)
		}
		var s string
		var obj struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
		}
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			parts = append(parts, s)
		} else if json.Unmarshal(v.Error, &obj) == nil {
			for _, p := range []string{obj.Message, obj.Detail} {
				if p != "" {
					parts = append(parts, p)
				}
			}
		}
	} else if t := strings.TrimSpace(string(data)); t != "" && !strings.HasPrefix(t, "<") {
		parts = append(parts, t)
	}
	// Redacted before it is cut, so that no part of a secret remains.
	s := RedactText(strings.Join(strings.Fields(strings.Join(parts, "; ")), " "), secrets...)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// CheckBaseURL checks an integration's base URL setting: http or https,
// with a host, no query; it is returned without a trailing slash.
func CheckBaseURL(s Spec, key, v, example string) (string, error) {
	if v == "" {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: required, such as %s", s.At(key), example)
	}
	ok := (strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://")) && !strings.ContainsAny(v, "?#@ ")
	if ok {
		rest := v[strings.Index(v, "://")+3:]
		ok = rest != "" && !strings.HasPrefix(rest, "/")
	}
	if !ok {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "%s: expected an http or https URL without a query, such as %s, got %q", s.At(key), example, RedactURL(v))
	}
	return strings.TrimRight(v, "/"), nil
}

// SourceError is err, a RESTCall's error of an inventory source, as an
// ordinary error beginning with what ("cmdb: read cmdb_ci_linux_server")
// and with a code: credentials the service refuses are EUNAUTHENTICATED
// (401) or EFORBIDDEN (403), the CLI's exit code of a refused call; any
// other refusal (a redirect, a 404) is EINVALID, since the configuration
// must change; and a failure that may pass (a network error, 429, 5xx)
// is EUNAVAILABLE. The
// DeliveryError stays in the chain; other errors (a canceled context)
// are wrapped as they are.
func SourceError(what string, err error) error {
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) {
		return fmt.Errorf("%s: %w", what, err)
	}
	code := patchpilot.EINVALID
	switch {
	case de.Retryable:
		code = patchpilot.EUNAVAILABLE
	case de.Status == http.StatusUnauthorized:
		code = patchpilot.EUNAUTHENTICATED
	case de.Status == http.StatusForbidden:
		code = patchpilot.EFORBIDDEN
	}
	return patchpilot.Errorf(code, "%s: %w", what, err)
}
