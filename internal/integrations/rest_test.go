package integrations_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

func TestRESTCallRefusesRedirects(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	h := http.Header{}
	h.Set("Authorization", "Bearer tok-123")
	call := integrations.RESTCall{Service: "jira", Method: http.MethodGet, URL: u + "/rest/api/2/project/OPS", Header: h}
	// A client given by the caller, which would follow redirects, follows none.
	_, err := call.Do(context.Background(), &http.Client{}, nil)
	integrationstest.CheckRefused(t, err, reached)
	if _, leaked := reached(); strings.Contains(leaked, "tok-123") {
		t.Fatalf("the token reached the redirect's host")
	}
	_, err = call.Do(context.Background(), nil, nil)
	integrationstest.CheckRefused(t, err, reached)
}

// closing is a server that drops every connection: a network error.
func closing(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRESTCallErrorsHideTheQueryAndTheSecrets(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errorMessages": ["bad request ` + r.URL.String() + ` with ` + r.Header.Get("Authorization") + `"]}`))
	}))
	t.Cleanup(echo.Close)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	for name, base := range map[string]string{"network error": closing(t).URL, "refused connection": refusedURL, "service echo": echo.URL, "bad url": "http://127.0.0.1:1 x"} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Authorization", "Bearer tok-123")
			call := integrations.RESTCall{Service: "svc", Method: http.MethodGet, URL: base + "/api?api_key=q-secret&x=1", Header: h, Secrets: []string{"tok-123"}}
			_, err := call.Do(context.Background(), nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, leak := range []string{"q-secret", "api_key", "tok-123"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q holds %q", msg, leak)
				}
			}
			if name == "service echo" && !strings.Contains(msg, "bad request") {
				t.Errorf("error %q lost what the service said", msg)
			}
			if name != "bad url" && !strings.Contains(msg, "GET http://127.0.0.1:") {
				t.Errorf("error %q does not name the request", msg)
			}
		})
	}
}

func TestSourceErrorHasACode(t *testing.T) {
	refusal := integrations.SourceError("fleet", &patchpilot.DeliveryError{Service: "http_inventory", Status: 401, Message: "bad credentials"})
	if patchpilot.ErrorCode(refusal) != patchpilot.EUNAUTHENTICATED || refusal.Error() != "fleet: http_inventory answered 401: bad credentials" {
		t.Errorf("refusal %q code %s", refusal, patchpilot.ErrorCode(refusal))
	}
	if c := patchpilot.ErrorCode(integrations.SourceError("fleet", &patchpilot.DeliveryError{Service: "http_inventory", Status: 403})); c != patchpilot.EFORBIDDEN {
		t.Errorf("403: code %s", c)
	}
	if c := patchpilot.ErrorCode(integrations.SourceError("fleet", &patchpilot.DeliveryError{Service: "http_inventory", Status: 404})); c != patchpilot.EINVALID {
		t.Errorf("404: code %s", c)
	}
	down := integrations.SourceError("fleet", &patchpilot.DeliveryError{Service: "http_inventory", Status: 503, Retryable: true})
	if patchpilot.ErrorCode(down) != patchpilot.EUNAVAILABLE {
		t.Errorf("failure %q code %s", down, patchpilot.ErrorCode(down))
	}
	if c := patchpilot.ErrorCode(integrations.SourceError("fleet", context.Canceled)); c != patchpilot.ECANCELED {
		t.Errorf("canceled: code %s", c)
	}
}

// A secret the service repeats where its message is cut leaves no part.
func TestRESTCallRedactsBeforeCuttingTheServicesMessage(t *testing.T) {
	token := strings.Repeat("s", 40)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"message": "` + strings.Repeat("x", 280) + " " + token + `"}`))
	}))
	defer srv.Close()
	_, err := integrations.RESTCall{Service: "svc", Method: http.MethodGet, URL: srv.URL, Secrets: []string{token}}.Do(context.Background(), nil, nil)
	if err == nil || strings.Contains(err.Error(), "ssssssssss") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("err = %v", err)
	}
}
