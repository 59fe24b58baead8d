// Package local runs commands on the controller's own machine over os/exec.
// It implements patchpilot.Runner with the same contract as the SSH runner,
// so that collectors and the orchestrator cannot tell the two apart.
package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DefaultTimeout bounds a command that names no timeout of its own. It is
// generous because a package transaction can legitimately take minutes.
const DefaultTimeout = 10 * time.Minute

// waitDelay is how long Run waits for the output pipes to close after the
// process group was killed; a grandchild that escaped the group could
// otherwise keep Run blocked forever.
const waitDelay = 2 * time.Second

// Exit statuses reported, like a shell would, for commands that could not be
// started. Reporting them as a Result (not an error) keeps the local runner
// consistent with SSH, where the remote shell reports them this way.
const (
	ExitNotFound      = 127 // the program does not exist
	ExitCannotExecute = 126 // the program exists but cannot be executed
)

// fallbackPath is searched after the environment's PATH, because system
// tools (needs-restarting, zypper) may live in sbin directories that a
// non-root user's PATH often lacks.
var fallbackPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Runner runs commands on the local machine. The zero value is not ready
// for use: build it with New, or set UID yourself.
type Runner struct {
	// UID is the user id the controller runs as. Privileged commands are
	// prefixed with "sudo -n --" unless it is 0.
	UID int
	// DefaultTimeout bounds commands with no Timeout of their own; 0
	// means the package's DefaultTimeout.
	DefaultTimeout time.Duration
	// Environ is the environment commands start from; nil means the
	// controller's own. LC_ALL and LANG are always forced to C so that
	// parsers see untranslated output.
	Environ []string
}

var _ patchpilot.Runner = (*Runner)(nil)

// New returns a Runner for the current process's user and environment.
func New() *Runner {
	return &Runner{UID: os.Getuid(), Environ: os.Environ()}
}

// Run runs cmd and waits for it. A non-zero exit status is a Result; the
// command running past its timeout is an ETIMEOUT error and ctx being
// cancelled is an ECANCELED error, and in both cases the command's whole
// process group is killed.
func (r *Runner) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	if len(cmd.Args) == 0 || cmd.Args[0] == "" {
		return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EINVALID, "empty command")
	}
	if err := ctx.Err(); err != nil {
		return patchpilot.Result{}, ctxError(cmd, err, false)
	}
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = r.DefaultTimeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	args := cmd.Args
	if cmd.Privileged && r.UID != 0 {
		args = append([]string{"sudo", "-n", "--"}, args...)
	}
	env := r.env()
	path, err := lookPath(args[0], env)
	if err != nil {
		return notStarted(args[0], err), nil
	}

	c := exec.CommandContext(runCtx, path, args[1:]...)
	c.Args[0] = args[0]
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		// A negative pid signals the whole process group, so children
		// of the command (dpkg under apt-get, say) die with it.
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	c.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if cmd.Stdin != nil {
		c.Stdin = bytes.NewReader(cmd.Stdin)
	}

	start := time.Now()
	err = c.Run()
	res := patchpilot.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if runCtx.Err() != nil {
		// The context ended while the command ran: whatever exit status
		// the kill produced is not the command's own.
		return res, ctxError(cmd, runCtx.Err(), ctx.Err() == nil)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if res.ExitCode < 0 {
			// Killed by a signal that we did not send: report it the
			// way a shell does, 128 plus the signal number.
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.ExitCode = 128 + int(ws.Signal())
			}
		}
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay):
		// The command exited but something it started kept the output
		// open; the exit status is still the command's.
		res.ExitCode = c.ProcessState.ExitCode()
		return res, nil
	}
	return res, patchpilot.Errorf(patchpilot.EINTERNAL, "run %s: %w", args[0], err)
}

// Close does nothing: the local runner holds no connection.
func (r *Runner) Close() error { return nil }

func (r *Runner) env() []string {
	base := r.Environ
	if base == nil {
		base = os.Environ()
	}
	env := make([]string, 0, len(base)+2)
	for _, kv := range base {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "LC_ALL", "LANG", "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

// lookPath finds a program in env's PATH followed by the system
// directories.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	var dirs []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			dirs = strings.Split(v, ":")
		}
	}
	dirs = append(dirs, fallbackPath...)
	var firstErr error
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p, err := exec.LookPath(dir + "/" + name)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", exec.ErrNotFound
}

func notStarted(name string, err error) patchpilot.Result {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return patchpilot.Result{ExitCode: ExitNotFound, Stderr: []byte(name + ": command not found\n")}
	}
	return patchpilot.Result{ExitCode: ExitCannotExecute, Stderr: []byte(name + ": " + err.Error() + "\n")}
}

func ctxError(cmd patchpilot.Command, err error, ownTimeout bool) error {
	if ownTimeout || errors.Is(err, context.DeadlineExceeded) {
		return (&patchpilot.Error{Code: patchpilot.ETIMEOUT, Op: "local.run", Message: cmd.Args[0] + " timed out", Err: err}).
			WithHint("raise the command timeout or check why the command hangs")
	}
	return &patchpilot.Error{Code: patchpilot.ECANCELED, Op: "local.run", Message: cmd.Args[0] + " was cancelled", Err: err}
}
