package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ConfigFileName)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigReadsKeys(t *testing.T) {
	path := writeConfig(t, "# fleet\ndb: /var/lib/pp.db\nkeys: [a, b]\nconcurrency: 7\n")
	c, err := LoadConfig(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.DB != "/var/lib/pp.db" || len(c.Keys) != 2 || c.Concurrency != 7 || c.Policy != nil {
		t.Errorf("LoadConfig = %+v", c)
	}
	c, err = LoadConfig(writeConfig(t, "policy:\n  groups:\n    - {name: prod, hosts: env=prod, level: supervised, hold: [openssl]}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Apply(Options{})
	if err != nil || len(o.Policy.Groups) != 1 || o.Policy.Groups[0].Hold[0] != "openssl" {
		t.Errorf("the policy section did not reach the options: %+v, %v", o.Policy, err)
	}
	for _, body := range []string{"", "# only a comment\n"} {
		if _, err := LoadConfig(writeConfig(t, body), false); err != nil {
			t.Errorf("LoadConfig of %q: %v, want no error", body, err)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), true); err != nil {
		t.Errorf("an optional missing config: %v", err)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "db: /x.db\nconcurency: 5\n",
			[]string{":2:", `unknown key "concurency" (did you mean concurrency?)`, "known keys: accept_new_host_keys, command_timeout, concurrency, connect_timeout, db, dependencies, integrations, inventory_schedules, jump_host, keys, known_hosts, metrics, model, policy, schedules, user"}},
		{"unknown nested policy key", "db: /x.db\npolicy:\n  default:\n    level: advisor\n    hodl: [openssl]\n",
			[]string{":5:", `policy: default: unknown key "hodl" (did you mean hold?); known keys: level, auto_approve, hold, two_approvers`}},
		{"wrong type", "db: /x.db\n\nconcurrency: many\n", []string{":3:", `concurrency: expected a whole number, got "many"`}},
		{"no host at a time", "concurrency: 0\n", []string{":1:", `concurrency: expected at least 1 host at a time`, `got "0"`}},
		{"negative concurrency", "db: /x.db\nconcurrency: -2\n", []string{":2:", `got "-2"`}},
		{"list for a path", "db: [/a.db]\n", []string{":1:", "db: expected a single value, got a list"}},
		{"word for a bool", "accept_new_host_keys: sometimes\n", []string{":1:", `accept_new_host_keys: expected true or false, got "sometimes"`}},
		{"path for a list", "keys: {a: b}\n", []string{":1:", "keys: expected a list"}},
		{"not a mapping", "- db\n", []string{":1:", "expected a mapping of keys", "known_hosts"}},
		{"two documents", "db: /x.db\n---\nuser: ops\n", []string{":2:", "second YAML document"}},
		{"duplicate key", "db: /a.db\ndb: /b.db\n", []string{":2:", `"db" already defined`}},
		{"tab indent", "policy:\n\tgroups: []\n", []string{":2: the line is indented with a tab; YAML indents with spaces"}},
		{"mistyped schedule key", "schedules:\n  - name: s1\n    when: \"0 3 * * *\"\n    hosts: \"\"\n    updates: {security: true}\n    timzone: UTC\n",
			[]string{":6:", `unknown key "timzone" (did you mean timezone?)`}},
		{"mistyped model key", "model:\n  retrain_afer: 5\n", []string{":2:", `model: unknown key "retrain_afer" (did you mean retrain_after?)`}},
		{"mistyped metrics key", "metrics:\n  windo: 5m\n", []string{":2:", `metrics: unknown key "windo" (did you mean window?)`}},
		{"mistyped dependencies key", "dependencies:\n  maxage: 5d\n", []string{":2:", `dependencies: unknown key "maxage" (did you mean max_age?)`}},
		{"bad command timeout", "db: /x.db\ncommand_timeout: 5 minutes\n", []string{":2:", `command_timeout: expected a duration such as 30s or 5m, got "5 minutes"`}},
		{"zero connect timeout", "connect_timeout: 0s\n", []string{":1:", `connect_timeout: expected a duration such as 30s or 5m, got "0s"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			_, err := LoadConfig(path, true)
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Fatalf("LoadConfig: %v, want %s", err, patchpilot.EINVALID)
			}
			for _, w := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A --config that names no file is a missing file (exit 4) naming the
// path, not a bad input.
func TestLoadConfigNamedMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	_, err := LoadConfig(path, false)
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadConfig of a missing named file: %v, want %s naming %s", err, patchpilot.ENOTFOUND, path)
	}
}

func TestLoadConfigSizeCap(t *testing.T) {
	body := "db: /x.db\n" + strings.Repeat("# padding\n", MaxConfigBytes/10+1)
	path := writeConfig(t, body)
	_, err := LoadConfig(path, false)
	if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "64 KiB") {
		t.Errorf("LoadConfig of %d bytes: %v, want %s naming the file and the 64 KiB cap", len(body), err, patchpilot.EINVALID)
	}
	if _, err := LoadConfig(writeConfig(t, body[:MaxConfigBytes]), false); err != nil {
		t.Errorf("LoadConfig of exactly the cap: %v", err)
	}
}
