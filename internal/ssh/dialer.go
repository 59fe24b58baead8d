package ssh

import (
	"context"
	"errors"
	"net"

	xssh "golang.org/x/crypto/ssh"

	"github.com/patchpilot/patchpilot"
)

// clientVersion is the SSH identification string sent to servers; it shows
// up in their logs.
const clientVersion = "SSH-2.0-patchpilot"

// Dialer opens SSH connections to hosts. It is safe for concurrent use.
type Dialer struct {
	opts     Options
	hostKeys *hostKeyDB
	auth     *authenticator
}

var _ patchpilot.Dialer = (*Dialer)(nil)

// NewDialer validates o, fills in its defaults and reads its key files.
func NewDialer(o Options) (*Dialer, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	hk, err := newHostKeyDB(o.KnownHostsFile, o.AcceptNewHostKeys, o.Logger)
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(o)
	if err != nil {
		return nil, err
	}
	return &Dialer{opts: o, hostKeys: hk, auth: auth}, nil
}

// Dial connects and logs into h, through its jump host if it has one, and
// returns a Runner over that one connection. Close the Runner when done.
func (d *Dialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	r, err := d.dial(ctx, h)
	if err != nil {
		return nil, namedError(h, err)
	}
	return r, nil
}

func (d *Dialer) dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	target, err := hostEndpoint(h, d.opts.User)
	if err != nil {
		return nil, withOp(err)
	}
	jumpSpec := h.JumpHost
	if jumpSpec == "" {
		jumpSpec = d.opts.JumpHost
	}
	var jump *endpoint
	if jumpSpec != "" && jumpSpec != "none" {
		j, err := parseJumpHost(jumpSpec, d.opts.User)
		if err != nil {
			return nil, withOp(err)
		}
		jump = &j
	}
	auth, release, err := d.auth.method(h.KeyFile)
	if err != nil {
		return nil, withOp(err)
	}
	defer release()

	dialCtx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	defer cancel()
	var via *xssh.Client
	if jump != nil {
		via, err = d.connect(dialCtx, ctx, *jump, nil, auth, true)
		if err != nil {
			return nil, err
		}
	}
	client, err := d.connect(dialCtx, ctx, target, via, auth, false)
	if err != nil {
		if via != nil {
			via.Close()
		}
		return nil, err
	}
	d.opts.Logger.Debug("connected", "host", h.Name, "addr", target.String(), "jump", jumpSpec)
	return newConn(h, target.user, client, via, d.opts), nil
}

// namedError puts the host's inventory name in front of an error's
// message when the message names only its address, so that an operator can
// tell which host of the inventory failed.
func namedError(h patchpilot.Host, err error) error {
	var pe *patchpilot.Error
	if h.Name == "" || h.Name == h.Target() || !errors.As(err, &pe) {
		return err
	}
	c := *pe
	c.Message = "host " + h.Name + ": " + c.Message
	return &c
}

// connect opens one SSH connection to e, directly or through via. dialCtx
// carries the connect timeout; ctx is the caller's, to tell a timeout from
// a cancellation. isJump names e as a jump host in errors.
func (d *Dialer) connect(dialCtx, ctx context.Context, e endpoint, via *xssh.Client, auth xssh.AuthMethod, isJump bool) (*xssh.Client, error) {
	fail := func(err error) error {
		return dialError(ctx, dialCtx, e, dialPath{viaJump: via != nil, isJump: isJump}, err, d.opts.ConnectTimeout)
	}
	var nc net.Conn
	var err error
	if via == nil {
		nc, err = (&net.Dialer{}).DialContext(dialCtx, "tcp", e.addr())
	} else {
		nc, err = via.DialContext(dialCtx, "tcp", e.addr())
	}
	if err != nil {
		return nil, fail(err)
	}
	// The handshake has no context of its own: closing the connection is
	// what interrupts it.
	stop := context.AfterFunc(dialCtx, func() { nc.Close() })
	cfg := &xssh.ClientConfig{
		User:              e.user,
		Auth:              []xssh.AuthMethod{auth},
		HostKeyCallback:   d.hostKeys.callback(),
		HostKeyAlgorithms: d.hostKeys.knownAlgorithms(e.addr()),
		ClientVersion:     clientVersion,
	}
	c, chans, reqs, err := xssh.NewClientConn(nc, e.addr(), cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fail(context.Cause(dialCtx))
	}
	if err != nil {
		return nil, fail(err)
	}
	return xssh.NewClient(c, chans, reqs), nil
}
