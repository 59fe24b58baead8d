package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// An integration that cannot be built is named once, at the key's line:
// its own error already says FILE:LINE: integrations: NAME: KEY.
func TestIntegrationBuildErrorsNameTheIntegrationOnce(t *testing.T) {
	_, a, _ := openTestApp(t)
	a.Options.Integrations = integrationsOf(t, `
services:
  - name: a
    type: slack
    webhook_url: {env: PP_TEST_UNSET_SLACK}
`)
	_, err := a.NewDispatcher(DispatcherOptions{})
	want := "pp.yaml:5: integrations: a: webhook_url: environment variable PP_TEST_UNSET_SLACK is not set or empty"
	if err == nil || err.Error() != want || patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Fatalf("dispatcher: err = %v (code %s), want %q", err, patchpilot.ErrorCode(err), want)
	}

	a.Options.Integrations = integrationsOf(t, `
services:
  - name: m
    type: email
    host: 127.0.0.1
    port: 25
    starttls: none
    username: pp
    password: {env: PP_TEST_UNSET_SMTP}
    from: patchpilot@example.com
    to: [ops@example.com]
    kpi_report: {every: 168h}
`)
	_, err = a.SendKPIReport(context.Background(), "m", time.Time{}, time.Time{})
	if err == nil || !strings.HasPrefix(err.Error(), "pp.yaml:9: integrations: m: password: ") || strings.Contains(err.Error(), "integration m:") {
		t.Fatalf("kpi report: err = %v", err)
	}
	_, err = a.NewDispatcher(DispatcherOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "pp.yaml:9: integrations: m: password: ") || strings.Contains(err.Error(), "integration m:") {
		t.Fatalf("dispatcher with an email integration: err = %v", err)
	}

	// An error without the integration's place gets it, with its code.
	s := integrations.Spec{Common: integrations.Common{Name: "x"}, File: "pp.yaml", Line: 7}
	err = buildError(s, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "the CA file cannot be read"))
	if err.Error() != "pp.yaml:7: integrations: x: the CA file cannot be read" || patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE {
		t.Errorf("err = %v (code %s)", err, patchpilot.ErrorCode(err))
	}
	err = buildError(s, errors.New("pp.yaml:8: integrations: x: url: bad"))
	if err.Error() != "pp.yaml:8: integrations: x: url: bad" {
		t.Errorf("err = %v", err)
	}
}
