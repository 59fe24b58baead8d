package ssh

import (
	"net"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// endpoint is one SSH server to log into: a user at a host and port.
type endpoint struct {
	user string
	host string
	port int
}

// addr returns "host:port", bracketing IPv6 literals, as net.Dial and
// known_hosts matching expect.
func (e endpoint) addr() string {
	return net.JoinHostPort(e.host, strconv.Itoa(e.port))
}

func (e endpoint) String() string { return e.user + "@" + e.addr() }

// parseJumpHost parses a ProxyJump-style "[user@]host[:port]" (IPv6 hosts
// in brackets). defaultUser is used when the spec names no user.
func parseJumpHost(spec, defaultUser string) (endpoint, error) {
	bad := func(why string) (endpoint, error) {
		return endpoint{}, patchpilot.Errorf(patchpilot.EINVALID,
			"jump host %q: %s, expected [user@]host[:port]", spec, why)
	}
	e := endpoint{user: defaultUser, port: patchpilot.DefaultSSHPort}
	rest := spec
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		e.user, rest = rest[:i], rest[i+1:]
		if e.user == "" {
			return bad("empty user")
		}
	}
	if strings.ContainsAny(rest, " \t,/") {
		return bad("unexpected character")
	}
	switch {
	case strings.HasPrefix(rest, "["):
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			end := strings.IndexByte(rest, ']')
			if end < 0 || end != len(rest)-1 {
				return bad("unterminated [address]")
			}
			h, p = rest[1:end], ""
		}
		e.host = h
		if p != "" {
			if e.port, err = parsePort(p); err != nil {
				return bad(err.Error())
			}
		}
	case strings.Count(rest, ":") == 1:
		h, p, _ := strings.Cut(rest, ":")
		var err error
		if e.port, err = parsePort(p); err != nil {
			return bad(err.Error())
		}
		e.host = h
	default:
		// A bare host, or an unbracketed IPv6 address without a port.
		e.host = rest
	}
	if e.host == "" {
		return bad("empty host")
	}
	return e, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "port %q is not a number from 1 to 65535", s)
	}
	return p, nil
}

// hostEndpoint returns where to log into h.
func hostEndpoint(h patchpilot.Host, defaultUser string) (endpoint, error) {
	e := endpoint{user: h.User, host: h.Target(), port: h.SSHPort()}
	if e.user == "" {
		e.user = defaultUser
	}
	if e.host == "" {
		return endpoint{}, patchpilot.Errorf(patchpilot.EINVALID, "host has no name or address")
	}
	if e.port < 1 || e.port > 65535 {
		return endpoint{}, patchpilot.Errorf(patchpilot.EINVALID, "host %s: port %d is not from 1 to 65535", h.Name, e.port)
	}
	return e, nil
}
