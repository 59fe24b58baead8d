package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// TestPolicyCheckCompliance: policy check names a regime's rules on the
// hosts labelled with it, warns of a label naming a regime the policy does
// not define, and a misspelt key of a regime names the file and line.
func TestPolicyCheckCompliance(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedPolicyFleet(t, db)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "p1", Address: "192.0.2.2",
		Labels: map[string]string{"env": "prod", "role": "web", patchpilot.LabelCompliance: "pci, sox"}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	if err := os.WriteFile(cfg, []byte(`db: `+db+`
policy:
  groups:
    - {name: prod, hosts: env=prod, level: autopilot}
  compliance:
    pci:
      sla: {critical: 3d}
      approval: required
      max_level: supervised
`), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(e.home, "plan.yaml")
	if err := os.WriteFile(plan, []byte("rollout:\n  patch: {packages: [\"openssl=3.0.2\"]}\n  targets: {selector: \"env=prod,role=web\"}\n"+
		"  stages:\n    - {name: all, targets: rest}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun("--config", cfg, "policy", "check", plan)
	for _, w := range []string{
		`WARNING     p1: its compliance label names regime "sox", which the policy does not define`,
		"UNATTENDED  no: compliance pci caps its hosts at supervised",
		"compliance  [approve] compliance pci: holds hosts under pci (p1), which need a person's approval",
		"[approve] compliance pci: approval required; level at most supervised (group prod is autopilot); deadlines critical 3d",
		"p1    all    prod (supervised)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("table does not contain %q:\n%s", w, out)
		}
	}
	rep := decodeJSON[struct {
		Warnings []string `json:"warnings"`
	}](t, e.mustRun("--config", cfg, "policy", "check", plan, "-o", "json"))
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `"sox"`) {
		t.Errorf("json warnings %q", rep.Warnings)
	}

	if err := os.WriteFile(cfg, []byte("policy:\n  compliance:\n    pci:\n      aproval: required\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("--config", cfg, "policy", "check", plan)
	if r.code != 2 || !strings.Contains(r.stderr, cfg+`:4: policy: compliance: pci: unknown key "aproval" (did you mean approval?); known keys: sla, approval, two_approvers, max_level`) {
		t.Errorf("bad regime key: exit %d\n%s", r.code, r.stderr)
	}
}
