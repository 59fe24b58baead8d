package ansible

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "site", "patch.yml"), "- hosts: all\n", 0o644)
	invDir := filepath.Join(dir, "inventory")
	writeFile(t, filepath.Join(invDir, "hosts.ini"), "[web]\nweb01\n", 0o644)
	r := &Runner{KnownHostsFile: "/var/lib/pp/known hosts", User: "deploy", KeyFiles: []string{"/keys/extra"}, Environ: []string{"PATH=/usr/bin", "ANSIBLE_HOST_KEY_CHECKING=False"}}
	run := patchpilot.PlaybookRun{
		Host:     patchpilot.Host{Name: "web01", Address: "10.0.0.5", Port: 2222, KeyFile: "/keys/web01", Become: true, JumpHost: "ops@bastion:22"},
		Playbook: patchpilot.AnsiblePlaybook{Playbook: pb, Inventory: invDir, ExtraVars: map[string]any{"tier": "web"}},
		Vars:     map[string]any{"patchpilot_packages": []map[string]string{{"name": "openssl", "version": "3.0.15-1~deb12u1"}}},
	}
	inv, err := r.Prepare(run, "/tmp/x/inventory.json", "/tmp/x/vars.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-i", invDir, "-i", "/tmp/x/inventory.json", "--limit", "web01", "-e", "@/tmp/x/vars.json", "--", pb}
	if !reflect.DeepEqual(inv.Args, want) {
		t.Errorf("args = %q\nwant   %q", inv.Args, want)
	}
	if inv.Dir != filepath.Join(dir, "site") {
		t.Errorf("dir = %s", inv.Dir)
	}
	hv := inv.Inventory["all"].(map[string]any)["hosts"].(map[string]any)["web01"].(map[string]any)
	wantVars := map[string]any{
		"ansible_connection": "ssh", "ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "deploy",
		"ansible_ssh_private_key_file": "/keys/web01", "ansible_become": true,
		"ansible_ssh_common_args": "-o StrictHostKeyChecking=yes -o 'UserKnownHostsFile=/var/lib/pp/known hosts' -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o IdentityFile=/keys/extra -o ProxyJump=ops@bastion:22",
	}
	if !reflect.DeepEqual(hv, wantVars) {
		t.Errorf("host vars = %v\nwant        %v", hv, wantVars)
	}
	if inv.Vars["tier"] != "web" || inv.Vars["patchpilot_packages"] == nil {
		t.Errorf("vars = %v", inv.Vars)
	}
	env := strings.Join(inv.Env, "\n")
	if !strings.Contains(env, "ANSIBLE_HOST_KEY_CHECKING=True") || strings.Contains(env, "ANSIBLE_HOST_KEY_CHECKING=False") {
		t.Errorf("host key checking not forced on: %s", env)
	}
	// Without an inventory of the plan's, only the generated one; a root
	// login needs no become.
	run.Playbook.Inventory = ""
	run.Host.User = "root"
	inv, err = r.Prepare(run, "/i.json", "/v.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-i", "/i.json", "--limit", "web01", "-e", "@/v.json", "--", pb}; !reflect.DeepEqual(inv.Args, want) {
		t.Errorf("args = %q, want %q", inv.Args, want)
	}
	hv = inv.Inventory["all"].(map[string]any)["hosts"].(map[string]any)["web01"].(map[string]any)
	if hv["ansible_become"] != false || hv["ansible_user"] != "root" {
		t.Errorf("root login: %v", hv)
	}
}

func TestPrepareRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "patch.yml"), "- hosts: all\n", 0o644)
	good := patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "web01", Address: "10.0.0.5"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}}
	r := &Runner{KnownHostsFile: "/kh", User: "root"}
	if _, err := r.Prepare(good, "/i", "/v"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*patchpilot.PlaybookRun, *Runner)
		want   string
	}{
		{"pattern host", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Name = "web*" }, `host name "web*"`},
		{"group pattern", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Name = "web01,db01" }, "host name"},
		{"all", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Name = "all" }, `host name "all"`},
		{"option host", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Name = "-e" }, "host name"},
		{"address with space", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Address = "10.0.0.5 -o ProxyCommand=x" }, "address"},
		{"option address", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Address = "-oProxyCommand=x" }, "address"},
		{"bad port", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.Port = 70000 }, "port 70000"},
		{"bad user", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.User = "root -o x" }, "user"},
		{"bad jump", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Host.JumpHost = "-oProxyCommand=sh" }, "jump host"},
		{"no known hosts", func(_ *patchpilot.PlaybookRun, r *Runner) { r.KnownHostsFile = "" }, "known_hosts"},
		{"relative playbook", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Playbook.Playbook = "patch.yml" }, "not an absolute path"},
		{"missing playbook", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Playbook.Playbook = filepath.Join(dir, "nope.yml") }, "nope.yml"},
		{"directory playbook", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Playbook.Playbook = dir }, "is not a file"},
		{"reserved var", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Playbook.ExtraVars = map[string]any{"ansible_host": "x"} }, `"ansible_host"`},
		{"bad var", func(p *patchpilot.PlaybookRun, _ *Runner) { p.Playbook.ExtraVars = map[string]any{"a-b": 1} }, `"a-b"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, rr := good, *r
			tc.change(&run, &rr)
			_, err := rr.Prepare(run, "/i", "/v")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// fakePlaybook writes a stand-in for ansible-playbook: a script that
// records its arguments, the generated files and its environment, prints
// and exits as told.
func fakePlaybook(t *testing.T, body string) (prog, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	prog = writeFile(t, filepath.Join(dir, "ansible-playbook"), `#!/bin/sh
rec=`+record+`
printf '%s\n' "$@" > "$rec.args"
for a in "$@"; do
  case "$a" in
    */inventory.json) cp "$a" "$rec.inventory" ;;
    @*) cp "${a#@}" "$rec.vars" ;;
  esac
done
pwd > "$rec.pwd"
env > "$rec.env"
`+body, 0o755)
	return prog, record
}

func TestRunPlaybook(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "site", "patch.yml"), "- hosts: all\n", 0o644)
	prog, rec := fakePlaybook(t, `echo "PLAY [all]"; echo "fatal: [web01]: FAILED!" >&2; exit 2`+"\n")
	r := &Runner{KnownHostsFile: "state/known_hosts", User: "root", Program: prog}
	run := patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "web01", Address: "127.0.0.9", KeyFile: "keys/web01"},
		Playbook: patchpilot.AnsiblePlaybook{Playbook: pb, ExtraVars: map[string]any{"tier": "web"}},
		Vars:     map[string]any{"patchpilot_packages": []any{map[string]any{"name": "pp-demo-web", "version": "1.1.0"}}}}
	res, err := r.RunPlaybook(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 2 || string(res.Stdout) != "PLAY [all]\n" || string(res.Stderr) != "fatal: [web01]: FAILED!\n" {
		t.Errorf("result = %d %q %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	args, _ := os.ReadFile(rec + ".args")
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	if len(lines) != 8 || lines[0] != "-i" || lines[2] != "--limit" || lines[3] != "web01" || lines[5][0] != '@' || lines[7] != pb {
		t.Errorf("args = %q", lines)
	}
	var vars map[string]any
	data, _ := os.ReadFile(rec + ".vars")
	if err := json.Unmarshal(data, &vars); err != nil {
		t.Fatal(err)
	}
	if vars["tier"] != "web" || !strings.Contains(string(data), `"patchpilot_packages":[{"name":"pp-demo-web","version":"1.1.0"}]`) {
		t.Errorf("vars file = %s", data)
	}
	data, _ = os.ReadFile(rec + ".inventory")
	// Paths given relative to patchpilot's directory reach the playbook,
	// which runs in its own, as absolute ones.
	cwd, _ := os.Getwd()
	if !strings.Contains(string(data), `"ansible_host":"127.0.0.9"`) || !strings.Contains(string(data), "StrictHostKeyChecking=yes") ||
		!strings.Contains(string(data), "UserKnownHostsFile="+filepath.Join(cwd, "state/known_hosts")) ||
		!strings.Contains(string(data), `"ansible_ssh_private_key_file":"`+filepath.Join(cwd, "keys/web01")+`"`) {
		t.Errorf("inventory = %s", data)
	}
	if pwd, _ := os.ReadFile(rec + ".pwd"); strings.TrimSpace(string(pwd)) != filepath.Join(dir, "site") {
		t.Errorf("ran in %s", pwd)
	}
	// The temporary files are gone after the run.
	if _, err := os.Stat(strings.TrimPrefix(lines[5], "@")); !os.IsNotExist(err) {
		t.Errorf("vars file left behind: %v", err)
	}
}

func TestRunPlaybookOutputCapped(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "patch.yml"), "- hosts: all\n", 0o644)
	prog, _ := fakePlaybook(t, `i=0; while [ $i -lt 3000 ]; do echo "TASK [line $i] ******************************"; i=$((i+1)); done; echo "PLAY RECAP"; exit 0`+"\n")
	r := &Runner{KnownHostsFile: "/kh", User: "root", Program: prog}
	res, err := r.RunPlaybook(context.Background(), patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "h"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout)
	if len(out) > MaxOutput+100 || !strings.HasPrefix(out, "[... ") || !strings.HasSuffix(out, "PLAY RECAP\n") {
		t.Errorf("output of %d bytes not capped to its end: %.80q ... %q", len(out), out, out[len(out)-20:])
	}
}

func TestRunPlaybookTimeoutAndMissing(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "patch.yml"), "- hosts: all\n", 0o644)
	prog, _ := fakePlaybook(t, "exec sleep 60\n")
	r := &Runner{KnownHostsFile: "/kh", User: "root", Program: prog}
	_, err := r.RunPlaybook(context.Background(), patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "h"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}, Timeout: 200 * time.Millisecond})
	if patchpilot.ErrorCode(err) != patchpilot.ETIMEOUT {
		t.Errorf("err = %v, want ETIMEOUT", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.RunPlaybook(ctx, patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "h"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}})
	if patchpilot.ErrorCode(err) != patchpilot.ECANCELED {
		t.Errorf("cancelled: err = %v, want ECANCELED", err)
	}
	r.Program = filepath.Join(dir, "no-such-ansible-playbook")
	_, err = r.RunPlaybook(context.Background(), patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "h"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}})
	if patchpilot.ErrorCode(err) != patchpilot.EUNAVAILABLE {
		t.Errorf("missing program: err = %v, want EUNAVAILABLE", err)
	}
}

func TestCheckListHosts(t *testing.T) {
	one := "\nplaybook: patch.yml\n\n  play #1 (all): Patch\tTAGS: []\n    pattern: ['all']\n    hosts (1):\n      web01\n\n  play #2 (all): Put back\tTAGS: []\n    pattern: ['all']\n    hosts (1):\n      web01\n"
	if err := CheckListHosts([]byte(one), "web01"); err != nil {
		t.Errorf("one host: %v", err)
	}
	group := "  play #1 (all): Patch\tTAGS: []\n    pattern: ['all']\n    hosts (2):\n      web02\n      web03\n"
	if err := CheckListHosts([]byte(group), "web01"); err == nil || !strings.Contains(err.Error(), "web02, web03") {
		t.Errorf("group named like the host: err = %v", err)
	}
	if err := CheckListHosts([]byte("  play #1 (all): x\n    hosts (1):\n      other\n"), "web01"); err == nil {
		t.Error("another host was accepted")
	}
	if err := CheckListHosts([]byte("ERROR! not a playbook\n"), "web01"); err == nil {
		t.Error("no play was accepted")
	}
}

func TestTailBuffer(t *testing.T) {
	b := &TailBuffer{Max: 10}
	for _, s := range []string{"0123", "456789", "abc", strings.Repeat("z", 25) + "END"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := string(b.Bytes()); got != "[... 31 bytes of earlier output dropped ...]\nzzzzzzzEND" {
		t.Errorf("Bytes = %q", got)
	}
	small := &TailBuffer{Max: 10}
	small.Write([]byte("ok\n"))
	if string(small.Bytes()) != "ok\n" || small.Dropped() != 0 {
		t.Errorf("small = %q", small.Bytes())
	}
}

func TestPrepareLocalHost(t *testing.T) {
	pb := writeFile(t, filepath.Join(t.TempDir(), "patch.yml"), "- hosts: all\n", 0o644)
	r := &Runner{Local: func(h patchpilot.Host) bool { return h.Name == "ctl" }}
	inv, err := r.Prepare(patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "ctl", Address: "127.0.0.1"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}}, "/i", "/v")
	if err != nil {
		t.Fatal(err)
	}
	hv := inv.Inventory["all"].(map[string]any)["hosts"].(map[string]any)["ctl"].(map[string]any)
	if hv["ansible_connection"] != "local" || hv["ansible_host"] != nil {
		t.Errorf("local host vars = %v", hv)
	}
	// Any other host still needs the known_hosts file.
	if _, err := r.Prepare(patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "web01"}, Playbook: patchpilot.AnsiblePlaybook{Playbook: pb}}, "/i", "/v"); err == nil {
		t.Error("a remote host without known_hosts was accepted")
	}
}

// TestRealAnsiblePlaybook runs Debian's ansible-playbook, when installed,
// on a playbook whose tasks run on the controller only (debug), so that
// it needs no host: Ansible reads the generated inventory and variables,
// and a plan inventory goes through the --list-hosts check.
func TestRealAnsiblePlaybook(t *testing.T) {
	if _, err := exec.LookPath(Program); err != nil {
		t.Skip("ansible-playbook is not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	pb := writeFile(t, filepath.Join(dir, "show.yml"), `- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ inventory_hostname }} at {{ ansible_host }}:{{ ansible_port }} gets {{ patchpilot_packages | map(attribute='version') | join(',') }} tier {{ tier }}"
`, 0o644)
	inv := writeFile(t, filepath.Join(dir, "inv", "hosts.ini"), "[web]\nweb01\nweb02\n[web:vars]\ntier=from-inventory\n", 0o644)
	r := &Runner{KnownHostsFile: filepath.Join(dir, "known_hosts"), User: "root", Environ: append(os.Environ(), "HOME="+dir)}
	run := patchpilot.PlaybookRun{Host: patchpilot.Host{Name: "web01", Address: "192.0.2.10", Port: 2222},
		Playbook: patchpilot.AnsiblePlaybook{Playbook: pb, Inventory: filepath.Dir(inv), ExtraVars: map[string]any{"tier": "web"}},
		Vars:     map[string]any{"patchpilot_packages": []map[string]string{{"name": "openssl", "version": "3.0.15"}}}, Timeout: 2 * time.Minute}
	res, err := r.RunPlaybook(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout)
	if res.ExitCode != 0 || !strings.Contains(out, "web01 at 192.0.2.10:2222 gets 3.0.15 tier web") || strings.Contains(out, "web02") {
		t.Errorf("exit %d\n%s\n%s", res.ExitCode, out, res.Stderr)
	}
}
