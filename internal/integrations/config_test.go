package integrations

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

func decode(t *testing.T, src string) (Config, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Decode("pp.yaml", doc.Content[0], []string{"slack", "webhook"})
}

type hookSettings struct {
	URL    string `yaml:"url"`
	Secret Secret `yaml:"secret"`
}

func TestDecodeReadsServicesAndTheirSettings(t *testing.T) {
	c, err := decode(t, `
dashboard_url: https://pp.example.com/
services:
  - name: ops-hook
    type: webhook
    topics: [halted, incident]
    min_level: warning
    url: https://hooks.example.com/pp
    secret: {env: HOOK_SECRET}
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.DashboardURL != "https://pp.example.com" || len(c.Items) != 1 {
		t.Fatalf("config = %+v", c)
	}
	s := c.Items[0]
	if s.Name != "ops-hook" || s.Type != "webhook" || s.Line != 4 || s.MinLevel != patchpilot.LevelWarning || len(s.Topics) != 2 {
		t.Fatalf("spec = %+v", s)
	}
	var h hookSettings
	if err := DecodeSettings(s, &h); err != nil {
		t.Fatal(err)
	}
	if h.URL != "https://hooks.example.com/pp" || h.Secret.Env != "HOOK_SECRET" {
		t.Fatalf("settings = %+v", h)
	}
	got, err := h.Secret.Resolve("ops-hook: secret", func(k string) string { return map[string]string{"HOOK_SECRET": "s3cret\n"}[k] })
	if err != nil || got != "s3cret" {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if !s.Wants(patchpilot.Notification{Topic: patchpilot.TopicHalted, Level: patchpilot.LevelCritical}) ||
		s.Wants(patchpilot.Notification{Topic: patchpilot.TopicHalted, Level: patchpilot.LevelInfo}) ||
		s.Wants(patchpilot.Notification{Topic: patchpilot.TopicRolloutStarted, Level: patchpilot.LevelCritical}) {
		t.Error("Wants routes on topics and min_level")
	}
}

func TestDecodeRefusesWithFileLineAndWhatWasExpected(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown type":   {"services:\n  - name: a\n    type: slak\n", "pp.yaml:3: integrations: a: type: expected one of slack, webhook, got \"slak\""},
		"bad name":       {"services:\n  - name: a b\n    type: slack\n", "pp.yaml:2: integrations: services[0]: name: expected a name"},
		"same name":      {"services:\n  - {name: a, type: slack}\n  - {name: a, type: slack}\n", "pp.yaml:3: integrations: a: name: the name is already used at line 2"},
		"unknown topic":  {"services:\n  - name: a\n    type: slack\n    topics: [halt]\n", "pp.yaml:4: integrations: a: topics: unknown topic \"halt\""},
		"same topic":     {"services:\n  - name: a\n    type: slack\n    topics:\n      - halted\n      - halted\n", "pp.yaml:6: integrations: a: topics: halted is listed twice"},
		"bad level":      {"services:\n  - name: a\n    type: slack\n    min_level: high\n", "pp.yaml:4: integrations: a: min_level: expected info, warning or critical"},
		"url password":   {"services:\n  - name: h\n    type: webhook\n    url: http://user:hunter2@x/\n", "pp.yaml:4: integrations: h: url: a user or password in the URL is not allowed"},
		"env not a name": {"services:\n  - name: h\n    type: webhook\n    secret:\n      env: s3cr3t-hunter2-abc\n", "pp.yaml:5: integrations: h: secret: env: expected the name of an environment variable"},
		"section key":    {"servics: []\n", "pp.yaml:1: integrations: unknown key \"servics\" (did you mean services?)"},
		"bad url":        {"dashboard_url: pp.example.com\n", "pp.yaml:1: integrations: dashboard_url: expected an http or https URL"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decode(t, tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeSettingsNamesTheKeysLine(t *testing.T) {
	type panel struct {
		URL     string `yaml:"url"`
		PanelID int    `yaml:"panel_id"`
		Tags    []string
	}
	c, err := decode(t, "services:\n  - name: g\n    type: slack\n    url: https://g.example.com\n    panel_id: four\n")
	if err != nil {
		t.Fatal(err)
	}
	var p panel
	err = DecodeSettings(c.Items[0], &p)
	if want := `pp.yaml:5: integrations: g: panel_id: expected a whole number, got "four"`; err == nil || err.Error() != want {
		t.Fatalf("error = %v; want %q", err, want)
	}
	if got := c.Items[0].At("panel_id"); got != "pp.yaml:5: integrations: g: panel_id" {
		t.Errorf("At = %q", got)
	}
	if got := c.Items[0].At("token"); got != "pp.yaml:2: integrations: g: token" {
		t.Errorf("At of a key not written = %q", got)
	}
}

func TestDecodeSettingsRefusesUnknownKeysAndLiteralSecrets(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown key":    {"services:\n  - name: h\n    type: webhook\n    ur: x\n", "pp.yaml:4: integrations: h: unknown key \"ur\" (did you mean url?); known keys: name, type, topics, min_level, url, secret"},
		"literal secret": {"services:\n  - name: h\n    type: webhook\n    secret: hunter2\n", "pp.yaml:4: integrations: h: secret: write the secret's source, not the secret"},
		"secret key":     {"services:\n  - name: h\n    type: webhook\n    secret: {environment: X}\n", "pp.yaml:4: integrations: h: secret: unknown key \"environment\"; known keys: env, file"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := decode(t, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var h hookSettings
			err = DecodeSettings(c.Items[0], &h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v; want it to contain %q", err, tc.want)
			}
			if strings.Contains(fmtErr(err), "hunter2") {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSecretResolveFromFileAndItsErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "key")
	if err := os.WriteFile(f, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := (Secret{File: f}).Resolve("x", os.Getenv); err != nil || v != "abc" {
		t.Fatalf("Resolve = %q, %v", v, err)
	}
	if _, err := (Secret{Env: "PP_TEST_UNSET_VARIABLE"}).Resolve("pd: routing_key", func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "pd: routing_key: environment variable PP_TEST_UNSET_VARIABLE is not set") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := (Secret{File: filepath.Join(dir, "none")}).Resolve("x", os.Getenv); err == nil {
		t.Error("a missing file resolved")
	}
	if err := os.Chmod(f, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := (Secret{File: f}).Resolve("ops: token", os.Getenv); err == nil ||
		!strings.Contains(err.Error(), "ops: token: secret file "+f+": readable by others (mode 0640)") || patchpilot.ErrorHint(err) != "chmod 600 "+f {
		t.Errorf("a group-readable secret file: %v (hint %q)", err, patchpilot.ErrorHint(err))
	}
	if _, err := (Secret{Env: "s3cr3t-LITERAL-abc"}).Resolve("x", func(string) string { return "" }); err == nil || strings.Contains(err.Error(), "LITERAL") {
		t.Errorf("an env that is no variable name: %v", err)
	}
	if (Secret{Env: "K"}).String() != "$K" {
		t.Error("String names the variable")
	}
}

func TestLiteralUserinfo(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://user:pw@host/":                         true,
		"http://user@host:80":                          true,
		"http://host/a@b":                              false,
		"http://host?x=a@b":                            false,
		"http://{{.Address}}/":                         false,
		"http://{{.Vars.probe_user}}@{{.Address}}/":    false,
		"http://u:{{index .Vars \"pw/x\"}}@{{.Host}}/": false,
		"http://u:pw@{{.Address}}/{{.Host}}":           true,
	} {
		if got := LiteralUserinfo(raw); got != want {
			t.Errorf("LiteralUserinfo(%q) = %v, want %v", raw, got, want)
		}
	}
	_, err := decode(t, "dashboard_url: https://a:b@pp.example.com\n")
	if err == nil || !strings.Contains(err.Error(), "pp.yaml:1: integrations: dashboard_url: a user or password in the URL is not allowed") {
		t.Fatalf("dashboard_url with a password: %v", err)
	}
}
