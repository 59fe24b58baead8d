package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func writeInventory(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// patchpilot_depends_on, a host or group variable, sets the depends_on
// label: a string or a list; the host's own beats its group's, and
// patchpilot_label_depends_on beats both.
func TestDependsOnVariable(t *testing.T) {
	path := writeInventory(t, "inventory.yml", `all:
  children:
    web:
      vars:
        patchpilot_depends_on: "db1:5432, cache1:redis-server"
      hosts:
        web1: {}
        web2:
          patchpilot_depends_on: [db1, "db2:postgresql"]
        web3:
          patchpilot_depends_on: db1
          patchpilot_label_depends_on: db9
    db:
      hosts:
        db1: {}
`)
	got := byName(loadTest(t, path).Hosts)
	for host, want := range map[string]string{
		"web1": "db1:5432, cache1:redis-server",
		"web2": "db1, db2:postgresql",
		"web3": "db9",
		"db1":  "",
	} {
		if v := got[host].Labels[patchpilot.LabelDependsOn]; v != want {
			t.Errorf("%s: depends_on = %q, want %q", host, v, want)
		}
	}
}

func TestDependsOnErrors(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"inventory.ini", "[web]\nweb1\n\n[web:vars]\npatchpilot_depends_on=db1:0\n",
			`inventory.ini:5: patchpilot_depends_on of host web1: depends_on entry "db1:0": port 0 is out of range 1-65535`},
		{"inventory.ini", "web1 patchpilot_label_depends_on=db1:a:b\n",
			`inventory.ini:1: patchpilot_label_depends_on of host web1: depends_on entry "db1:a:b": more than one ':'`},
		{"inventory.yml", "all:\n  hosts:\n    web1:\n      patchpilot_depends_on: [db1, {x: 1}]\n",
			`inventory.yml:4:30: patchpilot_depends_on[1] of host web1: expected a string, got a mapping`},
		{"inventory.yml", "all:\n  hosts:\n    web1:\n      patchpilot_labels: {depends_on: 'db 1'}\n",
			`patchpilot_labels of host web1: depends_on entry "db 1": "db 1" is not a host name`},
		{"hosts.yaml", "hosts:\n  - name: web1\n    labels: {depends_on: 'db1:'}\n",
			`hosts.yaml:3:13: hosts[0].labels: depends_on entry "db1:": nothing after ':'`},
	} {
		t.Run(c.want, func(t *testing.T) {
			_, err := LoadFile(writeInventory(t, c.name, c.body), Options{Home: testHome})
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant %s containing %q", err, patchpilot.EINVALID, c.want)
			}
		})
	}
}
