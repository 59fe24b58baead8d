package ssh

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/patchpilot/patchpilot"
)

// DefaultMaxSessions bounds the commands that run at once over one
// connection. It is OpenSSH's default MaxSessions: a server refuses more
// sessions than that on one connection.
const DefaultMaxSessions = 10

// conn is a Runner over one SSH connection. Each command runs in its own
// session (an SSH channel), so commands run concurrently over it.
type conn struct {
	host    string
	user    string
	become  bool
	timeout time.Duration
	log     *slog.Logger

	client *xssh.Client
	jump   *xssh.Client // nil when dialled directly

	sessions  chan struct{} // semaphore of DefaultMaxSessions slots
	closed    chan struct{} // closed by Close
	lost      chan struct{} // closed when the connection ends, for any reason
	closeOnce sync.Once
}

var _ patchpilot.Runner = (*conn)(nil)

func newConn(h patchpilot.Host, user string, client, jump *xssh.Client, o Options) *conn {
	c := &conn{
		host: h.Name, user: user, become: h.Become, timeout: o.CommandTimeout, log: o.Logger,
		client: client, jump: jump,
		sessions: make(chan struct{}, DefaultMaxSessions),
		closed:   make(chan struct{}),
		lost:     make(chan struct{}),
	}
	go func() {
		err := client.Wait()
		select {
		case <-c.closed:
		default:
			c.log.Warn("ssh connection lost", "host", c.host, "error", err)
		}
		close(c.lost)
	}()
	if o.KeepaliveInterval > 0 {
		go c.keepalive(o.KeepaliveInterval)
	}
	return c
}

// Run runs cmd in a new session. It returns as soon as the command ends, the
// command's timeout passes or ctx is done; in the last two cases the remote
// command is sent SIGKILL and its session closed without waiting for it.
func (c *conn) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	line, err := commandLine(cmd, c.user, c.become)
	if err != nil {
		return patchpilot.Result{}, c.runErr(err)
	}
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	start := time.Now()

	select {
	case c.sessions <- struct{}{}:
	case <-c.lost:
		return patchpilot.Result{}, c.lostErr(cmd)
	case <-timer.C:
		return patchpilot.Result{}, c.timeoutErr(cmd, timeout)
	case <-ctx.Done():
		return patchpilot.Result{}, c.ctxErr(ctx, cmd)
	}

	release := func() { <-c.sessions }
	sess, err := c.client.NewSession()
	if err != nil {
		release()
		return patchpilot.Result{}, c.sessionErr(cmd, err)
	}
	var stdout, stderr bytes.Buffer
	pids := newPIDFilter(&stderr)
	sess.Stdout, sess.Stderr = &stdout, pids
	if cmd.Stdin != nil {
		sess.Stdin = bytes.NewReader(cmd.Stdin)
	}
	if err := sess.Start(line); err != nil {
		sess.Close()
		release()
		return patchpilot.Result{}, c.sessionErr(cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	select {
	case err := <-done:
		sess.Close()
		release()
		pids.flush()
		res := patchpilot.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
		var exit *xssh.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			res.ExitCode = exit.ExitStatus()
		default:
			return patchpilot.Result{}, c.sessionErr(cmd, err)
		}
		return res, nil
	case <-timer.C:
		go c.abort(sess, pids, usesSudo(cmd, c.user, c.become), release)
		return patchpilot.Result{}, c.timeoutErr(cmd, timeout)
	case <-ctx.Done():
		go c.abort(sess, pids, usesSudo(cmd, c.user, c.become), release)
		return patchpilot.Result{}, c.ctxErr(ctx, cmd)
	}
}

// Bounds of the clean-up after an aborted command.
const (
	abortPIDWait   = 2 * time.Second // for the process id line of a command aborted at once
	abortKillTries = 10              // sessions to open for the kill
	abortKillPause = 200 * time.Millisecond
)

// abort kills an aborted remote command and closes its session. It runs in
// the background, since on a stalled connection even that can block and
// the caller must not wait. The command first gets SIGKILL through the
// session, which sshd honours for non-root logins only; then its process
// group is killed by id from a new session. release frees the command's
// session slot once that is done.
func (c *conn) abort(sess *xssh.Session, pids *pidFilter, sudo bool, release func()) {
	defer release()
	if err := sess.Signal(xssh.SIGKILL); err != nil {
		c.log.Debug("signalling aborted command", "host", c.host, "error", err)
	}
	select {
	case <-pids.ready:
	case <-c.lost:
	case <-time.After(abortPIDWait):
	}
	sess.Close()
	pid := pids.PID()
	if pid == 0 {
		c.log.Warn("aborted command may still run: its process id is unknown", "host", c.host)
		return
	}
	for range abortKillTries {
		k, err := c.client.NewSession()
		if err == nil {
			// sshd may still count the aborted session until its command
			// dies, so a full connection can refuse this one for a moment.
			out, err := k.CombinedOutput(killLine(pid, sudo))
			k.Close()
			if err != nil {
				c.log.Debug("killing aborted command", "host", c.host, "pid", pid, "error", err, "output", string(out))
			}
			return
		}
		select {
		case <-c.lost:
			return
		case <-time.After(abortKillPause):
		}
	}
	c.log.Warn("aborted command may still run: no session to kill it", "host", c.host, "pid", pid)
}

// Close ends the connection, and the jump host's connection with it.
// Commands still running fail as if the connection was lost.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.client.Close()
		if c.jump != nil {
			c.jump.Close()
		}
	})
	return nil
}

// keepaliveCountMax is how many intervals a probe may go unanswered before
// the connection is closed: OpenSSH's ServerAliveCountMax default, which
// rides out a busy host or controller without waiting long on a dead one.
const keepaliveCountMax = 3

// keepalive probes the connection every interval and closes it when a probe
// gets no answer within keepaliveCountMax intervals, so that commands fail
// with EUNREACHABLE instead of hanging on a dead peer.
func (c *conn) keepalive(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.lost:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			// OpenSSH answers this unknown request with a failure, which
			// proves the connection alive just as well.
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.lost:
			return
		case err := <-reply:
			if err == nil {
				continue
			}
			c.log.Warn("ssh keepalive failed", "host", c.host, "error", err)
		case <-time.After(keepaliveCountMax * interval):
			c.log.Warn("ssh keepalive unanswered, closing connection", "host", c.host, "after", keepaliveCountMax*interval)
		}
		c.client.Close()
		return
	}
}

func (c *conn) runErr(err error) error {
	var pe *patchpilot.Error
	if errors.As(err, &pe) && pe.Op == "" {
		cp := *pe
		cp.Op = opRun
		return &cp
	}
	return err
}

func (c *conn) timeoutErr(cmd patchpilot.Command, timeout time.Duration) error {
	return c.runErr(patchpilot.Errorf(patchpilot.ETIMEOUT, "host %s: %s timed out after %s", c.host, cmd.Args[0], timeout))
}

func (c *conn) ctxErr(ctx context.Context, cmd patchpilot.Command) error {
	code := patchpilot.ECANCELED
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		code = patchpilot.ETIMEOUT
	}
	return c.runErr(patchpilot.Errorf(code, "host %s: %s: %w", c.host, cmd.Args[0], ctx.Err()))
}

func (c *conn) lostErr(cmd patchpilot.Command) error {
	select {
	case <-c.closed:
		return c.runErr(patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: %s: connection closed", c.host, cmd.Args[0]))
	default:
	}
	return c.runErr(patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: %s: connection lost", c.host, cmd.Args[0]).
		WithHint("check that the host is up; it may have rebooted"))
}

// sessionErr classifies a failure to open, start or finish a session. If
// the connection is gone that is the cause; otherwise the server refused
// the session or ended it without an exit status.
func (c *conn) sessionErr(cmd patchpilot.Command, err error) error {
	select {
	case <-c.lost:
		return c.lostErr(cmd)
	case <-c.closed:
		return c.lostErr(cmd)
	default:
	}
	// The connection may be going down right now: give its reader a moment
	// to notice, so that a dropped connection is reported as such.
	select {
	case <-c.lost:
		return c.lostErr(cmd)
	case <-time.After(100 * time.Millisecond):
	}
	var chErr *xssh.OpenChannelError
	if errors.As(err, &chErr) {
		return c.runErr(patchpilot.Errorf(patchpilot.EUNAVAILABLE, "host %s: %s: the server refused a session (%s)", c.host, cmd.Args[0], chErr.Message))
	}
	return c.runErr(patchpilot.Errorf(patchpilot.EUNREACHABLE, "host %s: %s: session failed: %w", c.host, cmd.Args[0], err))
}
