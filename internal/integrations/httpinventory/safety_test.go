package httpinventory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

func tokenEnv(k string) string {
	if k == "INV_TOKEN" {
		return "inv-t0ken"
	}
	return ""
}

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+u+"/hosts\ntoken: {env: INV_TOKEN}"), tokenEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Hosts(context.Background())
	// An inventory source answers an ordinary error, with a code, that
	// says to set the url.
	if err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.HasPrefix(err.Error(), "fleet: http_inventory: GET "+u+"/hosts: answered a redirect to 127.0.0.1:") ||
		!strings.HasSuffix(err.Error(), "patchpilot does not follow redirects with credentials: set url to the final address") {
		t.Fatalf("err %v (code %s), want the refused redirect", err, patchpilot.ErrorCode(err))
	}
	if n, seen := reached(); n != 0 || strings.Contains(seen, "inv-t0ken") {
		t.Fatalf("the redirect's host received %d requests (%q)", n, seen)
	}
}

func TestErrorsHideTheURLQueryAndTheToken(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message": "no access to %s with %s"}`, r.URL.RequestURI(), r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"name": "web1", "colour": "blue"}]`)
	}))
	defer bad.Close()
	for _, srv := range []*httptest.Server{echo, drop, bad} {
		s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/hosts\ntoken: {env: INV_TOKEN}"), tokenEnv)
		if err != nil {
			t.Fatal(err)
		}
		// The url setting allows no query; a source whose URL has one
		// (a signed URL) still keeps it out of errors.
		s.url = srv.URL + "/hosts?sig=q-secret"
		_, err = s.Hosts(context.Background())
		if err == nil {
			t.Fatal("no error")
		}
		for _, leak := range []string{"q-secret", "sig=", "inv-t0ken"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q holds %q", err, leak)
			}
		}
		if !strings.Contains(err.Error(), srv.URL+"/hosts") {
			t.Errorf("error %q does not name the endpoint", err)
		}
		var de *patchpilot.DeliveryError
		if srv != bad && !errors.As(err, &de) {
			t.Errorf("error %T %v", err, err)
		}
	}
}

func TestSettingsErrorsNameTheKeysLine(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"name: fleet\ntype: http_inventory\nurl: ftp://x", `pp.yaml:4: integrations: fleet: url: expected an http or https URL without a query, such as https://cmdb.example.com/api/hosts, got "ftp://x"`},
		{"name: fleet\ntype: http_inventory", "pp.yaml:2: integrations: fleet: url: required"},
		{"name: fleet\ntype: http_inventory\nurl: https://cmdb.example.com/hosts?key=abc", `pp.yaml:4: integrations: fleet: url: expected an http or https URL without a query, such as https://cmdb.example.com/api/hosts, got "https://cmdb.example.com/hosts"`},
		{"name: fleet\ntype: http_inventory\nurl: https://cmdb.example.com/hosts\nmax_bytes: -1", "pp.yaml:5: integrations: fleet: max_bytes: expected a positive number of bytes, got -1"},
		{"name: fleet\ntype: http_inventory\nurl: https://cmdb.example.com/hosts\nmax_hosts: -1", "pp.yaml:5: integrations: fleet: max_hosts: expected a positive number of hosts, got -1"},
		{"name: fleet\ntype: http_inventory\nurl: https://cmdb.example.com/hosts\ntoken: {env: NOT_SET}", "pp.yaml:5: integrations: fleet: token: environment variable NOT_SET is not set"},
	} {
		_, err := New(spec(t, c.src), tokenEnv)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v, want %q", c.src, err, c.want)
		}
	}
}
