package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

func TestIntegrationsReportCommand(t *testing.T) {
	e := newEnv(t)
	port, msgs := integrationstest.SMTPSink(t, "250 ok")
	refusing, _ := integrationstest.SMTPSink(t, "550 5.1.1 no such user")
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	writeFile(t, cfg, fmt.Sprintf(`db: %s
integrations:
  services:
    - {name: ops-mail, type: email, host: 127.0.0.1, port: %d, starttls: none, from: pp@example.com, to: [ops@example.com]}
    - {name: bounce, type: email, host: 127.0.0.1, port: %d, starttls: none, from: pp@example.com, to: [nobody@example.com]}
    - {name: hook, type: webhook, url: "http://127.0.0.1:1/x", secret: {env: HOOK_SECRET}}
`, filepath.Join(e.home, "pp.db"), port, refusing))
	e.vars = append(e.vars, "HOOK_SECRET=x")

	out := e.mustRun("--config", cfg, "integrations", "report", "ops-mail", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-08T00:00:00Z")
	if !strings.Contains(out, "ops-mail sent the KPI report of 2026-01-01T00:00:00Z to 2026-01-08T00:00:00Z") {
		t.Errorf("integrations report:\n%s", out)
	}
	if msg := <-msgs; !strings.Contains(msg, "Patching report, 2026-01-01 00:00 to 2026-01-08 00:00 (UTC)") || !strings.Contains(msg, "To: <ops@example.com>") {
		t.Errorf("the mail:\n%s", msg)
	}
	r := e.run("--config", cfg, "integrations", "report", "bounce")
	if r.code == 0 || !strings.Contains(r.stderr, "the mail server refused the KPI report") || !strings.Contains(r.stderr, "550 5.1.1 no such user") {
		t.Errorf("integrations report bounce: code %d\n%s", r.code, r.stderr)
	}
	r = e.run("--config", cfg, "integrations", "report", "hook")
	if r.code == 0 || !strings.Contains(r.stderr, "type webhook sends no reports") {
		t.Errorf("integrations report hook: code %d\n%s", r.code, r.stderr)
	}
}
