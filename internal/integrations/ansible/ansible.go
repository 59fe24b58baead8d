// Package ansible runs Ansible playbooks on the controller against one host
// at a time, reaching it exactly as patchpilot does: a temporary inventory
// names the host with its address, port, user and key, SSH checks its host
// key against patchpilot's known_hosts file (StrictHostKeyChecking=yes,
// never disabled), and --limit restricts the run to that host. Commands are
// argument lists built from validated values and never go through a shell.
package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Program is the playbook runner Debian's ansible package installs.
const Program = "ansible-playbook"

// MaxOutput is how much of a run's output is kept: its end, where
// Ansible's recap and the failing task are.
const MaxOutput = 64 << 10

// waitDelay bounds the wait for the output to close after the playbook
// exited or was killed.
const waitDelay = 5 * time.Second

// Runner runs playbooks. KnownHostsFile is required: it is the file
// patchpilot's SSH connections check host keys against.
type Runner struct {
	// KnownHostsFile verifies the hosts' SSH keys.
	KnownHostsFile string
	// User logs into hosts whose inventory names no user; "" means the
	// user running patchpilot, as for patchpilot's own connections.
	User string
	// KeyFiles are private keys offered after the host's own key file.
	KeyFiles []string
	// JumpHost ("user@host:port") is used for hosts that name none.
	JumpHost string
	// Program is the ansible-playbook to run; "" means Program from PATH.
	Program string
	// TempDir holds the per-run inventory and variables; "" means the
	// system's temporary directory.
	TempDir string
	// Local, when set, reports the hosts that are the controller's own
	// machine (patchpilot reaches them without SSH): Ansible runs on
	// them with the local connection, becoming root through sudo when
	// patchpilot does not run as root.
	Local func(patchpilot.Host) bool
	// Environ is the environment the playbook starts from; nil means
	// patchpilot's own. The variables that keep host key checking on and
	// the output plain are always set over it.
	Environ []string
}

var _ patchpilot.PlaybookRunner = (*Runner)(nil)

// hostName is what patchpilot accepts as an Ansible host name: no pattern
// characters (, : ! & * ~ [ ]), which --limit would read as a pattern.
var hostName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// varName is an Ansible variable name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Invocation is one prepared run: the program's arguments, the directory
// it runs in, and the files patchpilot wrote for it.
type Invocation struct {
	Args      []string
	Dir       string
	Env       []string
	Inventory map[string]any // the generated inventory
	Vars      map[string]any // the extra variables file
}

// Prepare checks run and builds the ansible-playbook invocation for it,
// with the generated inventory at invPath and the variables at varsPath.
// Every value that reaches an argument is validated first.
func (r *Runner) Prepare(run patchpilot.PlaybookRun, invPath, varsPath string) (Invocation, error) {
	h := run.Host
	if !hostName.MatchString(h.Name) || h.Name == "all" || h.Name == "ungrouped" {
		return Invocation{}, patchpilot.Errorf(patchpilot.EINVALID, "host name %q cannot be given to Ansible: use letters, digits, '.', '_' and '-'", h.Name)
	}
	addr := h.Target()
	if addr == "" || strings.HasPrefix(addr, "-") || strings.ContainsAny(addr, " \t\r\n\x00'\"\\,") {
		return Invocation{}, patchpilot.Errorf(patchpilot.EINVALID, "host %s: address %q cannot be given to Ansible", h.Name, addr)
	}
	if p := h.SSHPort(); p < 1 || p > 65535 {
		return Invocation{}, patchpilot.Errorf(patchpilot.EINVALID, "host %s: port %d is not from 1 to 65535", h.Name, p)
	}
	if r.KnownHostsFile == "" && (r.Local == nil || !r.Local(h)) {
		return Invocation{}, patchpilot.Errorf(patchpilot.EINVALID, "no known_hosts file: Ansible must check host keys against patchpilot's")
	}
	pb := run.Playbook
	if err := regularFile(pb.Playbook, "playbook", false); err != nil {
		return Invocation{}, err
	}
	if pb.Inventory != "" {
		if err := regularFile(pb.Inventory, "inventory", true); err != nil {
			return Invocation{}, err
		}
	}
	vars := map[string]any{}
	for k, v := range pb.ExtraVars {
		if !varName.MatchString(k) || reserved(k) {
			return Invocation{}, patchpilot.Errorf(patchpilot.EINVALID, "extra variable %q: names are Ansible variable names not starting with ansible_ or patchpilot_", k)
		}
		vars[k] = v
	}
	for k, v := range run.Vars {
		if !varName.MatchString(k) || !strings.HasPrefix(k, "patchpilot_") {
			return Invocation{}, patchpilot.Errorf(patchpilot.EINTERNAL, "variable %q: patchpilot's own variables start with patchpilot_", k)
		}
		vars[k] = v
	}
	hostVars, err := r.hostVars(h)
	if err != nil {
		return Invocation{}, err
	}
	inv := map[string]any{"all": map[string]any{"hosts": map[string]any{h.Name: hostVars}}}
	args := []string{}
	if pb.Inventory != "" {
		// Read first: the connection variables of the generated
		// inventory, read after it, win.
		args = append(args, "-i", pb.Inventory)
	}
	args = append(args, "-i", invPath, "--limit", h.Name, "-e", "@"+varsPath, "--", pb.Playbook)
	return Invocation{Args: args, Dir: filepath.Dir(pb.Playbook), Env: r.env(), Inventory: inv, Vars: vars}, nil
}

func reserved(k string) bool {
	k = strings.ToLower(k)
	return strings.HasPrefix(k, "ansible_") || strings.HasPrefix(k, "patchpilot_")
}

// regularFile checks that path is absolute and a file (or a directory
// when dirOK).
func regularFile(path, what string, dirOK bool) error {
	if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %q is not an absolute path", what, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return patchpilot.Errorf(patchpilot.ENOTFOUND, "%s %s: %w", what, path, err).WithHint("the plan's paths are read on the controller that runs the rollout")
	}
	if !st.Mode().IsRegular() && !(dirOK && st.IsDir()) {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %s is not a file", what, path)
	}
	return nil
}

// hostVars are the connection variables of the generated inventory: the
// same address, port, user, keys, jump host and known_hosts file as
// patchpilot's SSH connections.
func (r *Runner) hostVars(h patchpilot.Host) (map[string]any, error) {
	if r.Local != nil && r.Local(h) {
		return map[string]any{"ansible_connection": "local", "ansible_become": os.Geteuid() != 0}, nil
	}
	u := h.User
	if u == "" {
		u = r.User
	}
	if u == "" {
		cur, err := user.Current()
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "who runs patchpilot: %w", err)
		}
		u = cur.Username
	}
	if strings.HasPrefix(u, "-") || strings.ContainsAny(u, " \t\r\n\x00'\"\\@") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "host %s: user %q cannot be given to Ansible", h.Name, u)
	}
	// The playbook runs in its own directory: paths patchpilot was given
	// relative to its working directory are made absolute.
	knownHosts, err := filepath.Abs(r.KnownHostsFile)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "known_hosts file %q: %w", r.KnownHostsFile, err)
	}
	opts := []string{
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
	}
	var keys []string
	if h.KeyFile != "" {
		keys = append(keys, h.KeyFile)
	}
	keys = append(keys, r.KeyFiles...)
	for i, k := range keys {
		abs, err := filepath.Abs(k)
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "key file %q: %w", k, err)
		}
		keys[i] = abs
	}
	for _, k := range keys[min(1, len(keys)):] {
		opts = append(opts, "-o", "IdentityFile="+k)
	}
	jump := h.JumpHost
	if jump == "" {
		jump = r.JumpHost
	}
	if jump != "" {
		if strings.HasPrefix(jump, "-") || strings.ContainsAny(jump, " \t\r\n\x00'\"\\") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "host %s: jump host %q cannot be given to Ansible", h.Name, jump)
		}
		opts = append(opts, "-o", "ProxyJump="+jump)
	}
	for _, o := range opts {
		if strings.ContainsAny(o, "\x00\r\n") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "host %s: SSH option %q holds a line break", h.Name, o)
		}
	}
	v := map[string]any{
		"ansible_connection":      "ssh",
		"ansible_host":            h.Target(),
		"ansible_port":            h.SSHPort(),
		"ansible_user":            u,
		"ansible_ssh_common_args": shellJoin(opts),
		"ansible_become":          h.Become && u != "root",
	}
	if len(keys) > 0 {
		v["ansible_ssh_private_key_file"] = keys[0]
	}
	return v, nil
}

// shellJoin quotes args for Ansible, which splits ansible_ssh_common_args
// as a POSIX shell would (shlex); nothing runs a shell on it. Only
// arguments that need it are quoted: Ansible strips the quotes around a
// whole value that starts and ends with the same quote.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:@%+,") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
	}
	return strings.Join(out, " ")
}

// env is the playbook's environment: host key checking on whatever an
// ansible.cfg says, no colours, no retry files.
func (r *Runner) env() []string {
	base := r.Environ
	if base == nil {
		base = os.Environ()
	}
	forced := map[string]string{
		"ANSIBLE_HOST_KEY_CHECKING":     "True",
		"ANSIBLE_NOCOLOR":               "1",
		"ANSIBLE_FORCE_COLOR":           "0",
		"ANSIBLE_RETRY_FILES_ENABLED":   "False",
		"ANSIBLE_SSH_RETRIES":           "0",
		"ANSIBLE_DISPLAY_SKIPPED_HOSTS": "False",
		"PYTHONUNBUFFERED":              "1",
	}
	env := make([]string, 0, len(base)+len(forced))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := forced[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(forced))
	for k := range forced {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+forced[k])
	}
	return env
}

// RunPlaybook runs the playbook against run.Host and returns its exit
// status and the end of its output (at most MaxOutput bytes of each
// stream). A playbook that fails is a Result; an error means it could not
// run, ran past its timeout, or was cancelled.
func (r *Runner) RunPlaybook(ctx context.Context, run patchpilot.PlaybookRun) (patchpilot.Result, error) {
	prog := r.Program
	if prog == "" {
		p, err := exec.LookPath(Program)
		if err != nil {
			return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s is not installed on the controller", Program).
				WithHint("install Ansible on the machine that runs the rollout (Debian: apt-get install ansible)")
		}
		prog = p
	}
	dir, err := os.MkdirTemp(r.TempDir, "patchpilot-ansible-")
	if err != nil {
		return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EINTERNAL, "create the playbook's temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	invPath, varsPath := filepath.Join(dir, "inventory.json"), filepath.Join(dir, "vars.json")
	inv, err := r.Prepare(run, invPath, varsPath)
	if err != nil {
		return patchpilot.Result{}, err
	}
	for path, v := range map[string]any{invPath: inv.Inventory, varsPath: inv.Vars} {
		data, err := json.Marshal(v)
		if err != nil {
			return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "the playbook's variables cannot be written: %w", err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EINTERNAL, "write %s: %w", filepath.Base(path), err)
		}
	}
	timeout := run.Timeout
	if timeout <= 0 {
		timeout = run.Playbook.Timeout
	}
	if timeout <= 0 {
		timeout = patchpilot.DefaultHookTimeout
	}
	if run.Playbook.Inventory != "" {
		// A group of the plan's inventory named like the host would
		// widen --limit to the group's hosts: ask Ansible which hosts
		// the limit selects before anything runs.
		list := inv
		list.Args = append([]string{"--list-hosts"}, inv.Args...)
		res, err := execute(ctx, prog, list, min(timeout, listTimeout))
		if err != nil {
			return res, err
		}
		if res.ExitCode != 0 {
			return res, nil
		}
		if err := CheckListHosts(res.Stdout, run.Host.Name); err != nil {
			return res, err
		}
	}
	return execute(ctx, prog, inv, timeout)
}

// listTimeout bounds the --list-hosts check.
const listTimeout = time.Minute

// listedHosts matches the header of a play's host list in the output of
// ansible-playbook --list-hosts: "    hosts (2):".
var listedHosts = regexp.MustCompile(`^\s*hosts \((\d+)\):\s*$`)

// CheckListHosts reads the output of ansible-playbook --list-hosts and
// checks that every play selects the one host and no other.
func CheckListHosts(out []byte, host string) error {
	lines := strings.Split(string(out), "\n")
	plays := 0
	for i := 0; i < len(lines); i++ {
		m := listedHosts.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		plays++
		n, _ := strconv.Atoi(m[1])
		var names []string
		for j := 1; j <= n && i+j < len(lines); j++ {
			names = append(names, strings.TrimSpace(lines[i+j]))
		}
		if n > 1 || (n == 1 && names[0] != host) {
			return patchpilot.Errorf(patchpilot.EINVALID, "--limit %s selects %s: the plan's inventory has a group named like the host", host, strings.Join(names, ", ")).
				WithHint("rename the group in the inventory, or leave the inventory out of the plan")
		}
	}
	if plays == 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "ansible-playbook --list-hosts listed no play: is the file a playbook?")
	}
	return nil
}

// execute runs the invocation, killing its whole process group (ssh
// children included) when the timeout or ctx ends.
func execute(ctx context.Context, prog string, inv Invocation, timeout time.Duration) (patchpilot.Result, error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(runCtx, prog, inv.Args...)
	c.Dir, c.Env = inv.Dir, inv.Env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = waitDelay
	stdout, stderr := &TailBuffer{Max: MaxOutput}, &TailBuffer{Max: MaxOutput}
	c.Stdout, c.Stderr = stdout, stderr
	start := time.Now()
	err := c.Run()
	res := patchpilot.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if runCtx.Err() != nil {
		if ctx.Err() != nil {
			return res, patchpilot.Errorf(patchpilot.ECANCELED, "%s %s: %w", Program, filepath.Base(inv.Args[len(inv.Args)-1]), ctx.Err())
		}
		return res, patchpilot.Errorf(patchpilot.ETIMEOUT, "%s %s ran past its timeout of %s", Program, filepath.Base(inv.Args[len(inv.Args)-1]), timeout)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay):
		res.ExitCode = c.ProcessState.ExitCode()
		return res, nil
	}
	return res, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "run %s: %w", Program, err)
}

// TailBuffer keeps the last Max bytes written to it and counts the rest.
type TailBuffer struct {
	Max     int
	buf     bytes.Buffer
	dropped int64
}

// Write keeps the end of what is written; it never fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.Max {
		t.dropped += int64(len(p) - t.Max)
		p = p[len(p)-t.Max:]
	}
	if over := t.buf.Len() + len(p) - t.Max; over > 0 {
		t.dropped += int64(over)
		t.buf.Next(over)
	}
	t.buf.Write(p)
	return n, nil
}

// Bytes returns what is kept, starting with a line that says how much
// was dropped when the output was longer.
func (t *TailBuffer) Bytes() []byte {
	if t.dropped == 0 {
		return append([]byte(nil), t.buf.Bytes()...)
	}
	head := "[... " + strconv.FormatInt(t.dropped, 10) + " bytes of earlier output dropped ...]\n"
	return append([]byte(head), t.buf.Bytes()...)
}

// Dropped is how many bytes were not kept.
func (t *TailBuffer) Dropped() int64 { return t.dropped }
