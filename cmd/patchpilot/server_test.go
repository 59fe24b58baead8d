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

func TestServerListenAddressIsChecked(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, ":8443": true, "[::1]:80": true, "localhost:http": true,
		":99999": false, "nohost": false, "127.0.0.1:": false, "127.0.0.1:-1": false,
	} {
		err := checkListen(addr)
		if (err == nil) != ok {
			t.Errorf("checkListen(%q) = %v, want ok=%v", addr, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--listen") {
			t.Errorf("checkListen(%q): the error %q does not name the flag", addr, err)
		}
	}
}
