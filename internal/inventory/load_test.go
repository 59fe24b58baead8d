package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

const testHome = "/home/test"

func loadTest(t *testing.T, path string) *Result {
	t.Helper()
	res, err := LoadFile(path, Options{Home: testHome})
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	return res
}

func byName(hosts []patchpilot.Host) map[string]patchpilot.Host {
	m := map[string]patchpilot.Host{}
	for _, h := range hosts {
		m[h.Name] = h
	}
	return m
}

func names(hosts []patchpilot.Host) []string {
	out := []string{}
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

func TestLoadINI(t *testing.T) {
	path := filepath.Join("testdata", "ini", "inventory.ini")
	res := loadTest(t, path)
	if res.Format != FormatINI {
		t.Errorf("format = %q, want ini", res.Format)
	}
	wantOrder := []string{"bastion.example.com", "web01.example.com", "web02.example.com", "web03.example.com",
		"web04.example.com", "db-a", "db-b", "db-c", "stage1"}
	if got := names(res.Hosts); !reflect.DeepEqual(got, wantOrder) {
		t.Fatalf("hosts = %v, want %v", got, wantOrder)
	}
	jump := "jump@bastion.example.com:22"
	key := testHome + "/.ssh/web_key"
	managed := "patchpilot"
	want := map[string]patchpilot.Host{
		// Ungrouped: all:vars and group_vars/all only; its own user wins.
		"bastion.example.com": {Name: "bastion.example.com", Address: "bastion.example.com", User: "jump",
			Groups: []string{"ungrouped"}, Labels: map[string]string{"env": "unknown", "managed_by": managed}},
		// web < group_vars/web (port 2022) < host inline (user deploy).
		"web01.example.com": {Name: "web01.example.com", Address: "web01.example.com", Port: 2022, User: "deploy",
			KeyFile: key, JumpHost: jump, Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "web", "tier": "frontend", "managed_by": managed}},
		// host_vars/ beats everything.
		"web02.example.com": {Name: "web02.example.com", Address: "198.51.100.2", Port: 22, User: "deploy",
			KeyFile: key, JumpHost: jump, Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "web", "tier": "frontend", "managed_by": managed}},
		// The port in the host pattern is a host variable: it beats group_vars/web.
		"web04.example.com": {Name: "web04.example.com", Address: "web04.example.com", Port: 2222, User: "root",
			KeyFile: key, JumpHost: jump, Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "front end", "tier": "frontend", "managed_by": managed}},
		// A host written twice merges its variables.
		"db-a": {Name: "db-a", Address: "10.0.1.10", Port: 2200, User: "root", Become: true, JumpHost: jump,
			Groups: []string{"db", "prod"},
			Labels: map[string]string{"env": "prod", "role": "generic", "criticality": "critical", "managed_by": managed}},
		"db-b": {Name: "db-b", Address: "db-b", User: "root", Become: true, JumpHost: jump,
			Groups: []string{"db", "prod"},
			Labels: map[string]string{"env": "prod", "role": "generic", "criticality": "critical", "managed_by": managed}},
		"stage1": {Name: "stage1", Address: "192.0.2.50", User: "root", Groups: []string{"staging"},
			Labels: map[string]string{"env": "staging", "team": "payments", "criticality": "low", "managed_by": managed}},
	}
	got := byName(res.Hosts)
	for name, w := range want {
		w.Source = path
		if g := got[name]; !reflect.DeepEqual(g, w) {
			t.Errorf("host %s:\n got  %+v\n want %+v", name, g, w)
		}
	}
	wantWarnings := []string{
		"inventory.ini:29: ansible_password (for host bastion.example.com) is ignored",
		"host_vars/stage1:2:26: ansible_become_password (for host stage1) is ignored",
		"group_vars/staging/vault.yml: encrypted with ansible-vault; skipped",
	}
	all := strings.Join(res.Warnings, "\n")
	for _, w := range wantWarnings {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q; got:\n%s", w, all)
		}
	}
	if len(res.Warnings) != len(wantWarnings) {
		t.Errorf("got %d warnings, want %d (one per place a password is set):\n%s", len(res.Warnings), len(wantWarnings), all)
	}
	if strings.Contains(all, "hunter2") {
		t.Errorf("a warning shows a password: %s", all)
	}
}

func TestLoadYAML(t *testing.T) {
	path := filepath.Join("testdata", "yaml", "inventory.yml")
	res := loadTest(t, path)
	if res.Format != FormatYAML {
		t.Errorf("format = %q, want yaml", res.Format)
	}
	got := byName(res.Hosts)
	if len(got) != 10 {
		t.Errorf("got %d hosts %v, want 10", len(got), names(res.Hosts))
	}
	want := map[string]patchpilot.Host{
		"bastion.example.com": {Name: "bastion.example.com", Address: "bastion.example.com", User: "root",
			Groups: []string{"ungrouped"}, Labels: map[string]string{"env": "unknown"}},
		// Child group web overrides parent prod's role; prod overrides all's env.
		"web03.example.com": {Name: "web03.example.com", Address: "web03.example.com", User: "root",
			JumpHost: "jump@bastion.example.com", Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "web"}},
		"web04.example.com": {Name: "web04.example.com", Address: "web04.example.com", Port: 2222, User: "root",
			JumpHost: "jump@bastion.example.com", Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "front end"}},
		// web is declared in two places; the host defined in the second is
		// still a member of prod through the first. The plain criticality
		// variable is unset, so patchpilot_labels' value stands.
		"web05.example.com": {Name: "web05.example.com", Address: "203.0.113.5", User: "root",
			JumpHost: "jump@bastion.example.com", Groups: []string{"prod", "web"},
			Labels: map[string]string{"env": "prod", "role": "web", "team": "payments", "criticality": "medium"}},
		"db-c": {Name: "db-c", Address: "db-c", User: "root", Become: true,
			JumpHost: "jump@bastion.example.com", Groups: []string{"db", "prod"},
			Labels: map[string]string{"env": "prod", "role": "generic", "criticality": "critical"}},
		// Merge keys (<<: *dbvars) and ProxyCommand jump hosts.
		"rep1": {Name: "rep1", Address: "rep1", User: "root", Become: true, JumpHost: "ops@gw.example.com:2200",
			Groups: []string{"reporting"}, Labels: map[string]string{"env": "unknown", "role": "reports", "criticality": "high"}},
	}
	for name, w := range want {
		w.Source = path
		if g := got[name]; !reflect.DeepEqual(g, w) {
			t.Errorf("host %s:\n got  %+v\n want %+v", name, g, w)
		}
	}
}

func TestLoadHostList(t *testing.T) {
	path := filepath.Join("testdata", "hostlist", "hosts.yaml")
	res := loadTest(t, path)
	if res.Format != FormatHostList {
		t.Errorf("format = %q, want hostlist", res.Format)
	}
	want := []patchpilot.Host{
		{Name: "web1", Address: "10.0.0.1", Port: 2222, User: "deploy", KeyFile: testHome + "/.ssh/fleet", Become: true,
			Groups: []string{"frontend", "web"}, Labels: map[string]string{"env": "prod", "role": "web", "criticality": "high"}, Source: path},
		{Name: "db1", Address: "db1", User: "postgres", KeyFile: testHome + "/.ssh/fleet", Become: false, JumpHost: "bastion.example.com",
			Groups: []string{}, Labels: map[string]string{"env": "staging", "role": "db"}, Source: path},
	}
	if len(res.Hosts) != len(want) {
		t.Fatalf("got %d hosts, want %d", len(res.Hosts), len(want))
	}
	for i := range want {
		g := res.Hosts[i]
		if len(g.Groups) == 0 {
			g.Groups = []string{}
		}
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("host %d:\n got  %+v\n want %+v", i, g, want[i])
		}
	}
}

// TestLoadSniffsFormat checks that a file without an extension is read by
// content, as Ansible's default "hosts" file is.
func TestLoadSniffsFormat(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		content string
		format  Format
		hosts   []string
	}{
		{"web1\nweb2 ansible_host=10.0.0.2\n", FormatINI, []string{"web1", "web2"}},
		{"[web]\nweb[1:2]\n", FormatINI, []string{"web1", "web2"}},
		{"web1:2222\n", FormatINI, []string{"web1"}},
		{"all:\n  hosts:\n    web1:\n", FormatYAML, []string{"web1"}},
		{"hosts:\n  - name: web1\n", FormatHostList, []string{"web1"}},
		{`{"all": {"hosts": {"web1": {"ansible_port": 22}}}}`, FormatYAML, []string{"web1"}},
	}
	for i, c := range cases {
		p := filepath.Join(dir, "hosts"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		res := loadTest(t, p)
		if res.Format != c.format || !reflect.DeepEqual(names(res.Hosts), c.hosts) {
			t.Errorf("%q: got %s %v, want %s %v", c.content, res.Format, names(res.Hosts), c.format, c.hosts)
		}
	}
}

// TestLoadDir reads an inventory directory: every file, merged, with the
// directory's group_vars.
func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"10-web.ini":          "[web]\nweb1\n",
		"20-db.yml":           "all:\n  children:\n    db:\n      hosts:\n        db1:\n",
		"30-list.yaml":        "hosts:\n  - name: solo\n",
		"README.md":           "not an inventory\n",
		"group_vars/web.yml":  "role: web\n",
		"group_vars/all.yaml": "env: lab\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res := loadTest(t, dir)
	got := byName(res.Hosts)
	if len(got) != 3 {
		t.Fatalf("got hosts %v, want web1, db1, solo", names(res.Hosts))
	}
	if l := got["web1"].Labels; l["role"] != "web" || l["env"] != "lab" {
		t.Errorf("web1 labels = %v, want role=web env=lab", l)
	}
	if l := got["db1"].Labels; l["env"] != "lab" || l["role"] != "" {
		t.Errorf("db1 labels = %v, want env=lab only", l)
	}
	for name, file := range map[string]string{"web1": "10-web.ini", "db1": "20-db.yml", "solo": "30-list.yaml"} {
		if want := filepath.Join(dir, file); got[name].Source != want {
			t.Errorf("%s source = %q, want %q", name, got[name].Source, want)
		}
	}
}

func TestLoadPublicAPI(t *testing.T) {
	hosts, err := Load(filepath.Join("testdata", "hostlist", "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	if len(hosts) != 2 || hosts[0].KeyFile != filepath.Join(home, ".ssh/fleet") {
		t.Errorf("Load: got %+v, want 2 hosts with ~ expanded to %s", hosts, home)
	}
	_, err = Load(filepath.Join("testdata", "nonexistent.ini"))
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("missing file: code %q (%v), want not_found", patchpilot.ErrorCode(err), err)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		file string
		want string
	}{
		{"bad/port.ini", `port.ini:7: invalid port "22x" for host web1: expected a number 1-65535`},
		{"bad/port_zero.ini", `port_zero.ini:2: invalid port "0" for host web1`},
		{"bad/port_type.yml", `port_type.yml:4:21: invalid port "a list" for host web1`},
		{"bad/unknown_field.yaml", `unknown_field.yaml:3:5: unknown field "adress"`},
		{"bad/unterminated.ini", `unterminated.ini:2: unterminated section header "[web"`},
		{"bad/section_space.ini", `section_space.ini:1: invalid section header "[web ]"`},
		{"bad/section_type.ini", `section_type.ini:1: section [web:host] has unknown type "host"`},
		{"bad/range_reversed.ini", `range_reversed.ini:2: bad range pattern "web[3:1]": begin 3 is greater than end 1`},
		{"bad/range_mixed.ini", `range_mixed.ini:2: bad range pattern "db-[a:3]"`},
		{"bad/range_unclosed.ini", `range_unclosed.ini:2: bad range pattern "web[1:3": [ without closing ]`},
		{"bad/range_width.ini", `range_width.ini:2: bad range pattern "web[01:100]": zero-padded`},
		{"bad/dup_addr.ini", `dup_addr.ini:5: host web1 defined again with address "10.0.0.2", conflicting with "10.0.0.1" at line 2`},
		{"bad/empty.ini", `empty.ini: no hosts`},
		{"bad/empty.yml", `empty.yml: no hosts`},
		{"bad/undefined_child.ini", `undefined_child.ini:5: section [prod:children] names group "db", which is never declared`},
		{"bad/vars_undefined.ini", `vars_undefined.ini:3: section [db:vars] is for group "db", which is never declared`},
		{"bad/unknown_key.yml", `unknown_key.yml:4:3: unknown key "host" in group "all": expected hosts, vars or children`},
		{"bad/hosts_list.yml", `hosts_list.yml:3:5: hosts of group "all": expected a mapping of host names to variables, got a list`},
		{"bad/yaml_syntax.yml", `yaml_syntax.yml:3: invalid YAML`},
		{"bad/tab_indent.yml", `tab_indent.yml:3: invalid YAML: the line is indented with a tab; YAML indents with spaces`},
		{"bad/become.ini", `become.ini:2: invalid boolean "maybe" for ansible_become of host web1`},
		{"bad/criticality.yml", `criticality.yml:4:20: invalid criticality "extreme"`},
		{"bad/template.ini", `template.ini:2: ansible_host of host web1 is a Jinja template`},
		{"bad/quote.ini", `quote.ini:2: unterminated double quote`},
		{"bad/loop.ini", `loop.ini:4: adding group "a" as a child of "b" creates a loop`},
		{"bad/hostlist_dup.yaml", `hostlist_dup.yaml:4:5: duplicate host web1: already listed at line 2`},
		{"bad/hostlist_port.yaml", `hostlist_port.yaml:3:11: invalid port "70000" for hosts[0].port`},
		{"bad/kv.ini", `kv.ini:2: expected key=value host variable for host web1, got "role"`},
		{"bad/vars_kv.ini", `vars_kv.ini:4: expected key=value in [web:vars], got "novalue"`},
		{"badgv/inventory.ini", `group_vars/web.yml:2: invalid YAML`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", c.file), Options{Home: testHome})
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n got  %q\n want %q", err, c.want)
			}
			if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
				t.Errorf("code = %q, want invalid", code)
			}
		})
	}
}

// An error quotes what it found cut short: a line of megabytes (a binary
// or minified file given as an inventory) is not printed whole.
func TestLoadErrorQuotesLongValuesShort(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"header.ini": "[" + strings.Repeat("a", 1<<20) + "\n",
		"kv.ini":     "[web]\nweb1 " + strings.Repeat("b", 1<<20) + "\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path, Options{Home: testHome})
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := len(err.Error()); n > 1000 {
			t.Errorf("%s: the error is %d bytes long; want it to quote the value cut short: %.200s...", name, n, err)
		}
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: the error %.200q does not name the file and line", name, err)
		}
	}
}

func TestExpandHostPattern(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"web1", []string{"web1"}},
		{"web[01:03].example.com", []string{"web01.example.com", "web02.example.com", "web03.example.com"}},
		{"web[8:10]", []string{"web8", "web9", "web10"}},
		{"db-[a:c]", []string{"db-a", "db-b", "db-c"}},
		{"n[1:9:4]", []string{"n1", "n5", "n9"}},
		{"r[1:2]-[a:b]", []string{"r1-a", "r1-b", "r2-a", "r2-b"}},
		{"x[:2]", []string{"x0", "x1", "x2"}},
		{"z[y:B]", []string{"zy", "zz", "zA", "zB"}},
	}
	for _, c := range cases {
		got, err := expandHostPattern(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("expandHostPattern(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"web[1:]", "web[1]", "web[1:2:0]", "web[1:2:3:4]", "web]", "web[0:999999999]", "w[B:a]"} {
		if got, err := expandHostPattern(bad); err == nil {
			t.Errorf("expandHostPattern(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	cases := []struct{ in, host, port string }{
		{"web1", "web1", ""},
		{"web1:2222", "web1", "2222"},
		{"web[1:3]:2222", "web[1:3]", "2222"},
		{"web[1:3]", "web[1:3]", ""},
		{"fe80::1", "fe80::1", ""},
		{"[2001:db8::1]:2222", "2001:db8::1", "2222"},
		{"10.0.0.1:22", "10.0.0.1", "22"},
	}
	for _, c := range cases {
		h, p, _ := splitHostPort(c.in)
		if h != c.host || p != c.port {
			t.Errorf("splitHostPort(%q) = %q, %q; want %q, %q", c.in, h, p, c.host, c.port)
		}
	}
}

func TestParseINIValue(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{"web", "web"},
		{`"front end"`, "front end"},
		{`'it''s'`, `'it''s'`},
		{"22", int64(22)},
		{"True", true},
		{"yes", "yes"},
		{"1.5", 1.5},
		{"{'team': 'db'}", map[string]any{"team": "db"}},
		{"[1, 2]", []any{int64(1), int64(2)}},
		{"~/.ssh/id", "~/.ssh/id"},
	}
	for _, c := range cases {
		if got := parseINIValue(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseINIValue(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestJumpHostFromArgs(t *testing.T) {
	cases := []struct{ in, want string }{
		{"-o ProxyJump=bastion", "bastion"},
		{"-oProxyJump=ops@bastion:2222", "ops@bastion:2222"},
		{"-o 'ProxyJump ops@b1,ops@b2'", "ops@b1,ops@b2"},
		{"-J jump@gw", "jump@gw"},
		{"-Jgw", "gw"},
		{"-o StrictHostKeyChecking=no -o ProxyJump=gw", "gw"},
		{`-o ProxyCommand="ssh -W %h:%p -q ops@gw.example.com"`, "ops@gw.example.com"},
		{`-o ProxyCommand="nc -X connect -x proxy:3128 %h %p"`, ""},
		{"-o ProxyJump=none", ""},
		{"-o ServerAliveInterval=30", ""},
	}
	for _, c := range cases {
		got, err := jumpHostFromArgs(c.in)
		if err != nil || got != c.want {
			t.Errorf("jumpHostFromArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
