package integrations

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// RedirectError is what a client of NewHTTPClient answers when a service
// answers a redirect: the request is not sent again, so that the
// credentials it carries never reach another address.
type RedirectError struct {
	// Host is the host the redirect pointed to.
	Host string
}

func (e *RedirectError) Error() string {
	return "answered a redirect to " + e.Host + "; patchpilot does not follow redirects with credentials: set url to the final address"
}

// NewHTTPClient is the HTTP client of every integration: timeout bounds
// one request (0: none, the caller's context bounds it), and no redirect
// is followed, since the requests carry credentials (API keys, tokens,
// signatures) that must reach only the configured address.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect}
}

// NoRedirects is a copy of c (a test's client, or one with a transport of
// its own) that follows no redirect, as NewHTTPClient's; nil is
// NewHTTPClient(0).
func NoRedirects(c *http.Client) *http.Client {
	if c == nil {
		return NewHTTPClient(0)
	}
	cp := *c
	cp.CheckRedirect = refuseRedirect
	return &cp
}

func refuseRedirect(req *http.Request, via []*http.Request) error {
	return &RedirectError{Host: req.URL.Host}
}

// RedirectRefused reports whether err is a refused redirect, and if so the
// non-retryable DeliveryError of service to return for it.
func RedirectRefused(service string, err error) (*patchpilot.DeliveryError, bool) {
	var re *RedirectError
	if !errors.As(err, &re) {
		return nil, false
	}
	return &patchpilot.DeliveryError{Service: service, Message: re.Error()}, true
}

var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactURL is u without its userinfo, query and fragment, which may hold
// credentials; a URL that does not parse is replaced by its scheme alone.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		scheme, _, _ := strings.Cut(u, "://")
		return scheme + "://[redacted]"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// RedactText removes the userinfo, query and fragment of every URL in s
// (Go's *url.Error repeats the request's URL), and every secret given
// verbatim, so that an error can be shown and stored.
func RedactText(s string, secrets ...string) string {
	for _, k := range secrets {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		trail := ""
		for strings.HasSuffix(u, ":") || strings.HasSuffix(u, ",") || strings.HasSuffix(u, ".") || strings.HasSuffix(u, ")") || strings.HasSuffix(u, ";") {
			trail = u[len(u)-1:] + trail
			u = u[:len(u)-1]
		}
		return RedactURL(u) + trail
	})
}

// RedactError is err's text made safe by RedactText.
func RedactError(err error, secrets ...string) string {
	if err == nil {
		return ""
	}
	return RedactText(err.Error(), secrets...)
}
