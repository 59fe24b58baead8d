package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/patchpilot/patchpilot"
)

// Ops named in errors.
const (
	opDial = "ssh.dial"
	opRun  = "ssh.run"
)

// Hints for connection failures.
const (
	hintRefused = "check that sshd runs on the host and that the address and port are right"
	hintAuth    = "check the user, that the key (key_file, --key, ~/.ssh/id_* or the agent) is in the host's authorized_keys"
	hintTimeout = "check that the host is up and that no firewall drops SSH traffic"
)

func withOp(err error) error {
	var pe *patchpilot.Error
	if errors.As(err, &pe) && pe.Op == "" {
		c := *pe
		c.Op = opDial
		return &c
	}
	return err
}

// dialError turns a failure to connect to e into an error with a short,
// safe reason. Messages from the network and SSH libraries never contain
// key material, but they are mapped to plain phrases anyway so that an
// operator sees the same words for the same cause.
func dialError(ctx, dialCtx context.Context, e endpoint, path dialPath, err error, timeout time.Duration) error {
	var pe *patchpilot.Error
	if errors.As(err, &pe) {
		return withOp(pe) // host key refusals carry their own reason and hint
	}
	if ctx.Err() != nil {
		code := patchpilot.ECANCELED
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = patchpilot.ETIMEOUT
		}
		return withOp(patchpilot.Errorf(code, "connecting to %s: %w", e, ctx.Err()))
	}
	reason, hint := dialReason(err)
	if dialCtx.Err() != nil {
		reason, hint = "connection timed out after "+timeout.String(), hintTimeout
	}
	if reason == reasonAuth {
		reason += " for user " + e.user
	}
	what := e.String()
	switch {
	case path.isJump:
		what = "jump host " + what
	case path.viaJump:
		reason = "jump host could not reach it: " + reason
	}
	return withOp(patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s: %s", what, reason).WithHint(hint))
}

// dialPath tells how an endpoint was dialled, for error messages.
type dialPath struct {
	viaJump bool // through a jump host
	isJump  bool // the endpoint is itself a jump host
}

const reasonAuth = "authentication failed"

func dialReason(err error) (reason, hint string) {
	var dnsErr *net.DNSError
	var chErr *xssh.OpenChannelError
	var netErr net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", hintRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host", hintTimeout
	case errors.As(err, &dnsErr):
		return "unknown host name", "check the host's name or set its address"
	case errors.As(err, &chErr):
		// A jump host reports why it could not connect in its own words,
		// such as "Connection refused".
		reason := "connection failed (" + chErr.Reason.String() + ": " + strings.ToLower(chErr.Message) + ")"
		if chErr.Reason == xssh.Prohibited {
			return reason, "allow TCP forwarding (AllowTcpForwarding) for this user on the jump host"
		}
		return reason, hintRefused
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connection timed out", hintTimeout
	case strings.Contains(msg, "unable to authenticate"):
		return reasonAuth, hintAuth
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "connection closed during the SSH handshake", "check that the port is an SSH server's and that the host accepts more connections (MaxStartups)"
	}
	return "ssh handshake failed: " + strings.TrimPrefix(strings.TrimPrefix(msg, "ssh: handshake failed: "), "ssh: "), hintRefused
}
