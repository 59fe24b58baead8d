package integrations_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patchpilot/patchpilot/internal/integrations"
)

func TestNewHTTPClientRefusesRedirects(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer other.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	for _, c := range []*http.Client{integrations.NewHTTPClient(0), integrations.NoRedirects(&http.Client{})} {
		req, _ := http.NewRequest(http.MethodPost, first.URL+"/api?token=QSECRET", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer SECRET")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect followed: %s", resp.Status)
		}
		de, ok := integrations.RedirectRefused("svc", err)
		if !ok || de.Retryable {
			t.Fatalf("RedirectRefused(%v) = %+v, %v; want a non-retryable delivery error", err, de, ok)
		}
		host := strings.TrimPrefix(other.URL, "http://")
		if want := "answered a redirect to " + host + "; patchpilot does not follow redirects with credentials: set url to the final address"; de.Message != want {
			t.Errorf("message %q, want %q", de.Message, want)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect's host received %d requests", n)
	}
	if _, ok := integrations.RedirectRefused("svc", errors.New("other")); ok {
		t.Fatal("another error taken for a redirect")
	}
}

func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		`Post "https://user:PASS@grafana.example.com/api/annotations?x=QSECRET": dial tcp: refused`: `Post "https://grafana.example.com/api/annotations": dial tcp: refused`,
		`no answer from http://h:3000/a?token=QSECRET#frag, giving up`:                              `no answer from http://h:3000/a, giving up`,
		`the key KEY123 leaked`: `the key [redacted] leaked`,
	} {
		if got := integrations.RedactText(in, "KEY123"); got != want || strings.Contains(got, "SECRET") || strings.Contains(got, "PASS") {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
