package main

import (
	"strings"
	"testing"
)

// The server's flags are checked before anything is opened: a certificate
// without its key, or no time to drain, is a usage error.
func TestServerFlags(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"server", "--tls-key", "key.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"server", "--drain-timeout", "0s"}, "--drain-timeout 0s"},
		{[]string{"server", "--lease-ttl", "1ms"}, "--lease-ttl"},
		{[]string{"server", "extra"}, "expects no arguments"},
	} {
		r := e.run(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
