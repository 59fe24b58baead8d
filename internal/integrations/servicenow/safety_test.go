package servicenow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

func TestRedirectIsRefused(t *testing.T) {
	u, reached := integrationstest.Redirector(t)
	ch := newChange(t, u, nil)
	integrationstest.CheckRefused(t, ch.Notify(context.Background(), patchpilot.Notification{Topic: patchpilot.TopicTest}), reached)

	// The CMDB, as an inventory source, answers an ordinary error that
	// says to set the url, and sends nothing to the redirect's host.
	m, err := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, u)), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Hosts(context.Background())
	if err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID ||
		!strings.HasPrefix(err.Error(), "cmdb: read cmdb_ci_linux_server: servicenow: GET "+u+"/api/now/table/cmdb_ci_linux_server: answered a redirect to 127.0.0.1:") ||
		!strings.HasSuffix(err.Error(), "set url to the final address") {
		t.Fatalf("err %v (code %s), want the refused redirect", err, patchpilot.ErrorCode(err))
	}
	if n, _ := reached(); n != 0 {
		t.Fatalf("the redirect's host received %d requests", n)
	}
}

func TestErrorsHideTheURLQueryAndThePassword(t *testing.T) {
	// A service that repeats the request and its credentials in its
	// error, and a network failure: neither the password, the
	// Authorization value nor the URL's query reaches the error.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error": {"message": "cannot serve %s", "detail": "for %s"}}`, r.URL.RequestURI(), r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	leaks := []string{"pa55word", base64.StdEncoding.EncodeToString([]byte("patchpilot:pa55word")), "q-secret", "sysparm_query"}
	for _, srv := range []*httptest.Server{echo, drop} {
		ch := newChange(t, srv.URL, nil)
		ch.c.base = srv.URL + "/?access_token=q-secret&p="
		err := ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started"))
		m, merr := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, srv.URL)), env, nil)
		if merr != nil {
			t.Fatal(merr)
		}
		_, herr := m.Hosts(context.Background())
		for _, err := range []error{err, herr} {
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v", err, err)
			}
			for _, leak := range leaks {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q holds %q", err, leak)
				}
			}
			if !strings.Contains(err.Error(), "GET "+srv.URL+"/") {
				t.Errorf("error %q does not name the request", err)
			}
		}
	}
}
