// Package integrationstest holds helpers for the integrations' tests.
package integrationstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// Redirector starts a server answering every request with a 307 to a
// second server, and returns the first's URL and a function reporting how
// many requests the second received (and their headers, joined, for a
// test to look for leaked credentials).
func Redirector(t *testing.T) (url string, reached func() (int, string)) {
	t.Helper()
	var n atomic.Int32
	var seen atomic.Value
	seen.Store("")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		seen.Store(seen.Load().(string) + r.Header.Get("DD-API-KEY") + r.Header.Get("Authorization") + " ")
	}))
	t.Cleanup(other.Close)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(first.Close)
	return first.URL, func() (int, string) { return int(n.Load()), seen.Load().(string) }
}

// CheckRefused checks that err is the non-retryable delivery error of a
// refused redirect and that the redirect's host received nothing.
func CheckRefused(t *testing.T, err error, reached func() (int, string)) {
	t.Helper()
	de, ok := err.(*patchpilot.DeliveryError)
	if !ok {
		t.Fatalf("error %T %v, want a *patchpilot.DeliveryError", err, err)
	}
	if de.Retryable || !strings.Contains(de.Message, "answered a redirect to 127.0.0.1:") ||
		!strings.Contains(de.Message, "patchpilot does not follow redirects with credentials: set url to the final address") {
		t.Fatalf("delivery error %+v, want the refused redirect, not retryable", de)
	}
	if n, _ := reached(); n != 0 {
		t.Fatalf("the redirect's host received %d requests", n)
	}
}
