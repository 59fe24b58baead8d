package patchpilot

import (
	"context"
	"strings"
	"time"
)

// Command is a program to run on a host, as an argument list. Arguments are
// passed to the remote side unchanged: a runner quotes them, so no argument
// is ever interpreted by a shell. Build commands only from validated values.
type Command struct {
	Args []string
	// Privileged commands need root. Over SSH they run through "sudo -n"
	// when the host may become root (Host.Become, Ansible's
	// ansible_become) and the login user is not root already; without
	// Become they run as the login user and fail if it lacks the rights.
	Privileged bool
	// Timeout bounds the command; 0 means the runner's default.
	Timeout time.Duration
	// Stdin, when not nil, is written to the command's standard input.
	Stdin []byte
}

// String renders the command for logs and errors (never for execution).
func (c Command) String() string { return strings.Join(c.Args, " ") }

// Result is what a command produced. A non-zero exit status is a Result, not
// an error: parsers decide what an exit status means.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
	Duration time.Duration
}

// Runner runs commands on one host. Transport failures (the connection is
// gone, the command timed out, the context was cancelled) are errors;
// commands that ran and failed are not. Implementations are safe for
// concurrent use: commands may run in parallel over one connection.
type Runner interface {
	Run(ctx context.Context, cmd Command) (Result, error)
	Close() error
}

// Dialer opens a Runner to a host.
type Dialer interface {
	Dial(ctx context.Context, h Host) (Runner, error)
}

// CommandError describes a command that ran but failed, for parsers and
// collectors that need the command to succeed.
func CommandError(cmd Command, res Result) *Error {
	msg := strings.TrimSpace(string(res.Stderr))
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	if msg == "" {
		msg = strings.TrimSpace(string(res.Stdout))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
	}
	return Errorf(EINTERNAL, "%s exited with status %d: %s", cmd.Args[0], res.ExitCode, msg)
}
