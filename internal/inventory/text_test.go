package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// writeFiles writes name -> content under a fresh directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestControlCharactersRefused(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		load  string // the file or directory to load
		facts bool   // load with ImportFactsFile
		want  string // expected in the error, after the directory
	}{
		{"INI host name with ESC", map[string]string{"hosts.ini": "[web]\nweb1\nweb\x1b7x\n"}, "hosts.ini", false,
			`hosts.ini:3: host name "web\x1b7x" holds the control character U+001B at byte 3`},
		{"INI group name with NUL", map[string]string{"hosts.ini": "[we\x00b]\nweb1\n"}, "hosts.ini", false,
			`hosts.ini:1: group name "we\x00b" holds the control character U+0000 at byte 2`},
		{"INI user with CR", map[string]string{"hosts.ini": "web1 ansible_user=de\rploy\n"}, "hosts.ini", false,
			`hosts.ini:1: ansible_user of host web1 "de\rploy" holds the control character U+000D`},
		{"INI label variable", map[string]string{"hosts.ini": "[web]\nweb1\n[web:vars]\nrole=\"we\x1bb\"\n"}, "hosts.ini", false,
			`hosts.ini:4: role of host web1 "we\x1bb" holds the control character U+001B`},
		{"YAML label mapping", map[string]string{"inv.yml": "all:\n  hosts:\n    web1:\n      patchpilot_labels: {env: \"pr\\x1bod\"}\n"}, "inv.yml", false,
			`inv.yml:4:26: patchpilot_labels of host web1.env "pr\x1bod" holds the control character U+001B`},
		{"YAML label name", map[string]string{"inv.yml": "all:\n  hosts:\n    web1:\n      patchpilot_labels: {\"e\\tnv\": prod}\n"}, "inv.yml", false,
			`inv.yml:4:26: patchpilot_labels of host web1: label name "e\tnv" holds the control character U+0009`},
		{"host list name", map[string]string{"hosts.yaml": "hosts:\n  - name: web1\n  - name: \"web\\u009b2\"\n"}, "hosts.yaml", false,
			`hosts.yaml:3:11: hosts[1].name "web\u009b2" holds the control character U+009B`},
		{"host list groups", map[string]string{"hosts.yaml": "hosts:\n  - name: web1\n    groups: [\"a\\rb\"]\n"}, "hosts.yaml", false,
			`hosts.yaml:3:13: hosts[0].groups "a\rb" holds the control character U+000D`},
		{"group_vars user", map[string]string{"hosts.ini": "[web]\nweb1\n", "group_vars/web.yml": "ansible_user: \"ops\\e\"\n"}, "hosts.ini", false,
			`group_vars/web.yml:1:15: ansible_user of host web1 "ops\x1b" holds the control character U+001B`},
		{"host_vars jump host", map[string]string{"hosts.ini": "web1\n", "host_vars/web1": "ansible_ssh_common_args: \"-J bas\\x07tion\"\n"}, "hosts.ini", false,
			`host_vars/web1:1:26: ansible_ssh_common_args of host web1 "-J bas\ation" holds the control character U+0007`},
		{"fact package version", map[string]string{"f.json": `{"ansible_facts": {"distribution": "Ubuntu", "hostname": "u1", "packages": {"bash": [{"name": "bash", "version": "5.1\u001b[31m"}]}}}`}, "f.json", true,
			`f.json: facts of host "u1": field Facts.packages[0].version "5.1\x1b[31m" holds the control character U+001B`},
		{"fact host name in ad-hoc output", map[string]string{"out.txt": "u\x1b1 | SUCCESS => {\"ansible_facts\": {\"distribution\": \"Ubuntu\"}}\n"}, "out.txt", true,
			`out.txt:1: host name "u\x1b1" holds the control character U+001B`},
		{"fact hostname", map[string]string{"f.json": `{"ansible_facts": {"distribution": "Ubuntu", "hostname": "u\r1"}}`}, "f.json", true,
			`facts of host "u\r1": field Host.name "u\r1" holds the control character U+000D`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			var err error
			if c.facts {
				_, err = ImportFactsFile(filepath.Join(dir, c.load))
			} else {
				_, err = LoadFile(filepath.Join(dir, c.load), Options{})
			}
			if err == nil || patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant invalid containing %q", err, c.want)
			}
		})
	}
}

// TestControlCharactersAllowedWhereHarmless loads an inventory with Windows
// line ends and a multi-line variable patchpilot does not read: neither is
// refused.
func TestControlCharactersAllowedWhereHarmless(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"hosts.ini":          "[web]\r\nweb1 ansible_user=ops\r\n",
		"group_vars/web.yml": "motd: |\n  line one\n  line two\n",
	})
	res, err := LoadFile(filepath.Join(dir, "hosts.ini"), Options{})
	if err != nil || len(res.Hosts) != 1 || res.Hosts[0].User != "ops" {
		t.Fatalf("LoadFile = %+v, %v; want web1 with user ops", res, err)
	}
}
